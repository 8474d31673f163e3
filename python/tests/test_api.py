"""The model's description: inputs and outputs as the runtime reports them (the corpus manifests
record them), `info()` as `cvsim info --json`, and the ways `run` takes its inputs."""

import json

import numpy as np
import pytest

import cvsim
from conftest import CORPUS, corpus_cases, need_corpus, run_cli

CASES = corpus_cases("networks", "models")


@pytest.mark.parametrize("folder,program,input_npz,expected_npz", CASES)
def test_inputs_outputs_as_the_runtime_reports(folder, program, input_npz, expected_npz):
    m = cvsim.Model(folder / "model.cvimodel", program=program)
    manifest = json.loads((folder / "manifest.json").read_text())
    for got, want in [(m.inputs, manifest["inputs"]), (m.outputs, manifest["outputs"])]:
        assert [t.name for t in got] == [t["name"] for t in want]
        for t, w in zip(got, want):
            assert t.dtype == np.dtype(w["dtype"])
            assert t.shape == tuple(w["shape"])
            assert t.qscale == pytest.approx(w["qscale"], rel=1e-6)
            assert t.zero_point == w["zero_point"]
    assert m.chip == manifest["chip"] and m.program == program


@pytest.mark.parametrize("case", ["networks/mobilenet_v2_cv181x_int8", "models/lstr_det_lane_360_640_MIX_cv181x"])
def test_info_equals_cli(case, cvsim_bin):
    need_corpus()
    model = CORPUS / case / "model.cvimodel"
    status, out, err = run_cli(cvsim_bin, "info", model, "--json")
    assert status == 0, err
    assert cvsim.Model(model).info() == json.loads(out)


@pytest.fixture(scope="module")
def case():
    need_corpus()
    d = CORPUS / "models" / "cls_keypoint_hand_gesture_1_42_INT8_cv181x"
    with np.load(d / "input.npz") as f:
        x = {k: f[k] for k in f.files}
    with np.load(d / "expected.npz") as f:
        y = {k: f[k] for k in f.files}
    return cvsim.Model(d / "model.cvimodel"), d, x, y


def same(out, want):
    return list(out) == list(want) and all(out[k].tobytes() == want[k].tobytes() for k in want)


def test_inputs_from_npzfile_and_views(case):
    m, d, x, y = case
    with np.load(d / "input.npz") as f:
        assert same(m.run(f), y)
    # A non-contiguous view is read in C order; a shape without the runtime's trailing 1s is taken.
    (name, a), = x.items()
    big = np.zeros(a.shape[:-1] + (a.shape[-1] * 2,), a.dtype)
    big[..., ::2] = a
    assert same(m.run({name: big[..., ::2]}), y)
    assert m.inputs[0].shape[-1] == 1 and same(m.run({name: a.reshape(a.shape[:-1])}), y)
    # Repeated runs on pooled instances give the same bytes.
    assert same(m.run(x), y)


def test_outputs_are_fresh_writable_arrays(case):
    m, _, x, y = case
    a, b = m.run(x), m.run(x)
    for k in a:
        assert a[k].flags.c_contiguous and a[k].flags.writeable and a[k].flags.owndata is not None
        a[k][...] = 0
    assert same(b, y)


def test_repr_and_version(case):
    m = case[0]
    assert "cls_keypoint_hand_gesture" in repr(m) and "program=0" in repr(m)
    assert repr(m.inputs[0]).startswith("TensorInfo(name='")
    assert isinstance(cvsim.__version__, str)


def test_split_descriptors_give_the_same_bytes():
    need_corpus()
    d = CORPUS / "networks" / "squeezenet1_1_cv181x_int8"
    with np.load(d / "input.npz") as f:
        x = {k: f[k] for k in f.files}
    with np.load(d / "expected.npz") as f:
        y = {k: f[k] for k in f.files}
    m = cvsim.Model(d / "model.cvimodel", threads=2)
    assert m.threads == 2 and same(m.run(x), y)
    with pytest.raises(ValueError, match="threads=0"):
        cvsim.Model(d / "model.cvimodel", threads=0)
