//! Build script shared by the crates whose tests need something from outside the repository: the
//! conformance corpus (`../shared/conformance` beside the workspace), the compiler's models
//! (`../shared/compiler`), a C compiler or `readelf`.
//! It sets a `cfg` for each one that is missing, and the tests that need it carry
//! `#[cfg_attr(no_corpus, ignore = "...")]`, so that libtest reports them as ignored, with the
//! reason, instead of letting them pass without checking anything.

use std::path::PathBuf;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(no_corpus)");
    println!("cargo::rustc-check-cfg=cfg(no_compiler_models)");
    println!("cargo::rustc-check-cfg=cfg(no_cc)");
    println!("cargo::rustc-check-cfg=cfg(no_readelf)");

    let corpus = workspace_root().join("../shared/conformance");
    // A path that does not exist makes Cargo rerun the script on every build, so the cfg follows
    // the corpus both when it appears and when it goes away.
    println!("cargo::rerun-if-changed={}", corpus.display());
    if !corpus.is_dir() {
        println!("cargo::rustc-cfg=no_corpus");
    }
    // The ONNX models, calibration images and vendor builds the compiler's tests read.
    let models = workspace_root().join("../shared/compiler");
    println!("cargo::rerun-if-changed={}", models.display());
    if !models.is_dir() {
        println!("cargo::rustc-cfg=no_compiler_models");
    }

    println!("cargo::rerun-if-env-changed=PATH");
    for (tool, cfg) in [("cc", "no_cc"), ("readelf", "no_readelf")] {
        if !on_path(tool) {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}

/// The nearest ancestor of the crate whose manifest declares the workspace.
fn workspace_root() -> PathBuf {
    let crate_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("Cargo sets CARGO_MANIFEST_DIR"));
    crate_dir
        .ancestors()
        .find(|d| std::fs::read_to_string(d.join("Cargo.toml")).is_ok_and(|t| t.contains("[workspace]")))
        .unwrap_or(&crate_dir)
        .to_path_buf()
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(tool).is_file()))
}
