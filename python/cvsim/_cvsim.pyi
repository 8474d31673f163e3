"""Type stubs of the extension module (the Rust side of ``cvsim``)."""

import os
import pathlib
from typing import Any, Literal, Mapping, Optional, Sequence, Tuple, TypedDict, Union

import numpy as np
import numpy.typing as npt

__version__: str

PathLike = Union[str, "os.PathLike[str]"]
Arrays = Mapping[str, npt.NDArray[Any]]

class Error(Exception):
    """Base class of the errors cvsim raises (other than ValueError for bad arguments)."""

class ModelError(Error):
    """A model file that cannot be read or loaded; the message is the one ``cvsim`` prints."""

class EmulationError(Error):
    """A forward pass or timing run the emulator stopped (out-of-bounds access, illegal
    descriptor, CPU routine failure); the message is the one ``cvsim run`` prints."""

class TensorInfo:
    """An input or output tensor of a program, as the runtime reports it (``CVI_TENSOR``)."""

    @property
    def name(self) -> str:
        """The tensor's name: the key of its array in ``run``'s dicts."""
    @property
    def dtype(self) -> np.dtype[Any]:
        """The NumPy dtype of the tensor's arrays (bf16 as uint16 bit patterns)."""
    @property
    def tensor_dtype(self) -> str:
        """The model's element type (``fp32``, ``bf16``, ``int8``, ...), as ``cvsim info`` prints it."""
    @property
    def shape(self) -> Tuple[int, int, int, int]:
        """The 4-D shape the runtime reports (lower-rank tensors padded with trailing 1s)."""
    @property
    def qscale(self) -> float:
        """For int8 inputs the factor that quantises a float (x * qscale); for int8 outputs the
        one that dequantises; 1 or 0 for float tensors."""
    @property
    def zero_point(self) -> int: ...

class LayerTiming(TypedDict):
    """One row of the vendor's per-layer PMU table (``run --pmu-csv``'s ``_layer.csv``), in
    TPU clock ticks (counters of 32 bits, as the PMU keeps them)."""

    routine: int
    layer: int
    name: Optional[str]
    """The tensor the layer's last store writes, where one is found."""
    start: int
    end: int
    duration: int
    duration_ms: float
    tiu: int
    tdma: int
    load_neuron: int
    load_weight: int
    store_neuron: int
    bytes: int
    last_des_id: int

class RoutineTiming(TypedDict):
    """The vendor's PMU summary of one TPU routine (``TPU_ENABLE_PMU=1``)."""

    routine: int
    section: str
    clock_hz: int
    tdma_exe_tick: int
    tiu_exe_tick: int
    inference_tick: int
    load_bytes: int
    store_bytes: int
    tdma_exe_ms: float
    tiu_exe_ms: float
    inference_ms: float
    inference_data_mb: float
    inference_bw: float
    tdma_exe_percent: float
    tiu_exe_percent: float
    parallelism_percent: float
    summary_text: str
    """The summary exactly as ``cvsim run --pmu`` (and the vendor runtime) prints it."""
    layers: list[LayerTiming]

class Timing(TypedDict):
    tdma_exe_ms: float
    """Sums over the TPU routines (most programs have one: then its figures)."""
    tiu_exe_ms: float
    inference_ms: float
    ddr_load: float
    routines: list[RoutineTiming]
    layers: list[LayerTiming]
    """Every TPU routine's layer rows, in routine order."""

class Figures(TypedDict):
    cosine: float
    correlation: float
    euclidean: float
    sqnr: float

class TensorComparison(TypedDict, total=False):
    name: str
    result: Literal["EQUAL", "CLOSE", "SIMILAR", "NOT_SIMILAR", "NOT_EQUAL", "NOT_MATCH"]
    passed: bool
    close_rtol: float
    """For CLOSE: the relative tolerance of the ``allclose`` that held."""
    cosine: Optional[float]
    correlation: Optional[float]
    euclidean: Optional[float]
    sqnr: Optional[float]
    """None when the element counts differ (NOT_MATCH)."""

