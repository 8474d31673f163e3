#!/usr/bin/env python3
"""Run .cvimodel files on cvsim and on the vendor simulator with seeded random inputs; compare bytes.

usage: diffrun.py PATH... [--seed N] [--jobs N] [--markdown FILE] [--program N] [--keep DIR]
                  [--cvsim BIN] [--vendor-run SCRIPT] [--timeout S]

Each PATH is a .cvimodel file, a case folder holding `model.cvimodel`, or a folder searched
recursively for both. Every program of a model is run (or only `--program N`). The inputs are drawn
from the model's own tensor list (`cvsim info --json`): each input gets its dtype and its byte size,
with values over the dtype's whole range (int8 -128..127, uint8 0..255, bf16 as uint16 bit patterns
of every finite value, fp32 finite values around the quantisation range with a share of large
ones). The draw depends on the seed, the model's file name, the program and the input's name only,
so one model's inputs do not change when the list around it does.

Per model and program the report says `identical`, the first differing output (tensor, flat index,
both values), or which side failed and its message, with the wall time of the whole cvsim process,
the vendor's own forward time (the `vendor forward X ms` line of vendor_run.py) and the wall time of
the whole vendor process. The exit status is 1 if any model differs or fails.

Developer tool: needs the oracle (see ../shared/oracle/README.md) and a built cvsim; nothing in the
build or the tests uses it. Standard library only.
"""
import argparse
import concurrent.futures as cf
import datetime
import json
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DEFAULT_CVSIM = os.path.join(REPO, "target", "release", "cvsim")
DEFAULT_VENDOR = os.path.normpath(os.path.join(REPO, "..", "shared", "oracle", "vendor_run.py"))

# cvsim's dtype names -> (npy descr, struct code, item size)
DTYPES = {
    "int8": ("|i1", "b", 1),
    "uint8": ("|u1", "B", 1),
    "int16": ("<i2", "h", 2),
    "uint16": ("<u2", "H", 2),
    "bf16": ("<u2", "H", 2),
    "int32": ("<i4", "i", 4),
    "uint32": ("<u4", "I", 4),
    "fp32": ("<f4", "f", 4),
}
# npy descr -> struct code, for reading outputs back whatever their dtype
DESCR_CODES = {"|i1": "b", "|u1": "B", "<i2": "h", "<u2": "H", "<i4": "i", "<u4": "I", "<f4": "f",
               "<i8": "q", "<u8": "Q", "<f8": "d", "<f2": "e", "|b1": "?"}


