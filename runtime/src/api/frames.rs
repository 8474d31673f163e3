//! Filling an input from video frames in device memory: `CVI_NN_SetTensorWithVideoFrame`,
//! `CVI_NN_SetTensorWithAlignedFrames` and `CVI_NN_FeedTensorWithFrames` (spec runtime.md §2.1).
//!
//! A VPSS frame has its rows padded to the chip's row alignment. For a model deployed without
//! `--aligned_input` the runtime strips that padding into the tensor's compact memory at the call
//! (the vendor builds a TDMA stride copy and runs it at once), so later changes to the frame are
//! not seen. For an aligned model one frame is bound in place (zero copy, as
//! `SetTensorPhysicalAddr`), several frames are copied whole, padding included.
//!
//! The source rows are always taken `align(width, row alignment)` bytes apart: the vendor ignores
//! the strides in `CVI_VIDEO_FRAME_INFO` and the `height_stride` of `FeedTensorWithFrames`.

use super::{find, ApiError, MemType, ModelHandle, ProgramState, TensorInfo};
use crate::cvimodel::PixelFormat;
use crate::memory::vpss_align;

/// `CVI_NN_PIXEL_PACKED` (legacy): what the runtime calls a TENSOR-format input whose last dim is 3.
const PIXEL_PACKED: i32 = 102;

/// The part of `CVI_VIDEO_FRAME_INFO` the runtime reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VideoFrame {
    /// `type`: a `CVI_NN_PIXEL_FORMAT_E` value; checked only for an aligned input.
    pub pixel_format: i32,
    /// Dims 1..3 must equal the tensor's.
    pub shape: [i64; 4],
    /// Device address of each plane (one for packed and aligned frames).
    pub plane_addrs: [u64; 3],
}

/// Packed (HWC) input, as the runtime's `Neuron::isPacked` decides.
fn is_packed(t: &TensorInfo) -> bool {
    match t.pixel_format_kind {
        Some(PixelFormat::RgbPacked | PixelFormat::BgrPacked) => true,
        Some(_) => false,
        None => t.pixel_format == PIXEL_PACKED || (t.pixel_format == PixelFormat::CVI_TENSOR && t.shape[3] == 3),
    }
}

/// (channels, rows, row bytes) of one frame of the tensor as the copies see it: a packed frame is
/// one channel of H rows of W·C bytes.
fn frame_dims(t: &TensorInfo) -> (u64, u64, u64) {
    let d = t.shape.map(|x| x.max(0) as u64);
    if is_packed(t) {
        (1, d[1], d[2] * d[3])
    } else {
        (d[1], d[2], d[3])
    }
}

fn frame_err(t: &TensorInfo, why: impl Into<String>) -> ApiError {
    ApiError::Frame { name: t.name.clone(), why: why.into() }
}

impl ModelHandle {
    /// `CVI_NN_SetTensorWithVideoFrame`: a one-frame input from a frame whose planes are at
    /// `frame.plane_addrs`.
    pub fn set_video_frame(&self, name: &str, frame: &VideoFrame) -> Result<(), ApiError> {
        let t = self.frame_input(name)?;
        if t.shape[1..] != frame.shape[1..] {
            return Err(ApiError::FrameShape { name: name.into(), want: t.shape, got: frame.shape });
        }
        if t.shape[0] != 1 {
            return Err(frame_err(&t, format!("a video frame fills a batch of 1; the tensor has {}", t.shape[0])));
        }
        if t.aligned {
            return self.set_aligned_frames(name, &frame.plane_addrs[..1], frame.pixel_format);
        }
        let (c, _, _) = frame_dims(&t);
        if c > 3 {
            return Err(frame_err(&t, format!("a video frame has at most 3 planes; the tensor has {c} channels")));
        }
        for ch in 0..c {
            self.compact_channel(&t, ch, frame.plane_addrs[ch as usize])?;
        }
        Ok(())
    }

    /// `CVI_NN_FeedTensorWithFrames` (deprecated): one plane address per channel.
    pub fn feed_frames(
        &self,
        name: &str,
        pixel_format: i32,
        channel_addrs: &[u64],
        height: i64,
        width: i64,
    ) -> Result<(), ApiError> {
        let t = self.frame_input(name)?;
        let (h, w) = if is_packed(&t) { (t.shape[1], t.shape[2]) } else { (t.shape[2], t.shape[3]) };
        if (h, w) != (height, width) {
            let mut got = t.shape;
            let at = if is_packed(&t) { 1 } else { 2 };
            (got[at], got[at + 1]) = (height, width);
            return Err(ApiError::FrameShape { name: name.into(), want: t.shape, got });
        }
        if t.shape[0] != 1 {
            return Err(frame_err(&t, format!("frames fill a batch of 1; the tensor has {}", t.shape[0])));
        }
        if channel_addrs.is_empty() {
            return Err(frame_err(&t, "no channel address given"));
        }
        if t.aligned {
            return self.set_aligned_frames(name, &channel_addrs[..1], pixel_format);
        }
        let (c, _, _) = frame_dims(&t);
        if channel_addrs.len() as u64 > c {
            return Err(frame_err(&t, format!("{} channel addresses for {c} channels", channel_addrs.len())));
        }
        for (ch, &a) in channel_addrs.iter().enumerate() {
            self.compact_channel(&t, ch as u64, a)?;
        }
        Ok(())
    }

