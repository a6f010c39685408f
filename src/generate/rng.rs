//! The generator's randomness: SplitMix64, stable across platforms and versions, so a seed
//! always gives the same files.

#[derive(Clone)]
pub(super) struct Rng(pub(super) u64);

pub(super) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Rng {
    pub(super) fn new(seed: u64, stream: u64) -> Self {
        Rng(mix(
            seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ mix(stream.wrapping_add(0x632b_e59b))
        ))
    }
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }
    /// 0 ≤ r < n.
    pub(super) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n.max(1))) >> 64) as u64
    }
    /// lo ≤ r < hi.
    pub(super) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo).max(1) as u64) as i64
    }
    pub(super) fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
    pub(super) fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
    pub(super) fn uuid(&mut self) -> String {
        let (a, b) = (self.next(), self.next());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | ((b >> 48) & 0x3fff),
            b & 0xffff_ffff_ffff
        )
    }
    /// A BSN that passes the elfproef.
    pub(super) fn bsn(&mut self) -> String {
        loop {
            let mut d = [0u8; 9];
            d[0] = 1 + self.below(9) as u8;
            for x in d.iter_mut().take(8).skip(1) {
                *x = self.below(10) as u8;
            }
            let s: u32 = d[..8]
                .iter()
                .zip((2..=9).rev())
                .map(|(x, w)| u32::from(*x) * w)
                .sum();
            let last = s % 11;
            if last < 10 {
                d[8] = last as u8;
                return d.iter().map(|x| char::from(b'0' + x)).collect();
            }
        }
    }
    /// An authorization-base: base64 of a uuid, or a JWT-like blob.
    pub(super) fn auth_base(&mut self) -> String {
        use std::fmt::Write;
        let mut s = String::with_capacity(64);
        if self.chance(0.5) {
            let u = self.uuid();
            for chunk in u.as_bytes().chunks(3) {
                let n = chunk.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b))
                    << (8 * (3 - chunk.len()));
                for i in 0..=chunk.len() {
                    s.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
                }
            }
        } else {
            s.push_str("eyJhbGciOiJFUzI1NiJ9.");
            for _ in 0..6 {
                let _ = write!(s, "{:016x}", self.next());
            }
        }
        s
    }
}

pub(super) const B64: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
