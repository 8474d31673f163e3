//! The cmdbuf stream: 8-byte record headers, each followed by one descriptor (spec `isa.md` §2.1).

use crate::chip::Chip;
use crate::cpu::{CpuDesc, CPU_BYTES};
use crate::error::StreamError;
use crate::tdma::{TdmaDesc, TDMA_BYTES};
use crate::tiu::{TiuDesc, TIU_BYTES};
use serde::Serialize;

pub const HEADER_BYTES: usize = 8;

/// The engine a descriptor belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Engine {
    Tiu,
    Cpu,
    Tdma,
}

impl Engine {
    pub const fn id(self) -> u8 {
        match self {
            Engine::Tiu => 0,
            Engine::Cpu => 1,
            Engine::Tdma => 2,
        }
    }
    pub fn from_id(id: u8) -> Option<Engine> {
        match id {
            0 => Some(Engine::Tiu),
            1 => Some(Engine::Cpu),
            2 => Some(Engine::Tdma),
            _ => None,
        }
    }
    pub const fn name(self) -> &'static str {
        match self {
            Engine::Tiu => "TIU",
            Engine::Cpu => "CPU",
            Engine::Tdma => "TDMA",
        }
    }
    pub const fn payload_bytes(self) -> usize {
        match self {
            Engine::Tiu => TIU_BYTES,
            Engine::Cpu => CPU_BYTES,
            Engine::Tdma => TDMA_BYTES,
        }
    }
}

/// One decoded descriptor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Desc {
    Tiu(Box<TiuDesc>),
    Tdma(Box<TdmaDesc>),
    Cpu(Box<CpuDesc>),
}

/// The sync id a TDMA descriptor waits for: its `wait_id_tpu` when its barrier is enabled, else
/// none (0). The one statement of the rule; [`crate::CommandStream`] applies it to raw bytes.
pub const fn tdma_wait_id(bar_en: u32, wait_id_tpu: u32) -> u32 {
    if bar_en != 0 {
        wait_id_tpu
    } else {
        0
    }
}

impl Desc {
    pub fn engine(&self) -> Engine {
        match self {
            Desc::Tiu(_) => Engine::Tiu,
            Desc::Tdma(_) => Engine::Tdma,
            Desc::Cpu(_) => Engine::Cpu,
        }
    }
    /// The descriptor's own sync id (TIU `cmd_id_tpu`, TDMA `cmd_id`).
    pub fn own_id(&self) -> Option<u16> {
        match self {
            Desc::Tiu(d) => Some(d.cmd_id_tpu as u16),
            Desc::Tdma(d) => Some(d.cmd_id as u16),
            Desc::Cpu(_) => None,
        }
    }
    /// The id of the other engine's descriptor this one waits for (0 = none).
    pub fn wait_id(&self) -> Option<u16> {
        match self {
            Desc::Tiu(d) => Some(d.cmd_id_gdma as u16),
            Desc::Tdma(d) => Some(tdma_wait_id(d.bar_en, d.wait_id_tpu) as u16),
            Desc::Cpu(_) => None,
        }
    }
    pub fn encode(&self, chip: Chip) -> Result<Vec<u8>, crate::codec::EncodeError> {
        Ok(match self {
            Desc::Tiu(d) => d.encode(chip)?.to_vec(),
            Desc::Tdma(d) => d.encode(chip)?.to_vec(),
            Desc::Cpu(d) => d.bytes.to_vec(),
        })
    }
}

/// A descriptor with where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// Byte offset of the record (cmdbuf: its header; dmabuf: the descriptor) within the buffer.
    pub offset: usize,
    /// The record header as stored (cmdbuf only), kept so that re-encoding is byte-exact.
    pub header: Option<[u8; HEADER_BYTES]>,
    pub desc: Desc,
}

/// Parse a whole cmdbuf. The chip comes from the first record's magic; every later record must
/// carry the same magic. When `chip` is given it must match as well.
pub fn parse_cmdbuf(buf: &[u8], chip: Option<Chip>) -> Result<(Chip, Vec<Command>), StreamError> {
    let mut out = Vec::new();
    let chip = walk_cmdbuf(buf, chip, |chip, offset, hdr, engine, body| {
        out.push(Command { offset, header: Some(hdr), desc: decode_body(chip, engine, body) })
    })?;
    Ok((chip, out))
}

