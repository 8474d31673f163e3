//! `cvsim example` as a user runs it: the binary builds, runs and checks the bundled model, and
//! the folder `--write` saves works with the other subcommands.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn cvsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cvsim")).args(args).output().expect("cvsim runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn expect_success(what: &str, o: &Output) -> String {
    assert!(
        o.status.success(),
        "{what}: exit status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        stdout(o),
        String::from_utf8_lossy(&o.stderr)
    );
    stdout(o)
}

fn list(v: &[i8]) -> String {
    format!("[{}]", v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", "))
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn example_runs_and_matches_the_reference() {
    for seed in [0u64, 3] {
        let out = expect_success("cvsim example", &cvsim(&["example", "--seed", &seed.to_string()]));
        // The printed output is the reference's, computed here independently of the binary.
        let ex = cvsim_compiler::example::build(seed);
        assert!(out.contains(&format!("output `output` int8 [1, 10, 1, 1]: {}", list(&ex.expected))), "{out}");
        assert!(out.contains("input  `input` int8 [1, 8, 12, 12]: ["), "{out}");
        assert!(out.contains("13 descriptors (5 TIU, 8 TDMA)"), "{out}");
        assert!(out.contains("example input: output equals the reference"), "{out}");
        assert!(out.contains("OK: the emulator's output equals the plain reference on all 4 inputs"), "{out}");
        assert!(!out.contains("MISMATCH"), "{out}");
    }
}

#[test]
fn written_example_works_with_the_other_subcommands() {
    let dir = scratch("cli_example_write");
    let d = dir.to_str().unwrap();
    let out = expect_success("cvsim example --write", &cvsim(&["example", "--write", d]));
    assert!(out.contains(&format!("wrote {d}/model.cvimodel")), "{out}");
    let model = dir.join("model.cvimodel");
    let m = model.to_str().unwrap();
    assert_eq!(std::fs::read(&model).unwrap(), cvsim_compiler::example::build(0).model_bytes);

    let info = expect_success("cvsim info", &cvsim(&["info", m]));
    assert!(info.contains("For cv181x chip ONLY") && info.contains("subfunc_0"), "{info}");
    let disasm = expect_success("cvsim disasm", &cvsim(&["disasm", m]));
    assert_eq!(disasm.lines().filter(|l| l.starts_with("subfunc_0 ")).count(), 13, "{disasm}");
    assert!(disasm.contains("conv.i8.qm"), "{disasm}");

    let input = dir.join("input.npz");
    let run = expect_success("cvsim run", &cvsim(&["run", m, "--input", input.to_str().unwrap()]));
    let expected = cvsim_compiler::example::build(0).expected;
    assert_eq!(run.trim(), format!("output int8 [1, 10, 1, 1]: {}", list(&expected)));

    // expected.npz holds the reference output, so this compares the emulator with the reference.
    let conf = expect_success("cvsim conformance", &cvsim(&["conformance", d]));
    assert!(conf.ends_with("1 passed, 0 failed\n"), "{conf}");
}
