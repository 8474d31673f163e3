//! A human report of a model, modelled on `cvimodel_tool -a dump` (spec runtime.md §2.5), plus the
//! model's inputs and outputs and its device memory; and the same content as JSON.

use crate::cvimodel::{hex, AttrValue, Model, Program, RoutineKind, Tensor};
use crate::memory::{format_mib, tensor_mem_size, MemoryOptions, MemoryPlan};
use md5::{Digest, Md5};
use serde::Serialize;
use serde_json::{json, Value};
use std::fmt::Write;

/// What the runtime reports for an input or output tensor (`CVI_TENSOR`), plus where it lives.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IoTensor {
    pub name: String,
    pub dtype: String,
    pub shape: [i64; 4],
    pub qscale: f32,
    pub zero_point: i32,
    pub region: Option<cvsim_isa::Region>,
    pub region_offset: u64,
    /// The format name stored in the model, if any.
    pub pixel_format: Option<String>,
    /// `CVI_TENSOR.pixel_format` (100 = plain tensor).
    pub cvi_pixel_format: i32,
    pub aligned: bool,
    /// `CVI_TENSOR.mem_size`, when the shape is static.
    pub mem_size: Option<u64>,
}

impl IoTensor {
    fn new(model: &Model, p: &Program, t: &Tensor) -> IoTensor {
        IoTensor {
            name: t.name.clone(),
            dtype: t.dtype.name().to_owned(),
            shape: t.shape,
            qscale: p.reported_qscale(t),
            zero_point: t.zero_point,
            region: t.region,
            region_offset: t.region_offset,
            pixel_format: t.pixel_format.clone(),
            cvi_pixel_format: t.cvi_pixel_format(),
            aligned: t.aligned,
            mem_size: tensor_mem_size(model.chip(), t).map(|(s, _)| s),
        }
    }
}

/// Inputs and outputs of a program, in order.
pub fn io_tensors(model: &Model, program: &Program) -> (Vec<IoTensor>, Vec<IoTensor>) {
    let io = |t| IoTensor::new(model, program, t);
    (program.inputs().map(io).collect(), program.outputs().map(io).collect())
}

/// The qscale `cvimodel_tool` shows for a tensor: `QuantInfo.qscale`, except for the output of the
/// program's first `quant` routine converting NONE → INT8 with a threshold (legacy models), which
/// shows 128/threshold.
fn shown_qscale(program: &Program, t: &Tensor) -> f32 {
    let quant = program.routines.iter().find(|r| r.cpu_function() == Some("quant"));
    if let Some(r) = quant {
        let is = |k: &str, v: &str| matches!(r.attr(k), Some(AttrValue::Str(s)) if s == v);
        if let (true, true, Some(AttrValue::Float(th))) = (is("from", "NONE"), is("to", "INT8"), r.attr("threshold")) {
            if *th != 0.0 && r.out_tensors.first() == Some(&t.name) {
                return 128.0 / th;
            }
        }
    }
    t.qscale
}

fn qscale_text(q: f32) -> String {
    if q <= 0.000001 || q > 400.0 {
        "-".to_owned()
    } else {
        format!("{q:.6}")
    }
}

fn dims4(d: &[i64]) -> [i64; 4] {
    let mut s = [1; 4];
    for (o, v) in s.iter_mut().zip(d) {
        *o = *v;
    }
    s
}

fn section_md5(model: &Model, s: &crate::cvimodel::Section) -> Result<String, String> {
    model.section_bytes(s).map(|b| hex(&Md5::digest(&b))).map_err(|e| e.to_string())
}

fn region_text(t: &Tensor) -> String {
    t.region.map_or("-".to_owned(), |r| format!("{r}:{:#x}", t.region_offset))
}

/// The text report.
pub fn render_info(model: &Model) -> String {
    let mut o = String::new();
    // Writing to a String cannot fail; the results are ignored.
    let _ = write_info(&mut o, model);
    o
}

