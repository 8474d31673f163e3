//! `cvsim info` and `cvsim disasm` on the conformance corpus, as a user runs them: reviewed
//! snapshots for two small models of each chip, and success on every model of the corpus.

mod common;

use common::{cvsim, stderr, stdout};

/// Two of the smallest per-operator cases of each chip (int8, and bf16 where the corpus has it).
const SNAPSHOT_CASES: [&str; 8] = [
    "ops/cv180x_int8/ConvAsymPadStride",
    "ops/cv180x_int8/Add",
    "ops/cv181x_int8/Clip_0",
    "ops/cv181x_bf16/SiLU",
    "ops/cv182x_int8/Sigmoid",
    "ops/cv182x_int8/ConvDw",
    "ops/cv183x_int8/DepthToSpaceDCR",
    "ops/cv183x_bf16/TorchLayerNorm",
];

fn run_ok(args: &[&str]) -> String {
    let o = cvsim(args);
    assert!(o.status.success(), "cvsim {args:?}: exit status {:?}\n{}", o.status.code(), stderr(&o));
    assert!(o.stderr.is_empty(), "cvsim {args:?} wrote to stderr:\n{}", stderr(&o));
    stdout(&o)
}

fn is_descriptor_line(l: &str) -> bool {
    !l.starts_with(' ') && !l.starts_with('#') && (l.contains(" TIU ") || l.contains(" TDMA "))
}

/// The head of a verbose listing: the routine headers before, and the whole field listing of,
/// the first TDMA and the first TIU descriptor.
fn verbose_head(text: &str) -> String {
    let (mut tiu, mut tdma, mut keep) = (false, false, true);
    let mut out = String::new();
    for l in text.lines() {
        if is_descriptor_line(l) {
            if tiu && tdma {
                break;
            }
            let is_tiu = l.contains(" TIU ");
            keep = if is_tiu { !tiu } else { !tdma };
            if is_tiu {
                tiu = true;
            } else {
                tdma = true;
            }
        } else if l.starts_with('#') {
            keep = true;
        }
        if keep {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

#[test]
#[cfg_attr(no_corpus, ignore = "needs the conformance corpus at ../shared/conformance")]
fn info_and_disasm_snapshots() {
    let root = common::corpus_dir();
    let mut checked = 0;
    for case in SNAPSHOT_CASES {
        let path = root.join(case).join("model.cvimodel");
        assert!(path.is_file(), "{case} is not in the corpus");
        let p = path.to_str().unwrap();
        let info = run_ok(&["info", p]);
        let disasm = run_ok(&["disasm", p]);
        let verbose = run_ok(&["disasm", "--verbose", p]);
        // The verbose listing has the plain line of every descriptor, each followed by its fields.
        let plain: Vec<&str> = disasm.lines().collect();
        let verbose_plain: Vec<&str> = verbose.lines().filter(|l| !l.starts_with(' ')).collect();
        assert_eq!(plain, verbose_plain, "{case}: --verbose lists other descriptors than the plain listing");
        let text = format!(
            "$ cvsim info {case}/model.cvimodel\n{info}\n$ cvsim disasm {case}/model.cvimodel\n{disasm}\n\
             $ cvsim disasm --verbose {case}/model.cvimodel  (head: first TDMA and first TIU descriptor)\n{}",
            verbose_head(&verbose)
        );
        let name = case.trim_start_matches("ops/").replace('/', "__");
        insta::assert_snapshot!(name, text);
        checked += 1;
    }
    eprintln!("{checked} of {} snapshot cases checked", SNAPSHOT_CASES.len());
}

/// The routine headers' descriptor counts add up to the descriptor lines printed.
fn check_disasm(case: &str, text: &str) {
    let lines = text.lines().filter(|l| is_descriptor_line(l)).count();
    let announced: usize = text
        .lines()
        .filter(|l| l.starts_with("# ") && l.contains(" descriptors, chip "))
        .map(|l| {
            let before = l.split(" descriptors").next().unwrap();
            before.rsplit(' ').next().unwrap().parse::<usize>().unwrap_or_else(|_| panic!("{case}: header {l}"))
        })
        .sum();
    assert!(lines > 0, "{case}: no descriptors listed");
    assert_eq!(lines, announced, "{case}: {lines} descriptor lines, the routine headers announce {announced}");
}

#[test]
#[cfg_attr(no_corpus, ignore = "needs the conformance corpus at ../shared/conformance")]
fn info_and_disasm_succeed_on_every_corpus_model() {
    let root = common::corpus_dir();
    let models = common::corpus_models(&root);
    assert!(!models.is_empty(), "no model.cvimodel under {}", root.display());
    let mut chips = std::collections::BTreeSet::new();
    for (case, path) in &models {
        let p = path.to_str().unwrap();
        let info = run_ok(&["info", p]);
        let chip = info
            .lines()
            .find_map(|l| l.strip_prefix("For ").and_then(|r| r.strip_suffix(" chip ONLY")))
            .unwrap_or_else(|| panic!("{case}: info names no chip:\n{info}"));
        chips.insert(chip.to_string());
        assert!(info.contains("Device memory"), "{case}: info has no device memory block");
        let json: serde_json::Value = serde_json::from_str(&run_ok(&["info", "--json", p]))
            .unwrap_or_else(|e| panic!("{case}: info --json is not JSON: {e}"));
        assert!(json["programs"].as_array().is_some_and(|v| !v.is_empty()), "{case}: no programs in JSON");
        check_disasm(case, &run_ok(&["disasm", p]));
    }
    eprintln!("{} corpus models: info and disasm succeed (chips {chips:?})", models.len());
    assert_eq!(chips.into_iter().collect::<Vec<_>>(), ["cv180x", "cv181x", "cv182x", "cv183x"]);
}
