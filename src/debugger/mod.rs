//! `cvsim debug`: an interactive stepper over a model's command buffers.
//!
//! No threads: the forward pass runs every TPU routine through [`Machine::run_observed`] with the
//! debugger as its observer, and whenever the run must stop the observer reads and executes
//! commands right there, inside the hook, until one resumes the run. Commands come from a script
//! (echoed, no prompt) or a terminal (prompted).

pub mod command;
mod memory;

use command::{Addr, Break, Cmd, HELP};
use cvsim_isa::{disasm, Command, CommandStream, Desc};
use cvsim_runtime::session::Instance;
use cvsim_sim::check::footprint::{Footprint, Ranges};
use cvsim_sim::machine::{op_name, Observer, Step};
use cvsim_sim::memory::Touches;
use cvsim_sim::{ExecError, ExecErrorKind, ExecResult, Machine};
use std::cell::RefCell;
use std::io::{BufRead, Write};

/// How the run proceeds until the next stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Stop once this many more descriptors have run (0: before the next one).
    Step(usize),
    Continue,
    /// To the end, breakpoints off.
    Run,
}

/// Where a stop is, for `show` and `where`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pos {
    Before(usize),
    After(usize),
    End,
}

/// What ended a command loop.
enum Resume {
    Go,
    Quit,
}

/// The debugger's state across routines.
pub struct Debugger<'a> {
    input: &'a mut dyn BufRead,
    out: &'a mut dyn Write,
    script: bool,
    breaks: Vec<Break>,
    mode: Mode,
    /// Commands that failed (bad syntax, address out of range).
    pub errors: usize,
    quit: bool,
    routine: usize,
    section: String,
}

/// The layer id a descriptor carries.
fn layer(d: &Desc) -> Option<u32> {
    match d {
        Desc::Tiu(d) => Some(d.layer_info),
        Desc::Tdma(d) => Some(d.layer_id),
        Desc::Cpu(_) => None,
    }
}

