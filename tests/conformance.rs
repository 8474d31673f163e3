//! The conformance corpus as tests: one test per case (whole models, networks, per-operator and
//! feature cases) and one per per-instruction vector file, each byte for byte against the vendor
//! simulator's outputs. Reads `../shared/conformance`; when it is absent the tests are reported as
//! ignored with a message, never as passed.

use cvsim::commands::{case, vectors};
use libtest_mimic::{Arguments, Failed, Trial};
use std::path::{Path, PathBuf};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance")
}

fn main() {
    let args = Arguments::from_args();
    let root = corpus();
    let mut trials = Vec::new();
    if !root.is_dir() {
        eprintln!("SKIP: conformance corpus not found at {}; its tests are ignored", root.display());
        trials
            .push(Trial::test("conformance corpus absent (../shared/conformance)", || Ok(())).with_ignored_flag(true));
        libtest_mimic::run(&args, trials).exit();
    }
    for group in ["models", "networks", "ops", "features"] {
        for c in case::find(&[root.join(group)]) {
            let name = format!("{group}/{}", c.name(&root.join(group)));
            trials.push(Trial::test(name, move || match case::run(&c) {
                Ok(None) => Ok(()),
                Ok(Some(why)) => Err(Failed::from(why)),
                Err(e) => Err(Failed::from(format!("error: {e}"))),
            }));
        }
    }
    for f in cvsim_sim::vectors::find_files(&[root.join("vectors")]) {
        let rel = f.strip_prefix(root.join("vectors")).unwrap_or(&f).display().to_string();
        trials.push(Trial::test(format!("vectors/{rel}"), move || {
            let (out, _, fail) = vectors::run(std::slice::from_ref(&f)).map_err(Failed::from)?;
            if fail > 0 {
                Err(Failed::from(out))
            } else {
                Ok(())
            }
        }));
    }
    libtest_mimic::run(&args, trials).exit();
}
