//! The vendor's per-instruction vectors as templates: each is a load → operation → store program
//! the vendor's emitter wrote for one chip, with the global memory it reads and writes. The fuzzer
//! keeps their structure (so every descriptor stays one the vendor accepts) and varies the data
//! and the value fields.

use cvsim_isa::{parse_cmdbuf, Chip, Desc};
use std::path::Path;

pub struct Template {
    pub id: String,
    /// The file stem: `tiu_conv_int8`, `tdma`, `tdma_vlc`, …
    pub family: String,
    /// `xfer` / `eltwise` / `pool` / `mode` from the vector's description, when there is one.
    pub sub: String,
    pub descs: Vec<Desc>,
    /// Global memory the program starts from, by descriptor address.
    pub init: Vec<(u64, Vec<u8>)>,
    /// Regions the program writes (their whole content is compared; the whole image is, too).
    pub expect: Vec<(u64, usize)>,
    /// The per-channel quantisation records: (index in `init`, bytes per record).
    pub records: Option<(usize, usize)>,
}

impl Template {
    /// Lowest and highest global address any region touches.
    pub fn span(&self) -> (u64, u64) {
        let all = self.init.iter().map(|(a, b)| (*a, b.len())).chain(self.expect.iter().copied());
        let lo = all.clone().map(|(a, _)| a).min().unwrap_or(0);
        let hi = all.map(|(a, n)| a + n as u64).max().unwrap_or(lo);
        (lo, hi)
    }
}

fn hex(s: &str) -> Result<Vec<u8>, String> {
    if s.len() % 2 != 0 {
        return Err("odd hex length".into());
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|e| e.to_string())).collect()
}

/// Every vector of `chip` under `root/<chip>/`.
pub fn load(root: &Path, chip: Chip) -> Result<Vec<Template>, String> {
    let dir = root.join(chip.name());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let family = f.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            out.push(from_line(chip, &family, line).map_err(|e| format!("{}:{}: {e}", f.display(), i + 1))?);
        }
    }
    Ok(out)
}

/// One vector line (the vendor's vectors, or a case `fuzz --record` wrote) as a template.
pub fn from_line(chip: Chip, family: &str, line: &str) -> Result<Template, String> {
    let v: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
    let p = &v["params"];
    let sub = ["xfer", "eltwise", "pool", "mode", "op", "kind", "sub"]
        .iter()
        .find_map(|k| p[*k].as_str())
        .unwrap_or("")
        .to_string();
    let buf = hex(&s("cmdbuf_hex"))?;
    let (_, cmds) = parse_cmdbuf(&buf, Some(chip)).map_err(|e| e.to_string())?;
    let regions = |k: &str| -> Result<Vec<(u64, Vec<u8>)>, String> {
        v[k].as_array()
            .ok_or_else(|| format!("no {k}"))?
            .iter()
            .map(|r| Ok((r["addr"].as_u64().ok_or("addr")?, hex(r["hex"].as_str().ok_or("hex")?)?)))
            .collect()
    };
    let init = regions("gmem_init")?;
    let records = p["quant_record_bytes"].as_u64().and_then(|rb| {
        let ch = p["oc"].as_u64().or(p["c"].as_u64())?;
        let i = init.iter().position(|(_, b)| b.len() as u64 == ch * rb)?;
        Some((i, rb as usize))
    });
    Ok(Template {
        records,
        id: s("id"),
        family: family.to_string(),
        sub,
        descs: cmds.into_iter().map(|c| c.desc).collect(),
        init,
        expect: regions("gmem_expect")?.into_iter().map(|(a, b)| (a, b.len())).collect(),
    })
}

/// CV183x mdsum has no vendor vector: one template per element-wise int8 copy vector, its copy
/// replaced by an mdsum of the loaded tensor (EU-aligned input, as the copy's source is) into the
/// copy's destination, whose store then holds each channel's sum (and high byte) among the stale
/// bytes of the destination.
pub fn mdsum_templates(chip: Chip, all: &[Template]) -> Vec<Template> {
    use cvsim_isa::TiuOp;
    if !chip.layout().tiu_ops_by_flag() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for t in all.iter().filter(|t| t.family == "tiu_eltwise_int8" && t.sub == "copy") {
        let mut descs = t.descs.clone();
        let mut ok = false;
        for d in &mut descs {
            let Desc::Tiu(d) = d else { continue };
            if d.op(chip) != TiuOp::Copy {
                continue;
            }
            // The copy's source must be the aligned layout mdsum reads.
            let c_str = (d.opd0_h * d.opd0_w).div_ceil(16) * 16;
            if d.opd0_c_str != c_str || d.opd0_h_str != d.opd0_w || d.opd0_w_str != 1 {
                continue;
            }
            let (n, c, h, w) = (d.opd0_n, d.opd0_c, d.opd0_h, d.opd0_w);
            (d.tens_mdsum, d.tsk_opd_num, d.tsk_eu_typ, d.short_opd1_str) = (1, 1, 0, 0);
            (d.opd0_n, d.opd0_c, d.opd0_h, d.opd0_w) = (n, c, h, w);
            (d.opd0_n_str, d.opd0_c_str, d.opd0_h_str, d.opd0_w_str, d.short_opd0_str) = (0, 0, 0, 0, 0);
            (d.res0_n, d.res0_c, d.res0_h, d.res0_w) = (1, c, 1, 1);
            (d.res0_n_str, d.res0_c_str, d.res0_h_str, d.res0_w_str, d.short_res0_str) = (0, 0, 0, 0, 1);
            (d.opt_opd0_sign, d.opt_res0_sign, d.opt_opd0_seg, d.opt_res0_seg) = (1, 1, 1, 1);
            (d.opt_shift_typ, d.opt_rshift_typ, d.opt_res_shift) = (1, 1, 0);
            ok = true;
        }
        if ok {
            out.push(Template {
                id: format!("{}-mdsum", t.id),
                family: "tiu_mdsum_int8".into(),
                sub: "mdsum".into(),
                descs,
                init: t.init.clone(),
                expect: t.expect.clone(),
                records: None,
            });
        }
    }
    out
}
