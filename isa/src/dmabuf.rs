//! The dmabuf the hardware executes: header, one CPU (segment) descriptor per segment, the TIU
//! area with its 16-byte chunk reordering, and the TDMA area (spec `isa.md` §2.3, `runtime.md` §3.1).

use crate::chip::Chip;
use crate::cmdbuf::{decode_body, Command, Desc, Engine};
use crate::cpu::{CpuDesc, CPU_BYTES};
use crate::error::StreamError;
use crate::tdma::TDMA_BYTES;
use crate::tiu::TIU_BYTES;
use std::ops::Range;

pub const DMABUF_MAGIC_M: u16 = 0xB5B5;
pub const DMABUF_HEADER_BYTES: usize = 128;
/// Zero bytes after each segment's TIU descriptors (a hardware-bug workaround in the vendor builder).
pub const TIU_SEGMENT_TAIL: usize = 128;

fn align(v: usize, a: usize) -> usize {
    v.div_ceil(a) * a
}

/// One segment: the commands between two segment boundaries, as a range into the command list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub range: Range<usize>,
    pub tiu: usize,
    pub tdma: usize,
}

/// Cut a command list into segments the way the dmabuf builder does: after any TIU or TDMA
/// descriptor whose own id is 0xFFFF, at a CPU record, and at the end.
pub fn segments(cmds: &[Command]) -> Vec<Segment> {
    segments_of(cmds.iter().map(|c| (c.desc.engine(), c.desc.own_id().unwrap_or(0))))
}

/// [`segments`] from each descriptor's engine and own sync id.
pub fn segments_of(descs: impl Iterator<Item = (Engine, u16)>) -> Vec<Segment> {
    let mut out = Vec::new();
    let (mut start, mut end) = (0, 0);
    let (mut tiu, mut tdma) = (0, 0);
    for (i, (engine, own_id)) in descs.enumerate() {
        let close = match engine {
            Engine::Tiu => {
                tiu += 1;
                own_id == 0xFFFF
            }
            Engine::Tdma => {
                tdma += 1;
                own_id == 0xFFFF
            }
            Engine::Cpu => true,
        };
        end = i + 1;
        if close {
            out.push(Segment { range: start..end, tiu, tdma });
            start = end;
            tiu = 0;
            tdma = 0;
        }
    }
    if start < end {
        out.push(Segment { range: start..end, tiu, tdma });
    }
    out
}

/// Bytes of the dmabuf the runtime builds from these commands (`cvi18?x_dmabuf_size`).
pub fn dmabuf_size(cmds: &[Command]) -> usize {
    dmabuf_size_of(&segments(cmds))
}

/// [`dmabuf_size`] from the stream's segments.
pub fn dmabuf_size_of(segs: &[Segment]) -> usize {
    let mut tiu_bytes = 0;
    for s in segs {
        if s.tiu > 0 {
            tiu_bytes = align(tiu_bytes + TIU_BYTES * s.tiu + TIU_SEGMENT_TAIL, 256);
        }
    }
    let tdma: usize = segs.iter().map(|s| s.tdma).sum();
    align(align(DMABUF_HEADER_BYTES + CPU_BYTES * segs.len(), 256) + tiu_bytes, 64) + TDMA_BYTES * tdma
}

/// The PMU buffer appended when the PMU is on: align4096(16 · descriptors + 1 MiB).
pub fn pmubuf_size(cmds: &[Command]) -> usize {
    pmubuf_size_of(&segments(cmds))
}

/// [`pmubuf_size`] from the stream's segments.
pub fn pmubuf_size_of(segs: &[Segment]) -> usize {
    let n: usize = segs.iter().map(|s| s.tiu + s.tdma).sum();
    align(16 * n + (1 << 20), 4096)
}

/// Swap TIU chunks 0 and 6 and tag each chunk's top nibble with its index (`reorder_bd_cmdbuf_reg`).
pub fn reorder_tiu(body: &mut [u8; TIU_BYTES]) {
    for k in 0..7 {
        body[16 * k + 15] |= (k as u8) << 4;
    }
    let (a, b) = body.split_at_mut(96);
    a[..16].swap_with_slice(&mut b[..16]);
}

