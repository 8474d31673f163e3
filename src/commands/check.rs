//! `cvsim run --check`: the findings of the command-buffer checker (`cvsim_runtime::check`), as
//! text.

pub use cvsim_runtime::check::forward;
use cvsim_sim::check::Finding;
use std::fmt::Write;

/// One line per finding, prefixed with its routine, then a count.
pub fn render(findings: &[Finding]) -> String {
    let mut o = String::new();
    for f in findings {
        let _ = writeln!(o, "check: routine {}: {f}", f.desc().routine);
    }
    let _ = writeln!(o, "check: {} finding(s)", findings.len());
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use cvsim_isa::Engine;
    use cvsim_sim::check::{Bytes, DescRef};

    fn desc(engine: Engine, index: usize, layer: u32, name: Option<&str>) -> DescRef {
        DescRef { routine: 1, index, engine, op: "op".into(), layer, layer_name: name.map(String::from) }
    }

    #[test]
    fn layers_are_named_by_the_tensor_they_store_where_known() {
        let race = Finding::Race {
            tiu: desc(Engine::Tiu, 3, 7, Some("conv1_Relu")),
            tdma: desc(Engine::Tdma, 4, 8, None),
            tiu_writes: true,
            tdma_writes: false,
            bytes: Bytes { lane: 0, start: 0, end: 16, total: 16 },
            overlap: (10, 20),
        };
        let write =
            Finding::WeightWrite { desc: desc(Engine::Tdma, 9, 7, Some("conv1_Relu")), start: 0x100, end: 0x110 };
        let text = render(&[race, write]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("check: routine 1: "), "{text}");
        assert!(lines[0].contains("TIU #3 op (layer 7 `conv1_Relu`)"), "{text}");
        assert!(lines[0].contains("TDMA #4 op (layer 8)"), "layer 8 has no known tensor: {text}");
        assert!(lines[1].contains("TDMA #9 op (layer 7 `conv1_Relu`)"), "{text}");
        assert_eq!(lines[2], "check: 2 finding(s)");
    }
}
