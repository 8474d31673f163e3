"""One model run from two threads at once: every forward gives the expected bytes, and the GIL is
released while emulating (the speed-up is printed, not asserted: the machine is shared)."""

import threading
import time

import numpy as np

import cvsim
from conftest import CORPUS, need_corpus

CASE = CORPUS / "networks" / "mobilenet_v2_cv181x_int8"
FORWARDS = 4


def test_two_threads_one_model(capsys):
    need_corpus()
    m = cvsim.Model(CASE / "model.cvimodel")
    with np.load(CASE / "input.npz") as f:
        x = {k: f[k] for k in f.files}
    with np.load(CASE / "expected.npz") as f:
        want = {k: f[k].tobytes() for k in f.files}
    m.run(x)  # warm: page in the model and make the first pooled instance

    def forwards(n, results):
        for _ in range(n):
            out = m.run(x)
            results.append({k: v.tobytes() for k, v in out.items()})

    one = []
    t0 = time.perf_counter()
    forwards(2 * FORWARDS, one)
    serial = time.perf_counter() - t0

    per_thread = [[], []]
    threads = [threading.Thread(target=forwards, args=(FORWARDS, r)) for r in per_thread]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    parallel = time.perf_counter() - t0

    for r in [one, *per_thread]:
        assert len(r) == len(one) // (1 if r is one else 2)
        assert all(out == want for out in r)
    with capsys.disabled():
        print(
            f"\n{2 * FORWARDS} forwards of {CASE.name}: 1 thread {serial:.3f} s, "
            f"2 threads {parallel:.3f} s, speed-up {serial / parallel:.2f}x"
        )
