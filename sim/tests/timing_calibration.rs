mod timing_support;
use cvsim_sim::timing::{schedule, PmuSummary, TimingConfig};
use timing_support::*;

fn model_ms(cfg: &TimingConfig, c: &Case) -> (f64, PmuSummary) {
    let (chip, routines) = tpu_routines(c);
    let mut total = 0.0;
    let mut last = PmuSummary::default();
    for cmds in &routines {
        let s = schedule(chip, cmds, cfg).expect("schedules");
        last = PmuSummary::from_schedule(&s);
        total += last.inference_ms();
    }
    (total, last)
}

#[test]
fn report() {
    if !corpus_present() {
        return;
    }
    let cfg = TimingConfig::default();
    for c in CASES {
        let (ms, s) = model_ms(&cfg, c);
        println!(
            "{:40} board {:>7} model {:8.3} tiu {:8.3} tdma {:8.3} par {:6.1}% MB {:.2}",
            c.name,
            c.board_ms.map(|b| format!("{b:.2}")).unwrap_or("-".into()),
            ms,
            s.tiu_exe_ms(),
            s.tdma_exe_ms(),
            s.parallelism_percent(),
            s.inference_data_mb()
        );
    }
}

#[test]
fn sweep() {
    if !corpus_present() {
        return;
    }
    let base = TimingConfig::default();
    let mut variants: Vec<(&str, TimingConfig)> = vec![("base", base.clone())];
    let mut v = base.clone();
    v.tdma.descriptor_ns = 0.0;
    for ch in cvsim_isa::Chip::ALL {
        v.ddr.get_mut(ch).efficiency = 1.0;
    }
    v.tdma.row_switch_ns = 0.0;
    variants.push(("tdma-fast", v));
    let mut v = base.clone();
    v.tiu.descriptor_ns = 0.0;
    variants.push(("tiu-ovh0", v));
    let mut v = base.clone();
    v.tdma.descriptor_ns = 0.0;
    variants.push(("tdma-ovh0", v));
    let mut v = base.clone();
    v.tiu.double_conv_channels = 1;
    variants.push(("dc1", v));
    let mut v = base.clone();
    v.tiu.double_conv_channels = 1;
    for ch in cvsim_isa::Chip::ALL {
        v.ddr.get_mut(ch).efficiency = 0.8;
    }
    variants.push(("dc1e.8", v));
    let mut v = base.clone();
    v.tiu.double_conv_channels = 1;
    v.tiu.descriptor_ns = 0.0;
    v.tdma.descriptor_ns = 100.0;
    for ch in cvsim_isa::Chip::ALL {
        v.ddr.get_mut(ch).efficiency = 0.8;
    }
    variants.push(("dc1e.8o", v));
    let mut v = base.clone();
    v.tdma.descriptor_ns = 600.0;
    variants.push(("tdma-ovh600", v));
    let mut v = base.clone();
    v.tiu.descriptor_ns = 600.0;
    variants.push(("tiu-ovh600", v));
    let mut v = base.clone();
    for ch in cvsim_isa::Chip::ALL {
        v.ddr.get_mut(ch).efficiency = 0.4;
    }
    variants.push(("eff0.4", v));
    for c in CASES {
        let (chip, routines) = tpu_routines(c);
        let n: usize = routines.iter().map(|r| r.len()).sum();
        let mut line =
            format!("{:38} n={:6} board {:>6}", c.name, n, c.board_ms.map(|b| format!("{b:.2}")).unwrap_or("-".into()));
        for (name, cfg) in &variants {
            let mut ms = 0.0;
            for cmds in &routines {
                ms += PmuSummary::from_schedule(&schedule(chip, cmds, cfg).unwrap()).inference_ms();
            }
            line += &format!(" {name}={ms:.2}");
        }
        println!("{line}");
    }
}

#[test]
fn timeline() {
    if !corpus_present() {
        return;
    }
    let name = std::env::var("CASE").unwrap_or("squeezenet1_1_cv183x_int8".into());
    let c = CASES.iter().find(|c| c.name == name).unwrap();
    let mut cfg = TimingConfig::default();
    if let Ok(j) = std::env::var("CFG") {
        cfg = TimingConfig::from_json(&j).unwrap();
    }
    let (chip, routines) = tpu_routines(c);
    for cmds in &routines {
        let s = schedule(chip, cmds, &cfg).unwrap();
        for e in &s.entries {
            let name = cvsim_sim::machine::op_name(chip, &cmds[e.index as usize].desc);
            println!(
                "{:5} {:4} id={:5} {:9} {:9} {:7} {:28} rd={} wr={} L{}",
                e.index,
                e.engine.name(),
                e.id,
                e.start,
                e.end,
                e.end - e.start,
                name,
                e.read_bytes,
                e.write_bytes,
                e.layer
            );
        }
        println!("{}", cvsim_sim::timing::pmu::summary_text(&s));
    }
}

#[test]
#[ignore]
fn grid() {
    let boards: Vec<(&Case, cvsim_isa::Chip, Vec<Vec<cvsim_isa::Command>>)> = CASES
        .iter()
        .filter(|c| c.board_ms.is_some())
        .map(|c| {
            let (ch, r) = tpu_routines(c);
            (c, ch, r)
        })
        .collect();
    let eval = |cfg: &TimingConfig| -> Vec<f64> {
        boards
            .iter()
            .map(|(c, chip, rs)| {
                let ms: f64 = rs
                    .iter()
                    .map(|cmds| PmuSummary::from_schedule(&schedule(*chip, cmds, cfg).unwrap()).inference_ms())
                    .sum();
                (ms / c.board_ms.unwrap()).ln()
            })
            .collect()
    };
    let mut best: Vec<(f64, String, Vec<f64>)> = Vec::new();
    for dc in [1u32, 2] {
        for bus in [16u32, 32] {
            for eff in [0.5, 0.6, 0.7, 0.8, 0.9, 1.0] {
                for tdma_ns in [0.0, 200.0, 400.0, 800.0] {
                    for tiu_ns in [0.0, 200.0, 400.0, 800.0] {
                        for sync_ns in [0.0, 250.0, 500.0, 1000.0, 2000.0] {
                            let mut cfg = TimingConfig::default();
                            cfg.tiu.double_conv_channels = dc;
                            cfg.ddr.cv183x.bus_bits = bus;
                            for ch in cvsim_isa::Chip::ALL {
                                cfg.ddr.get_mut(ch).efficiency = eff;
                            }
                            cfg.tdma.descriptor_ns = tdma_ns;
                            cfg.tiu.descriptor_ns = tiu_ns;
                            cfg.sync_ns = sync_ns;
                            let r = eval(&cfg);
                            let worst = r.iter().fold(0.0f64, |a, &x| a.max(x.abs()));
                            best.push((
                                worst,
                                format!("dc={dc} bus={bus} eff={eff} tdma={tdma_ns} tiu={tiu_ns} sync={sync_ns}"),
                                r,
                            ));
                        }
                    }
                }
            }
        }
    }
    best.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
    for (w, s, r) in best.iter().take(25) {
        println!(
            "{w:.3} {s} {}",
            r.iter().map(|x| format!("{:+.1}%", (x.exp() - 1.0) * 100.0)).collect::<Vec<_>>().join(" ")
        );
    }
}
