//! The order the vendor's calibration takes its files in: every file under the dataset directory,
//! sorted by path, then shuffled by Python's `random.shuffle` after `random.seed(1684)`, of which
//! `--input_num` takes the first N. The order matters: the vendor's histograms grow with the
//! running maximum, so the same images in another order give slightly different thresholds.
//! This is Python's Mersenne Twister (MT19937 seeded by `init_by_array`) and its shuffle.

/// The seed the vendor's data selector uses.
pub const VENDOR_SEED: u32 = 1684;

struct Mt19937 {
    state: [u32; 624],
    index: usize,
}

impl Mt19937 {
    fn new(seed: u32) -> Mt19937 {
        let mut state = [0u32; 624];
        state[0] = seed;
        for i in 1..624 {
            state[i] = 1_812_433_253u32.wrapping_mul(state[i - 1] ^ (state[i - 1] >> 30)).wrapping_add(i as u32);
        }
        Mt19937 { state, index: 624 }
    }

    /// Python's `random.seed(n)` for a non-negative n below 2^32: `init_by_array([n])`.
    fn python_seeded(n: u32) -> Mt19937 {
        let key = [n];
        let mut mt = Mt19937::new(19_650_218);
        let s = &mut mt.state;
        let (mut i, mut j) = (1usize, 0usize);
        for _ in 0..624.max(key.len()) {
            s[i] = (s[i] ^ (s[i - 1] ^ (s[i - 1] >> 30)).wrapping_mul(1_664_525))
                .wrapping_add(key[j])
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= 624 {
                s[0] = s[623];
                i = 1;
            }
            if j >= key.len() {
                j = 0;
            }
        }
        for _ in 0..623 {
            s[i] = (s[i] ^ (s[i - 1] ^ (s[i - 1] >> 30)).wrapping_mul(1_566_083_941)).wrapping_sub(i as u32);
            i += 1;
            if i >= 624 {
                s[0] = s[623];
                i = 1;
            }
        }
        s[0] = 0x8000_0000;
        mt
    }

    fn next_u32(&mut self) -> u32 {
        if self.index >= 624 {
            for k in 0..624 {
                let y = (self.state[k] & 0x8000_0000) | (self.state[(k + 1) % 624] & 0x7fff_ffff);
                let mut v = self.state[(k + 397) % 624] ^ (y >> 1);
                if y & 1 != 0 {
                    v ^= 0x9908_b0df;
                }
                self.state[k] = v;
            }
            self.index = 0;
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// Python's `_randbelow_with_getrandbits(n)` for n < 2^32.
    fn below(&mut self, n: u32) -> u32 {
        let k = 32 - n.leading_zeros();
        loop {
            let r = self.next_u32() >> (32 - k);
            if r < n {
                return r;
            }
        }
    }
}

/// Shuffle in place exactly as Python's `random.seed(seed); random.shuffle(items)` does.
pub fn python_shuffle<T>(items: &mut [T], seed: u32) {
    let mut mt = Mt19937::python_seeded(seed);
    for i in (1..items.len()).rev() {
        let j = mt.below(i as u32 + 1) as usize;
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_pythons_shuffle() {
        // Python 3: random.seed(1684); l = list(range(32)); random.shuffle(l)
        let mut v: Vec<u32> = (0..32).collect();
        python_shuffle(&mut v, VENDOR_SEED);
        assert_eq!(
            v,
            [
                6, 26, 10, 7, 12, 4, 24, 2, 25, 3, 1, 5, 11, 21, 27, 17, 15, 31, 28, 22, 23, 19, 29, 18, 20, 14, 13, 9,
                8, 16, 0, 30
            ]
        );
        // The twelve images of the large detectors, and a short list.
        let mut v: Vec<u32> = (0..12).collect();
        python_shuffle(&mut v, VENDOR_SEED);
        assert_eq!(v, [1, 10, 5, 2, 11, 6, 3, 9, 4, 8, 0, 7]);
        let mut v: Vec<u32> = (0..5).collect();
        python_shuffle(&mut v, VENDOR_SEED);
        assert_eq!(v, [4, 1, 2, 0, 3]);
    }

    #[test]
    fn matches_pythons_first_outputs() {
        // Python 3: random.seed(1684); [random.getrandbits(32) for _ in range(3)]
        let mut mt = Mt19937::python_seeded(1684);
        let got: Vec<u32> = (0..3).map(|_| mt.next_u32()).collect();
        assert_eq!(got, PY_FIRST);
    }

    const PY_FIRST: [u32; 3] = [2_067_858_712, 61_194_221, 2_215_618_579];
}
