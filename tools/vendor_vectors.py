#!/usr/bin/env python3
"""Run per-instruction vectors (.jsonl, the format `cvsim vectors` reads) on the vendor simulator.

usage: vendor_vectors.py IN.jsonl [OUT.jsonl]

Each vector's command buffer runs on the vendor runtime's load-command-buffer / run-command-buffer
path (the functional simulator of ../shared/oracle, chip chosen with SET_CHIP_NAME), after writing
its `gmem_init` regions. Every region of `gmem_expect` is then read back from the simulator's
global memory (only the address and the length of each given region are used), so the vector
comes out with the oracle's bytes. Without OUT the script reports, per vector, whether the
recorded `gmem_expect` equals the oracle's. The vectors of a chip run in one process; the
simulator aborts on some command buffers, so an abort is reported with the simulator's last
message, the vector gets `"vendor": "aborted ..."` instead of expectations, and the rest run in a
new process.

Addresses are offsets from base register 0, which the script points (below) a buffer it allocates
so that the vector's lowest address falls at its start; `cvsim vectors` (which sets every base
register to 0) reads the same addresses. Developer tool:
needs the oracle; nothing in the build or the tests uses it. Standard library only.
"""
import ctypes as C
import json
import os
import subprocess
import sys
import tempfile

ORACLE = os.environ.get("CVSIM_ORACLE", os.path.expanduser("~/.cache/cvsim-oracle"))
SPAN = 64 << 20


def child(chip, result):
    """Runs the vectors on standard input (one chip) in this process; after each, appends its
    expected regions as one JSON line to `result`, so a parent can tell where an abort struck."""
    os.environ["SET_CHIP_NAME"] = chip
    os.dup2(2, 1)  # the vendor libraries print banners on standard output
    for lib in ("libcvikernel.so", "libcvicmodel.so"):
        C.CDLL(os.path.join(ORACLE, lib), mode=C.RTLD_GLOBAL)
    rt = C.CDLL(os.path.join(ORACLE, "libcviruntime.so"))
    rt.CVI_RT_MemAlloc.restype = C.c_void_p
    rt.CVI_RT_MemAlloc.argtypes = [C.c_void_p, C.c_uint64]
    rt.CVI_RT_MemGetVAddr.restype = C.c_void_p
    rt.CVI_RT_MemGetVAddr.argtypes = [C.c_void_p]
    rt.CVI_RT_MemGetPAddr.restype = C.c_uint64
    rt.CVI_RT_MemGetPAddr.argtypes = [C.c_void_p]
    rt.CVI_RT_MemFlush.argtypes = [C.c_void_p, C.c_void_p]
    rt.CVI_RT_MemInvld.argtypes = [C.c_void_p, C.c_void_p]
    rt.CVI_RT_MemFree.argtypes = [C.c_void_p, C.c_void_p]
    rt.CVI_RT_LoadCmdbuf.argtypes = [C.c_void_p, C.c_char_p, C.c_uint64, C.c_uint64, C.c_uint64, C.c_bool,
                                     C.POINTER(C.c_void_p)]
    rt.CVI_RT_RunCmdbuf.argtypes = [C.c_void_p, C.c_void_p, C.c_uint64, C.c_uint64]
    h = C.c_void_p()
    if rt.CVI_RT_Init(C.byref(h)):
        sys.exit("CVI_RT_Init failed")
    mem = rt.CVI_RT_MemAlloc(h, SPAN)
    base, va = rt.CVI_RT_MemGetPAddr(mem), rt.CVI_RT_MemGetVAddr(mem)
    out = open(result, "a")
    for line in sys.stdin:
        v = json.loads(line)
        regions = [(r["addr"], bytes.fromhex(r["hex"])) for r in v["gmem_init"]]
        wanted = [(r["addr"], len(r["hex"]) // 2) for r in v["gmem_expect"]]
        spans = regions + [(a, b"\0" * n) for a, n in wanted]
        # The buffer stands for global memory from `lo` on: base register 0 points `lo` below it.
        lo = min(a for a, _ in spans) & ~0xFFFFFF
        hi = max(a + len(b) for a, b in spans)
        if hi - lo > SPAN:
            out.write(json.dumps({"error": f"the vector spans {lo:#x}..{hi:#x}, more than the {SPAN:#x} bytes this script maps"}) + "\n")
            out.flush()
            continue
        C.memset(va, 0, SPAN)
        for a, b in regions:
            C.memmove(va + a - lo, b, len(b))
        rt.CVI_RT_MemFlush(h, mem)
        cmdbuf = bytes.fromhex(v["cmdbuf_hex"])
        cm = C.c_void_p()
        b0 = (base - lo) % (1 << 64)
        if rt.CVI_RT_LoadCmdbuf(h, cmdbuf, len(cmdbuf), b0, b0, False, C.byref(cm)):
            err = "CVI_RT_LoadCmdbuf failed"
        elif rt.CVI_RT_RunCmdbuf(h, cm, b0, b0):
            err = "CVI_RT_RunCmdbuf failed"
        else:
            err = None
        if cm:
            rt.CVI_RT_MemFree(h, cm)
        rt.CVI_RT_MemInvld(h, mem)
        got = [{"addr": a, "hex": C.string_at(va + a - lo, n).hex()} for a, n in wanted]
        out.write(json.dumps({"error": err} if err else {"expect": got}) + "\n")
        out.flush()


def run_chip(chip, lines):
    """Results for `lines` (all of one chip) in order: ("expect", regions) or ("error", message).
    A simulator abort ends its process; the vector it struck is marked and the rest run anew."""
    results = []
    while len(results) < len(lines):
        todo = lines[len(results):]
        with tempfile.TemporaryDirectory(prefix="vendor-vectors-") as d:
            result = os.path.join(d, "result.jsonl")
            open(result, "w").close()
            p = subprocess.run([sys.executable, __file__, "--child", chip, result], input="".join(todo),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            done = [json.loads(l) for l in open(result) if l.strip()]
        results += [("error", r["error"]) if "error" in r else ("expect", r["expect"]) for r in done]
        if len(done) < len(todo):
            msg = [l for l in p.stderr.strip().splitlines() if l.strip()]
            results.append(("error", f"aborted (exit status {p.returncode}): {msg[-1] if msg else '(no message)'}"))
    return results


def main():
    if sys.argv[1:2] == ["--child"]:
        return child(sys.argv[2], sys.argv[3])
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__.strip().splitlines()[2])
    src, dst = sys.argv[1], sys.argv[2] if len(sys.argv) == 3 else None
    vectors = [json.loads(l) for l in open(src) if l.strip()]
    by_chip = {}
    for i, v in enumerate(vectors):
        by_chip.setdefault(v["chip"], []).append(i)
    results = {}
    for chip, idx in by_chip.items():
        for i, r in zip(idx, run_chip(chip, [json.dumps(vectors[i]) + "\n" for i in idx])):
            results[i] = r
    bad = 0
    for i, v in enumerate(vectors):
        kind, val = results[i]
        if kind == "error":
            v["vendor"] = val
            print(f"{v['id']}: vendor {val}")
        elif dst:
            v["gmem_expect"] = val
            v.pop("vendor", None)
            print(f"{v['id']}: recorded")
        else:
            same = val == v["gmem_expect"]
            bad += not same
            print(f"{v['id']}: {'same' if same else 'DIFFERENT'}")
    if dst:
        with open(dst, "w") as f:
            for v in vectors:
                f.write(json.dumps(v, separators=(",", ":")) + "\n")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
