"""What a `Model.run` call costs over the Rust forward pass alone, and the speed-up of running one
model from two threads.

    cargo build --release --example forward_time
    python python/benches/overhead.py [CASE_DIR] [FORWARDS]

(default case: ../shared/conformance/networks/mobilenet_v2_cv181x_int8). Times are medians over
FORWARDS calls, as wall-clock and as the calling thread's CPU time; on a shared machine the CPU
times are the ones to compare. Needs the module installed (`pip install ./python`).
"""

import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

import cvsim

REPO = Path(__file__).resolve().parents[2]


def main():
    case = Path(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1] else REPO.parent / "shared/conformance/networks/mobilenet_v2_cv181x_int8"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20

    rust = subprocess.run(
        [str(REPO / "target/release/examples/forward_time"), str(case), str(n)],
        capture_output=True, text=True, check=True,
    ).stdout
    rust_wall, rust_cpu = map(float, re.search(r"median: wall ([\d.]+) ms, cpu ([\d.]+) ms", rust).groups())

    m = cvsim.Model(case / "model.cvimodel")
    with np.load(case / "input.npz") as f:
        x = {k: f[k] for k in f.files}
    m.run(x)
    wall, cpu = [], []
    for _ in range(n):
        w, c = time.perf_counter(), time.thread_time()
        m.run(x)
        wall.append((time.perf_counter() - w) * 1e3)
        cpu.append((time.thread_time() - c) * 1e3)
    py_wall, py_cpu = statistics.median(wall), statistics.median(cpu)
    print(f"case: {case.name}, {n} forwards each")
    print(f"Rust forward alone:   wall {rust_wall:8.3f} ms, cpu {rust_cpu:8.3f} ms")
    print(f"Python Model.run:     wall {py_wall:8.3f} ms, cpu {py_cpu:8.3f} ms")
    print(f"overhead:             wall {100 * (py_wall / rust_wall - 1):+7.2f} %, cpu {100 * (py_cpu / rust_cpu - 1):+7.2f} %")

    def forwards(k):
        for _ in range(k):
            m.run(x)

    for threads in (1, 2):
        ts = [threading.Thread(target=forwards, args=(n // threads,)) for _ in range(threads)]
        w, c = time.perf_counter(), time.process_time()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        w, c = time.perf_counter() - w, time.process_time() - c
        print(f"{n} forwards from {threads} thread(s): wall {w:.3f} s (process cpu {c:.3f} s)")
        if threads == 1:
            one = w
    print(f"2-thread speed-up: {one / w:.2f}x")


if __name__ == "__main__":
    main()
