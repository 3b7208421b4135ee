//! A tiny deterministic generator for resampling.
//!
//! SplitMix64 is written out here rather than taken from `rand` so that a
//! bootstrap interval printed today is bit-for-bit the one printed after any
//! dependency upgrade: reports must be recomputable from the store.

#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform index in `0..n` (n > 0), without modulo bias (Lemire's method).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        let n64 = n as u64;
        loop {
            let m = (self.next_u64() as u128) * (n64 as u128);
            let low = m as u64;
            if low >= n64 || low >= n64.wrapping_neg() % n64 {
                return (m >> 64) as usize;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SplitMix64;

    #[test]
    fn reference_sequence() {
        // First outputs of SplitMix64 seeded with 0 (reference implementation by Vigna).
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut r = SplitMix64::new(7);
        let mut seen = [false; 5];
        for _ in 0..1000 {
            let i = r.below(5);
            assert!(i < 5);
            seen[i] = true;
        }
        assert!(seen.iter().all(|s| *s));
    }
}
