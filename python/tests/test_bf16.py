"""bf16 tensors: given as uint16 bit patterns or as float32 holding bf16 values (converted
exactly, anything else refused), returned as uint16 or widened to float32."""

import numpy as np
import pytest

import cvsim


def test_bf16_inputs_and_outputs(bf16_model):
    src, path = bf16_model
    orig = cvsim.Model(src / "model.cvimodel")
    m = cvsim.Model(path)
    (i,), (o,) = m.inputs, m.outputs
    assert (i.tensor_dtype, i.dtype, i.shape) == ("bf16", np.dtype(np.uint16), (1, 16, 64, 128))
    assert (o.tensor_dtype, o.dtype) == ("bf16", np.dtype(np.uint16))

    x = np.load(src / "input.npz")["input"]
    want = orig.run({"input": x})[orig.outputs[0].name]
    # The same bytes given as bf16 bit patterns give the same bytes out.
    bits = x.view(np.uint16)
    out = m.run({i.name: bits})[o.name]
    assert out.dtype == np.uint16 and out.shape == o.shape
    assert out.tobytes() == want.tobytes()
    # As float32 holding those bf16 values: converted exactly to the same bits.
    as_f32 = (bits.astype(np.uint32) << 16).view(np.float32)
    assert m.run({i.name: as_f32})[o.name].tobytes() == want.tobytes()
    # Outputs widened to float32: each bf16 value exactly.
    wide = m.run({i.name: bits}, bf16="float32")[o.name]
    assert wide.dtype == np.float32 and wide.shape == o.shape
    assert np.array_equal(wide.view(np.uint32), out.astype(np.uint32) << 16)


def test_float32_that_is_not_bf16_is_refused(bf16_model):
    _, path = bf16_model
    m = cvsim.Model(path)
    x = np.full(m.inputs[0].shape, 1.0, np.float32)
    x.flat[5] = 1.1  # 0x3f8ccccd: low half set
    with pytest.raises(ValueError, match=r"input `input`: element 5 \(1.1\) is not a bf16 value"):
        m.run({"input": x})


def test_bf16_option_is_checked(bf16_model):
    _, path = bf16_model
    m = cvsim.Model(path)
    x = np.zeros(m.inputs[0].shape, np.uint16)
    with pytest.raises(ValueError, match="bf16="):
        m.run({"input": x}, bf16="float16")


def test_run_all_bf16_intermediates_widen_exactly(bf16_model):
    src, _ = bf16_model
    m = cvsim.Model(src / "model.cvimodel")
    x = np.load(src / "input.npz")["input"]
    bits, wide = m.run_all({"input": x}), m.run_all({"input": x}, bf16="float32")
    bf16 = [n for n in bits if n.endswith("_bf16") or n == "output_Mul"]
    assert bf16, sorted(bits)
    for n in bf16:
        assert bits[n].dtype == np.uint16 and wide[n].dtype == np.float32
        assert np.array_equal(wide[n].view(np.uint32), bits[n].astype(np.uint32) << 16)
    # float32 tensors are untouched.
    assert wide["input"].tobytes() == x.tobytes()