impl<'a> Debugger<'a> {
    pub fn new(input: &'a mut dyn BufRead, out: &'a mut dyn Write, script: bool) -> Debugger<'a> {
        Debugger {
            input,
            out,
            script,
            breaks: Vec::new(),
            mode: Mode::Step(0),
            errors: 0,
            quit: false,
            routine: 0,
            section: String::new(),
        }
    }

    fn watching(&self) -> bool {
        self.breaks.iter().any(|b| matches!(b, Break::Write(_)))
    }

    /// Turn the memories' access traces on exactly while a write breakpoint needs them.
    fn set_tracing(&self, m: &mut Machine) {
        let on = self.watching() && self.mode != Mode::Run;
        if on != m.lmem.trace.is_some() {
            m.lmem.trace = on.then(|| RefCell::new(Touches::default()));
            m.gmem.trace = on.then(|| RefCell::new(Vec::new()));
        }
    }

    /// Run the instance's program under the debugger; `Ok(true)` if the program ran to its end
    /// (not quit), `Err` with the run's error if a descriptor or routine failed.
    pub fn run(&mut self, inst: &mut Instance) -> Result<bool, String> {
        let sections: Vec<String> =
            inst.program().routines.iter().map(|r| r.tpu_section().unwrap_or_default().to_string()).collect();
        let r = inst.forward_with(&mut |routine, m, cmds| {
            self.routine = routine;
            self.section = sections[routine].clone();
            self.set_tracing(m);
            let r = m.run_observed(cmds, self);
            m.lmem.trace = None;
            m.gmem.trace = None;
            r
        });
        if self.quit {
            return Ok(false);
        }
        let failed = r.as_ref().err().map(|e| e.to_string());
        match &failed {
            Some(e) => self.say(&format!("the run failed: {e}")),
            None => self.say("program finished"),
        }
        if let Resume::Quit = self.prompt(&mut inst.machine, &[], Pos::End) {
            self.quit = true;
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(!self.quit),
        }
    }

    fn say(&mut self, s: &str) {
        let _ = writeln!(self.out, "{s}");
    }

    fn error(&mut self, s: &str) {
        self.errors += 1;
        let _ = writeln!(self.out, "error: {s}");
    }

    fn line(&self, m: &Machine, cmds: &[Command], i: usize) -> String {
        disasm::line(m.chip, &self.section, i, &cmds[i])
    }

    /// Read and execute commands until one resumes the run (or the input ends: quit).
    fn prompt(&mut self, m: &mut Machine, cmds: &[Command], pos: Pos) -> Resume {
        loop {
            if !self.script {
                let _ = write!(self.out, "(cvsim) ");
                let _ = self.out.flush();
            }
            let mut text = String::new();
            match self.input.read_line(&mut text) {
                Ok(0) => {
                    if !self.script {
                        // End the prompt's line, as a shell does on ^D.
                        let _ = writeln!(self.out);
                    }
                    return Resume::Quit;
                }
                Ok(_) => {}
                Err(e) => {
                    self.error(&format!("reading commands: {e}"));
                    return Resume::Quit;
                }
            }
            let cmd = match command::parse(&text) {
                Ok(None) => continue,
                Ok(Some(c)) => c,
                Err(e) => {
                    if self.script {
                        self.say(&format!("(cvsim) {}", text.trim()));
                    }
                    self.error(&e);
                    continue;
                }
            };
            if self.script {
                self.say(&format!("(cvsim) {}", text.trim()));
            }
            match self.execute(m, cmds, pos, cmd) {
                Ok(Some(r)) => return r,
                Ok(None) => {}
                Err(e) => self.error(&e),
            }
        }
    }

    fn execute(&mut self, m: &mut Machine, cmds: &[Command], pos: Pos, cmd: Cmd) -> Result<Option<Resume>, String> {
        let finished = || "the program has finished".to_string();
        match cmd {
            Cmd::Step(_) | Cmd::Continue | Cmd::Run if pos == Pos::End => return Err(finished()),
            Cmd::Step(n) => self.mode = Mode::Step(n),
            Cmd::Continue => self.mode = Mode::Continue,
            Cmd::Run => self.mode = Mode::Run,
            Cmd::Break(b) => {
                if let Break::Write(a) = b {
                    memory::check_addr(m, a)?;
                }
                self.breaks.push(b);
                self.say(&format!("breakpoint {}: {b}", self.breaks.len()));
                return Ok(None);
            }
            Cmd::Breaks => {
                if self.breaks.is_empty() {
                    self.say("no breakpoints");
                }
                for (k, b) in self.breaks.clone().iter().enumerate() {
                    self.say(&format!("breakpoint {}: {b}", k + 1));
                }
                return Ok(None);
            }
            Cmd::Delete(None) => {
                self.breaks.clear();
                return Ok(None);
            }
            Cmd::Delete(Some(n)) => {
                if n == 0 || n > self.breaks.len() {
                    return Err(format!("no breakpoint {n} (there are {})", self.breaks.len()));
                }
                self.breaks.remove(n - 1);
                return Ok(None);
            }
            Cmd::Show(which) => {
                let i = match (which, pos) {
                    (Some(i), _) if pos != Pos::End => i,
                    (None, Pos::Before(i) | Pos::After(i)) => i,
                    _ => return Err(finished()),
                };
                if i >= cmds.len() {
                    return Err(format!("no descriptor {i}: routine {} has {}", self.routine, cmds.len()));
                }
                let s = format!("{}\n{}", self.line(m, cmds, i), disasm::verbose_fields(m.chip, &cmds[i].desc));
                let _ = write!(self.out, "{s}");
                return Ok(None);
            }
            Cmd::Where => {
                let s = match pos {
                    Pos::Before(i) => format!(
                        "routine {} (`{}`): before descriptor {i} of {}",
                        self.routine,
                        self.section,
                        cmds.len()
                    ),
                    Pos::After(i) => {
                        format!("routine {} (`{}`): after descriptor {i} of {}", self.routine, self.section, cmds.len())
                    }
                    Pos::End => "the program has finished".to_string(),
                };
                self.say(&s);
                return Ok(None);
            }
            Cmd::Local { lane, offset, shape, stride, format } => {
                let s = memory::local(m, lane, offset, shape, stride, format)?;
                let _ = write!(self.out, "{s}");
                return Ok(None);
            }
            Cmd::Global { region, offset, len, format } => {
                let s = memory::global(m, region, offset, len, format)?;
                let _ = write!(self.out, "{s}");
                return Ok(None);
            }
            Cmd::Help => {
                let _ = write!(self.out, "{HELP}");
                return Ok(None);
            }
            Cmd::Quit => return Ok(Some(Resume::Quit)),
        }
        Ok(Some(Resume::Go))
    }

    /// The first breakpoint that stops before descriptor `i`.
    fn break_before(&self, cmds: &[Command], i: usize) -> Option<usize> {
        self.breaks.iter().position(|b| match *b {
            Break::Desc { routine, index } => index == i && routine.map_or(true, |r| r == self.routine),
            Break::Layer(l) => layer(&cmds[i].desc) == Some(l) && (i == 0 || layer(&cmds[i - 1].desc) != Some(l)),
            Break::Write(_) => false,
        })
    }

    /// The first write breakpoint descriptor `i` (just run) hit.
    fn break_after(&self, m: &Machine, desc: &Desc) -> Option<usize> {
        // A transfer resolves its source before its destination, so a store's last global access
        // is the one it wrote.
        let global = match desc {
            Desc::Tdma(d) if d.op().dir.dst_is_global() => {
                m.gmem.trace.as_ref().and_then(|t| t.borrow().last().copied())
            }
            _ => None,
        };
        let local = m.lmem.trace.as_ref().map(|t| Footprint::of(&m.lmem, &t.borrow(), desc.writes(m.chip)).writes);
        self.breaks.iter().position(|b| match *b {
            Break::Write(Addr::Global { region, offset }) => {
                let a = m.gmem.device_addr(region.number() as u32, offset);
                global.is_some_and(|(s, len)| s <= a && a < s + len)
            }
            Break::Write(Addr::Local { lane, offset }) => {
                let k = m.lmem.index(lane, offset);
                local.as_ref().is_some_and(|w| !w.intersect(&Ranges(vec![(k, k + 1)])).is_empty())
            }
            _ => false,
        })
    }

    /// Stop: report why, then take commands. An error tells `run_observed` to end the run.
    fn stop(&mut self, m: &mut Machine, cmds: &[Command], i: usize, after: bool) -> Result<(), ExecError> {
        let r = self.prompt(m, cmds, if after { Pos::After(i) } else { Pos::Before(i) });
        self.set_tracing(m);
        match r {
            Resume::Go => Ok(()),
            Resume::Quit => {
                self.quit = true;
                // run_observed ends a run only on an error; `run` drops it once it sees `quit`.
                Err(ExecError::new(
                    i,
                    cmds[i].desc.engine(),
                    "debugger",
                    ExecErrorKind::Unsupported { what: "the debugger session quit".into() },
                ))
            }
        }
    }
}

