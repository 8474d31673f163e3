//! Throughput of the conv-family executors (convolution, depthwise, max pool; int8 and bf16) on
//! mobilenet-like layers in CV181x local memory, one descriptor per iteration, reported as MACs.
//! `cargo bench -p cvsim-sim --bench tiu_conv`.

#[path = "../tests/tiu_conv_support/mod.rs"]
#[allow(dead_code)]
mod tiu_conv_support;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use cvsim_isa::{Chip, TiuDesc};
use cvsim_sim::tiu;
use tiu_conv_support::*;

struct Layer {
    name: &'static str,
    /// 0 conv, 1 depthwise, 2 max pool
    kind: u8,
    bf16: bool,
    c: u32,
    oc: u32,
    hw: u32,
    k: u32,
    stride: u32,
}

fn desc(chip: Chip, ly: &Layer) -> (TiuDesc, u64) {
    let lanes = chip.lanes();
    let esz = if ly.bf16 { 2 } else { 1 };
    let pad = (ly.k - 1) / 2;
    let o = (ly.hw + 2 * pad - ly.k) / ly.stride + 1;
    let g = Geom {
        n: 1,
        c: ly.c,
        ih: ly.hw,
        iw: ly.hw,
        kh: ly.k,
        kw: ly.k,
        st_h: ly.stride,
        st_w: ly.stride,
        dil_h: 1,
        dil_w: 1,
        pad: [pad; 4],
        ins_h: 0,
        ins_w: 0,
        ins_h_last: 0,
        ins_w_last: 0,
        oh: o,
        ow: o,
    };
    let mut d = base_desc(chip);
    d.opd_typ = ly.bf16 as u32;
    g.fill(&mut d, true);
    let mut a = Alloc::new();
    let x = a.aligned(lanes, [1, ly.c, ly.hw, ly.hw], esz).unwrap();
    let oc = if ly.kind == 0 { ly.oc } else { ly.c };
    let res = a.aligned(lanes, [1, oc, o, o], esz).unwrap();
    (d.opd0_addr, d.opd0_n, d.opd0_c, d.opd0_h, d.opd0_w) = (x.addr(), 1, ly.c, ly.hw, ly.hw);
    (d.res0_addr, d.res0_n, d.res0_c) = (res.addr(), 1, oc);
    [d.res0_n_str, d.res0_c_str, d.res0_h_str, d.res0_w_str] = res.str;
    d.short_res0_str = 3;
    let macs;
    match ly.kind {
        0 => {
            let per_oc = ly.k * ly.k * ly.c * esz;
            let w = a.take(per_oc * ly.oc.div_ceil(lanes)).unwrap();
            (d.tsk_typ, d.tsk_eu_typ, d.tsk_opd_num) = (0, 0, 2);
            (d.opd1_addr, d.opd1_n, d.opd1_c) = (w, ly.c, ly.oc);
            d.short_opd1_str = 1;
            macs = (ly.c * ly.oc * ly.k * ly.k * o * o) as u64;
        }
        1 => {
            let w = a.aligned(lanes, [1, ly.c, ly.k, ly.k], esz).unwrap();
            (d.tsk_typ, d.tsk_eu_typ, d.tsk_opd_num) = (1, 2, 2);
            (d.opd1_addr, d.opd1_n, d.opd1_c) = (w.addr(), 1, ly.c);
            d.short_opd0_str = 3;
            [d.opd0_n_str, d.opd0_c_str, d.opd0_h_str, d.opd0_w_str] = x.str;
            macs = (ly.c * ly.k * ly.k * o * o) as u64;
        }
        _ => {
            (d.tsk_typ, d.tsk_eu_typ, d.tsk_opd_num) = (1, 0, 1);
            d.short_res0_str = 0;
            macs = (ly.c * ly.k * ly.k * o * o) as u64;
        }
    }
    d.opt_res_shift = if ly.bf16 { 0 } else { 7 };
    (d.opt_opd0_sign, d.opt_opd1_sign, d.opt_res0_sign) = (1, 1, 1);
    (d, macs)
}

const LAYERS: [Layer; 9] = [
    Layer { name: "conv1x1 i8 64->64 28x28", kind: 0, bf16: false, c: 64, oc: 64, hw: 28, k: 1, stride: 1 },
    Layer { name: "conv3x3 i8 32->32 28x28", kind: 0, bf16: false, c: 32, oc: 32, hw: 28, k: 3, stride: 1 },
    Layer { name: "conv3x3/2 i8 3->16 56x56", kind: 0, bf16: false, c: 3, oc: 16, hw: 56, k: 3, stride: 2 },
    Layer { name: "dw3x3 i8 64 28x28", kind: 1, bf16: false, c: 64, oc: 64, hw: 28, k: 3, stride: 1 },
    Layer { name: "dw3x3/2 i8 64 28x28", kind: 1, bf16: false, c: 64, oc: 64, hw: 28, k: 3, stride: 2 },
    Layer { name: "maxpool2x2/2 i8 64 28x28", kind: 2, bf16: false, c: 64, oc: 64, hw: 28, k: 2, stride: 2 },
    Layer { name: "conv1x1 bf16 32->32 28x28", kind: 0, bf16: true, c: 32, oc: 32, hw: 28, k: 1, stride: 1 },
    Layer { name: "conv3x3 bf16 16->16 28x28", kind: 0, bf16: true, c: 16, oc: 16, hw: 28, k: 3, stride: 1 },
    Layer { name: "dw3x3 bf16 32 28x28", kind: 1, bf16: true, c: 32, oc: 32, hw: 28, k: 3, stride: 1 },
];

fn conv_family(c: &mut Criterion) {
    let chip = Chip::Cv181x;
    let mut group = c.benchmark_group("tiu_conv");
    for ly in &LAYERS {
        let (d, macs) = desc(chip, ly);
        let mut l = random_lmem(chip, 1);
        // Realistic bf16 data: magnitudes around 2^-3..2^0 (random data would be mostly
        // subnormal products, which x86 computes slowly and no network produces).
        if ly.bf16 {
            for (i, b) in l.data.iter_mut().enumerate() {
                if i % 2 == 1 {
                    *b = (*b & 0x81) | 0x3E;
                }
            }
        }
        tiu::exec(chip, &mut l, &d).expect("the layer's descriptor is valid");
        group.throughput(Throughput::Elements(macs));
        group.bench_function(ly.name, |b| b.iter(|| tiu::exec(chip, &mut l, &d).expect("descriptor runs")));
    }
    group.finish();
}

criterion_group!(benches, conv_family);
criterion_main!(benches);
