//! `argmax_v3`: the CPU half of a TPU argmax. The TPU supplies per-tile maxima (tiles of 256
//! elements along the reduced, innermost axis); the CPU picks the tile and the element.

pub const TILE: usize = 256;

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