class Comparison(TypedDict):
    passed: bool
    tensors: list[TensorComparison]
    only_target: list[str]
    only_reference: list[str]
    minimum: Optional[Figures]
    """Each figure's minimum over the tensors not EQUAL or CLOSE (None if there are none)."""
    would_pass_with: Optional[Tuple[float, float]]
    """On failure: a (cosine, euclidean) tolerance the minima pass."""
    tolerance: Tuple[float, float]
    report: str
    """The report exactly as ``cvsim compare`` prints it."""

class Model:
    """One program of a ``.cvimodel``, loaded once and run on NumPy arrays. Safe to share
    between threads: each concurrent ``run`` gets its own device memory and emulated TPU, and
    the GIL is released while emulating."""

    def __init__(self, path: PathLike, program: int = 0, *, threads: int = 1) -> None:
        """Load program ``program`` of the ``.cvimodel`` at ``path`` and place its device memory.
        ``threads`` host threads may share one descriptor's work (as ``cvsim run --threads``;
        the bytes are the same whatever the count); 1, the default, leaves the other cores to
        other Python threads running models.

        Raises ModelError with the message ``cvsim`` prints when the file cannot be read, is not
        a valid model, or has no such program."""
    @property
    def path(self) -> pathlib.Path: ...
    @property
    def program(self) -> int: ...
    @property
    def threads(self) -> int: ...
    @property
    def chip(self) -> str:
        """``cv180x``, ``cv181x``, ``cv182x`` or ``cv183x``."""
    @property
    def inputs(self) -> list[TensorInfo]:
        """The program's inputs, in input order."""
    @property
    def outputs(self) -> list[TensorInfo]:
        """The program's outputs, in output order."""
    def run(self, inputs: Arrays, *, bf16: Literal["uint16", "float32"] = "uint16") -> dict[str, npt.NDArray[Any]]:
        """Run one forward pass. ``inputs`` maps every input name to an array of its ``dtype``
        and ``shape`` (a dict, or an ``NpzFile`` from ``numpy.load``); a bf16 input may also be
        float32 holding bf16 values, converted exactly. Returns the outputs by name, in output
        order, byte for byte what ``cvsim run --output`` writes. ``bf16="float32"`` returns bf16
        outputs widened to float32 instead of their uint16 bit patterns.

        Raises ValueError for missing or extra inputs and wrong dtypes or shapes, TypeError for
        non-arrays, and EmulationError when the emulator stops."""
    def run_all(
        self, inputs: Arrays, *, bf16: Literal["uint16", "float32"] = "uint16"
    ) -> dict[str, npt.NDArray[Any]]:
        """As ``run``, returning every tensor of the program that lives in device memory (inputs,
        intermediate activations, outputs), as ``cvsim run --dump-all`` writes them."""
    def timing(self, ddr_load: float = 0.0) -> Timing:
        """The PMU figures the vendor runtime prints with ``TPU_ENABLE_PMU=1``, from the timing
        model, as ``cvsim run --pmu`` prints them; ``ddr_load`` is the share (0 <= x < 1) of DDR
        bandwidth other bus masters take. No data is computed."""
    def info(self) -> dict[str, Any]:
        """What ``cvsim info MODEL --json`` prints."""

def compare(
    target: Union[PathLike, Arrays],
    reference: Union[PathLike, Arrays],
    *,
    tolerance: Union[None, str, Tuple[float, float], Sequence[float]] = None,
    int8_similar: bool = False,
    uint16: Literal["bf16", "int"] = "bf16",
) -> Comparison:
    """Compare ``target`` with ``reference`` tensor by tensor, as ``cvsim compare TARGET
    REFERENCE``: cosine, correlation, euclidean and SQNR similarity with the vendor compare
    tool's formulas, the minimum over tensors, pass or fail.

    Each is a path to an npz file or a mapping of names to arrays (uint16 arrays are bf16 bit
    patterns unless ``uint16="int"``). ``tolerance`` is ``(cosine, euclidean)`` or
    ``"COSINE,EUCLIDEAN"`` (default 0.99, 0.90); a tensor passes when both are exceeded.
    ``int8_similar`` judges int8 tensors by similarity (the default requires them equal)."""
