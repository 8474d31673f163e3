//! The CV18xx TPU instruction set: chip parameters, the TIU and TDMA descriptor layouts of the four
//! chips as data, the cmdbuf and dmabuf codecs, operation decoding and the disassembler.

pub mod chip;
pub mod cmdbuf;
pub mod codec;
pub mod cpu;
pub mod disasm;
pub mod dmabuf;
pub mod error;
mod fields;
pub mod layout;
pub mod op;
pub mod region;
pub mod stream;
pub mod tdma;
pub mod tiu;

pub use chip::{Chip, ChipParams, LayoutFamily, Quirks};
pub use cmdbuf::{parse_cmdbuf, Command, Desc, Engine};
pub use error::StreamError;
pub use op::{Direction, Fmt, Operand, Operands, TdmaKind, TdmaOp, TiuCost, TiuKind, TiuOp};
pub use region::{Region, RegionKind};
pub use stream::CommandStream;
pub use tdma::{TdmaDesc, TdmaField};
pub use tiu::{TiuDesc, TiuField};
