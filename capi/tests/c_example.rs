//! Builds the C example (`capi/c/run_model.c`) with the system C compiler against
//! `runtime/include/cviruntime.h` and `libcviruntime.so`, runs corpus models through it (a real
//! model, every feature case: each pixel format aligned and not, both programs of the two-program model)
//! with inputs from host memory and bound to device buffers (`CVI_RT_MemAlloc`), the fused-preprocessing
//! cases also as VPSS frames (`CVI_NN_SetTensorWithVideoFrame`), the others with every runtime buffer
//! from the application's own allocator (`CVI_RT_Global_SetMemAllocCallback`), and requires
//! byte-identical outputs. Reported as ignored, with the reason, without the corpus or a C compiler.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The cdylib cargo built for this test: `cargo test` leaves it in `deps/`, and only `cargo build`
/// copies it up to the profile directory, so the copy there may be stale; take the newer one. The
/// programs run with it first on `LD_LIBRARY_PATH` (cargo's own setting would win over the rpath).
fn library_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap().to_path_buf();
    let built = |d: &PathBuf| std::fs::metadata(d.join("libcviruntime.so")).and_then(|m| m.modified()).ok();
    [deps.parent().unwrap().to_path_buf(), deps]
        .into_iter()
        .filter_map(|d| built(&d).map(|t| (t, d)))
        .max_by_key(|(t, _)| *t)
        .map(|(_, d)| d)
        .unwrap_or_else(|| {
            panic!("libcviruntime.so was not built next to {} (cargo builds the cdylib with the crate)", exe.display())
        })
}

