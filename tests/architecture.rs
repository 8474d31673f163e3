//! `ARCHITECTURE.md` names files that exist: every backticked path in it (and in its checklists
//! above all) is a file or folder of the repository. A path with a folder part is looked up from
//! the repository root and from each crate's source folder, as the document names them in context
//! (`codegen/memory.rs` under `compiler/src/`); a bare file name (`chip.rs`) must exist somewhere
//! under those folders. Paths into `../shared`, the spec documents it cites by section and the
//! vendor's own scripts are outside the repository and not checked.

use std::path::{Path, PathBuf};

const BASES: &[&str] = &[
    "",
    "src",
    "isa/src",
    "sim/src",
    "sim/src/timing",
    "runtime/src",
    "runtime/src/cpu",
    "capi/src",
    "compiler/src",
    "compiler/src/calibration",
    "compiler/src/codegen",
    "compiler/src/example",
    "compiler/src/onnx",
    "compiler/src/ir",
    "compiler/src/reference",
    "python/src",
    "python/cvsim",
];

const EXTENSIONS: &[&str] = &[".rs", ".py", ".md", ".toml", ".pyi", ".json", ".sh"];

/// Files the document names that live outside the repository: `../shared/spec/`'s documents and a
/// script of the vendor's toolchain.
const OUTSIDE: &[&str] = &["isa.md", "runtime.md", "timing.md", "run_calibration.py"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// Every token between backticks that looks like a path.
fn paths(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, span) in text.split('`').enumerate() {
        if i % 2 == 0 {
            continue;
        }
        for word in span.split_whitespace() {
            let word = word.trim_end_matches([',', ';', ':', ')']);
            let plain = word.chars().all(|c| c.is_ascii_alphanumeric() || "_-./*".contains(c));
            // A folder ends with `/`; anything else is a file with a known extension (so that
            // `beta/alpha` in a formula is not taken for a path).
            let looks = word.ends_with('/') || EXTENSIONS.iter().any(|e| word.ends_with(e));
            let outside = word.starts_with("../") || word.starts_with('/') || OUTSIDE.contains(&word);
            if plain && looks && !outside && !word.contains("//") {
                out.push(word.to_string());
            }
        }
    }
    out
}

/// Whether `name` (possibly with one `*` in its last component) exists in `dir`.
fn exists_in(dir: &Path, rel: &str) -> bool {
    let rel = rel.trim_end_matches('/');
    let Some((star_dir, pattern)) = rel.contains('*').then(|| rel.rsplit_once('/').unwrap_or(("", rel))) else {
        return dir.join(rel).exists();
    };
    let (pre, post) = pattern.split_once('*').expect("contains *");
    std::fs::read_dir(dir.join(star_dir)).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.len() >= pre.len() + post.len() && n.starts_with(pre) && n.ends_with(post)
        })
    })
}

/// Whether a file of this name exists anywhere under `dir` (outside `target/` and `.git/`).
fn found_under(dir: &Path, name: &str) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    entries.flatten().any(|e| {
        let n = e.file_name();
        let path = e.path();
        if path.is_dir() {
            n != "target" && n != ".git" && found_under(&path, name)
        } else {
            exists_in(dir, name) || n == name
        }
    })
}

#[test]
fn every_path_architecture_names_exists() {
    let root = root();
    let text = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md exists");
    let names = paths(&text);
    assert!(names.len() > 100, "the path scan found only {} paths", names.len());
    let missing: Vec<&String> = names
        .iter()
        .filter(|p| {
            if p.contains('/') {
                !BASES.iter().any(|b| exists_in(&root.join(b), p))
            } else {
                !found_under(&root, p)
            }
        })
        .collect();
    assert!(missing.is_empty(), "ARCHITECTURE.md names paths that do not exist: {missing:?}");
}

#[test]
fn the_checklists_are_there() {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    for heading in ["### Adding a chip", "### Adding a TIU or TDMA operation", "### Adding a CPU function"] {
        let at = text.find(heading).unwrap_or_else(|| panic!("ARCHITECTURE.md has no `{heading}`"));
        let section = &text[at..];
        let end = section[heading.len()..].find("\n#").map_or(section.len(), |e| e + heading.len());
        assert!(paths(&section[..end]).len() >= 3, "`{heading}` names fewer than three files");
    }
}
