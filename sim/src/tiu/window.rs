//! Sliding-window geometry shared by convolution, depthwise convolution and pooling: input
//! insertion, padding, kernel dilation and stride (spec `isa.md` §3.6.1 "Geometry", §3.6.3).
//!
//! Along one axis the TIU reads a virtual "padded" input of length
//! `pad_lo + (I−1)·(ins+1) + 1 + ins_last + pad_hi`: input element `i` sits at `pad_lo + i·(ins+1)`
//! and every other position holds the pad/insert value. Output `o` reads kernel tap `k` at padded
//! position `o·stride + k·dilation`.
//!
//! The executors materialise only the part of the padded input the outputs read (`span`
//! positions) once per descriptor, so their inner loops are branch-free slice arithmetic.

use crate::error::{ExecErrorKind, ExecResult};
use crate::memory::LTensor;
use cvsim_isa::TiuDesc;

/// One spatial axis of a sliding window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Axis {
    /// Real input elements.
    pub input: u32,
    /// Pad/insert elements between neighbouring inputs.
    pub ins: u32,
    /// Pad/insert elements after the last input (before `pad_hi`).
    pub ins_last: u32,
    pub pad_lo: u32,
    pub pad_hi: u32,
    pub kernel: u32,
    /// Distance between kernel taps (1 = dense).
    pub dilation: u32,
    pub stride: u32,
    pub output: u32,
}

impl Axis {
    /// Length of the virtual padded input.
    pub fn padded_len(&self) -> u32 {
        self.pad_lo + (self.input - 1) * (self.ins + 1) + 1 + self.ins_last + self.pad_hi
    }

    /// Padded positions one output's window covers.
    pub fn kernel_extent(&self) -> u32 {
        (self.kernel - 1) * self.dilation + 1
    }

    /// The largest output count the padded input allows (0 if the kernel does not fit).
    pub fn max_output(&self) -> u32 {
        let (len, ext) = (self.padded_len(), self.kernel_extent());
        if ext > len {
            0
        } else {
            (len - ext) / self.stride + 1
        }
    }

    /// Padded positions `0..span` that the `output` outputs read.
    pub fn span(&self) -> u32 {
        (self.output - 1) * self.stride + self.kernel_extent()
    }

    /// The input element at padded position `p`, or None for a pad/insert position.
    #[inline]
    pub fn source(&self, p: u32) -> Option<u32> {
        let q = p.checked_sub(self.pad_lo)?;
        let step = self.ins + 1;
        if q % step != 0 {
            return None;
        }
        let i = q / step;
        (i < self.input).then_some(i)
    }

    /// `source` for every position of `0..span`.
    pub fn sources(&self) -> Vec<Option<u32>> {
        (0..self.span()).map(|p| self.source(p)).collect()
    }
}

/// The rows and columns of the padded input that hold input elements ([`Window::plane_sources`]).
pub struct PlaneSources {
    rows: Vec<Option<u32>>,
    /// The plane positions that hold input elements, as runs of evenly spaced input columns.
    runs: Vec<Run>,
    row_len: usize,
}

impl PlaneSources {
    /// Write batch `n`'s channel at `base` of `x` (in `data`, local memory) into `plane`; pad
    /// and insert positions are left as they are.
    fn fill<E: Element>(&self, plane: &mut [E::Out], n: u32, base: usize, x: &LTensor, data: &[u8], e: E) {
        for (r, src_h) in self.rows.iter().enumerate() {
            let Some(h) = *src_h else { continue };
            let row = base + x.inner(n, h, 0);
            let dst = &mut plane[r * self.row_len..(r + 1) * self.row_len];
            for run in &self.runs {
                let (src, step) = (row + (run.w * x.w_str) as usize, (run.step * x.w_str) as usize);
                let dst = &mut dst[run.pos..run.pos + run.len];
                let bytes = &data[src..src + (run.len - 1) * step + E::SIZE];
                if step == E::SIZE {
                    for (d, b) in dst.iter_mut().zip(bytes.chunks_exact(E::SIZE)) {
                        *d = e.read(b);
                    }
                } else {
                    for (k, d) in dst.iter_mut().enumerate() {
                        *d = e.read(&bytes[k * step..k * step + E::SIZE]);
                    }
                }
            }
        }
    }
}

