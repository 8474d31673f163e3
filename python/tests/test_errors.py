"""Errors: bad files and emulator stops raise cvsim's exceptions with the messages `cvsim run`
prints; wrong inputs raise ValueError (TypeError for non-arrays) naming the input."""

import numpy as np
import pytest

import cvsim
from conftest import CORPUS, need_corpus, run_cli

SILU = CORPUS / "ops" / "cv181x_bf16" / "SiLU"
MOBILENET = CORPUS / "networks" / "mobilenet_v2_cv181x_int8"


def cli_error(cvsim_bin, model, *args):
    """The message `cvsim run MODEL --input SILU/input.npz ARGS` prints, without `cvsim: `."""
    status, out, err = run_cli(cvsim_bin, "run", model, "--input", SILU / "input.npz", *args)
    assert status == 1 and err.startswith("cvsim: "), (status, out, err)
    return err[len("cvsim: ") :].rstrip("\n")


def raised(exc, path, *args):
    with pytest.raises(exc) as e:
        cvsim.Model(path, *args)
    return str(e.value)


@pytest.mark.parametrize(
    "name,content",
    [
        ("empty", b""),
        ("short", b"CviModel\x00\x01"),
        ("magic", b"NotModel" + bytes(100)),
    ],
)
def test_bad_file_message_is_the_clis(tmp_path, cvsim_bin, name, content):
    need_corpus()
    p = tmp_path / f"{name}.cvimodel"
    p.write_bytes(content)
    assert raised(cvsim.ModelError, p) == cli_error(cvsim_bin, p)


def test_truncated_model(tmp_path, cvsim_bin):
    need_corpus()
    p = tmp_path / "cut.cvimodel"
    p.write_bytes((SILU / "model.cvimodel").read_bytes()[:-100])
    msg = raised(cvsim.ModelError, p)
    assert msg == cli_error(cvsim_bin, p) and "outside the" in msg


def test_missing_file(tmp_path, cvsim_bin):
    need_corpus()
    p = tmp_path / "absent.cvimodel"
    msg = raised(cvsim.ModelError, p)
    assert msg == cli_error(cvsim_bin, p) and str(p) in msg
    assert issubclass(cvsim.ModelError, cvsim.Error)


def test_no_such_program(cvsim_bin):
    need_corpus()
    p = SILU / "model.cvimodel"
    msg = raised(cvsim.ModelError, p, 3)
    assert msg == cli_error(cvsim_bin, p, "--program", "3") and "program 3 does not exist" in msg


def corrupted(tmp_path, offset, length):
    """The SiLU model with `length` bytes of its command buffer at `offset` set to 0xFF."""
    src = SILU / "model.cvimodel"
    info = cvsim.Model(src).info()
    sec = next(s for s in info["sections"] if s["name"] == "subfunc_0")
    start = info["header"]["len"] + info["header"]["body_size"] + sec["offset"] + offset
    b = bytearray(src.read_bytes())
    b[start : start + length] = b"\xff" * length
    p = tmp_path / "corrupt.cvimodel"
    p.write_bytes(bytes(b))
    return p


def test_emulation_error_message_is_the_clis(tmp_path, cvsim_bin):
    need_corpus()
    # The first descriptor's fields, past its record header: the file loads (descriptors are
    # decoded as they run) and the emulator stops on it.
    p = corrupted(tmp_path, 16, 32)
    m = cvsim.Model(p)
    x = np.load(SILU / "input.npz")["input"]
    with pytest.raises(cvsim.EmulationError) as e:
        m.run({"input": x})
    msg = str(e.value)
    assert msg == cli_error(cvsim_bin, p) and "descriptor 0" in msg
    # The model stays usable: the next call fails the same way, not worse.
    with pytest.raises(cvsim.EmulationError, match="descriptor 0"):
        m.run_all({"input": x})


def test_record_header_is_a_load_error(tmp_path, cvsim_bin):
    need_corpus()
    p = corrupted(tmp_path, 240, 32)
    msg = raised(cvsim.ModelError, p)
    assert msg == cli_error(cvsim_bin, p) and "record magic" in msg


@pytest.fixture(scope="module")
def mobilenet():
    need_corpus()
    return cvsim.Model(MOBILENET / "model.cvimodel")


def test_wrong_dtype(mobilenet, tmp_path, cvsim_bin):
    x = np.zeros((1, 3, 224, 224), np.int8)
    with pytest.raises(ValueError) as e:
        mobilenet.run({"input": x})
    msg = str(e.value)
    assert msg == "input `input`: array has dtype int8, the tensor is fp32 (give it as float32)"
    # `cvsim run` says the same after the file's name.
    np.savez(tmp_path / "in.npz", input=x)
    status, _, err = run_cli(cvsim_bin, "run", MOBILENET / "model.cvimodel", "--input", tmp_path / "in.npz")
    assert status == 1 and err.rstrip("\n").endswith(msg)


def test_wrong_shape(mobilenet):
    x = np.zeros((1, 3, 224, 225), np.float32)
    with pytest.raises(ValueError, match=r"input `input`: array has shape \[1, 3, 224, 225\], the tensor is \[1, 3, 224, 224\]"):
        mobilenet.run({"input": x})


def test_unsupported_dtype(mobilenet):
    with pytest.raises(ValueError, match="input `input`: dtype float64 is not one cvsim reads"):
        mobilenet.run({"input": np.zeros((1, 3, 224, 224))})


def test_missing_and_extra_inputs(mobilenet):
    x = np.zeros((1, 3, 224, 224), np.float32)
    with pytest.raises(ValueError, match=r"input `input` is not given \(the model's inputs are: input\)"):
        mobilenet.run({})
    with pytest.raises(ValueError, match="no model input is named `image`"):
        mobilenet.run({"input": x, "image": x})


def test_not_an_array(mobilenet):
    with pytest.raises(TypeError, match="input `input`: expected a numpy.ndarray, got list"):
        mobilenet.run({"input": [0.0] * 10})
    with pytest.raises(TypeError, match="mapping"):
        mobilenet.run(42)