/// Check every record header of a cmdbuf (magic, engine, length, bounds), calling `record` with
/// the stream's chip, each record's offset, header, engine and body (of the engine's length).
pub(crate) fn walk_cmdbuf(
    buf: &[u8],
    chip: Option<Chip>,
    mut record: impl FnMut(Chip, usize, [u8; HEADER_BYTES], Engine, &[u8]),
) -> Result<Chip, StreamError> {
    if buf.is_empty() {
        return Err(StreamError::Empty { offset: 0 });
    }
    let mut pos = 0usize;
    let mut stream_chip = chip;
    while pos < buf.len() {
        let have = buf.len() - pos;
        if have < HEADER_BYTES {
            return Err(StreamError::Truncated { offset: pos, what: "record header", need: HEADER_BYTES, have });
        }
        let hdr: [u8; HEADER_BYTES] = buf[pos..pos + HEADER_BYTES].try_into().expect("8 bytes");
        let magic = hdr[0];
        let rec_chip = Chip::from_cmdbuf_magic(magic).ok_or(StreamError::BadMagic { offset: pos, found: magic })?;
        match stream_chip {
            None => stream_chip = Some(rec_chip),
            Some(c) if c != rec_chip => {
                return Err(StreamError::MixedMagic {
                    offset: pos,
                    found: magic,
                    found_chip: rec_chip.name(),
                    expected: c.params().cmdbuf_magic,
                    chip: c.name(),
                })
            }
            _ => {}
        }
        let engine_id = hdr[2] & 0xF;
        let engine = Engine::from_id(engine_id).ok_or(StreamError::UnknownEngine { offset: pos, engine: engine_id })?;
        // A zero length byte means the length is held in the 32-bit mask field.
        let len =
            if hdr[1] != 0 { hdr[1] as usize } else { u32::from_le_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]) as usize };
        if len != engine.payload_bytes() {
            return Err(StreamError::BadLength {
                offset: pos,
                engine: engine.name(),
                len,
                expected: engine.payload_bytes(),
            });
        }
        let body_at = pos + HEADER_BYTES;
        if len > buf.len() - body_at {
            return Err(StreamError::PastEnd { offset: pos, len, have: buf.len() - body_at });
        }
        record(stream_chip.expect("set above"), pos, hdr, engine, &buf[body_at..body_at + len]);
        pos = body_at + len;
    }
    Ok(stream_chip.expect("non-empty"))
}

/// Decode one descriptor body of the given engine (the length was checked by the caller).
pub fn decode_body(chip: Chip, engine: Engine, body: &[u8]) -> Desc {
    match engine {
        Engine::Tiu => Desc::Tiu(Box::new(TiuDesc::decode(chip, body.try_into().expect("112 bytes")))),
        Engine::Tdma => Desc::Tdma(Box::new(TdmaDesc::decode(chip, body.try_into().expect("64 bytes")))),
        Engine::Cpu => Desc::Cpu(Box::new(CpuDesc { bytes: body.try_into().expect("224 bytes") })),
    }
}

/// The header the emitter writes for a descriptor: magic, length, engine, flags 0, mask 0.
pub fn default_header(chip: Chip, engine: Engine) -> [u8; HEADER_BYTES] {
    [chip.params().cmdbuf_magic, engine.payload_bytes() as u8, engine.id(), 0, 0, 0, 0, 0]
}

/// Encode commands back to a cmdbuf, reusing each command's stored header when it has one.
pub fn encode_cmdbuf(chip: Chip, cmds: &[Command]) -> Result<Vec<u8>, crate::codec::EncodeError> {
    let mut out = Vec::new();
    for c in cmds {
        let hdr = c.header.unwrap_or_else(|| default_header(chip, c.desc.engine()));
        out.extend_from_slice(&hdr);
        out.extend_from_slice(&c.desc.encode(chip)?);
    }
    Ok(out)
}

/// Encode bare descriptors with emitter-style headers.
pub fn encode_descs(chip: Chip, descs: &[Desc]) -> Result<Vec<u8>, crate::codec::EncodeError> {
    let mut out = Vec::new();
    for d in descs {
        out.extend_from_slice(&default_header(chip, d.engine()));
        out.extend_from_slice(&d.encode(chip)?);
    }
    Ok(out)
}
