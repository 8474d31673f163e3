//! The debugger's command language: one command per line, parsed into [`Cmd`].

use cvsim_isa::Region;

/// An address a breakpoint can watch for writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Addr {
    /// Base register (region) `region` plus `offset`, as the disassembler prints `io4+0x10`.
    Global { region: Region, offset: u64 },
    /// Byte `offset` of lane `lane`, as `LANE:OFFSET`.
    Local { lane: u32, offset: u32 },
}

impl std::fmt::Display for Addr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Addr::Global { region, offset } => write!(f, "{}+{offset:#x}", region.name()),
            Addr::Local { lane, offset } => write!(f, "L{lane}:{offset:#06x}"),
        }
    }
}

/// Where to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Break {
    /// Before descriptor `index` (of routine `routine`, or of every TPU routine).
    Desc { routine: Option<usize>, index: usize },
    /// Before each descriptor that enters layer id `layer` (one whose predecessor has another layer).
    Layer(u32),
    /// After a descriptor that writes the byte at the address.
    Write(Addr),
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Break::Desc { routine: Some(r), index } => write!(f, "descriptor {index} of routine {r}"),
            Break::Desc { routine: None, index } => write!(f, "descriptor {index}"),
            Break::Layer(l) => write!(f, "layer {l}"),
            Break::Write(a) => write!(f, "write to {a}"),
        }
    }
}

/// How to show memory values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Hex,
    I8,
    U8,
    Bf16,
}

impl Format {
    pub fn size(self) -> usize {
        if self == Format::Bf16 {
            2
        } else {
            1
        }
    }

    fn parse(s: &str) -> Option<Format> {
        Some(match s {
            "hex" | "x" => Format::Hex,
            "i8" | "int8" => Format::I8,
            "u8" | "uint8" => Format::U8,
            "bf16" => Format::Bf16,
            _ => return None,
        })
    }
}

/// One debugger command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cmd {
    Step(usize),
    /// Run until a breakpoint or the end.
    Continue,
    /// Run to the end, ignoring breakpoints.
    Run,
    Break(Break),
    /// Delete breakpoint N (1-based), or all.
    Delete(Option<usize>),
    /// List the breakpoints.
    Breaks,
    /// Show the current descriptor, or descriptor N of the current routine.
    Show(Option<usize>),
    Where,
    Local {
        lane: u32,
        offset: u32,
        shape: [u32; 4],
        stride: Option<[u32; 4]>,
        format: Format,
    },
    Global {
        region: Region,
        offset: u64,
        len: usize,
        format: Format,
    },
    Help,
    Quit,
}

pub const HELP: &str = "\
commands:
  step [N]                      run N descriptors (default 1), then stop
  continue                      run until a breakpoint or the end of the program
  run                           run to the end of the program, ignoring breakpoints
  break [ROUTINE:]INDEX         stop before descriptor INDEX
  break layer ID                stop before each descriptor that enters layer ID
  break write REGION+OFFSET     stop after a descriptor writes that global byte (REGION: shared,
                                weight, private, io3..io7 or 0..7)
  break write LANE:OFFSET       stop after a descriptor writes that local-memory byte
  breaks                        list the breakpoints
  delete [N]                    delete breakpoint N, or all of them
  show [INDEX]                  the current descriptor (or INDEX) with every field
  where                         the current routine and descriptor
  local LANE:OFFSET N,C,H,W [stride N,C,H,W] [i8|u8|bf16]
                                print a local-memory tensor (byte strides; default compact; i8)
  global REGION+OFFSET [LEN] [hex|i8|u8|bf16]
                                print LEN bytes (default 64) of global memory
  help                          this list
  quit                          end the session
";

fn num(s: &str, what: &str) -> Result<u64, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|_| format!("{what} `{s}` is not a number"))
}

fn num32(s: &str, what: &str) -> Result<u32, String> {
    u32::try_from(num(s, what)?).map_err(|_| format!("{what} `{s}` is too large"))
}

fn region(s: &str) -> Result<Region, String> {
    match Region::from_name(s) {
        Some(r) => Ok(r),
        None => match s.parse::<u8>().ok().and_then(Region::new) {
            Some(r) => Ok(r),
            _ => Err(format!("unknown region `{s}` (shared, weight, private, io3..io7 or 0..7)")),
        },
    }
}

fn global_addr(s: &str) -> Result<(Region, u64), String> {
    let (r, o) = s.split_once('+').ok_or_else(|| format!("global address `{s}` is not REGION+OFFSET"))?;
    Ok((region(r)?, num(o, "offset")?))
}

fn local_addr(s: &str) -> Result<(u32, u32), String> {
    let (l, o) = s.split_once(':').ok_or_else(|| format!("local address `{s}` is not LANE:OFFSET"))?;
    let l = l.strip_prefix('L').unwrap_or(l);
    Ok((num32(l, "lane")?, num32(o, "offset")?))
}

fn four(s: &str, what: &str) -> Result<[u32; 4], String> {
    let v: Vec<&str> = s.split(',').collect();
    if v.len() != 4 {
        return Err(format!("{what} `{s}` is not N,C,H,W"));
    }
    let mut out = [0; 4];
    for (o, p) in out.iter_mut().zip(v) {
        *o = num32(p, what)?;
    }
    Ok(out)
}

fn at_most(args: &[&str], n: usize, cmd: &str) -> Result<(), String> {
    if args.len() > n {
        return Err(format!("`{cmd}`: unexpected `{}`", args[n]));
    }
    Ok(())
}