impl Observer for Debugger<'_> {
    fn before(&mut self, m: &mut Machine, stream: &CommandStream, i: usize, _: &Desc) -> Result<Step, ExecError> {
        let cmds = stream.commands();
        let why = match self.mode {
            Mode::Run => None,
            Mode::Step(0) if i == 0 => Some(format!(
                "routine {} (`{}`), {} descriptors: stopped before descriptor 0",
                self.routine,
                self.section,
                cmds.len()
            )),
            Mode::Step(0) => Some(format!("stopped before descriptor {i}")),
            _ => self
                .break_before(cmds, i)
                .map(|k| format!("breakpoint {}: {}: stopped before descriptor {i}", k + 1, self.breaks[k])),
        };
        if let Some(why) = why {
            let line = self.line(m, cmds, i);
            self.say(&why);
            self.say(&line);
            self.stop(m, cmds, i, false)?;
        }
        if let Mode::Step(k) = &mut self.mode {
            *k -= 1;
        }
        if let Some(t) = &m.lmem.trace {
            *t.borrow_mut() = Touches::default();
        }
        if let Some(t) = &m.gmem.trace {
            t.borrow_mut().clear();
        }
        Ok(Step::Run)
    }

    fn after(
        &mut self,
        m: &mut Machine,
        stream: &CommandStream,
        i: usize,
        _: &Desc,
        r: ExecResult,
    ) -> Result<(), ExecError> {
        let cmds = stream.commands();
        let line = self.line(m, cmds, i);
        if let Err(kind) = r {
            let e = ExecError::new(i, cmds[i].desc.engine(), op_name(m.chip, &cmds[i].desc), kind);
            // The run cannot go on past a failed descriptor: any command that resumes ends it.
            self.say(&format!("failed: {e}"));
            self.say(&line);
            self.stop(m, cmds, i, true)?;
            return Err(e);
        }
        if self.mode == Mode::Run {
            return Ok(());
        }
        if let Some(k) = self.break_after(m, &cmds[i].desc) {
            self.say(&format!("breakpoint {}: {}: written by descriptor {i}", k + 1, self.breaks[k]));
            self.say(&line);
            self.stop(m, cmds, i, true)?;
        }
        Ok(())
    }
}
