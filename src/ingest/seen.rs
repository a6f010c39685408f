//! Duplicate lines: the hashes of the lines seen on one side of the logs, so that an identical
//! repeat of a line is counted and dropped.

use super::intern::Identity;
use std::collections::HashSet;
use std::hash::BuildHasherDefault;

type Part = HashSet<u64, BuildHasherDefault<Identity>>;

/// The hashes of the lines seen on one side, in 256 parts that grow one at a time (one big
/// table would briefly need half again its size whenever it grows).
pub(super) struct Seen(Vec<Part>);

impl Default for Seen {
    fn default() -> Self {
        Seen((0..256).map(|_| Part::default()).collect())
    }
}

impl Seen {
    pub(super) fn insert(&mut self, hash: u64) -> bool {
        self.0[(hash >> 56) as usize].insert(hash)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.iter().all(HashSet::is_empty)
    }
}