/// Undo the chunk swap. The chunk tags stay: on CV18[0-2]x they equal the reserved fields' reset
/// values, on CV183x they land in reserved bits.
pub fn unreorder_tiu(body: &mut [u8; TIU_BYTES]) {
    let (a, b) = body.split_at_mut(96);
    a[..16].swap_with_slice(&mut b[..16]);
}

/// Build the dmabuf the vendor runtime makes from a cmdbuf, with the runtime's per-descriptor
/// edits (end and interrupt bits on each segment's last TIU/TDMA descriptor, barrier on every TDMA
/// descriptor, TIU chunk reordering). Base registers are left 0.
pub fn build_dmabuf(chip: Chip, cmds: &[Command]) -> Result<Vec<u8>, crate::codec::EncodeError> {
    let segs = segments(cmds);
    let size = dmabuf_size(cmds);
    let mut out = vec![0u8; size];
    let tiu_start = align(DMABUF_HEADER_BYTES + CPU_BYTES * segs.len(), 256);
    let mut tiu_pos = tiu_start;
    let mut tiu_total = 0;
    // TDMA area starts after the whole TIU area.
    let mut tiu_end = tiu_start;
    for s in &segs {
        if s.tiu > 0 {
            tiu_end = align(tiu_end + TIU_BYTES * s.tiu + TIU_SEGMENT_TAIL, 256);
        }
    }
    let mut tdma_pos = align(tiu_end, 64);
    let mut tdma_total = 0;
    for (si, s) in segs.iter().enumerate() {
        let seg_tiu_at = tiu_pos;
        let seg_tdma_at = tdma_pos;
        let cmds = &cmds[s.range.clone()];
        let last_tiu = cmds.iter().rposition(|c| c.desc.engine() == Engine::Tiu);
        let last_tdma = cmds.iter().rposition(|c| c.desc.engine() == Engine::Tdma);
        for (i, c) in cmds.iter().enumerate() {
            match &c.desc {
                Desc::Tiu(d) => {
                    let mut d = (**d).clone();
                    if Some(i) == last_tiu {
                        d.cmd_end = 1;
                        d.cmd_intr_en = 1;
                    }
                    let mut body = d.encode(chip)?;
                    reorder_tiu(&mut body);
                    out[tiu_pos..tiu_pos + TIU_BYTES].copy_from_slice(&body);
                    tiu_pos += TIU_BYTES;
                }
                Desc::Tdma(d) => {
                    let mut d = (**d).clone();
                    d.bar_en = 1;
                    if Some(i) == last_tdma {
                        d.eod = 1;
                        d.intp_en = 1;
                    }
                    out[tdma_pos..tdma_pos + TDMA_BYTES].copy_from_slice(&d.encode(chip)?);
                    tdma_pos += TDMA_BYTES;
                }
                Desc::Cpu(_) => {}
            }
        }
        if s.tiu > 0 {
            tiu_pos = align(tiu_pos + TIU_SEGMENT_TAIL, 256);
        }
        tiu_total += s.tiu;
        tdma_total += s.tdma;
        let cpu = CpuDesc::sync(s.tiu as u32, s.tdma as u32, seg_tiu_at as u32, seg_tdma_at as u32);
        let at = DMABUF_HEADER_BYTES + CPU_BYTES * si;
        out[at..at + CPU_BYTES].copy_from_slice(&cpu.bytes);
    }
    let put16 = |o: &mut Vec<u8>, at: usize, v: u16| o[at..at + 2].copy_from_slice(&v.to_le_bytes());
    let put32 = |o: &mut Vec<u8>, at: usize, v: u32| o[at..at + 4].copy_from_slice(&v.to_le_bytes());
    put16(&mut out, 0, DMABUF_MAGIC_M);
    put16(&mut out, 2, chip.params().dmabuf_magic_s);
    put32(&mut out, 4, size as u32);
    put32(&mut out, 8, segs.len() as u32);
    put32(&mut out, 12, tiu_total as u32);
    put32(&mut out, 16, tdma_total as u32);
    Ok(out)
}

