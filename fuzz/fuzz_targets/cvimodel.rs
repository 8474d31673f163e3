//! The .cvimodel reader and everything `cvsim info` and `cvsim disasm` do with what it accepts:
//! any input gives a model or a typed error, never a panic, a hang or a huge allocation.

#![no_main]

use cvsim_runtime::info::{info_json, render_info};
use cvsim_runtime::memory::{MemoryOptions, MemoryPlan};
use cvsim_runtime::Model;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(m) = Model::from_bytes(data) else { return };
    for program in 0..m.programs.len() {
        let _ = MemoryPlan::new(&m, MemoryOptions { program, pmu: true, ..Default::default() });
    }
    let _ = render_info(&m);
    let _ = info_json(&m);
    let mut out = String::new();
    let _ = cvsim::commands::disasm::render_model(&m, true, &mut out);
});