/// An operand element as an executor reads it from local memory bytes.
pub trait Element: Copy {
    type Out: Copy;
    /// Bytes per element in local memory.
    const SIZE: usize;
    /// The element held in `bytes` (`SIZE` of them).
    fn read(self, bytes: &[u8]) -> Self::Out;
}

/// An int8 element, widened; signed or unsigned per the operand's sign bit.
#[derive(Clone, Copy, Debug)]
pub struct Int8 {
    pub signed: bool,
}

impl Element for Int8 {
    type Out = i16;
    const SIZE: usize = 1;
    #[inline(always)]
    fn read(self, bytes: &[u8]) -> i16 {
        if self.signed {
            bytes[0] as i8 as i16
        } else {
            bytes[0] as i16
        }
    }
}

/// A bf16 operand as the TPU reads it ([`crate::bf16::bf16_operand`]).
#[derive(Clone, Copy, Debug)]
pub struct Bf16;

impl Element for Bf16 {
    type Out = f32;
    const SIZE: usize = 2;
    #[inline(always)]
    fn read(self, bytes: &[u8]) -> f32 {
        // `bf16_operand` written with selects, so a run of elements converts in vector lanes.
        let h = u16::from_le_bytes([bytes[0], bytes[1]]) as u32;
        let e = h & 0x7F80;
        let bits = if e == 0 { h & 0x8000 } else { h } << 16;
        f32::from_bits(if e == 0x7F80 { f32::NAN.to_bits() } else { bits })
    }
}

/// Consecutive plane positions `pos..pos + len` holding input columns `w, w + step, …`.
struct Run {
    pos: usize,
    w: u32,
    len: usize,
    step: u32,
}

impl Run {
    /// The runs of `cols` (plane position, input column), ordered by position.
    fn of(mut cols: Vec<(usize, u32)>) -> Vec<Run> {
        cols.sort_unstable_by_key(|c| c.0);
        let mut runs: Vec<Run> = Vec::new();
        for (pos, w) in cols {
            if let Some(r) = runs.last_mut() {
                let next = r.pos + r.len == pos;
                let last_w = r.w + (r.len as u32 - 1) * r.step;
                if next && r.len == 1 && w > r.w {
                    r.step = w - r.w;
                    r.len = 2;
                    continue;
                }
                if next && r.len > 1 && w == last_w + r.step {
                    r.len += 1;
                    continue;
                }
            }
            runs.push(Run { pos, w, len: 1, step: 1 });
        }
        runs
    }
}

/// The input planes of an executor that reads each `(n, c)` plane just before writing that
/// plane's results (depthwise convolution, pooling). One plane at a time needs one plane of
/// memory where gathering every plane first needs the whole input widened (0.9 MB on a
/// mobilenet_v2 depthwise layer); when the result may overwrite input not yet read (in place),
/// every plane is gathered before the first write, as the executors always did.
pub struct InputPlanes<T> {
    src: PlaneSources,
    plane: usize,
    channels: usize,
    pad: T,
    /// Every plane, gathered up front; else `buf` holds the current plane.
    all: bool,
    buf: Vec<T>,
}

impl<T: Copy> InputPlanes<T> {
    /// `x` and `bases` as for [`Window::gather_planes`]; `res` is the result the executor writes.
    #[allow(clippy::too_many_arguments)]
    pub fn new<E: Element<Out = T>>(
        win: &Window,
        x: &LTensor,
        bases: &[usize],
        res: &LTensor,
        lanes: u32,
        pad: T,
        data: &[u8],
        e: E,
    ) -> InputPlanes<T> {
        let all = res.may_overlap(x, lanes);
        let buf = if all { win.gather_planes(x, bases, pad, data, e) } else { Vec::new() };
        InputPlanes { src: win.plane_sources(), plane: win.plane_len(), channels: bases.len(), pad, all, buf }
    }