/// The parsed dmabuf header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DmabufHeader {
    pub magic_s: u16,
    pub size: u32,
    pub cpu_desc_count: u32,
    pub bd_desc_count: u32,
    pub tdma_desc_count: u32,
    pub tpu_clk_rate: u32,
    pub pmubuf_size: u32,
    pub pmubuf_offset: u32,
    pub arraybase: [u64; 8],
}

/// A parsed dmabuf: its header and, per segment, its TIU and TDMA descriptors in engine order.
#[derive(Clone, Debug)]
pub struct Dmabuf {
    pub header: DmabufHeader,
    /// Per segment: (TIU commands, TDMA commands).
    pub segments: Vec<(Vec<Command>, Vec<Command>)>,
}

fn rd32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

/// Parse a dmabuf. `chip` is needed because CV180x, CV181x and CV182x share one secondary magic.
pub fn parse_dmabuf(buf: &[u8], chip: Chip) -> Result<Dmabuf, StreamError> {
    if buf.len() < DMABUF_HEADER_BYTES {
        return Err(StreamError::Truncated {
            offset: 0,
            what: "dmabuf header",
            need: DMABUF_HEADER_BYTES,
            have: buf.len(),
        });
    }
    let magic_m = u16::from_le_bytes([buf[0], buf[1]]);
    if magic_m != DMABUF_MAGIC_M {
        return Err(StreamError::BadDmabufMagic { offset: 0, found: magic_m });
    }
    let magic_s = u16::from_le_bytes([buf[2], buf[3]]);
    if magic_s != chip.params().dmabuf_magic_s {
        return Err(StreamError::DmabufChip {
            offset: 2,
            found: magic_s,
            chip: chip.name(),
            expected: chip.params().dmabuf_magic_s,
        });
    }
    let mut arraybase = [0u64; 8];
    for (i, a) in arraybase.iter_mut().enumerate() {
        *a = rd32(buf, 32 + 8 * i) as u64 | (rd32(buf, 36 + 8 * i) as u64) << 32;
    }
    let header = DmabufHeader {
        magic_s,
        size: rd32(buf, 4),
        cpu_desc_count: rd32(buf, 8),
        bd_desc_count: rd32(buf, 12),
        tdma_desc_count: rd32(buf, 16),
        tpu_clk_rate: rd32(buf, 20),
        pmubuf_size: rd32(buf, 24),
        pmubuf_offset: rd32(buf, 28),
        arraybase,
    };
    if header.size as usize > buf.len() {
        return Err(StreamError::DmabufField {
            offset: 4,
            what: "dmabuf_size",
            value: header.size as u64,
            why: "larger than the buffer",
        });
    }
    let nseg = header.cpu_desc_count as usize;
    if nseg.saturating_mul(CPU_BYTES) > buf.len() - DMABUF_HEADER_BYTES {
        return Err(StreamError::DmabufField {
            offset: 8,
            what: "cpu_desc_count",
            value: nseg as u64,
            why: "segment table runs past the end",
        });
    }
    let mut segments = Vec::with_capacity(nseg);
    let (mut tiu_seen, mut tdma_seen) = (0u64, 0u64);
    for s in 0..nseg {
        let at = DMABUF_HEADER_BYTES + CPU_BYTES * s;
        let cpu = CpuDesc { bytes: buf[at..at + CPU_BYTES].try_into().expect("224 bytes") };
        // A relocated dmabuf keeps the byte offsets in the *_ori_bk fields.
        let (tiu_off, tdma_off) = if cpu.offset_tiu_ori_bk() != 0 || cpu.offset_tdma_ori_bk() != 0 {
            (cpu.offset_tiu_ori_bk() as usize, cpu.offset_tdma_ori_bk() as usize)
        } else {
            (cpu.offset_tiu() as usize, cpu.offset_tdma() as usize)
        };
        let mut tius = Vec::new();
        let ntiu = cpu.num_tiu() as usize;
        if ntiu.checked_mul(TIU_BYTES).and_then(|n| n.checked_add(tiu_off)).is_none_or(|e| e > buf.len()) {
            return Err(StreamError::DmabufField {
                offset: at + 4,
                what: "num_tiu",
                value: ntiu as u64,
                why: "TIU descriptors run past the end",
            });
        }
        for i in 0..ntiu {
            let o = tiu_off + i * TIU_BYTES;
            let mut body: [u8; TIU_BYTES] = buf[o..o + TIU_BYTES].try_into().expect("112");
            unreorder_tiu(&mut body);
            tius.push(Command { offset: o, header: None, desc: decode_body(chip, Engine::Tiu, &body) });
        }
        let ntdma = cpu.num_tdma() as usize;
        if ntdma.checked_mul(TDMA_BYTES).and_then(|n| n.checked_add(tdma_off)).is_none_or(|e| e > buf.len()) {
            return Err(StreamError::DmabufField {
                offset: at + 8,
                what: "num_tdma",
                value: ntdma as u64,
                why: "TDMA descriptors run past the end",
            });
        }
        let mut tdmas = Vec::new();
        for i in 0..ntdma {
            let o = tdma_off + i * TDMA_BYTES;
            tdmas.push(Command {
                offset: o,
                header: None,
                desc: decode_body(chip, Engine::Tdma, &buf[o..o + TDMA_BYTES]),
            });
        }
        tiu_seen += ntiu as u64;
        tdma_seen += ntdma as u64;
        segments.push((tius, tdmas));
    }
    if tiu_seen != header.bd_desc_count as u64 {
        return Err(StreamError::DmabufField {
            offset: 12,
            what: "bd_desc_count",
            value: header.bd_desc_count as u64,
            why: "differs from the sum over segments",
        });
    }
    if tdma_seen != header.tdma_desc_count as u64 {
        return Err(StreamError::DmabufField {
            offset: 16,
            what: "tdma_desc_count",
            value: header.tdma_desc_count as u64,
            why: "differs from the sum over segments",
        });
    }
    Ok(Dmabuf { header, segments })
}

