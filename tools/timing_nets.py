#!/usr/bin/env python3
"""Timing validation set: torchvision networks (seeded random weights) compiled by the vendor compiler
for each chip that the vendor's board tables (sophgo/cviruntime scripts/evb/best_performance_cv18?x.csv,
2021-12 .. 2022-10) list, and cvsim's predicted inference_ms against each board figure. The board
figures came from an older vendor compiler and trained weights, so each point is a measurement with
that caveat, not the truth. The cvimodels stay in WORKDIR, never in the repository.

usage:
  timing_nets.py compile CVSIM WORKDIR [NET...]
      Export, calibrate and compile (INT8) every network for every chip its table lists, then print
      predicted against board. Needs the vendor compiler's venv python (../shared/oracle/setup.sh
      --compiler; venv/bin/pip install torchvision "setuptools<70"). Run it under nice: it is
      CPU-heavy. `timing_nets.py CVSIM WORKDIR [NET...]` is the same.
  timing_nets.py report CVSIM WORKDIR [--config FILE] [--skip NET,...] [--markdown] [--json OUT]
      Predicted against board for every compiled model (and the extra board points below), with
      the summary the targets are stated in. Standard library only.
  timing_nets.py bounds CVSIM WORKDIR [--markdown]
      For every compiled model, its DRAM traffic (the bytes its descriptors read and write, from
      the model's fields alone) and the time that traffic needs at the DDR peak and at the TDMA
      streaming rate measured on a CV183x board, against the board figure: where a bound exceeds
      the board figure, the board cannot have run this program, whatever the timing model says.
  timing_nets.py fit CVSIM WORKDIR --grid GRID.json [--config FILE] [--hold NET,...] [--skip NET,...]
      Grid search over the constants GRID.json lists ({"tdma.descriptor_ns": [200, 300], ...},
      dotted paths into `cvsim timing-config`, `*` for every chip: "ddr.*.efficiency") on
      every network except the held-back and skipped ones; prints the best configs by the fit objective and,
      for the best, the held-back residuals. Standard library only.
"""
import itertools, json, os, re, subprocess, sys, tempfile

BOARD = {  # ms, from the four csv files
    "resnet18": {"cv180x": 136.03, "cv181x": 18.26, "cv182x": 12.73, "cv183x": 4.21},
    "mobilenet_v2": {"cv180x": 31.68, "cv181x": 7.07, "cv182x": 5.60, "cv183x": 1.59},
    "squeezenet1_1": {"cv180x": 27.45, "cv182x": 3.59, "cv183x": 1.31},
    # The tables say only "shufflenet_v2"; both widths are compiled (see the validation trace for
    # why x1.0 cannot be the network the board ran).
    "shufflenet_v2_x1_0": {"cv180x": 4.94, "cv181x": 1.53, "cv182x": 1.30, "cv183x": 0.75},
    "shufflenet_v2_x0_5": {"cv180x": 4.94, "cv181x": 1.53, "cv182x": 1.30, "cv183x": 0.75},
    "googlenet": {"cv180x": 119.58, "cv181x": 19.63, "cv182x": 13.94, "cv183x": 5.04},
    "inception_v3": {"cv181x": 55.95, "cv182x": 39.34, "cv183x": 11.91},
    "densenet121": {"cv180x": 198.20, "cv181x": 36.66, "cv182x": 28.55, "cv183x": 9.36},
    "densenet201": {"cv181x": 66.26, "cv182x": 58.10, "cv183x": 15.99},
    "resnext50_32x4d": {"cv181x": 49.19, "cv182x": 38.02, "cv183x": 12.70},
    "resnet50": {"cv182x": 31.03, "cv183x": 10.19},
    # The vendor's own builds of these two (sophgo/tpu_compiler regression/generic/generic_models.sh)
    # are Caffe models that differ from torchvision's: BVLC GoogLeNet has LRN layers and 5x5 convs,
    # the MSRA ResNet-50 strides its 1x1 convs; both are rebuilt here in the Caffe form.
    "googlenet_bvlc": {"cv180x": 119.58, "cv181x": 19.63, "cv182x": 13.94, "cv183x": 5.04},
    "resnet50_v1": {"cv182x": 31.03, "cv183x": 10.19},
    # BVLC GoogLeNet without its two LRN layers: with the bf16 LRN build, it brackets the board's
    # program, whose LRN the old compiler split into int8 steps.
    "googlenet_bvlc_nolrn": {"cv180x": 119.58, "cv181x": 19.63, "cv182x": 13.94, "cv183x": 5.04},
    "efficientnet_b0": {"cv183x": 2.70},
    "vgg16": {"cv183x": 39.54},
    # Networks torchvision lacks, from the `timm` package (same seeded random weights).
    "mobilenet_v1": {"cv180x": 37.60, "cv181x": 7.18, "cv182x": 5.30, "cv183x": 1.80},
    "efficientnet_lite0": {"cv180x": 29.19, "cv181x": 6.91, "cv182x": 5.62, "cv183x": 1.69},
    "senet_res50": {"cv181x": 53.47, "cv182x": 42.47, "cv183x": 15.57},
    "inception_v4": {"cv183x": 27.32},
    "res2net50": {"cv183x": 11.48},
    "ecanet50": {"cv183x": 15.36},
}
SIZE = {"inception_v3": 299, "inception_v4": 299}
# The tables' names that map onto a timm model: (timm name, constructor arguments). ECA-ResNet-50 as
# its paper has it (the plain ResNet-50 stem, ECA in every bottleneck) is built from timm's ResNet.
TIMM = {
    "mobilenet_v1": "mobilenetv1_100",
    "efficientnet_lite0": "efficientnet_lite0",
    "senet_res50": "seresnet50",
    "inception_v4": "inception_v4",
    "res2net50": "res2net50_26w_4s",
}
# Board points outside WORKDIR: the one exact-file figure (sophgo/tdl_models README, timing.md §5.3).
EXTRA = [("cls_hand_gesture", "cv181x", "/work/models/tdl_cv181x/cls_hand_gesture_128_128_INT8_cv181x.cvimodel", 1.09)]


