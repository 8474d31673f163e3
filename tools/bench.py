#!/usr/bin/env python3
"""Time `cvsim run` on every case or model under some folders, against the vendor simulator's forward.

usage: bench.py PATH... [--repeat N] [--threads N] [--markdown FILE] [--cvsim BIN]
                [--vendor-run SCRIPT] [--no-vendor] [--manifests DIR...] [--measure-vendor]
                [--vendor-from FILE.md] [--seed N] [--timeout S]

Each PATH is a conformance case folder (model.cvimodel + input.npz), a .cvimodel file, or a folder
searched recursively for both. Per model the whole `cvsim run MODEL --input IN --output OUT`
process is timed `--repeat` times (default 3) and the median kept: load, forward and writing the
outputs, as a user sees it. A case's input is its input.npz; a bare model gets seeded random
inputs drawn as tools/diffrun.py draws them.

The vendor figure is its `CVI_NN_Forward` call alone: the case manifest's
`vendor_cmodel_forward_ms` where there is one (measured by the corpus on an idle machine), else
for a bare MODEL.cvimodel that of a case folder named MODEL under `--manifests DIR`, else
one run of ../shared/oracle/vendor_run.py (its `vendor forward X ms` line) on the same inputs,
measured now, under whatever else the machine is running; `--measure-vendor` measures it for
every model (right after cvsim's runs, under the same load) and shows the manifest's beside it.
The table says which, and cvsim's CPU time (user + system) beside its wall time. Speed-up is
vendor forward / cvsim whole process; the closing lines give the geometric mean and the slowest.

Developer tool: the vendor column needs the oracle (see ../shared/oracle/README.md); `--no-vendor`
times cvsim alone. Standard library only.
"""
import argparse
import datetime
import importlib.util
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DEFAULT_CVSIM = os.path.join(REPO, "target", "release", "cvsim")
DEFAULT_VENDOR = os.path.normpath(os.path.join(REPO, "..", "shared", "oracle", "vendor_run.py"))


