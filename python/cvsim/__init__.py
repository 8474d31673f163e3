"""cvsim from Python: run CV18xx ``.cvimodel`` files on the bit-exact emulator with NumPy arrays
in and out, get the timing model's PMU figures, and compare tensors as ``cvsim compare`` does.

    import numpy as np, cvsim
    m = cvsim.Model("model.cvimodel")
    x = {t.name: np.zeros(t.shape, t.dtype) for t in m.inputs}
    y = m.run(x)                      # {output name: ndarray}
    print(m.timing()["inference_ms"])

The command line's own library does the work, so results, figures and error messages are those of
the ``cvsim`` command.
"""

from ._cvsim import (
    EmulationError,
    Error,
    Model,
    ModelError,
    TensorInfo,
    __version__,
    compare,
)

__all__ = ["Model", "TensorInfo", "compare", "Error", "ModelError", "EmulationError", "__version__"]
