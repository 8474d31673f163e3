//! The cmdbuf decoder: the first byte picks the chip (or none: the chip from the first record's
//! magic), the rest is the buffer. What decodes must disassemble and re-encode to the same bytes.

#![no_main]

use cvsim_isa::cmdbuf::encode_cmdbuf;
use cvsim_isa::{parse_cmdbuf, Chip};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, buf)) = data.split_first() else { return };
    let chip = Chip::ALL.get(sel as usize % (Chip::ALL.len() + 1)).copied();
    let Ok((chip, cmds)) = parse_cmdbuf(buf, chip) else { return };
    let mut out = String::new();
    cvsim::commands::disasm::render(chip, "fuzz", &cmds, true, &mut out);
    let again = encode_cmdbuf(chip, &cmds).expect("a decoded cmdbuf encodes");
    assert_eq!(again, buf, "decode then encode changed the bytes");
});