def models(work):
    """(net, chip, path, board ms) of every compiled model, in table order."""
    out = []
    for net, chips in BOARD.items():
        for chip, board in chips.items():
            p = os.path.join(work, net, f"{net}_{chip}_int8.cvimodel")
            if os.path.exists(p):
                out.append((net, chip, p, board))
    for net, chip, p, board in EXTRA:
        if os.path.exists(p):
            out.append((net, chip, p, board))
    return out


def predict(cvsim, path, config=None):
    """Predicted inference_ms: the sum over the model's TPU routines (what the PMU summaries add
    up to), unrounded."""
    cmd = [cvsim, "timing-report", path, "--json"] + (["--timing-config", config] if config else [])
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"{' '.join(cmd)}: {r.stderr.strip()}")
    return sum(x["inference_ms"] for x in json.loads(r.stdout)["routines"])


def summary(rows):
    """The figures the targets are stated in, over (net, chip, predicted, board, err) rows."""
    a = sorted(abs(r[4]) for r in rows)
    n = len(a)
    med = (a[(n - 1) // 2] + a[n // 2]) / 2 if n else 0.0
    nets = {}
    for r in rows:
        nets.setdefault(r[0], []).append(r[4])
    one_sided = [k for k, v in nets.items() if len(v) > 1 and (all(x > 0.10 for x in v) or all(x < -0.10 for x in v))]
    return {
        "points": n,
        "median_abs_err": med,
        "max_abs_err": a[-1] if a else 0.0,
        "within_15": sum(x <= 0.15 for x in a),
        "within_30": sum(x <= 0.30 for x in a),
        "one_sided_over_10": one_sided,
    }


def ratios(rows):
    """(net, pair, model ratio, board ratio, residual) for the chip pairs the targets name."""
    by = {(r[0], r[1]): r for r in rows}
    out = []
    for net in dict.fromkeys(r[0] for r in rows):
        for a, b in (("cv180x", "cv181x"), ("cv183x", "cv182x")):
            if (net, a) in by and (net, b) in by:
                m = by[(net, a)][2] / by[(net, b)][2]
                bd = by[(net, a)][3] / by[(net, b)][3]
                out.append((net, f"{a}/{b}", m, bd, m / bd - 1))
    return out


def summary_line(s):
    return (f"{s['points']} points: median |error| {100*s['median_abs_err']:.1f}%, max {100*s['max_abs_err']:.1f}%, "
            f"within 15%: {s['within_15']}, within 30%: {s['within_30']}, "
            f"networks one-sided by >10%: {', '.join(s['one_sided_over_10']) or 'none'}")


def evaluate(cvsim, ms, config=None, skip=()):
    rows = []
    for net, chip, p, board in ms:
        if net in skip:
            continue
        pred = predict(cvsim, p, config)
        rows.append((net, chip, pred, board, (pred - board) / board))
    return rows


def set_path(cfg, path, value):
    """Set a dotted path of a `cvsim timing-config` document: `*` stands for every key at its
    level (`ddr.*.efficiency`), and a path ending at a per-chip table sets every chip."""
    def go(node, keys):
        k, rest = keys[0], keys[1:]
        targets = list(node) if k == "*" else [k]
        for t in targets:
            if rest:
                go(node[t], rest)
            elif isinstance(node[t], dict) and not isinstance(value, dict):
                for c in node[t]:
                    node[t][c] = value
            else:
                node[t] = value
    go(cfg, path.split("."))


def base_config(cvsim, config):
    cfg = json.loads(subprocess.run([cvsim, "timing-config"], capture_output=True, text=True, check=True).stdout)
    if config:
        over = json.load(open(config))

        def merge(a, b):
            for k, v in b.items():
                if isinstance(v, dict) and isinstance(a.get(k), dict):
                    merge(a[k], v)
                else:
                    a[k] = v
        merge(cfg, over)
    return cfg


def report(argv):
    cvsim, work = argv[0], argv[1]
    config = argv[argv.index("--config") + 1] if "--config" in argv else None
    skip = set(argv[argv.index("--skip") + 1].split(",")) if "--skip" in argv else set()
    rows = evaluate(cvsim, models(work), config, skip)
    if "--markdown" in argv:
        print("| network | chip | board ms | predicted ms | residual |")
        print("|---|---|---|---|---|")
        for net, chip, pred, board, err in rows:
            print(f"| {net} | {chip} | {board:.2f} | {pred:.3f} | {err*100:+.1f}% |")
    else:
        for net, chip, pred, board, err in rows:
            print(f"{net:20s} {chip}  predicted {pred:8.3f} ms  board {board:8.2f} ms  error {err*100:+6.1f}%")
    print(summary_line(summary(rows)))
    rs = ratios(rows)
    if "--markdown" in argv:
        print("\n| network | chips | model ratio | board ratio | residual |\n|---|---|---|---|---|")
        for net, pair, m, bd, e in rs:
            print(f"| {net} | {pair} | {m:.3f} | {bd:.3f} | {e*100:+.1f}% |")
    else:
        for net, pair, m, bd, e in rs:
            print(f"{net:20s} {pair}  model {m:.3f}  board {bd:.3f}  error {e*100:+6.1f}%")
    if "--json" in argv:
        json.dump(rows, open(argv[argv.index("--json") + 1], "w"), indent=0)


# The measured TDMA streaming rate (bytes per ns) of the vendor's CV183x board PMU trace; the
# default of `tdma.stream_bytes_per_ns`.
STREAM_BYTES_PER_NS = 6.6


def traffic(cvsim, path):
    """(DRAM bytes moved, DDR peak in bytes per ns) of a model's TPU routines."""
    r = subprocess.run([cvsim, "timing-report", path, "--json"], capture_output=True, text=True, check=True)
    total, peak = 0, None
    for rt in json.loads(r.stdout)["routines"]:
        for c in rt["tdma"]:
            if c["class"] != "Move":
                total += c["useful_bytes"]
                peak = c["peak_mb_s"] / 1e3
    return total, peak


def bounds(argv):
    cvsim, work = argv[0], argv[1]
    md = "--markdown" in argv
    if md:
        print("| network | chip | board ms | DRAM MiB | at peak ms | at stream rate ms | board / stream bound |")
        print("|---|---|---|---|---|---|---|")
    for net, chip, p, board in models(work):
        b, peak = traffic(cvsim, p)
        at_peak = b / peak / 1e6
        at_stream = b / min(peak, STREAM_BYTES_PER_NS) / 1e6
        if md:
            print(f"| {net} | {chip} | {board:.2f} | {b/2**20:.2f} | {at_peak:.2f} | {at_stream:.2f} | {board/at_stream:.2f} |")
        else:
            print(f"{net:20s} {chip}  board {board:8.2f} ms  DRAM {b/2**20:8.2f} MiB  at peak {at_peak:8.2f} ms"
                  f"  at stream rate {at_stream:8.2f} ms  board/bound {board/at_stream:5.2f}")


def fit(argv):
    cvsim, work = argv[0], argv[1]
    grid = json.load(open(argv[argv.index("--grid") + 1]))
    config = argv[argv.index("--config") + 1] if "--config" in argv else None
    hold = set(argv[argv.index("--hold") + 1].split(",")) if "--hold" in argv else set()
    skip = set(argv[argv.index("--skip") + 1].split(",")) if "--skip" in argv else set()
    base = base_config(cvsim, config)
    ms = [m for m in models(work) if m[0] not in skip]
    fit_ms = [m for m in ms if m[0] not in hold]
    held = [m for m in ms if m[0] in hold]
    keys = list(grid)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "cfg.json")
        for values in itertools.product(*(grid[k] for k in keys)):
            cfg = json.loads(json.dumps(base))
            for k, v in zip(keys, values):
                set_path(cfg, k, v)
            json.dump(cfg, open(path, "w"))
            rows = evaluate(cvsim, fit_ms, path)
            s = summary(rows)
            # Objective: the mean squared log residual, so that no network dominates by its size and
            # a factor of 2 too fast weighs as much as a factor of 2 too slow.
            import math
            obj = sum(math.log(r[2] / r[3]) ** 2 for r in rows) / max(len(rows), 1)
            results.append((obj, dict(zip(keys, values)), s, cfg))
            print(f"{obj:.5f} {dict(zip(keys, values))} {summary_line(s)}", flush=True)
        results.sort(key=lambda r: r[0])
        print("\nbest:")
        for obj, vals, s, _ in results[:5]:
            print(f"  {obj:.5f} {vals} {summary_line(s)}")
        best = results[0][3]
        out = os.path.join(work, "best_config.json")
        json.dump(best, open(out, "w"), indent=1)
        print(f"best config written to {out}")
        if held:
            rows = evaluate(cvsim, held, out)
            print("\nheld back:")
            for net, chip, pred, board, err in rows:
                print(f"  {net:20s} {chip}  predicted {pred:8.3f} ms  board {board:8.2f} ms  error {err*100:+6.1f}%")
            print("  " + summary_line(summary(rows)))


def bvlc_googlenet(torch, with_lrn=True):
    """BVLC GoogLeNet as the Caffe deploy file has it: LRN after the first two stages, 5x5
    branches, no batch norm, ceil-mode pooling, softmax output (`with_lrn=False` drops the LRNs)."""
    nn = torch.nn

    def conv(i, o, k, s=1, p=0):
        return nn.Sequential(nn.Conv2d(i, o, k, s, p), nn.ReLU())

    class Inception(nn.Module):
        def __init__(self, i, c1, r3, c3, r5, c5, pp):
            super().__init__()
            self.b1 = conv(i, c1, 1)
            self.b2 = nn.Sequential(conv(i, r3, 1), conv(r3, c3, 3, 1, 1))
            self.b3 = nn.Sequential(conv(i, r5, 1), conv(r5, c5, 5, 1, 2))
            self.b4 = nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True), conv(i, pp, 1))

        def forward(self, x):
            return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1)

    class LrnFn(torch.autograd.Function):
        # Exported as one ONNX LRN node: torch's own export decomposes LRN into ops the vendor
        # compiler cannot quantise.
        @staticmethod
        def forward(ctx, x):
            return torch.nn.functional.local_response_norm(x, 5, 1e-4, 0.75, 1.0)

        @staticmethod
        def symbolic(g, x):
            return g.op("LRN", x, size_i=5, alpha_f=1e-4, beta_f=0.75, bias_f=1.0)

    class Lrn(nn.Module):
        def forward(self, x):
            return LrnFn.apply(x)

    pool = lambda: nn.MaxPool2d(3, 2, ceil_mode=True)
    lrn = Lrn if with_lrn else nn.Identity
    return nn.Sequential(
        conv(3, 64, 7, 2, 3), pool(), lrn(), conv(64, 64, 1), conv(64, 192, 3, 1, 1), lrn(), pool(),
        Inception(192, 64, 96, 128, 16, 32, 32), Inception(256, 128, 128, 192, 32, 96, 64), pool(),
        Inception(480, 192, 96, 208, 16, 48, 64), Inception(512, 160, 112, 224, 24, 64, 64),
        Inception(512, 128, 128, 256, 24, 64, 64), Inception(512, 112, 144, 288, 32, 64, 64),
        Inception(528, 256, 160, 320, 32, 128, 128), pool(),
        Inception(832, 256, 160, 320, 32, 128, 128), Inception(832, 384, 192, 384, 48, 128, 128),
        nn.AvgPool2d(7), nn.Flatten(), nn.Linear(1024, 1000), nn.Softmax(1))


