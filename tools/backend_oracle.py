#!/usr/bin/env python3
"""Run the compiler back end's test cases on the vendor simulator and on cvsim, compare bytes.

usage: CVSIM_BACKEND_DUMP=DIR cargo test -p cvsim-compiler --test backend
       tools/backend_oracle.py DIR path/to/cvsim [ORACLE_DIR]

For each DIR/<case>/ (model.cvimodel, in_*.bin, out_*.bin = the plain reference, case.json) it
writes input.npz, runs `vendor_run.py` (the oracle) and `cvsim run`, and prints one markdown table
row per case: whether the vendor's output equals cvsim's and the reference, byte for byte.
"""
import json, os, struct, subprocess, sys, zipfile, glob
DT = {"int8": "|i1", "fp32": "<f4", "bf16": "<u2"}
def npy(descr, shape, data):
    hdr = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (descr, "".join(f"{d}," for d in shape))
    hdr += " " * ((64 - (10 + len(hdr) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode() + data
def read_npz(path):
    out = {}
    with zipfile.ZipFile(path) as z:
        for n in z.namelist():
            b = z.read(n); hl = struct.unpack("<H", b[8:10])[0]
            out[n[:-4]] = b[10 + hl:]
    return out
root = sys.argv[1]; cvsim = sys.argv[2]
oracle = sys.argv[3] if len(sys.argv) > 3 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "oracle")
rows = []
for d in sorted(glob.glob(root + "/*/")):
    case = os.path.basename(d.rstrip("/"))
    meta = json.load(open(d + "case.json"))
    with zipfile.ZipFile(d + "input.npz", "w") as z:  # from in_*.bin
        for m in meta:
            if m["role"] == "input":
                z.writestr(m["name"] + ".npy", npy(DT[m["dtype"]], m["shape"], open(d + f"in_{m['name']}.bin", "rb").read()))
    r = subprocess.run(["python3", os.path.join(oracle, "vendor_run.py"), d + "model.cvimodel", "--input", d + "input.npz", "--output", d + "vendor.npz"], capture_output=True, text=True)
    if r.returncode != 0:
        rows.append((case, "VENDOR FAILED: " + (r.stderr.strip().splitlines() or ["?"])[-1][:150], "")); continue
    c = subprocess.run([cvsim, "run", d + "model.cvimodel", "--input", d + "input.npz", "--output", d + "cvsim.npz"], capture_output=True, text=True)
    v = read_npz(d + "vendor.npz"); cv = read_npz(d + "cvsim.npz") if c.returncode == 0 else {}
    res = []
    for m in meta:
        if m["role"] != "output": continue
        vb = v.get(m["name"]); cb = cv.get(m["name"])
        same_c = cb is not None and cb == vb
        line = f"{m['name']}: {len(vb or b'')} B vendor==cvsim {'yes' if same_c else 'NO'}"
        ref_path = d + f"out_{m['name']}.bin"
        if os.path.exists(ref_path):
            ref = open(ref_path, "rb").read()
            nd = sum(1 for a, b in zip(vb or b"", ref) if a != b) if vb is not None else -1
            line += ", vendor==reference " + ("yes" if vb == ref else f"NO ({nd} differ)")
        else:
            line += " (no reference: too large for the debug-build test)"
        res.append(line)
    rows.append((case, "; ".join(res), r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""))
for case, res, t in rows:
    print(f"| {case} | {res} |")
