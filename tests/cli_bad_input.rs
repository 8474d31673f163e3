//! `cvsim info` and `cvsim disasm` on broken files: each gives one clear error line naming the
//! offset and what is wrong, exit status 1, and never a panic. The files are made from the
//! bundled example model, so no corpus is needed.

mod common;

use common::{cvsim, stderr, stdout};
use cvsim_compiler::example;
use cvsim_isa::cmdbuf::encode_descs;
use cvsim_isa::dmabuf::build_dmabuf;
use cvsim_isa::parse_cmdbuf;
use std::path::{Path, PathBuf};

fn scratch(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli_bad_input");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Run cvsim on a bad file: exit status 1, nothing on stdout, one `cvsim: FILE: ...` line on
/// stderr containing every one of `wants`.
fn rejects(args: &[&str], file: &Path, wants: &[&str]) {
    let mut all: Vec<&str> = args.to_vec();
    all.push(file.to_str().unwrap());
    let o = cvsim(&all);
    let err = stderr(&o);
    let what = format!("cvsim {}", all.join(" "));
    assert!(!err.contains("panicked"), "{what} panicked:\n{err}");
    assert_eq!(o.status.code(), Some(1), "{what}: exit status\nstdout:\n{}\nstderr:\n{err}", stdout(&o));
    assert!(o.stdout.is_empty(), "{what} printed to stdout:\n{}", stdout(&o));
    let prefix = format!("cvsim: {}: ", file.display());
    assert!(
        err.starts_with(&prefix) && err.lines().count() == 1,
        "{what}: stderr is not one `{prefix}...` line:\n{err}"
    );
    for w in wants {
        assert!(err.contains(w), "{what}: error does not say `{w}`:\n{err}");
    }
}

fn model() -> Vec<u8> {
    example::build(0).model_bytes
}

fn body_end(m: &[u8]) -> usize {
    48 + u32::from_le_bytes(m[8..12].try_into().unwrap()) as usize
}

#[test]
fn truncated_models() {
    let m = model();
    let end = body_end(&m);
    let cases: [(usize, &[&str]); 4] = [
        (20, &["file offset 0", "20 bytes, shorter than the 32-byte cvimodel header"]),
        (40, &["file offset 0", "40 bytes", "48-byte"]),
        (end - 10, &["file offset 8", "past the end", &format!("{}-byte file", end - 10)]),
        (m.len() - 1, &["section", "subfunc_0", "file offset", &format!("outside the {}-byte file", m.len() - 1)]),
    ];
    for (cut, wants) in cases {
        let f = scratch(&format!("truncated_{cut}.cvimodel"), &m[..cut]);
        rejects(&["info"], &f, wants);
        // The first 8 bytes still say "CviModel", so disasm reads it as a model too.
        rejects(&["disasm"], &f, wants);
    }
}

#[test]
fn wrong_magic() {
    let mut m = model();
    m[..8].copy_from_slice(b"NotModel");
    let f = scratch("wrong_magic.cvimodel", &m);
    rejects(&["info"], &f, &["file offset 0", "magic \"NotModel\" is not \"CviModel\""]);
    rejects(&["info", "--json"], &f, &["file offset 0", "magic \"NotModel\" is not \"CviModel\""]);
    // Without the model magic disasm tries the raw forms and says so.
    rejects(&["disasm"], &f, &["offset 0", "not a .cvimodel", "0x4e", "cmdbuf", "dmabuf"]);
}

/// The example's command buffer as a raw cmdbuf file: TDMA records are 72 bytes, TIU 120.
fn raw_cmdbuf() -> Vec<u8> {
    let ex = example::build(0);
    let descs: Vec<_> = ex.steps.iter().map(|s| s.desc.clone()).collect();
    encode_descs(example::CHIP, &descs).unwrap()
}

#[test]
fn raw_cmdbuf_decodes() {
    // The unbroken file disassembles, with or without --chip, so the failures below are the edits'.
    let f = scratch("good.cmdbuf", &raw_cmdbuf());
    for args in [&["disasm"][..], &["disasm", "--chip", "cv181x"]] {
        let mut all = args.to_vec();
        all.push(f.to_str().unwrap());
        let o = cvsim(&all);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(stdout(&o).lines().count(), 13);
    }
}

#[test]
fn raw_cmdbuf_with_unknown_engine() {
    let mut b = raw_cmdbuf();
    let (_, cmds) = parse_cmdbuf(&b, None).unwrap();
    let at = cmds[4].offset;
    b[at + 2] = (b[at + 2] & 0xF0) | 7;
    let f = scratch("unknown_engine.cmdbuf", &b);
    let want = format!("offset {at}: unknown engine id 7");
    rejects(&["disasm"], &f, &["cmdbuf", &want]);
    rejects(&["disasm", "--chip", "cv181x"], &f, &["cmdbuf", &want]);
    rejects(&["disasm", "--verbose"], &f, &["cmdbuf", &want]);
    // info reads only models.
    rejects(&["info"], &f, &["file offset 0", "is not \"CviModel\""]);
}

#[test]
fn raw_cmdbuf_truncated_or_for_another_chip() {
    let b = raw_cmdbuf();
    let (_, cmds) = parse_cmdbuf(&b, None).unwrap();
    let last = cmds.last().unwrap().offset;
    let f = scratch("truncated.cmdbuf", &b[..b.len() - 5]);
    rejects(&["disasm"], &f, &[&format!("offset {last}: record payload of"), "runs past the end"]);
    let f = scratch("truncated_header.cmdbuf", &b[..last + 3]);
    rejects(&["disasm"], &f, &[&format!("offset {last}: truncated record header")]);
    let f = scratch("other_chip.cmdbuf", &b);
    rejects(&["disasm", "--chip", "cv183x"], &f, &["offset 0", "cv181x", "cv183x"]);
}

#[test]
fn raw_dmabuf_needs_its_chip_and_its_bytes() {
    let b = raw_cmdbuf();
    let (_, cmds) = parse_cmdbuf(&b, None).unwrap();
    let dma = build_dmabuf(example::CHIP, &cmds).unwrap();
    let f = scratch("good.dmabuf", &dma);
    let o = cvsim(&["disasm", "--chip", "cv181x", f.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    rejects(&["disasm"], &f, &["dmabuf", "--chip"]);
    let f = scratch("truncated.dmabuf", &dma[..100]);
    rejects(&["disasm", "--chip", "cv181x"], &f, &["dmabuf", "offset"]);
}
