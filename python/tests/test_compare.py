"""`cvsim.compare` reports what `cvsim compare` prints, on npz files and on arrays."""

import numpy as np
import pytest

import cvsim
from conftest import run_cli


@pytest.fixture()
def files(tmp_path):
    rng = np.random.default_rng(7)
    ref = {
        "f": rng.normal(size=(1, 8, 4, 4)).astype(np.float32),
        "q": rng.integers(-128, 128, size=(1, 16), dtype=np.int8),
        "b": (rng.normal(size=(2, 3)).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16),
        "gone": np.zeros(3, np.float32),
    }
    tgt = {
        "f": ref["f"] + rng.normal(scale=0.05, size=ref["f"].shape).astype(np.float32),
        "q": ref["q"].copy(),
        "b": ref["b"].copy(),
        "extra": np.ones(2, np.float32),
    }
    tgt["q"][0, 3] += 1
    np.savez(tmp_path / "t.npz", **tgt)
    np.savez(tmp_path / "r.npz", **ref)
    return tmp_path / "t.npz", tmp_path / "r.npz", tgt, ref


@pytest.mark.parametrize(
    "kwargs,flags",
    [
        ({}, []),
        ({"tolerance": (0.9, 0.5), "int8_similar": True}, ["--tolerance", "0.9,0.5", "--int8-similar"]),
        ({"tolerance": "0.999,0.99", "uint16": "int"}, ["--tolerance", "0.999,0.99", "--uint16", "int"]),
    ],
)
def test_report_equals_cli(files, cvsim_bin, kwargs, flags):
    t, r, tgt, ref = files
    status, out, err = run_cli(cvsim_bin, "compare", t, r, *flags)
    on_files = cvsim.compare(t, r, **kwargs)
    assert on_files["report"] == out
    assert on_files["passed"] == (status == 0)
    # Arrays in dicts give the same report.
    assert cvsim.compare(tgt, ref, **kwargs)["report"] == out


def test_figures(files):
    t, r, _, _ = files
    c = cvsim.compare(t, r)
    rows = {row["name"]: row for row in c["tensors"]}
    assert list(rows) == ["f", "q", "b"]
    assert rows["b"]["result"] == "EQUAL" and rows["b"]["sqnr"] == float("inf")
    assert rows["q"]["result"] == "NOT_EQUAL" and not rows["q"]["passed"]
    assert 0.99 < rows["f"]["cosine"] < 1.0 and rows["f"]["result"] == "SIMILAR"
    assert c["only_target"] == ["extra"] and c["only_reference"] == ["gone"]
    assert not c["passed"]
    lo = c["minimum"]
    assert lo["cosine"] == min(rows[k]["cosine"] for k in ("f", "q"))
    cos, euc = c["would_pass_with"]
    assert f"--tolerance {cos:.3f},{euc:.3f} --int8-similar" in c["report"]
    assert cvsim.compare(t, r, tolerance=(cos, euc), int8_similar=True)["passed"]


def test_bad_arguments(files):
    t, r, _, _ = files
    with pytest.raises(ValueError, match="tolerance"):
        cvsim.compare(t, r, tolerance="0.9")
    with pytest.raises(ValueError, match="uint16"):
        cvsim.compare(t, r, uint16="float")
    with pytest.raises(ValueError, match="absent.npz"):
        cvsim.compare(t, r.parent / "absent.npz")
