//! `cvsim debug` driven by scripts on the bundled example model: a whole session (snapshot),
//! write and layer breakpoints stopping where the command buffer says they must, and bad commands
//! answered without ending the session.

mod common;

use cvsim::commands::debug::{session, Outcome};
use cvsim::commands::diff::{self, Writer};
use cvsim::npz::{Array, ElemType};
use cvsim::similarity::Tolerance;
use cvsim_compiler::example;
use cvsim_isa::CommandStream;
use cvsim_runtime::cvimodel::Model;
use cvsim_runtime::session::{Instance, LoadedModel};
use std::path::Path;

fn instance(ex: &example::Example) -> Instance {
    let model = Model::from_vec(ex.model_bytes.clone()).expect("example parses");
    let mut inst = Instance::new(LoadedModel::new(model).unwrap(), 0).unwrap();
    let bytes: Vec<u8> = ex.input.iter().map(|&v| v as u8).collect();
    inst.set_input(&ex.input_name, &bytes).unwrap();
    inst
}

fn debug(script: &str) -> (String, Outcome) {
    let ex = example::build(0);
    let mut inst = instance(&ex);
    let mut out = Vec::new();
    let outcome = session(&mut inst, &mut script.as_bytes(), &mut out, true);
    (String::from_utf8(out).unwrap(), outcome)
}

#[test]
fn script_session_on_the_example() {
    let (out, outcome) = debug(
        "break 4\n\
         continue\n\
         show\n\
         # the conv result the pool reads: channels 0 and 1 (lanes 0 and 1), two rows each\n\
         local 0:0x300 1,2,2,12 stride 288,144,12,1\n\
         step 4\n\
         where\n\
         global shared+0 36 i8\n\
         continue\n\
         global io4+0 10 i8\n",
    );
    assert_eq!(outcome, Outcome { errors: 0, failed: None }, "{out}");
    let ex = example::build(0);
    let want: Vec<String> = ex.expected.iter().map(|v| format!("{v:>4}")).collect();
    assert!(out.contains(&format!("io4+0x0000: {}\n", want.join(" "))), "{out}");
    insta::assert_snapshot!(out);
}

/// The output tensor's first byte is written by the store `cvsim diff` names as its writer.
#[test]
fn write_breakpoint_on_the_output_stops_at_its_store() {
    let ex = example::build(0);
    let mut inst = instance(&ex);
    let t = inst.program().tensor(&ex.output_name).unwrap().clone();
    let (region, offset) = (t.region.expect("output in device memory"), t.region_offset);
    let reference = Array {
        name: ex.output_name.clone(),
        elem: ElemType::I8,
        shape: example::OUTPUT_SHAPE.iter().map(|&d| d as u64).collect(),
        data: ex.expected.iter().map(|&v| v as u8).collect(),
    };
    let input = Array {
        name: ex.input_name.clone(),
        elem: ElemType::I8,
        shape: example::INPUT_SHAPE.iter().map(|&d| d as u64).collect(),
        data: ex.input.iter().map(|&v| v as u8).collect(),
    };
    let report = diff::diff(&mut inst, &[input], &[reference], Tolerance::DEFAULT).unwrap();
    let Writer::Tpu { last, .. } = report.entries[0].writer else { panic!("{:?}", report.entries[0].writer) };

    let (out, outcome) = debug(&format!("break write {region}+{offset:#x}\ncontinue\nwhere\ncontinue\n"));
    assert_eq!(outcome, Outcome { errors: 0, failed: None }, "{out}");
    assert!(out.contains(&format!(": written by descriptor {last}\n")), "{out}");
    assert!(out.contains(&format!("after descriptor {last} of 13")), "{out}");
    assert_eq!(out.matches("written by descriptor").count(), 1, "{out}");
    assert!(out.ends_with("program finished\n"), "{out}");
}

#[test]
fn local_write_and_layer_breakpoints() {
    // Descriptor 3 (the conv) is the first to write its result at L0:0x0300; layer 4 (the fully
    // connected layer) starts with descriptor 8.
    let (out, outcome) = debug("break write L0:0x300\nbreak layer 4\ncontinue\ncontinue\ndelete\ncontinue\n");
    assert_eq!(outcome, Outcome { errors: 0, failed: None }, "{out}");
    let stops: Vec<&str> = out.lines().filter(|l| l.starts_with("breakpoint") && l.contains(": ")).collect();
    assert_eq!(
        stops,
        [
            "breakpoint 1: write to L0:0x0300",
            "breakpoint 2: layer 4",
            "breakpoint 1: write to L0:0x0300: written by descriptor 3",
            "breakpoint 2: layer 4: stopped before descriptor 8",
        ],
        "{out}"
    );
    assert!(out.contains("TIU  #3 ") && out.contains("res=L0:0x0300"), "{out}");
}