    /// Plane `(n, c)`; `x`, `bases`, `data` and `e` as given to [`InputPlanes::new`].
    pub fn get<E: Element<Out = T>>(
        &mut self,
        n: u32,
        c: usize,
        x: &LTensor,
        bases: &[usize],
        data: &[u8],
        e: E,
    ) -> &[T] {
        if self.all {
            return &self.buf[(n as usize * self.channels + c) * self.plane..][..self.plane];
        }
        self.buf.clear();
        self.buf.resize(self.plane, self.pad);
        self.src.fill(&mut self.buf, n, bases[c], x, data, e);
        &self.buf
    }

    /// As [`InputPlanes::get`], gathering into the caller's `buf` (one per thread).
    #[allow(clippy::too_many_arguments)]
    pub fn get_into<'a, E: Element<Out = T>>(
        &'a self,
        n: u32,
        c: usize,
        x: &LTensor,
        bases: &[usize],
        data: &[u8],
        e: E,
        buf: &'a mut Vec<T>,
    ) -> &'a [T] {
        if self.all {
            return &self.buf[(n as usize * self.channels + c) * self.plane..][..self.plane];
        }
        buf.clear();
        buf.resize(self.plane, self.pad);
        self.src.fill(buf, n, bases[c], x, data, e);
        buf
    }
}

/// The two axes of a window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub h: Axis,
    pub w: Axis,
}

/// How a descriptor's kernel dilation fields (`conv_opd1_{y,x}_ins0`) apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dilation {
    /// Taps are `ins0 + 1` apart (conv, depthwise).
    Honoured,
    /// The fields are ignored and taps are dense (CV18[0-2]x per-channel-quantised depthwise).
    Ignored,
    /// Non-zero fields are an error (pooling: undocumented).
    Rejected,
}

/// The kernel of a window.
#[derive(Clone, Copy, Debug)]
pub struct Kernel {
    pub kh: u32,
    pub kw: u32,
    pub dilation: Dilation,
}

impl Window {
    /// The window of a conv/depthwise/pool descriptor for an input of `ih × iw` and the output
    /// `res0_h × res0_w`. Checks that the descriptor is self-consistent: non-zero strides and
    /// kernel, and no more outputs than the padded input provides.
    pub fn from_desc(d: &TiuDesc, ih: u32, iw: u32, k: Kernel) -> ExecResult<Window> {
        if d.conv_op_y_str == 0 {
            return Err(ExecErrorKind::Illegal { field: "conv_op_y_str", value: 0, why: "stride must be at least 1" });
        }
        if d.conv_op_x_str == 0 {
            return Err(ExecErrorKind::Illegal { field: "conv_op_x_str", value: 0, why: "stride must be at least 1" });
        }
        if k.kh == 0 {
            return Err(ExecErrorKind::Illegal { field: "opd1_h", value: 0, why: "kernel height must be at least 1" });
        }
        if k.kw == 0 {
            return Err(ExecErrorKind::Illegal { field: "opd1_w", value: 0, why: "kernel width must be at least 1" });
        }
        if k.dilation == Dilation::Rejected && (d.conv_opd1_y_ins0 != 0 || d.conv_opd1_x_ins0 != 0) {
            // Pooling emitters never set kernel dilation; whether the pooling datapath honours it
            // is undocumented.
            let (field, value) = if d.conv_opd1_y_ins0 != 0 {
                ("conv_opd1_y_ins0", d.conv_opd1_y_ins0)
            } else {
                ("conv_opd1_x_ins0", d.conv_opd1_x_ins0)
            };
            return Err(ExecErrorKind::Illegal {
                field,
                value: value as i64,
                why: "kernel dilation on a pooling descriptor is undocumented",
            });
        }
        let (dh, dw) =
            if k.dilation == Dilation::Honoured { (d.conv_opd1_y_ins0 + 1, d.conv_opd1_x_ins0 + 1) } else { (1, 1) };
        let h = Axis {
            input: ih,
            ins: d.conv_opd0_y_ins0,
            ins_last: d.conv_opd0_y_ins0_last,
            pad_lo: d.conv_opd0_up_pad,
            pad_hi: d.conv_opd0_dn_pad,
            kernel: k.kh,
            dilation: dh,
            stride: d.conv_op_y_str,
            output: d.res0_h,
        };
        let w = Axis {
            input: iw,
            ins: d.conv_opd0_x_ins0,
            ins_last: d.conv_opd0_x_ins0_last,
            pad_lo: d.conv_opd0_lf_pad,
            pad_hi: d.conv_opd0_rt_pad,
            kernel: k.kw,
            dilation: dw,
            stride: d.conv_op_x_str,
            output: d.res0_w,
        };
        // The spec derives res0_h/res0_w from the geometry (§3.6.1 "Output size"); a descriptor
        // asking for more would read past the padded input, which no source describes.
        if h.output > h.max_output() {
            return Err(ExecErrorKind::Illegal {
                field: "res0_h",
                value: h.output as i64,
                why: "more output rows than the padded, inserted input and kernel allow",
            });
        }
        if w.output > w.max_output() {
            return Err(ExecErrorKind::Illegal {
                field: "res0_w",
                value: w.output as i64,
                why: "more output columns than the padded, inserted input and kernel allow",
            });
        }
        Ok(Window { h, w })
    }