def resnet50_v1(torchvision):
    """ResNet-50 as MSRA's Caffe model has it: the stride of a down-sampling block on its first
    1x1 conv instead of its 3x3 conv."""
    m = torchvision.models.resnet50(weights=None)
    for layer in (m.layer2, m.layer3, m.layer4):
        b = layer[0]
        b.conv1.stride, b.conv2.stride = (2, 2), (1, 1)
    return m


def compile_nets(argv):
    import numpy as np, torch, torchvision
    cvsim, work = argv[0], argv[1]
    nets = argv[2:] or list(BOARD)
    venv_bin = os.path.dirname(sys.executable)
    env = dict(os.environ, PATH=venv_bin + ":" + os.environ["PATH"])
    os.makedirs(work, exist_ok=True)
    rows = []
    for net in nets:
        d = os.path.join(work, net)
        os.makedirs(d, exist_ok=True)
        s = SIZE.get(net, 224)
        onnx = os.path.join(d, f"{net}.onnx")
        if not os.path.exists(onnx):
            torch.manual_seed(0)
            kw = {"aux_logits": False, "init_weights": True} if net in ("googlenet", "inception_v3") else {}
            if net in ("googlenet_bvlc", "googlenet_bvlc_nolrn"):
                m = bvlc_googlenet(torch, with_lrn=net == "googlenet_bvlc").eval()
            elif net == "resnet50_v1":
                m = resnet50_v1(torchvision).eval()
            elif net == "ecanet50":
                from timm.models.resnet import ResNet, Bottleneck
                m = ResNet(Bottleneck, [3, 4, 6, 3], block_args=dict(attn_layer="eca")).eval()
            elif net in TIMM:
                import timm
                m = timm.create_model(TIMM[net], pretrained=False).eval()
            else:
                m = getattr(torchvision.models, net)(weights=None, **kw).eval()
            torch.onnx.export(m, torch.randn(1, 3, s, s), onnx, opset_version=13, input_names=["input"],
                              output_names=["output"], dynamo=False)

        def run(cmd):
            r = subprocess.run(cmd, cwd=d, shell=True, capture_output=True, text=True, env=env)
            if r.returncode:
                print(net, "FAILED", cmd, r.stdout[-800:], r.stderr[-800:], flush=True)
            return r.returncode == 0
        if not os.path.exists(os.path.join(d, f"{net}.mlir")):
            if not run(f"model_transform.py --model_name {net} --model_def {onnx} --input_shapes '[[1,3,{s},{s}]]' --mlir {net}.mlir"):
                continue
        if not os.path.exists(os.path.join(d, "cali_table")):
            os.makedirs(os.path.join(d, "cali"), exist_ok=True)
            rng = np.random.default_rng(0)
            for k in range(4):
                np.savez(os.path.join(d, "cali", f"{k}.npz"), input=rng.standard_normal((1, 3, s, s)).astype(np.float32))
            if not run(f"run_calibration.py {net}.mlir --dataset cali --input_num 4 -o cali_table"):
                continue
        for chip, board in BOARD[net].items():
            cm = os.path.join(d, f"{net}_{chip}_int8.cvimodel")
            if not os.path.exists(cm):
                if not run(f"model_deploy.py --mlir {net}.mlir --quantize INT8 --calibration_table cali_table --processor {chip} --model {cm}"):
                    continue
            ms = predict(cvsim, cm)
            err = (ms - board) / board
            rows.append((net, chip, ms, board, err))
            print(f"{net:20s} {chip}  predicted {ms:8.2f} ms  board {board:8.2f} ms  error {err*100:+6.1f}%", flush=True)
    if rows:
        print(summary_line(summary(rows)))


if __name__ == "__main__":
    a = sys.argv[1:]
    if not a:
        raise SystemExit(__doc__)
    mode = {"compile": compile_nets, "report": report, "fit": fit, "bounds": bounds}.get(a[0])
    if mode:
        mode(a[1:])
    else:
        compile_nets(a)