#[test]
fn quit_ends_the_session_at_once() {
    let (out, outcome) = debug("step 2\nquit\nglobal io4+0 4\n");
    assert_eq!(outcome, Outcome { errors: 0, failed: None }, "{out}");
    assert!(out.contains("stopped before descriptor 2"), "{out}");
    assert!(!out.contains("io4+0x0000") && !out.contains("program finished"), "{out}");
}

/// Every bad command is answered with an error and the session goes on; the script's exit status
/// is 1 at the end.
#[test]
fn bad_commands_keep_the_session_going() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("debug_bad_commands");
    let _ = std::fs::remove_dir_all(&dir);
    let o = common::cvsim(&["example", "--write", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let script = dir.join("bad.txt");
    std::fs::write(
        &script,
        "frobnicate\n\
         step 0\n\
         local 9:0 1,1,1,1\n\
         local 0:0x7ff0 1,1,1,32\n\
         global io7+0 4\n\
         global weight+0x1ba0 16\n\
         break write io4+0x100000\n\
         show 99\n\
         delete 3\n\
         continue\n\
         step\n\
         global io4+0 10 i8\n",
    )
    .unwrap();
    let model = dir.join("model.cvimodel");
    let input = dir.join("input.npz");
    let args = ["debug", model.to_str().unwrap(), "--input", input.to_str().unwrap(), "--script"];
    let o = common::cvsim(&[&args[..], &[script.to_str().unwrap()]].concat());
    let out = common::stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    let errors: Vec<&str> = out.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 10, "{out}");
    for want in [
        "error: unknown command `frobnicate` (try `help`)",
        "error: `step`: the count must be at least 1",
        "error: lane 9 is out of range: the chip has 8 lanes",
        "error: local memory access out of range: lane 0, bytes 0x7ff0..0x8010",
        "error: io7+0x0: 4 bytes from device address 0x0 are not inside one allocated region",
        "error: io4+0x100000 (device address 0x1400000) is not inside an allocated region",
        "error: no descriptor 99: routine 0 has 13",
        "error: no breakpoint 3 (there are 0)",
        "error: the program has finished",
    ] {
        assert!(out.contains(want), "missing `{want}`:\n{out}");
    }
    // The session went on to the end and still answers.
    assert!(out.contains("program finished\n"), "{out}");
    let ex = example::build(0);
    let want: Vec<String> = ex.expected.iter().map(|v| format!("{v:>4}")).collect();
    assert!(out.contains(&format!("io4+0x0000: {}\n", want.join(" "))), "{out}");

    // The same session without the mistakes exits 0.
    std::fs::write(&script, "continue\nglobal io4+0 10 i8\n").unwrap();
    let o = common::cvsim(&[&args[..], &[script.to_str().unwrap()]].concat());
    assert_eq!(o.status.code(), Some(0), "{}", common::stdout(&o));
}

/// A descriptor that fails stops the session after it, with the machine's error, and the session
/// still takes commands.
#[test]
fn a_failing_descriptor_stops_the_session_there() {
    let ex = example::build(0);
    let mut loaded = LoadedModel::new(Model::from_vec(ex.model_bytes.clone()).unwrap()).unwrap();
    {
        let l = std::sync::Arc::get_mut(&mut loaded).expect("only handle");
        let stream = l.cmdbufs.values_mut().next().expect("a cmdbuf");
        let mut cmds = stream.commands().to_vec();
        // The output store (descriptor 12) aimed 1 MiB past its 10-byte buffer.
        let cvsim_isa::Desc::Tdma(d) = &mut cmds[12].desc else { panic!("descriptor 12 is the store") };
        d.dst_base_addr_low = 0x10_0000;
        *stream = std::sync::Arc::new(CommandStream::from_commands(stream.chip(), &cmds).unwrap());
    }
    let mut inst = Instance::new(loaded, 0).unwrap();
    let bytes: Vec<u8> = ex.input.iter().map(|&v| v as u8).collect();
    inst.set_input(&ex.input_name, &bytes).unwrap();
    let mut out = Vec::new();
    let outcome =
        session(&mut inst, &mut "continue\nwhere\nglobal shared+0 4\ncontinue\nstep\n".as_bytes(), &mut out, true);
    let out = String::from_utf8(out).unwrap();
    assert_eq!(outcome.errors, 1, "{out}");
    let failed = outcome.failed.expect("the run failed");
    assert!(failed.contains("descriptor 12") || failed.contains("#12"), "{failed}");
    assert!(out.contains("failed: descriptor 12 (TDMA l2g.matrix): global memory access"), "{out}");
    assert!(out.contains("after descriptor 12 of 13"), "{out}");
    assert!(out.contains("shared+0x0000: 44 18 21 5d\n"), "{out}");
    assert!(out.contains("the run failed: "), "{out}");
    assert!(out.ends_with("error: the program has finished\n"), "{out}");
}