    /// Rows × columns of the padded input the outputs read.
    pub fn span(&self) -> (usize, usize) {
        (self.h.span() as usize, self.w.span() as usize)
    }

    /// Elements per row of a plane in the layout [`Window::gather_planes`] builds: the column span
    /// rounded up to a multiple of the W stride.
    pub fn row_len(&self) -> usize {
        let s = self.w.stride as usize;
        (self.w.span() as usize).div_ceil(s) * s
    }

    /// Elements per plane: span rows × [`Window::row_len`].
    pub fn plane_len(&self) -> usize {
        self.h.span() as usize * self.row_len()
    }

    /// Position in a plane row of padded column `col`. Columns are stored by phase
    /// (`col mod stride_w` first, then `col / stride_w`), so the inputs that consecutive outputs
    /// read under one kernel tap (`o·stride_w + k`) are adjacent for every stride.
    #[inline]
    pub fn col_pos(&self, col: usize) -> usize {
        let s = self.w.stride as usize;
        (col % s) * (self.row_len() / s) + col / s
    }

    /// Where each row and column of a gathered plane comes from, worked out once per descriptor.
    pub fn plane_sources(&self) -> PlaneSources {
        let cols =
            self.w.sources().iter().enumerate().filter_map(|(col, s)| s.map(|w| (self.col_pos(col), w))).collect();
        PlaneSources { rows: self.h.sources(), runs: Run::of(cols), row_len: self.row_len() }
    }

    /// Gather the `(N, C, IH, IW)` operand `x` into planes `[n][c][row][col]` covering the span,
    /// pads and inserts set to `pad`, columns in the [`Window::col_pos`] order. `bases` are the
    /// operand's per-channel bases in local memory `data`; `e` reads one element.
    pub fn gather_planes<E: Element>(
        &self,
        x: &LTensor,
        bases: &[usize],
        pad: E::Out,
        data: &[u8],
        e: E,
    ) -> Vec<E::Out> {
        let plane = self.plane_len();
        let src = self.plane_sources();
        let mut buf = vec![pad; x.n as usize * bases.len() * plane];
        for ni in 0..x.n {
            for (c, &base) in bases.iter().enumerate() {
                let p = (ni as usize * bases.len() + c) * plane;
                src.fill(&mut buf[p..p + plane], ni, base, x, data, e);
            }
        }
        buf
    }