    /// `CVI_NN_SetTensorWithAlignedFrames`: `frames` (at most the batch) from VPSS buffers.
    pub fn set_aligned_frames(&self, name: &str, frames: &[u64], pixel_format: i32) -> Result<(), ApiError> {
        let t = self.frame_input(name)?;
        let n = t.shape[0].max(0) as usize;
        if frames.is_empty() || frames.len() > n {
            return Err(frame_err(&t, format!("{} frames for a batch of {n}", frames.len())));
        }
        if !t.aligned {
            for (i, &a) in frames.iter().enumerate() {
                self.compact_frame(&t, i as u64, a)?;
            }
            return Ok(());
        }
        if pixel_format != t.pixel_format {
            return Err(frame_err(&t, format!("frames in pixel format {pixel_format}; the model takes {}", t.pixel_format)));
        }
        if frames.len() == 1 && n == 1 {
            return self.bind(name, frames[0]);
        }
        // Several aligned frames are copied whole, each at a row-aligned stride.
        let frame_size = self.row_stride(&t, t.mem_size / n as u64);
        for (i, &a) in frames.iter().enumerate() {
            self.copy_in(&t, a, frame_size, frame_size, 1, i as u64 * frame_size)?;
        }
        Ok(())
    }

    /// The input `name`, with 8-bit elements (frames carry pixels).
    fn frame_input(&self, name: &str) -> Result<TensorInfo, ApiError> {
        let t = self.loaded(|p| find(&p.inputs, name, "inputs").cloned())?;
        if t.dtype.size() != 1 {
            return Err(frame_err(&t, format!("frames carry 8-bit pixels; the tensor is {}", t.dtype.name())));
        }
        Ok(t)
    }

    /// Bytes from one frame row to the next: `row` bytes rounded up to the chip's VPSS row
    /// alignment.
    fn row_stride(&self, t: &TensorInfo, row: u64) -> u64 {
        let fmt = t.pixel_format_kind.unwrap_or(PixelFormat::RgbPlanar);
        let a = vpss_align(self.model().chip(), fmt).w;
        row.div_ceil(a) * a
    }

    /// `Neuron::preloadChannelAndCompact`: channel `ch` of a one-frame input from rows at `src`.
    fn compact_channel(&self, t: &TensorInfo, ch: u64, src: u64) -> Result<(), ApiError> {
        let (_, h, w) = frame_dims(t);
        self.copy_in(t, src, w, self.row_stride(t, w), h, ch * h * w)
    }

    /// `Neuron::preloadFrameAndCompact`: frame `i` of the batch; its channels follow each other
    /// `rows · row stride` apart in the source.
    fn compact_frame(&self, t: &TensorInfo, i: u64, src: u64) -> Result<(), ApiError> {
        let (c, h, w) = frame_dims(t);
        self.copy_in(t, src, w, self.row_stride(t, w), c * h, i * c * h * w)
    }

    /// Copy `rows` rows of `row` bytes, `stride` apart from `src` (inside one user buffer), into
    /// the tensor's memory from byte `at`, compactly. The tensor's memory is its bound buffer
    /// when it has one.
    fn copy_in(&self, t: &TensorInfo, src: u64, row: u64, stride: u64, rows: u64, at: u64) -> Result<(), ApiError> {
        let len = rows * row;
        if at + len > t.mem_size {
            return Err(frame_err(
                t,
                format!("the frame data ({len} bytes at byte {at}) does not fit the tensor's {} bytes", t.mem_size),
            ));
        }
        let extent = if rows == 0 { 0 } else { (rows - 1) * stride + row };
        // Lock order as everywhere: the handle's state, then the device.
        let mut st = self.state();
        let p: &mut ProgramState = st.prog.as_mut().ok_or(ApiError::NotLoaded)?;
        let mut dev = self.rt.device();
        let (start, off) = dev.user_span(src, extent).ok_or(ApiError::BadAddress { paddr: src, len: extent })?;
        let frame = dev.user_bytes(start).expect("span found")[off..off + extent as usize].to_vec();
        let gather = |dst: &mut [u8]| {
            for r in 0..rows as usize {
                let (s, d) = (r * stride as usize, r * row as usize);
                dst[d..d + row as usize].copy_from_slice(&frame[s..s + row as usize]);
            }
        };
        let bound = t.region.and_then(|r| p.bound[r.index()]);
        match bound {
            Some(base) => {
                let to = base + t.region_offset + at;
                let (bstart, boff) = dev.user_span(to, len).ok_or(ApiError::BadAddress { paddr: to, len })?;
                gather(&mut dev.user_bytes_mut(bstart).expect("span found")[boff..boff + len as usize]);
            }
            None => {
                drop(dev);
                let mem = p.inst.input_mut(&t.name, t.mem_size as usize)?;
                gather(&mut mem[at as usize..(at + len) as usize]);
            }
        }
        // The frame now is the input: bytes set earlier from host memory must not replace it.
        p.staged.retain(|(n, _)| n != &t.name);
        for i in p.inputs.iter_mut().filter(|i| i.name == t.name) {
            i.mem_type = MemType::Device;
        }
        Ok(())
    }
}
