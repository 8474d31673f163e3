//! `argmax_v3`: the CPU half of a TPU argmax. The TPU supplies per-tile maxima (tiles of 256
//! elements along the reduced, innermost axis); the CPU picks the tile and the element.

pub const TILE: usize = 256;

use super::{write_f32, CpuContext, CpuFunction, CpuResult};
use crate::cvimodel::DType;

/// The `argmax_v3` routine: inputs data and tile map, outputs the indices and optionally the
/// maxima (times `scale` for int8); attribute `axis`, the reduced one.
pub struct ArgmaxV3;

impl CpuFunction for ArgmaxV3 {
    fn name(&self) -> &'static str {
        "argmax_v3"
    }

    fn run(&self, cx: &mut CpuContext<'_>) -> CpuResult {
        let (data_n, map_n) = (cx.input(0)?, cx.input(1)?);
        let axis = cx.int_attr("axis")?;
        let scale = cx.float_attr("scale")?.unwrap_or(1.0);
        let dt = cx.tensors.desc(data_n)?;
        if !(0..4).contains(&axis) {
            return Err(format!("axis {axis} outside 0..4"));
        }
        let outer: i64 = dt.shape[..axis as usize].iter().product();
        let inner = dt.shape[axis as usize];
        let (outer, inner) = (outer.max(0) as usize, inner.max(0) as usize);
        let tiles = inner.div_ceil(TILE).max(1);
        let mut idx = vec![0f32; outer];
        let mut val = vec![0f32; outer];
        {
            let data = cx.tensors.bytes(data_n)?;
            let map = cx.tensors.bytes(map_n)?;
            if dt.dtype == DType::I8 {
                let d: Vec<i8> = data.iter().map(|&b| b as i8).collect();
                let m: Vec<i8> = map.iter().map(|&b| b as i8).collect();
                if d.len() < outer * inner || m.len() < outer * tiles {
                    return Err("data or map smaller than its shape".into());
                }
                argmax_v3(&d, &m, outer, inner, |i, x, mx| {
                    idx[i] = x;
                    val[i] = mx as i32 as f32 * scale;
                });
            } else {
                let d: Vec<u16> = data.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
                let m: Vec<u16> = map.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
                if d.len() < outer * inner || m.len() < outer * tiles {
                    return Err("data or map smaller than its shape".into());
                }
                argmax_v3(&d, &m, outer, inner, |i, x, mx| {
                    idx[i] = x;
                    val[i] = f32::from_bits((mx as u32) << 16);
                });
            }
        }
        let write = |cx: &mut CpuContext<'_>, name: &str, v: &[f32]| -> CpuResult {
            let out = cx.tensors.bytes_mut(name)?;
            if out.len() < v.len() * 4 {
                return Err(format!("output `{name}` too small"));
            }
            write_f32(out, v);
            Ok(())
        };
        let idx_n = cx.output(0)?;
        write(cx, idx_n, &idx)?;
        if let Some(vn) = cx.optional_output(1) {
            write(cx, vn, &val)?;
        }
        Ok(())
    }
}

/// Element access for the two data formats the routine handles.
pub trait ArgmaxData: Copy {
    /// The key the vendor compares: int8 as signed bytes; any other format as raw 16-bit
    /// patterns compared as signed integers (which orders negative bf16 values backwards).
    fn key(self) -> i32;
}
impl ArgmaxData for i8 {
    fn key(self) -> i32 {
        self as i32
    }
}
impl ArgmaxData for u16 {
    fn key(self) -> i32 {
        self as i16 as i32
    }
}

/// For each of `outer` rows of `inner` elements: the index of the first maximal element, found
/// through the tile map, and the maximum itself.
pub fn argmax_v3<T: ArgmaxData>(data: &[T], map: &[T], outer: usize, inner: usize, mut f: impl FnMut(usize, f32, T)) {
    let tiles = inner.div_ceil(TILE).max(1);
    for i in 0..outer {
        let m = &map[i * tiles..(i + 1) * tiles];
        let mut t = 0;
        for (k, v) in m.iter().enumerate() {
            if v.key() > m[t].key() {
                t = k;
            }
        }
        let max = m[t];
        let row = &data[i * inner..(i + 1) * inner];
        let lo = t * TILE;
        let hi = (lo + TILE).min(inner);
        let j = row.get(lo..hi).and_then(|s| s.iter().position(|v| v.key() == max.key())).unwrap_or(0);
        f(i, (lo + j) as f32, max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_maximum_wins() {
        let data: Vec<i8> = vec![1, 5, 5, 2, 9, 9, 0, 0];
        let map: Vec<i8> = vec![5, 9];
        let mut got = Vec::new();
        argmax_v3(&data, &map, 2, 4, |i, idx, m| got.push((i, idx, m)));
        assert_eq!(got, vec![(0, 1.0, 5), (1, 0.0, 9)]);
    }

    #[test]
    fn bf16_compares_as_signed_patterns() {
        // -2.0 (0xC000) compares greater than -1.0 (0xBF80) as signed 16-bit.
        let data: Vec<u16> = vec![0xBF80, 0xC000];
        let map: Vec<u16> = vec![0xC000];
        let mut got = Vec::new();
        argmax_v3(&data, &map, 1, 2, |_, idx, _| got.push(idx));
        assert_eq!(got, vec![1.0]);
    }
}