    /// Fold every kernel tap of output row `oh` into `acc` (one entry per output column):
    /// `acc[o] = f(acc[o], input(row(oh, ky), o·stride_w + kx·dilation_w), tap(ky·kw + kx))`, taps
    /// in kernel order (kh outer, kw inner). `plane` is one channel's plane from
    /// [`Window::gather_planes`]; `tap` gives a per-tap value (a weight) once per tap.
    ///
    /// The loop over outputs is innermost and reads a contiguous slice: each output's fold keeps
    /// the kernel order (which fp32 sums need), and the loop vectorises.
    #[inline]
    pub fn fold_row<T: Copy, A: Copy, W: Copy>(
        &self,
        acc: &mut [A],
        plane: &[T],
        oh: usize,
        tap: impl Fn(usize) -> W,
        f: impl Fn(A, T, W) -> A,
    ) {
        let row_len = self.row_len();
        let (kh, kw) = (self.h.kernel as usize, self.w.kernel as usize);
        let (dh, dw) = (self.h.dilation as usize, self.w.dilation as usize);
        let st_h = self.h.stride as usize;
        let n = acc.len();
        for ky in 0..kh {
            let row = &plane[(oh * st_h + ky * dh) * row_len..][..row_len];
            for kx in 0..kw {
                let wt = tap(ky * kw + kx);
                let src = &row[self.col_pos(kx * dw)..][..n];
                for (a, &v) in acc.iter_mut().zip(src) {
                    *a = f(*a, v, wt);
                }
            }
        }
    }
}

#[cfg(test)]
mod element_tests {
    use super::*;

    #[test]
    fn bf16_read_is_bf16_operand() {
        for h in 0..=u16::MAX {
            let got = Bf16.read(&h.to_le_bytes());
            let want = crate::bf16::bf16_operand(h);
            assert_eq!(got.to_bits(), want.to_bits(), "{h:04x}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis(
        input: u32,
        ins: u32,
        ins_last: u32,
        pad_lo: u32,
        pad_hi: u32,
        kernel: u32,
        dilation: u32,
        stride: u32,
    ) -> Axis {
        let mut a = Axis { input, ins, ins_last, pad_lo, pad_hi, kernel, dilation, stride, output: 1 };
        a.output = a.max_output();
        a
    }

    #[test]
    fn padded_length_and_output() {
        // 5 inputs, 1 inserted between, 1 after, pads 2/1: 2 + 9 + 1 + 1 = 13.
        let a = axis(5, 1, 1, 2, 1, 3, 2, 2);
        assert_eq!(a.padded_len(), 13);
        assert_eq!(a.kernel_extent(), 5);
        assert_eq!(a.output, (13 - 5) / 2 + 1);
        assert_eq!(a.span(), (a.output - 1) * 2 + 5);
    }

    #[test]
    fn phased_columns_make_strided_taps_contiguous() {
        for stride in 1..=4u32 {
            let h = axis(3, 0, 0, 0, 0, 1, 1, 1);
            let w = Axis {
                input: 11,
                ins: 0,
                ins_last: 0,
                pad_lo: 1,
                pad_hi: 2,
                kernel: 3,
                dilation: 2,
                stride,
                output: 1,
            };
            let w = Axis { output: w.max_output(), ..w };
            let win = Window { h, w };
            let span = w.span() as usize;
            let pos: Vec<usize> = (0..span).map(|c| win.col_pos(c)).collect();
            let mut seen = pos.clone();
            seen.sort();
            seen.dedup();
            assert_eq!(seen.len(), span, "distinct positions");
            assert!(pos.iter().all(|&p| p < win.row_len()));
            for k in 0..w.kernel_extent() as usize {
                for o in 0..w.output as usize {
                    assert_eq!(pos[o * stride as usize + k], pos[k] + o);
                }
            }
        }
    }

    #[test]
    fn sources_place_inputs_between_inserts_and_pads() {
        let a = axis(3, 2, 1, 1, 2, 1, 1, 1);
        let s: Vec<Option<u32>> = (0..a.padded_len()).map(|p| a.source(p)).collect();
        assert_eq!(s, vec![None, Some(0), None, None, Some(1), None, None, Some(2), None, None, None]);
    }
}