fn write_info(o: &mut String, model: &Model) -> std::fmt::Result {
    if let Some(v) = &model.mlir_version {
        writeln!(o, "Mlir Version: {v}")?;
    }
    writeln!(o, "Cvimodel Version: {}", model.version)?;
    writeln!(o, "{} Build at {}", model.name, model.build_time.as_deref().unwrap_or(""))?;
    if let Some(t) = &model.target {
        writeln!(o, "For {t} chip ONLY")?;
    }
    writeln!(o, "CviModel Need ION Memory Size: ({} MB)", format_mib(crate::memory::vendor_estimate(model)))?;
    let h = &model.header;
    writeln!(
        o,
        "Header: version {}.{}, chip {}, body {} bytes, md5 {} ({})",
        h.major,
        h.minor,
        h.chip,
        h.body_size,
        hex(&h.md5),
        if model.md5_matches() { "matches" } else { "does not match the file" }
    )?;

    writeln!(o, "\nSections:")?;
    writeln!(o, "{:<3}  {:<10}{:<25}{:<12}{:<12}{:<12}{:<12}MD5", "ID", "TYPE", "NAME", "SIZE", "OFFSET", "ENCRYPT", "COMPRESS")?;
    let tf = |b: bool| if b { "True" } else { "False" };
    for (i, s) in model.sections.iter().enumerate() {
        let md5 = section_md5(model, s).unwrap_or_else(|e| format!("({e})"));
        writeln!(
            o,
            "{i:03}  {:<10}{:<25}{:<12}{:<12}{:<12}{:<12}{md5}",
            s.kind.tool_name(),
            s.name,
            s.size,
            s.offset,
            tf(s.encrypt),
            tf(s.compress)
        )?;
    }

    writeln!(o, "\nWeightMap:")?;
    writeln!(o, "{:<3}  {:<10}{:<10}{:<8}{:<5}{:<5}{:<5}{:<5}NAME", "ID", "OFFSET", "SIZE", "TYPE", "N", "C", "H", "W")?;
    for (i, w) in model.weight_map.iter().enumerate() {
        let [n, c, hh, ww] = dims4(&w.shape);
        // The tool prints the offset as a 32-bit int, dropping the region tag.
        writeln!(
            o,
            "{i:03}  {:<10}{:<10}{:<8}{n:<4} {c:<4} {hh:<4} {ww:<4} {}",
            w.offset as i32,
            w.size,
            w.dtype.name(),
            w.name
        )?;
    }

    for (pi, p) in model.programs.iter().enumerate() {
        write_program(o, model, pi, p)?;
    }
    Ok(())
}

fn write_program(o: &mut String, model: &Model, pi: usize, p: &Program) -> std::fmt::Result {
    writeln!(o, "\nProgram #{pi}")?;
    writeln!(o, "    {:<12}: {}", "batch_num", p.batch_num)?;
    if p.is_legacy_neuron() {
        writeln!(o, "    {:<12}: {}", "neuron_size", p.neuron_size)?;
    } else {
        writeln!(o, "    private_gmem_size: {}", p.private_gmem)?;
        writeln!(o, "    shared_gmem_size: {}", p.shared_gmem)?;
    }
    writeln!(o, "    {:<12}: {}", "inputs", p.input_tensors.join(","))?;
    writeln!(o, "    {:<12}: {}", "outputs", p.output_tensors.join(","))?;
    writeln!(o, "    {:<12}:", "routines")?;
    for (ri, r) in p.routines.iter().enumerate() {
        match &r.kind {
            RoutineKind::Tpu { .. } => writeln!(o, "     #{ri:02}  tpu")?,
            RoutineKind::Cpu { .. } => writeln!(o, "     #{ri:02}  cpu")?,
        }
        writeln!(o, "        inputs  : {}", r.in_tensors.join(","))?;
        writeln!(o, "        outputs : {}", r.out_tensors.join(","))?;
        match &r.kind {
            RoutineKind::Tpu { .. } => writeln!(o, "        section : {}", r.tpu_section().unwrap_or(""))?,
            RoutineKind::Cpu { function, args } => {
                writeln!(o, "        function: {function}")?;
                let args: Vec<String> = args.iter().map(|a| format!("{}={}", a.key, a.value)).collect();
                writeln!(o, "        args    : {}", args.join(", "))?;
            }
        }
    }

    writeln!(o, "\n    {:<12}:", "tensor_map")?;
    writeln!(
        o,
        "        {:<3}  {:<12}{:<15}{:<8}{:<5}{:<5}{:<5}{:<5}{:<12}{:<5}{:<9}{:<14}NAME",
        "ID", "OFFSET", "REGION", "TYPE", "N", "C", "H", "W", "QSCALE", "ZP", "MEM", "PIXEL_FORMAT"
    )?;
    for (ti, t) in p.tensor_map.iter().enumerate() {
        let [n, c, h, w] = t.shape;
        writeln!(
            o,
            "        {ti:03}  {:<12}{:<15}{:<8}{n:<4} {c:<4} {h:<4} {w:<4} {:<12}{:<5}{:<9}{:<14}{}",
            t.offset as i32,
            region_text(t),
            t.dtype.name(),
            qscale_text(shown_qscale(p, t)),
            t.zero_point,
            t.memory_class(p.is_legacy_neuron()),
            t.pixel_format.as_deref().unwrap_or("-"),
            t.name
        )?;
    }

    let (ins, outs) = io_tensors(model, p);
    for (title, list) in [("Inputs", &ins), ("Outputs", &outs)] {
        writeln!(o, "\n    {title}:")?;
        for t in list {
            let mem = t.mem_size.map_or("?".to_owned(), |m| m.to_string());
            let pix = t.pixel_format.as_deref().map_or(String::new(), |f| {
                format!(", pixel_format {f} ({}){}", t.cvi_pixel_format, if t.aligned { " aligned" } else { "" })
            });
            let region = t.region.map_or("no device memory".to_owned(), |r| format!("region {r} offset {:#x}", t.region_offset));
            writeln!(
                o,
                "        {}: {} {:?}, qscale {}, zero_point {}, {region}, mem_size {mem}{pix}",
                t.name, t.dtype, t.shape, t.qscale, t.zero_point
            )?;
        }
    }

    writeln!(o, "\n    Device memory (board runtime, this program selected, PMU off):")?;
    match MemoryPlan::new(model, MemoryOptions { program: pi, ..MemoryOptions::default() }) {
        Ok(m) => write_plan(o, &m)?,
        Err(e) => writeln!(o, "        cannot compute: {e}")?,
    }
    Ok(())
}

