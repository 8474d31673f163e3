"""Every case of the conformance corpus (networks, models, features, ops) through `Model.run`: the outputs equal
`expected.npz` byte for byte (as `cvsim conformance` requires), in dtype, shape and order."""

import numpy as np
import pytest

import cvsim
from conftest import CORPUS, corpus_cases, need_corpus

CASES = corpus_cases("networks", "models", "features", "ops")


def test_corpus_is_found():
    need_corpus()
    # `cvsim conformance` finds 82 cases (7 networks, 18 models, the features and the ops);
    # finding fewer would test less than the CLI does.
    assert len(CASES) >= 82


@pytest.mark.parametrize("folder,program,input_npz,expected_npz", CASES)
def test_run_equals_expected(folder, program, input_npz, expected_npz):
    m = cvsim.Model(folder / "model.cvimodel", program=program)
    with np.load(input_npz) as f:
        inputs = {k: f[k] for k in f.files}
    out = m.run(inputs)
    assert list(out) == [t.name for t in m.outputs]
    with np.load(expected_npz) as f:
        for name in f.files:
            want = f[name]
            assert name in out, f"`{name}` is not an output of the model"
            got = out[name]
            assert got.dtype == want.dtype and got.shape == want.shape, name
            if got.tobytes() != want.tobytes():
                diff = np.flatnonzero(got.view(np.uint8).ravel() != want.view(np.uint8).ravel())
                i = diff[0] // want.itemsize
                pytest.fail(f"`{name}`: first differing index {i}: got {got.ravel()[i]}, want {want.ravel()[i]}")


# The vendor's every-tensor dumps of networks, models and ops. The features' dumps are left out: the
# multi-program case has one dump (program 0's), and the two preprocessing cases dump their
# aligned raw input as the logical tensor (e.g. 1x3x20x36) where cvsim (`run --dump-all` too)
# returns the aligned frame it was given (3840 bytes).
WITH_ALL = [c for c in corpus_cases("networks", "models", "ops") if (c.values[0] / "all_tensors.npz").is_file()]


@pytest.mark.parametrize("folder,program,input_npz,expected_npz", WITH_ALL)
def test_run_all_equals_vendor_dump(folder, program, input_npz, expected_npz):
    """`run_all` holds every tensor of the vendor's output-all-tensors dump, byte for byte."""
    m = cvsim.Model(folder / "model.cvimodel", program=program)
    with np.load(input_npz) as f:
        out = m.run_all(f)
    with np.load(folder / "all_tensors.npz") as f:
        assert set(f.files) <= set(out)
        for name in f.files:
            assert out[name].tobytes() == f[name].tobytes(), name