/// Parse one line; `Ok(None)` for a blank line or a `#` comment.
pub fn parse(line: &str) -> Result<Option<Cmd>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let words: Vec<&str> = line.split_whitespace().collect();
    let (cmd, args) = (words[0], &words[1..]);
    let c = match cmd {
        "step" | "s" => {
            at_most(args, 1, cmd)?;
            let n = match args.first() {
                Some(a) => num(a, "count")? as usize,
                None => 1,
            };
            if n == 0 {
                return Err("`step`: the count must be at least 1".into());
            }
            Cmd::Step(n)
        }
        "continue" | "c" => {
            at_most(args, 0, cmd)?;
            Cmd::Continue
        }
        "run" => {
            at_most(args, 0, cmd)?;
            Cmd::Run
        }
        "break" | "b" => Cmd::Break(match args {
            ["layer", id] => Break::Layer(num32(id, "layer id")?),
            ["write", a] if a.contains('+') => {
                let (region, offset) = global_addr(a)?;
                Break::Write(Addr::Global { region, offset })
            }
            ["write", a] => {
                let (lane, offset) = local_addr(a)?;
                Break::Write(Addr::Local { lane, offset })
            }
            [d] => match d.split_once(':') {
                Some((r, i)) => {
                    Break::Desc { routine: Some(num(r, "routine")? as usize), index: num(i, "index")? as usize }
                }
                None => Break::Desc { routine: None, index: num(d, "index")? as usize },
            },
            _ => return Err("`break`: expected [ROUTINE:]INDEX, `layer ID` or `write ADDRESS`".into()),
        }),
        "breaks" => {
            at_most(args, 0, cmd)?;
            Cmd::Breaks
        }
        "delete" | "d" => {
            at_most(args, 1, cmd)?;
            Cmd::Delete(args.first().map(|a| num(a, "breakpoint").map(|n| n as usize)).transpose()?)
        }
        "show" => {
            at_most(args, 1, cmd)?;
            Cmd::Show(args.first().map(|a| num(a, "index").map(|n| n as usize)).transpose()?)
        }
        "where" => {
            at_most(args, 0, cmd)?;
            Cmd::Where
        }
        "local" | "l" => {
            let [addr, shape, rest @ ..] = args else {
                return Err("`local`: expected LANE:OFFSET N,C,H,W [stride N,C,H,W] [i8|u8|bf16]".into());
            };
            let (lane, offset) = local_addr(addr)?;
            let shape = four(shape, "shape")?;
            let (stride, rest) = match rest {
                ["stride", s, more @ ..] => (Some(four(s, "stride")?), more),
                ["stride"] => return Err("`local`: `stride` needs N,C,H,W".into()),
                more => (None, more),
            };
            let format = match rest {
                [] => Format::I8,
                [f] => match Format::parse(f) {
                    Some(Format::Hex) | None => return Err(format!("`local`: unknown type `{f}` (i8, u8 or bf16)")),
                    Some(f) => f,
                },
                [_, extra, ..] => return Err(format!("`local`: unexpected `{extra}`")),
            };
            Cmd::Local { lane, offset, shape, stride, format }
        }
        "global" | "g" => {
            let [addr, rest @ ..] = args else {
                return Err("`global`: expected REGION+OFFSET [LEN] [hex|i8|u8|bf16]".into());
            };
            let (region, offset) = global_addr(addr)?;
            let (mut len, mut format) = (64usize, Format::Hex);
            for (k, a) in rest.iter().enumerate() {
                match Format::parse(a) {
                    Some(f) if k + 1 == rest.len() => format = f,
                    _ if k == 0 => len = num(a, "length")? as usize,
                    _ => return Err(format!("`global`: unexpected `{a}`")),
                }
            }
            Cmd::Global { region, offset, len, format }
        }
        "help" | "h" | "?" => Cmd::Help,
        "quit" | "q" | "exit" => Cmd::Quit,
        other => return Err(format!("unknown command `{other}` (try `help`)")),
    };
    Ok(Some(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_form() {
        assert_eq!(parse("  step 3 ").unwrap(), Some(Cmd::Step(3)));
        assert_eq!(parse("s").unwrap(), Some(Cmd::Step(1)));
        assert_eq!(parse("# note").unwrap(), None);
        assert_eq!(parse("break 1:0x10").unwrap(), Some(Cmd::Break(Break::Desc { routine: Some(1), index: 16 })));
        assert_eq!(
            parse("break write io4+0x8").unwrap(),
            Some(Cmd::Break(Break::Write(Addr::Global { region: Region::io(1).unwrap(), offset: 8 })))
        );
        assert_eq!(
            parse("break write L3:0x300").unwrap(),
            Some(Cmd::Break(Break::Write(Addr::Local { lane: 3, offset: 0x300 })))
        );
        assert_eq!(
            parse("local 0:0x300 1,16,12,12 stride 288,144,12,1 u8").unwrap(),
            Some(Cmd::Local {
                lane: 0,
                offset: 0x300,
                shape: [1, 16, 12, 12],
                stride: Some([288, 144, 12, 1]),
                format: Format::U8
            })
        );
        assert_eq!(
            parse("global shared+0 10 i8").unwrap(),
            Some(Cmd::Global { region: Region::SHARED, offset: 0, len: 10, format: Format::I8 })
        );
        assert_eq!(
            parse("global 1+0x10 bf16").unwrap(),
            Some(Cmd::Global { region: Region::WEIGHT, offset: 16, len: 64, format: Format::Bf16 })
        );
    }

    #[test]
    fn rejects_bad_syntax() {
        for bad in [
            "frobnicate",
            "step 0",
            "step x",
            "step 1 2",
            "break",
            "break write nowhere",
            "break write io9+0",
            "local 0:0 1,2,3",
            "local 0:0 1,1,1,1 hex",
            "global io4",
            "global io4+0 8 i8 more",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