/// One C example built with the system compiler against the headers and the library, in a
/// working folder of its own: (program, folder, library folder).
fn c_program(source: &str) -> (PathBuf, PathBuf, PathBuf) {
    let lib = library_dir();
    let stem = Path::new(source).file_stem().unwrap().to_string_lossy().into_owned();
    let work = std::env::temp_dir().join(format!("cvsim-capi-{stem}-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let exe = work.join(&stem);
    let cc = Command::new("cc")
        .args(["-std=c11", "-Wall", "-Werror", "-o"])
        .arg(&exe)
        .arg(repo().join(source))
        .arg("-I")
        .arg(repo().join("runtime/include"))
        .arg("-L")
        .arg(&lib)
        .arg("-lcviruntime")
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .output()
        .unwrap();
    assert!(cc.status.success(), "cc {source} failed:\n{}", String::from_utf8_lossy(&cc.stderr));
    (exe, work, lib)
}

#[test]
#[cfg_attr(no_corpus, ignore = "needs the conformance corpus at ../shared/conformance")]
#[cfg_attr(no_cc, ignore = "needs a system C compiler `cc`")]
fn c_example_runs_corpus_models_byte_identically() {
    let corpus = repo().join("../shared/conformance");
    assert!(corpus.is_dir(), "conformance corpus not found at {}", corpus.display());
    let (exe, work, lib) = c_program("capi/c/run_model.c");

    // A real model, then every feature case (each pixel format, aligned and not, both chips) and the
    // second program of the two-program model.
    let mut cases: Vec<(PathBuf, usize, &str, &str)> =
        vec![(corpus.join("models/cls_keypoint_hand_gesture_1_42_INT8_cv181x"), 0, "input.npz", "expected.npz")];
    let mut features: Vec<PathBuf> = std::fs::read_dir(corpus.join("features"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("model.cvimodel").is_file())
        .collect();
    features.sort();
    for f in features {
        if f.join("input_program1.npz").is_file() {
            cases.push((f.clone(), 1, "input_program1.npz", "expected_program1.npz"));
        }
        cases.push((f, 0, "input.npz", "expected.npz"));
    }
    assert!(cases.len() >= 8, "expected the corpus's feature cases, found {}", cases.len() - 1);
    let mut runs = 0;
    for (dir, program, input, expected) in cases {
        let is_frame_case = dir.file_name().unwrap().to_string_lossy().starts_with("pp_");
        let modes: &[&str] = if is_frame_case { &["host", "device", "frame"] } else { &["host", "device", "pool"] };
        for mode in modes {
            let model = cvsim_runtime::Model::from_file(dir.join("model.cvimodel")).unwrap();
            let prog = &model.programs[program];
            let inputs = cvsim::npz::read(&dir.join(input)).unwrap();
            let out = work.join(format!("out-{program}-{}", dir.file_name().unwrap().to_string_lossy()));
            std::fs::create_dir_all(&out).unwrap();
            let mut files = Vec::new();
            for (k, name) in prog.input_tensors.iter().enumerate() {
                let a = inputs.iter().find(|a| &a.name == name).unwrap_or_else(|| panic!("{name} not in {input}"));
                let f = out.join(format!("input{k}.bin"));
                std::fs::write(&f, &a.data).unwrap();
                files.push(f);
            }
            eprintln!("C ABI: {} program {program}, inputs from {mode} memory", dir.display());
            let run = Command::new(&exe)
                .env("LD_LIBRARY_PATH", &lib)
                .arg(dir.join("model.cvimodel"))
                .arg(program.to_string())
                .arg(&out)
                .arg(mode)
                .args(&files)
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&run.stdout);
            assert!(run.status.success(), "{}: {}\n{}", dir.display(), stdout, String::from_utf8_lossy(&run.stderr));
            let expected = cvsim::npz::read(&dir.join(expected)).unwrap();
            for (k, name) in prog.output_tensors.iter().enumerate() {
                let e = expected.iter().find(|a| &a.name == name).unwrap();
                let got = std::fs::read(out.join(format!("output{k}.bin"))).unwrap();
                assert!(
                    got == e.data,
                    "{} ({mode}) output `{name}`: not byte-identical ({} vs {} bytes)",
                    dir.display(),
                    got.len(),
                    e.data.len()
                );
            }
            let target = format!("target {}", model.chip());
            assert!(stdout.contains(&target), "{}: no `{target}` in {stdout}", dir.display());
            if *mode == "pool" {
                // Weight, program and IO buffers from the application's pool, all given back.
                let given = stdout.lines().filter(|l| l.starts_with("pool: ") && l.contains(" bytes for ")).count();
                assert!(given >= 3, "{}: {stdout}", dir.display());
                assert!(stdout.contains(&format!("pool: {given} buffers given, {given} given back")), "{stdout}");
                assert!(
                    stdout.contains("(type 0)") && stdout.contains("(type 2)"),
                    "weight and neuron buffers: {stdout}"
                );
            }
            runs += 1;
        }
    }

    // With TPU_ENABLE_PMU=1 the library prints, after each TPU routine, the PMU summary that
    // `cvsim run --pmu` prints for the model (the timing model with its defaults).
    let dir = corpus.join("models/cls_keypoint_hand_gesture_1_42_INT8_cv181x");
    let loaded = cvsim_runtime::session::LoadedModel::from_file(dir.join("model.cvimodel")).unwrap();
    let timings = cvsim::commands::timing::time_program(&loaded, 0, &Default::default()).unwrap();
    let want = cvsim::commands::timing::pmu_text(&timings);
    assert!(want.contains("inference total info"), "{want}");
    let out = work.join("pmu");
    std::fs::create_dir_all(&out).unwrap();
    let inputs = cvsim::npz::read(&dir.join("input.npz")).unwrap();
    let mut files = Vec::new();
    for (k, name) in loaded.model.programs[0].input_tensors.iter().enumerate() {
        let f = out.join(format!("input{k}.bin"));
        std::fs::write(&f, &inputs.iter().find(|a| &a.name == name).unwrap().data).unwrap();
        files.push(f);
    }
    for (pmu, shown) in [("1", true), ("0", false)] {
        let run = Command::new(&exe)
            .env("LD_LIBRARY_PATH", &lib)
            .env("TPU_ENABLE_PMU", pmu)
            .arg(dir.join("model.cvimodel"))
            .arg("0")
            .arg(&out)
            .arg("host")
            .args(&files)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert!(run.status.success(), "{stdout}");
        assert_eq!(stdout.contains(&want), shown, "TPU_ENABLE_PMU={pmu}: {stdout}");
    }
    assert_eq!(
        runs,
        3 * 3 + 6 * 3,
        "host and device runs of every case, frame runs of the six pp_ cases, pool runs of the others"
    );
    std::fs::remove_dir_all(&work).ok();
}

/// The matrix-multiply kernel function from C on device buffers (`capi/c/matmul.c`), checked by
/// the program against its own plain product; needs no corpus.
#[test]
#[cfg_attr(no_cc, ignore = "needs a system C compiler `cc`")]
fn c_matmul_kernel_function_matches_a_plain_product() {
    let (exe, work, lib) = c_program("capi/c/matmul.c");
    for (shape, fmt) in [(["1", "512", "4096"], "uint8"), (["5", "300", "70"], "int8"), (["17", "9000", "3"], "int8")] {
        let run = Command::new(&exe).env("LD_LIBRARY_PATH", &lib).args(shape).arg(fmt).output().unwrap();
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert!(run.status.success(), "{shape:?} {fmt}: {stdout}{}", String::from_utf8_lossy(&run.stderr));
        assert!(stdout.contains(": ok"), "{stdout}");
    }
    std::fs::remove_dir_all(&work).ok();
}
