//! The dmabuf decoder (header, segments, TIU chunk reordering) and the merge of its per-engine
//! lists by sync ids: the first byte picks the chip, the rest is the buffer.

#![no_main]

use cvsim_isa::dmabuf::parse_dmabuf;
use cvsim_isa::Chip;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, buf)) = data.split_first() else { return };
    let chip = Chip::ALL[sel as usize % Chip::ALL.len()];
    let Ok(d) = parse_dmabuf(buf, chip) else { return };
    let Ok(cmds) = d.merged() else { return };
    let mut out = String::new();
    cvsim::commands::disasm::render(chip, "fuzz", &cmds, true, &mut out);
});