# ---------------------------------------------------------------------------------------------
# npz
def npy_bytes(descr, shape, data):
    hdr = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, "".join(f"{d}," for d in shape))
    hdr += " " * ((64 - (10 + len(hdr) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode() + data


def write_npz(path, arrays):
    with zipfile.ZipFile(path, "w") as z:
        for name, (descr, shape, data) in arrays.items():
            z.writestr(name + ".npy", npy_bytes(descr, shape, data))


def parse_npy(blob):
    if blob[:6] != b"\x93NUMPY":
        raise ValueError("not an npy array")
    if blob[6] == 1:
        hl, start = struct.unpack("<H", blob[8:10])[0], 10
    else:
        hl, start = struct.unpack("<I", blob[8:12])[0], 12
    header = blob[start:start + hl].decode("latin1")
    descr = re.search(r"'descr':\s*'([^']*)'", header).group(1)
    shape = tuple(int(x) for x in re.search(r"'shape':\s*\(([^)]*)\)", header).group(1).split(",") if x.strip())
    if "'fortran_order': True" in header:
        raise ValueError("fortran-ordered array")
    return descr, shape, blob[start + hl:]


def read_npz(path):
    out = {}
    with zipfile.ZipFile(path) as z:
        for n in z.namelist():
            out[n[:-4] if n.endswith(".npy") else n] = parse_npy(z.read(n))
    return out


# ---------------------------------------------------------------------------------------------
# inputs
def bf16_value(bits):
    return struct.unpack("<f", struct.pack("<I", bits << 16))[0]


def random_bytes(rng, dtype, count):
    """`count` elements of `dtype` over its whole range (finite values for the float types)."""
    if dtype in ("int8", "uint8", "int16", "uint16", "int32", "uint32"):
        size = DTYPES[dtype][2] * count
        return rng.getrandbits(8 * size).to_bytes(size, "little") if size else b""
    if dtype == "bf16":
        raw = rng.getrandbits(16 * count).to_bytes(2 * count, "little") if count else b""
        vals = list(struct.unpack(f"<{count}H", raw))
        for i, v in enumerate(vals):
            # An all-ones exponent is inf or NaN: draw again until finite.
            while (v >> 7) & 0xFF == 0xFF:
                v = rng.getrandbits(16)
            vals[i] = v
        return struct.pack(f"<{count}H", *vals)
    if dtype == "fp32":
        # A float input goes through the model's own quantisation, so most values sit where int8
        # codes are distinct, some beyond saturation, and some at every finite magnitude.
        vals = []
        for _ in range(count):
            r = rng.random()
            if r < 0.90:
                vals.append(rng.uniform(-4.0, 4.0))
            elif r < 0.98:
                vals.append(rng.uniform(-300.0, 300.0))
            else:
                bits = rng.getrandbits(32)
                while (bits >> 23) & 0xFF == 0xFF:
                    bits = rng.getrandbits(32)
                vals.append(struct.unpack("<f", struct.pack("<I", bits))[0])
        return struct.pack(f"<{count}f", *vals)
    raise ValueError(f"no random inputs for dtype `{dtype}`")


def make_inputs(tensors, seed, model_path, program):
    arrays = {}
    for t in tensors:
        dtype = t["dtype"]
        if dtype not in DTYPES:
            raise ValueError(f"input `{t['name']}` has dtype `{dtype}`, which this tool cannot draw")
        descr, _, size = DTYPES[dtype]
        rng = random.Random(f"{seed}:{os.path.basename(model_path)}:{program}:{t['name']}")
        shape = list(t["shape"])
        count = 1
        for d in shape:
            count *= d
        mem = t.get("mem_size", count * size)
        if mem != count * size:
            # An aligned frame input: the runtime takes the whole buffer, padding included.
            descr, shape, count, dtype = "|u1", [mem], mem, "uint8"
        arrays[t["name"]] = (descr, shape, random_bytes(rng, dtype, count))
    return arrays


# ---------------------------------------------------------------------------------------------
# comparison
def show(descr, raw):
    code = DESCR_CODES.get(descr)
    if code is None:
        return raw.hex()
    v = struct.unpack("<" + code, raw)[0]
    if descr == "<u2":
        # bf16 travels as uint16: show both readings
        return f"{v} (0x{v:04x}, bf16 {bf16_value(v):.6g})"
    if code in "fd":
        bits = raw[::-1].hex()
        return f"{v!r} (0x{bits})"
    return str(v)


def first_difference(ours, theirs):
    """None if identical, else a one-line description of the first difference, by vendor order."""
    missing = [n for n in theirs if n not in ours]
    if missing:
        return f"cvsim wrote no `{missing[0]}`"
    extra = [n for n in ours if n not in theirs]
    if extra:
        return f"the vendor wrote no `{extra[0]}`"
    for name, (vd, vs, vb) in theirs.items():
        od, os_, ob = ours[name]
        if od != vd:
            return f"`{name}`: dtype {od} on cvsim, {vd} on the vendor"
        if len(ob) != len(vb):
            return f"`{name}`: {len(ob)} bytes on cvsim, {len(vb)} on the vendor"
        if ob != vb:
            size = struct.calcsize("<" + DESCR_CODES[vd]) if vd in DESCR_CODES else 1
            at = next(i for i in range(len(ob)) if ob[i] != vb[i])
            idx = at // size
            lo = idx * size
            count = sum(1 for i in range(0, len(ob), size) if ob[i:i + size] != vb[i:i + size])
            return (f"`{name}`[{idx}]: cvsim {show(vd, ob[lo:lo + size])}, vendor {show(vd, vb[lo:lo + size])}"
                    f" ({count} of {len(ob) // size} elements differ)")
        if os_ != vs:
            return f"`{name}`: shape {list(os_)} on cvsim, {list(vs)} on the vendor"
    return None


# ---------------------------------------------------------------------------------------------
# runs
def tail(text, limit=300):
    lines = [l for l in text.strip().splitlines() if l.strip()]
    msg = lines[-1] if lines else "(no message)"
    return msg if len(msg) <= limit else msg[:limit] + "…"


def run_one(job, args, workdir):
    model, program, tensors = job["model"], job["program"], job["inputs"]
    tag = re.sub(r"[^A-Za-z0-9_.-]", "_", job["label"])
    d = os.path.join(workdir, tag)
    os.makedirs(d, exist_ok=True)
    inp, ours_p, theirs_p = (os.path.join(d, f) for f in ("input.npz", "cvsim.npz", "vendor.npz"))
    row = dict(label=job["label"], program=program, result="", detail="", cvsim_s=None,
               vendor_ms=None, vendor_s=None)
    try:
        write_npz(inp, make_inputs(tensors, args.seed, model, program))
    except ValueError as e:
        row.update(result="failing", detail=f"inputs: {e}")
        return row
    prog = ["--program", str(program)] if program else []

    t0 = time.monotonic()
    try:
        c = subprocess.run([args.cvsim, "run", model, "--input", inp, "--output", ours_p] + prog,
                           capture_output=True, text=True, timeout=args.timeout)
        cvsim_err = None if c.returncode == 0 else tail(c.stderr or c.stdout)
    except subprocess.TimeoutExpired:
        cvsim_err = f"timed out after {args.timeout} s"
    row["cvsim_s"] = time.monotonic() - t0

    t0 = time.monotonic()
    try:
        v = subprocess.run([sys.executable, args.vendor_run, model, "--input", inp, "--output", theirs_p] + prog,
                           capture_output=True, text=True, timeout=args.timeout)
        m = re.search(r"vendor forward ([0-9.]+) ms", v.stderr)
        if m:
            row["vendor_ms"] = float(m.group(1))
        vendor_err = None if v.returncode == 0 else tail(v.stderr or v.stdout)
        if v.returncode < 0:
            vendor_err = f"killed by signal {-v.returncode}: {vendor_err}"
    except subprocess.TimeoutExpired:
        vendor_err = f"timed out after {args.timeout} s"
    row["vendor_s"] = time.monotonic() - t0

    if cvsim_err or vendor_err:
        parts = []
        if cvsim_err:
            parts.append(f"cvsim: {cvsim_err}")
        if vendor_err:
            parts.append(f"vendor: {vendor_err}")
        row.update(result="failing", detail="; ".join(parts))
    else:
        diff = first_difference(read_npz(ours_p), read_npz(theirs_p))
        row.update(result="differing" if diff else "identical", detail=diff or "")
    if not args.keep:
        shutil.rmtree(d, ignore_errors=True)
    return row


def collect(paths):
    models = []
    for p in paths:
        if os.path.isfile(p):
            models.append(p)
        elif os.path.isfile(os.path.join(p, "model.cvimodel")):
            models.append(os.path.join(p, "model.cvimodel"))
        elif os.path.isdir(p):
            found = []
            for root, dirs, files in os.walk(p):
                dirs.sort()
                found += [os.path.join(root, f) for f in sorted(files) if f.endswith(".cvimodel")]
            if not found:
                sys.exit(f"{p}: no .cvimodel inside")
            models += found
        else:
            sys.exit(f"{p}: no such file or folder")
    return models


def label_of(model):
    """A case folder's model is named by its folder (with its category), a bare file by its name."""
    if os.path.basename(model) == "model.cvimodel":
        case = os.path.dirname(os.path.abspath(model))
        return os.path.join(os.path.basename(os.path.dirname(case)), os.path.basename(case))
    return os.path.basename(model)


def plan(models, args):
    jobs = []
    for m in models:
        label = label_of(m)
        try:
            info = subprocess.run([args.cvsim, "info", "--json", m], capture_output=True, text=True,
                                  timeout=args.timeout)
            if info.returncode:
                raise ValueError(tail(info.stderr))
            programs = json.loads(info.stdout)["programs"]
        except (ValueError, subprocess.TimeoutExpired) as e:
            jobs.append(dict(model=m, label=label, program=args.program or 0, inputs=None, error=f"cvsim info: {e}"))
            continue
        chosen = [args.program] if args.program is not None else range(len(programs))
        for k in chosen:
            if k >= len(programs):
                jobs.append(dict(model=m, label=label, program=k, inputs=None,
                                 error=f"no program {k} (the model has {len(programs)})"))
                continue
            name = label if len(programs) == 1 else f"{label} [program {k}]"
            jobs.append(dict(model=m, label=name, program=k, inputs=programs[k]["inputs"], error=None))
    return jobs


def fmt(x, digits=2):
    return "" if x is None else f"{x:.{digits}f}"


def markdown(rows, args, counts, started, elapsed):
    out = [f"# Differential model runs: cvsim against the vendor simulator ({started:%Y-%m-%d})", ""]
    out.append(f"Command: `{args.command}`  ")
    out.append(f"cvsim commit: `{git_commit()}`; seed {args.seed}; {args.jobs} job(s) at once; "
               f"started {started:%Y-%m-%d %H:%M} UTC, took {elapsed:.0f} s.")
    out.append("")
    out.append(f"**{counts['identical']} identical, {counts['differing']} differing, {counts['failing']} failing** "
               f"(of {len(rows)} model programs).")
    out.append("")
    out.append("Times are wall clock on the shared machine: `cvsim s` is the whole `cvsim run` process "
               "(load, inputs, emulation, outputs); `vendor fwd ms` is the vendor's `CVI_NN_Forward` "
               "alone as vendor_run.py prints it; `vendor s` is the whole vendor_run.py process.")
    out.append("")
    out.append("| model | result | first difference / failure | cvsim s | vendor fwd ms | vendor s |")
    out.append("|---|---|---|---:|---:|---:|")
    for r in rows:
        detail = r["detail"].replace("|", "\\|")
        out.append(f"| {r['label']} | {r['result']} | {detail} | {fmt(r['cvsim_s'])} | "
                   f"{fmt(r['vendor_ms'], 1)} | {fmt(r['vendor_s'])} |")
    timed = [r for r in rows if r["cvsim_s"] is not None and r["vendor_s"] is not None]
    if timed:
        cs, vs = sum(r["cvsim_s"] for r in timed), sum(r["vendor_s"] for r in timed)
        vf = sum(r["vendor_ms"] or 0 for r in timed) / 1000
        out.append(f"| **total** | | | {cs:.1f} | {1000 * vf:.0f} | {vs:.1f} |")
    out.append("")
    return "\n".join(out)


def git_commit():
    try:
        r = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return r.stdout.strip() + ("+changes" if dirty else "")
    except OSError:
        return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="+", metavar="PATH")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--jobs", type=int, default=1, help="models run at once (times are less telling above 1)")
    ap.add_argument("--markdown", metavar="FILE", help="also write the result table as markdown")
    ap.add_argument("--program", type=int, help="run only this program of each model (default: every program)")
    ap.add_argument("--keep", metavar="DIR", help="keep each model's input.npz, cvsim.npz and vendor.npz here")
    ap.add_argument("--cvsim", default=DEFAULT_CVSIM)
    ap.add_argument("--vendor-run", default=DEFAULT_VENDOR)
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per process")
    args = ap.parse_args()
    args.command = "python3 " + " ".join(os.path.relpath(a, REPO) if a == sys.argv[0] else a for a in sys.argv)
    for path, what in ((args.cvsim, "cvsim binary (cargo build --release)"), (args.vendor_run, "vendor_run.py")):
        if not os.path.isfile(path):
            sys.exit(f"{path}: no {what}")

    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.monotonic()
    jobs = plan(collect(args.paths), args)
    workdir = args.keep or tempfile.mkdtemp(prefix="diffrun-")
    rows = [None] * len(jobs)
    with cf.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futs = {}
        for i, j in enumerate(jobs):
            if j["error"]:
                rows[i] = dict(label=j["label"], program=j["program"], result="failing", detail=j["error"],
                               cvsim_s=None, vendor_ms=None, vendor_s=None)
            else:
                futs[pool.submit(run_one, j, args, workdir)] = i
        for f in cf.as_completed(futs):
            r = rows[futs[f]] = f.result()
            print(f"{r['result']:9} {r['label']}  cvsim {fmt(r['cvsim_s'])} s, vendor fwd "
                  f"{fmt(r['vendor_ms'], 1)} ms / {fmt(r['vendor_s'])} s  {r['detail']}", flush=True)
    for i, r in enumerate(rows):
        if jobs[i]["error"]:
            print(f"failing   {r['label']}  {r['detail']}")
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    counts = {k: sum(1 for r in rows if r["result"] == k) for k in ("identical", "differing", "failing")}
    print(f"{counts['identical']} identical, {counts['differing']} differing, {counts['failing']} failing")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(markdown(rows, args, counts, started, time.monotonic() - t0))
    sys.exit(0 if counts["differing"] == counts["failing"] == 0 else 1)


if __name__ == "__main__":
    main()
