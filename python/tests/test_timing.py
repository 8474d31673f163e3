"""`Model.timing` gives the figures `cvsim run --pmu` prints and the per-layer rows
`--pmu-csv` writes, for every network and model case of the corpus."""

import csv
import re

import pytest

import cvsim
from conftest import corpus_cases, need_corpus, run_cli

CASES = corpus_cases("networks", "models")

SUMMARY = re.compile(
    r"tdma_exe_tick:\s+(\d+)t, tiu_exe_tick\s+(\d+)t, inference_tick\s+(\d+)t\n"
    r".*\n"
    r"tdma_exe_ms:\s+([\d.]+)ms, tiu_exe_ms:\s+([\d.]+)ms, inference_ms:\s+([\d.]+)ms\n"
)


def i32(v):
    """A counter as the vendor's CSV prints it (C `int`)."""
    return (v + 2**31) % 2**32 - 2**31


def cli_timing(cvsim_bin, model, tmp_path, *args):
    prefix = tmp_path / "pmu"
    status, out, err = run_cli(cvsim_bin, "run", model, "--timing-only", "--pmu", "--pmu-csv", prefix, *args)
    assert status == 0, err
    with open(f"{prefix}_layer.csv", newline="") as f:
        rows = list(csv.reader(f, skipinitialspace=True))
    header, rows = rows[0], rows[1:]
    return out, [dict(zip(header, r)) for r in rows]


@pytest.mark.parametrize("folder,program,input_npz,expected_npz", CASES)
def test_timing_equals_cli(folder, program, input_npz, expected_npz, cvsim_bin, tmp_path):
    model = folder / "model.cvimodel"
    t = cvsim.Model(model, program=program).timing()
    out, layer_rows = cli_timing(cvsim_bin, model, tmp_path, "--program", program)

    # The summary text of each TPU routine is what --pmu prints, and the numbers say the same.
    assert "".join(r["summary_text"] for r in t["routines"]) == out
    printed = SUMMARY.findall(out)
    assert len(printed) == len(t["routines"]) >= 1
    for r, p in zip(t["routines"], printed):
        assert (r["tdma_exe_tick"], r["tiu_exe_tick"], r["inference_tick"]) == tuple(map(int, p[:3]))
        assert tuple(f"{r[k]:.2f}" for k in ("tdma_exe_ms", "tiu_exe_ms", "inference_ms")) == p[3:]
    for k in ("tdma_exe_ms", "tiu_exe_ms", "inference_ms"):
        assert t[k] == pytest.approx(sum(r[k] for r in t["routines"]), rel=1e-12)

    # The layer rows of the last TPU routine are those of the CSV file (which holds the last).
    last = t["routines"][-1]
    assert [l for l in t["layers"] if l["routine"] == last["routine"]] == last["layers"]
    assert len(last["layers"]) == len(layer_rows)
    for l, row in zip(last["layers"], layer_rows):
        assert (
            i32(l["layer"]),
            i32(l["start"]),
            i32(l["duration"]),
            i32(l["end"]),
            l["last_des_id"],
            i32(l["tiu"]),
            i32(l["load_neuron"]),
            i32(l["load_weight"]),
            i32(l["store_neuron"]),
            i32(l["bytes"]),
        ) == tuple(
            int(row[k])
            for k in (
                "layerID",
                "start",
                "duration",
                "end",
                "last_tdmaID",
                "TIU",
                "loadNeuron",
                "loadWeight",
                "storeNeuron",
                "byteCnt",
            )
        )


def test_ddr_load(cvsim_bin, tmp_path):
    need_corpus()
    model = CASES[0].values[0] / "model.cvimodel"
    m = cvsim.Model(model)
    idle, busy = m.timing(), m.timing(ddr_load=0.5)
    out, _ = cli_timing(cvsim_bin, model, tmp_path, "--ddr-load", "0.5")
    assert "".join(r["summary_text"] for r in busy["routines"]) == out
    assert busy["ddr_load"] == 0.5
    # Other bus masters slow TDMA, never TIU.
    assert busy["tdma_exe_ms"] > idle["tdma_exe_ms"] and busy["tiu_exe_ms"] == idle["tiu_exe_ms"]
    with pytest.raises(ValueError, match="--ddr-load 1.5"):
        m.timing(ddr_load=1.5)