fn bytes_text(b: u64) -> String {
    let human = if b >= 1 << 20 {
        format!("{} MiB", format_mib(b))
    } else if b >= 1 << 10 {
        format!("{:.2} KiB", b as f64 / 1024.0)
    } else {
        format!("{b} B")
    };
    format!("{b:>10} bytes ({human})")
}

fn write_plan(o: &mut String, m: &MemoryPlan) -> std::fmt::Result {
    writeln!(o, "        {:<26}: {}", "weight", bytes_text(m.weight))?;
    for c in &m.cmdbufs {
        let what = format!("{} {}", c.kind.tool_name(), c.section);
        writeln!(
            o,
            "        {what:<26}: {} (dmabuf {} + pmubuf {}; {} TIU, {} TDMA descriptors; section {} bytes)",
            bytes_text(c.total),
            c.dmabuf,
            c.pmubuf,
            c.tiu_descriptors,
            c.tdma_descriptors,
            c.section_size
        )?;
    }
    writeln!(o, "        {:<26}: {}", "cmdbuf total", bytes_text(m.cmdbuf_total))?;
    writeln!(o, "        {:<26}: {}", "private gmem", bytes_text(m.private_gmem))?;
    writeln!(o, "        {:<26}: {}", "shared gmem", bytes_text(m.shared_gmem))?;
    for io in &m.io {
        writeln!(
            o,
            "        {:<26}: {} ({}, {:?})",
            format!("io mem region {}", io.region),
            bytes_text(io.size),
            io.tensor,
            io.rule
        )?;
    }
    writeln!(o, "        {:<26}: {}", "io mem total", bytes_text(m.io_total))?;
    writeln!(o, "        {:<26}: {}", "total", bytes_text(m.total))?;
    writeln!(o, "        {:<26}: {}", "per model (clones share)", bytes_text(m.per_model))?;
    writeln!(o, "        {:<26}: {}", "per instance", bytes_text(m.per_instance))?;
    writeln!(
        o,
        "        {:<26}: {} (cvimodel_tool estimate: {} MB)",
        "vendor estimate",
        bytes_text(m.vendor_estimate),
        format_mib(m.vendor_estimate)
    )?;
    Ok(())
}

/// The same content as [`render_info`], as JSON: the whole model, plus section MD5s, each
/// program's inputs, outputs and memory plan, and the vendor estimate.
pub fn info_json(model: &Model) -> Value {
    let mut v = serde_json::to_value(model).unwrap_or(Value::Null);
    v["md5_matches"] = json!(model.md5_matches());
    let est = crate::memory::vendor_estimate(model);
    v["vendor_estimate"] = json!({ "bytes": est, "mb": format_mib(est) });
    if let Some(secs) = v["sections"].as_array_mut() {
        for (sv, s) in secs.iter_mut().zip(&model.sections) {
            sv["md5"] = match section_md5(model, s) {
                Ok(m) => json!(m),
                Err(e) => json!({ "error": e }),
            };
        }
    }
    if let Some(progs) = v["programs"].as_array_mut() {
        for (pi, (pv, p)) in progs.iter_mut().zip(&model.programs).enumerate() {
            let (ins, outs) = io_tensors(model, p);
            pv["inputs"] = json!(ins);
            pv["outputs"] = json!(outs);
            pv["memory"] = match MemoryPlan::new(model, MemoryOptions { program: pi, ..MemoryOptions::default() }) {
                Ok(m) => json!(m),
                Err(e) => json!({ "error": e.to_string() }),
            };
        }
    }
    v
}
