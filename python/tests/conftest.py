"""Shared fixtures: the conformance corpus beside the repository, and the `cvsim` binary the
tests compare the module with (built by cargo on first use)."""

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared" / "conformance"


def corpus_cases(*folders):
    """Every case (folder, program, input, expected) under the corpus folders, sorted by path, as
    `cvsim conformance` finds them."""
    out = []
    for folder in folders:
        root = CORPUS / folder
        if not root.is_dir():
            continue
        # ops/ and features/ nest their cases one folder deeper (ops/<chip>_<mode>/<Op>).
        for d in sorted(p.parent for p in root.rglob("model.cvimodel")):
            if not all((d / f).is_file() for f in ("input.npz", "expected.npz")):
                continue
            rel = d.relative_to(CORPUS).as_posix()
            out.append(pytest.param(d, 0, d / "input.npz", d / "expected.npz", id=rel))
            for k in range(1, 16):
                i, e = d / f"input_program{k}.npz", d / f"expected_program{k}.npz"
                if i.is_file() and e.is_file():
                    out.append(pytest.param(d, k, i, e, id=f"{rel}#program{k}"))
    return out


def need_corpus():
    if not CORPUS.is_dir():
        pytest.skip(f"the conformance corpus {CORPUS} is absent")


@pytest.fixture(scope="session")
def cvsim_bin():
    """The `cvsim` command: $CVSIM_BIN, or the debug build cargo makes (quick when `cargo test`
    already built it)."""
    if os.environ.get("CVSIM_BIN"):
        return os.environ["CVSIM_BIN"]
    subprocess.run(["cargo", "build", "--quiet", "--bin", "cvsim"], cwd=REPO, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    if not target.is_absolute():
        target = REPO / target
    return str(target / "debug" / "cvsim")


def run_cli(cvsim_bin, *args):
    """Run the command; returns (exit status, stdout, stderr)."""
    p = subprocess.run([cvsim_bin, *map(str, args)], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


@pytest.fixture(scope="session")
def bf16_model(tmp_path_factory):
    """(original, copy with bf16 input and output): the corpus's SiLU bf16 op, its float32 input
    and output declared bf16 with twice the elements, written by `examples/bf16_io_model.rs` (no
    corpus model has a bf16 input or output)."""
    need_corpus()
    src = CORPUS / "ops" / "cv181x_bf16" / "SiLU"
    dst = tmp_path_factory.mktemp("bf16") / "model.cvimodel"
    subprocess.run(
        ["cargo", "run", "--quiet", "--example", "bf16_io_model", "--", str(src / "model.cvimodel"), str(dst)],
        cwd=REPO,
        check=True,
    )
    return src, dst