def diffrun():
    spec = importlib.util.spec_from_file_location("diffrun", os.path.join(HERE, "diffrun.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def collect(paths):
    """(label, model path, case folder or None), sorted by label."""
    found = {}
    for p in paths:
        if os.path.isfile(p):
            found[os.path.basename(p)[: -len(".cvimodel")]] = (p, None)
            continue
        for root, dirs, files in os.walk(p):
            dirs.sort()
            if "model.cvimodel" in files and "input.npz" in files:
                label = os.path.relpath(root, os.path.dirname(os.path.normpath(p)))
                found[label] = (os.path.join(root, "model.cvimodel"), root)
            for f in files:
                if f.endswith(".cvimodel") and f != "model.cvimodel":
                    found[f[: -len(".cvimodel")]] = (os.path.join(root, f), None)
    return [(k, *found[k]) for k in sorted(found)]


def manifest_ms(case, label, manifests):
    """The manifest's vendor forward time: the case's own, or for a bare model that of a case
    folder of the same name under one of `manifests`."""
    if case is None:
        for d in manifests:
            for root, dirs, _ in os.walk(d):
                if os.path.basename(root) == label:
                    case = root
                    break
            if case:
                break
    if case is None:
        return None
    try:
        with open(os.path.join(case, "manifest.json")) as f:
            return json.load(f).get("vendor_cmodel_forward_ms")
    except (OSError, ValueError):
        return None


def random_input(dr, args, model, path):
    info = subprocess.run([args.cvsim, "info", "--json", model], capture_output=True, text=True, timeout=args.timeout)
    if info.returncode:
        raise RuntimeError(f"cvsim info: {info.stderr.strip()[-300:]}")
    tensors = json.loads(info.stdout)["programs"][0]["inputs"]
    dr.write_npz(path, dr.make_inputs(tensors, args.seed, model, 0))


def time_cvsim(args, model, inp, out):
    cmd = [args.cvsim, "run", model, "--input", inp, "--output", out]
    if args.threads is not None:
        cmd += ["--threads", str(args.threads)]
    times, cpus = [], []
    for _ in range(args.repeat):
        before = os.times()
        t0 = time.monotonic()
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
        times.append(time.monotonic() - t0)
        after = os.times()
        cpus.append((after.children_user - before.children_user) + (after.children_system - before.children_system))
        if r.returncode:
            raise RuntimeError(f"cvsim run: {(r.stderr or r.stdout).strip()[-300:]}")
    return statistics.median(times) * 1000, times, statistics.median(cpus) * 1000


def time_vendor(args, model, inp, out):
    r = subprocess.run([sys.executable, args.vendor_run, model, "--input", inp, "--output", out],
                       capture_output=True, text=True, timeout=args.timeout)
    m = re.search(r"vendor forward ([0-9.]+) ms", r.stderr)
    if not m:
        raise RuntimeError(f"vendor_run: {(r.stderr or r.stdout).strip()[-300:]}")
    return float(m.group(1))


def earlier_vendor(path):
    """label -> vendor forward ms measured by an earlier run of this tool (its --markdown table)."""
    out = {}
    with open(path) as f:
        for line in f:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) == 9 and cells[5] in ("measured", "measured earlier"):
                try:
                    out[cells[0]] = float(cells[4])
                except ValueError:
                    pass
    return out


def load_average():
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def markdown(rows, args, started, elapsed):
    out = [f"# `cvsim run` against the vendor simulator, {started:%Y-%m-%d %H:%M} UTC", ""]
    out.append(f"Command: `python3 tools/bench.py {' '.join(args.paths)} --repeat {args.repeat}"
               + (f" --manifests {' '.join(args.manifests)}" if args.manifests else "")
               + (f" --threads {args.threads}" if args.threads is not None else "")
               + (" --measure-vendor" if args.measure_vendor else "")
               + (f" --vendor-from {args.vendor_from}" if args.vendor_from else "")
               + (" --no-vendor" if args.no_vendor else "") + "`")
    out.append(f"cvsim: `{args.cvsim}`; host cores: {os.cpu_count()}; elapsed {elapsed:.0f} s; "
               f"load average (1 min) at the start of each model in the table.")
    out.append("")
    out.append("| model | cvsim whole process ms (median of %d) | runs ms | cvsim CPU ms (median) | vendor forward ms "
               "| vendor from | manifest ms | speed-up | load |" % args.repeat)
    out.append("|---|---|---|---|---|---|---|---|---|")
    ups = []
    for r in rows:
        if r.get("error"):
            out.append(f"| {r['label']} | failed: {r['error']} | | | | | | | |")
            continue
        up = r["vendor_ms"] / r["cvsim_ms"] if r.get("vendor_ms") else None
        if up:
            ups.append((up, r["label"]))
        out.append("| {} | {:.0f} | {} | {:.0f} | {} | {} | {} | {} | {:.1f} |".format(
            r["label"], r["cvsim_ms"], " ".join(f"{t * 1000:.0f}" for t in r["runs"]), r["cpu_ms"],
            f"{r['vendor_ms']:.1f}" if r.get("vendor_ms") else "-", r.get("vendor_from", "-"),
            f"{r['manifest_ms']:.1f}" if r.get("manifest_ms") else "-",
            f"{up:.1f}×" if up else "-", r["load"]))
    out.append("")
    def summary(rs, what):
        ups = [(r["vendor_ms"] / r["cvsim_ms"], r["vendor_ms"] / max(r["cpu_ms"], 1e-3), r["label"])
               for r in rs if r.get("vendor_ms") and not r.get("error")]
        if not ups:
            return
        geo = math.exp(sum(math.log(u) for u, _, _ in ups) / len(ups))
        geo_cpu = math.exp(sum(math.log(c) for _, c, _ in ups) / len(ups))
        worst = min(ups)
        below = sum(1 for u, _, _ in ups if u < 10)
        out.append(f"{what}: {len(ups)} models; geometric-mean speed-up {geo:.1f}× (wall), {geo_cpu:.1f}× against "
                   f"cvsim's CPU time; slowest {worst[2]} {worst[0]:.1f}×; {below} below 10×.")
        out.append("")

    summary(rows, "All")
    summary([r for r in rows if (r.get("vendor_ms") or 0) >= 100], "Vendor forward of 100 ms or more")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, help="passed to cvsim run --threads (default: cvsim's own)")
    ap.add_argument("--markdown", metavar="FILE")
    ap.add_argument("--cvsim", default=DEFAULT_CVSIM)
    ap.add_argument("--vendor-run", default=DEFAULT_VENDOR)
    ap.add_argument("--no-vendor", action="store_true", help="only time cvsim")
    ap.add_argument("--manifests", nargs="*", default=[], metavar="DIR",
                    help="for a bare MODEL.cvimodel, take the vendor time from a case folder named MODEL under DIR")
    ap.add_argument("--measure-vendor", action="store_true",
                    help="run the vendor even where a manifest has its time (the manifest's is shown beside it)")
    ap.add_argument("--vendor-from", metavar="FILE.md",
                    help="reuse the vendor times an earlier run measured (its --markdown table) instead of "
                         "running the vendor again")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=600)
    args = ap.parse_args()
    started = datetime.datetime.now(datetime.timezone.utc)
    t_start = time.monotonic()
    models = collect(args.paths)
    if not models:
        sys.exit("no .cvimodel files or case folders under " + ", ".join(args.paths))
    dr = diffrun()
    earlier = earlier_vendor(args.vendor_from) if args.vendor_from else {}
    rows = []
    with tempfile.TemporaryDirectory(prefix="cvsim-bench-") as work:
        for label, model, case in models:
            row = dict(label=label, load=load_average())
            try:
                inp = os.path.join(case, "input.npz") if case else os.path.join(work, "input.npz")
                if not case:
                    random_input(dr, args, model, inp)
                row["cvsim_ms"], row["runs"], row["cpu_ms"] = time_cvsim(args, model, inp, os.path.join(work, "cvsim.npz"))
                if not args.no_vendor:
                    ms = manifest_ms(case, label, args.manifests)
                    row["manifest_ms"] = ms
                    if ms is not None and not args.measure_vendor:
                        row["vendor_ms"], row["vendor_from"] = ms, "manifest"
                    elif label in earlier:
                        row["vendor_ms"], row["vendor_from"] = earlier[label], "measured earlier"
                    else:
                        row["vendor_ms"] = time_vendor(args, model, inp, os.path.join(work, "vendor.npz"))
                        row["vendor_from"] = "measured"
            except (RuntimeError, subprocess.TimeoutExpired, ValueError, OSError) as e:
                row["error"] = str(e).replace("|", "/").replace("\n", " ")
            rows.append(row)
            up = row["vendor_ms"] / row["cvsim_ms"] if row.get("vendor_ms") and row.get("cvsim_ms") else None
            print(f"{label}: cvsim {row.get('cvsim_ms', float('nan')):.0f} ms, vendor "
                  f"{row.get('vendor_ms') or float('nan'):.1f} ms ({row.get('vendor_from', '-')})"
                  + (f", {up:.1f}×" if up else "") + (f" — {row['error']}" if row.get("error") else ""),
                  file=sys.stderr, flush=True)
    text = markdown(rows, args, started, time.monotonic() - t_start)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)
    print(text, end="")
    sys.exit(1 if any(r.get("error") for r in rows) else 0)


if __name__ == "__main__":
    main()
