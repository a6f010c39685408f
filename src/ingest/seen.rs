//! Duplicate lines: the hashes of the lines seen on one side of the logs, so that an identical
//! repeat of a line is counted and dropped.
//!
//! At millions of lines the set outgrows the caches and every lookup is a miss. `insert_all`
//! takes a batch in order and asks for the slot of the hash a few places ahead before looking up
//! the current one, so that the misses overlap instead of queueing.

/// The hashes of the lines seen on one side, in 16 parts chosen by a hash's top four bits, each
/// an open-addressing table (linear probing, at most 3/4 full) that grows on its own: one big
/// table would briefly need half again its size whenever it grows. The parts are few enough that
/// at millions of lines each table is a block of its own from the kernel, handed back whole when
/// the part outgrows it (many small parts left their outgrown tables as holes in the heap: 30 MB
/// and more at 2M notifications).
pub(super) struct Seen(Vec<Part>);

const PARTS: usize = 16;
const PART_SHIFT: u32 = 60;

impl Default for Seen {
    fn default() -> Self {
        Seen((0..PARTS).map(|_| Part::default()).collect())
    }
}

/// How many lookups ahead a slot is requested.
const AHEAD: usize = 8;

impl Seen {
    fn part(&self, hash: u64) -> &Part {
        &self.0[(hash >> PART_SHIFT) as usize]
    }

    /// Whether `hash` is new (and now seen).
    fn insert(&mut self, hash: u64) -> bool {
        self.0[(hash >> PART_SHIFT) as usize].insert(hash)
    }

    /// `insert` of each hash in order, with the slots of the hashes ahead requested early.
    pub(super) fn insert_all(&mut self, hashes: &[u64]) -> Vec<bool> {
        for &h in hashes.iter().take(AHEAD) {
            self.part(h).prefetch(h);
        }
        let mut fresh = Vec::with_capacity(hashes.len());
        for (k, &h) in hashes.iter().enumerate() {
            if let Some(&next) = hashes.get(k + AHEAD) {
                self.part(next).prefetch(next);
            }
            fresh.push(self.insert(h));
        }
        fresh
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.iter().all(|p| p.len == 0 && !p.zero)
    }
}

/// One part: hashes in `slots` (0 marks an empty slot; the hash 0 itself is the flag `zero`).
#[derive(Default)]
struct Part {
    slots: Vec<u64>,
    len: usize,
    zero: bool,
}

impl Part {
    /// The home slot of a hash (its low bits, spread; the top bits chose the part).
    fn home(&self, hash: u64) -> usize {
        (hash.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 24) as usize & (self.slots.len() - 1)
    }

    fn insert(&mut self, hash: u64) -> bool {
        if hash == 0 {
            return !std::mem::replace(&mut self.zero, true);
        }
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        self.put(hash)
    }

    /// Puts a non-zero hash in its slot; false when it is there already. There is a free slot.
    fn put(&mut self, hash: u64) -> bool {
        let mask = self.slots.len() - 1;
        let mut i = self.home(hash);
        loop {
            match self.slots[i] {
                0 => {
                    self.slots[i] = hash;
                    self.len += 1;
                    return true;
                }
                s if s == hash => return false,
                _ => i = (i + 1) & mask,
            }
        }
    }

    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(64);
        let old = std::mem::replace(&mut self.slots, vec![0; size]);
        self.len = 0;
        for h in old.into_iter().filter(|&h| h != 0) {
            self.put(h);
        }
    }

    /// Asks for the home slot of `hash` to be brought into the cache (a hint; nothing is read).
    fn prefetch(&self, hash: u64) {
        if self.slots.is_empty() {
            return;
        }
        super::intern::prefetch(self.slots[self.home(hash)..].as_ptr().cast());
    }
}

#[cfg(test)]
mod tests {
    use super::Seen;
    use std::collections::HashSet;

    /// The set answers as a `HashSet` does, one by one and in batches, through growth, for
    /// hashes that share parts and home slots, repeat, and include 0.
    #[test]
    fn answers_as_a_hash_set_does() {
        let cases: Vec<Vec<u64>> = vec![
            vec![],
            vec![0, 0, 1, 1, u64::MAX, u64::MAX],
            // One part (the same top bits), clustered home slots, repeats.
            (0..5000u64).map(|i| (7 << 56) | (i % 1700) << 3).collect(),
            // Spread over all parts, every tenth a repeat of an earlier one.
            (0..200_000u64)
                .map(|i| {
                    let x = if i % 10 == 9 { i / 3 } else { i };
                    x.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ (x << 40)
                })
                .collect(),
        ];
        for hashes in cases {
            let mut want = HashSet::new();
            let expected: Vec<bool> = hashes.iter().map(|&h| want.insert(h)).collect();
            let mut one = Seen::default();
            let got: Vec<bool> = hashes.iter().map(|&h| one.insert(h)).collect();
            assert_eq!(got, expected);
            for batch in [1, 7, 20_000] {
                let mut seen = Seen::default();
                let got: Vec<bool> = hashes
                    .chunks(batch)
                    .flat_map(|c| seen.insert_all(c))
                    .collect();
                assert_eq!(got, expected, "batches of {batch}");
            }
            assert_eq!(one.is_empty(), hashes.is_empty());
        }
    }
}