impl Dmabuf {
    /// One command list in an order that satisfies every sync id: per segment, repeatedly take the
    /// next TIU descriptor whose wait is met, else the next TDMA descriptor whose wait is met.
    /// Any such order gives the same results for a race-free program, as on the hardware.
    pub fn merged(&self) -> Result<Vec<Command>, StreamError> {
        let mut out = Vec::new();
        for (tius, tdmas) in &self.segments {
            let (mut i, mut j) = (0usize, 0usize);
            let (mut done_tiu, mut done_tdma) = (0u32, 0u32);
            while i < tius.len() || j < tdmas.len() {
                let tiu_ready = i < tius.len() && tius[i].desc.wait_id().unwrap_or(0) as u32 <= done_tdma;
                let tdma_ready = j < tdmas.len() && tdmas[j].desc.wait_id().unwrap_or(0) as u32 <= done_tiu;
                if tiu_ready {
                    done_tiu = tius[i].desc.own_id().unwrap_or(0) as u32;
                    out.push(tius[i].clone());
                    i += 1;
                } else if tdma_ready {
                    done_tdma = tdmas[j].desc.own_id().unwrap_or(0) as u32;
                    out.push(tdmas[j].clone());
                    j += 1;
                } else {
                    let index = out.len();
                    return Err(StreamError::Sync {
                        index,
                        msg: format!(
                            "deadlock: TIU descriptor waits for TDMA id {} and TDMA descriptor waits for TIU id {}, neither can complete",
                            tius.get(i).and_then(|c| c.desc.wait_id()).unwrap_or(0),
                            tdmas.get(j).and_then(|c| c.desc.wait_id()).unwrap_or(0)
                        ),
                    });
                }
            }
        }
        Ok(out)
    }
}
