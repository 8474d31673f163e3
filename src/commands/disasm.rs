//! `cvsim disasm`: one line per descriptor, optionally every field.

use cvsim_isa::cmdbuf::Command;
use cvsim_isa::disasm::{check_reserved, line, verbose_fields};
use cvsim_isa::dmabuf::{parse_dmabuf, DMABUF_MAGIC_M};
use cvsim_isa::{parse_cmdbuf, Chip, StreamError};
use std::fmt::Write;

/// Disassemble one decoded command list.
pub fn render(chip: Chip, routine: &str, cmds: &[Command], verbose: bool, out: &mut String) {
    for (i, c) in cmds.iter().enumerate() {
        let _ = writeln!(out, "{}", line(chip, routine, i, c));
        if verbose {
            out.push_str(&verbose_fields(chip, &c.desc));
            for m in check_reserved(chip, &c.desc) {
                let _ = writeln!(
                    out,
                    "    warning: reserved field `{}` = {:#x}, expected {:#x}",
                    m.field, m.value, m.expected
                );
            }
        }
    }
}

/// Decode a raw command buffer: a dmabuf (magic 0xB5B5) or a cmdbuf.
pub fn decode_raw(bytes: &[u8], chip: Option<Chip>) -> Result<(Chip, Vec<Command>), String> {
    if bytes.len() >= 2 && u16::from_le_bytes([bytes[0], bytes[1]]) == DMABUF_MAGIC_M {
        let chip = chip.ok_or("a dmabuf does not say which CV18xx chip it is for: pass --chip")?;
        let d = parse_dmabuf(bytes, chip).map_err(|e| format!("dmabuf: {e}"))?;
        Ok((chip, d.merged().map_err(|e| format!("dmabuf: {e}"))?))
    } else {
        parse_cmdbuf(bytes, chip).map_err(|e| match e {
            // Not even the first record header: say what else the file could have been.
            StreamError::BadMagic { offset: 0, found } => format!(
                "offset 0: not a .cvimodel (magic \"CviModel\"), a cmdbuf (first byte {found:#04x} is not a record \
                 magic 0xA5..0xA8) or a dmabuf (magic 0xB5B5)"
            ),
            e => format!("cmdbuf: {e}"),
        })
    }
}

/// Disassemble every TPU routine of every program of a model.
pub fn render_model(m: &cvsim_runtime::Model, verbose: bool, out: &mut String) -> Result<(), String> {
    let chip = m.chip();
    let mut done = std::collections::HashSet::new();
    for (pi, p) in m.programs.iter().enumerate() {
        for (ri, r) in p.routines.iter().enumerate() {
            let Some(name) = r.tpu_section() else {
                let _ = writeln!(out, "# program {pi} routine {ri}: CPU {}", r.cpu_function().unwrap_or("?"));
                continue;
            };
            if !done.insert(name.to_string()) {
                let _ = writeln!(out, "# program {pi} routine {ri}: TPU section `{name}` (listed above)");
                continue;
            }
            let sec = m.section(name).ok_or_else(|| format!("routine {ri} names missing section `{name}`"))?;
            let cmds = m.decode_cmdbuf(sec).map_err(|e| e.to_string())?;
            let _ = writeln!(
                out,
                "# program {pi} routine {ri}: TPU section `{name}`, {} descriptors, chip {chip}",
                cmds.len()
            );
            render(chip, name, &cmds, verbose, out);
        }
    }
    Ok(())
}
