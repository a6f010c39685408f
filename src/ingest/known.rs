//! The sending side's Task bodies, known by hash: the scanner registers each body it reads on the
//! sending side, and a received line carrying the same bytes names the notification without
//! being read again (see `scan::Cur::task_field`).

use super::intern::Sym;

/// Task bodies logged on the sending side, by the low 64 bits of their (seeded) hash, with the
/// notification's identifier: a receiver usually logs the very same body, which then needs no
/// second reading (the model checks the match against the body it kept and asks for a full
/// reading when it differs). A 64-bit key keeps an entry at 16 bytes (a 128-bit one took 32).
#[derive(Default)]
pub struct KnownBodies {
    shards: Vec<std::sync::Mutex<std::collections::HashMap<u64, Sym, Spread>>>,
}

/// 16 shards, each behind its own lock: few enough that at millions of bodies each shard's table
/// is a block of its own from the kernel, handed back whole when the shard outgrows it (64 left
/// their outgrown tables as holes in the parsing threads' heaps).
const SHARD_BITS: u32 = 4;
const SHARDS: usize = 1 << SHARD_BITS;

/// The hasher of `KnownBodies`: its keys are already hashes.
#[derive(Default, Clone, Copy)]
pub struct Spread;

impl std::hash::BuildHasher for Spread {
    type Hasher = super::intern::Identity;
    fn build_hasher(&self) -> Self::Hasher {
        super::intern::Identity::default()
    }
}

impl KnownBodies {
    pub fn new() -> Self {
        KnownBodies {
            shards: (0..SHARDS).map(|_| Default::default()).collect(),
        }
    }

    fn shard(
        &self,
        h: u64,
    ) -> Option<std::sync::MutexGuard<'_, std::collections::HashMap<u64, Sym, Spread>>> {
        self.shards
            .get((h >> (64 - SHARD_BITS)) as usize)?
            .lock()
            .ok()
    }

    pub(super) fn insert(&self, h: u128, id: Sym) {
        let h = h as u64;
        if let Some(mut g) = self.shard(h) {
            g.insert(h, id);
        }
    }

    pub(super) fn get(&self, h: u128) -> Option<Sym> {
        let h = h as u64;
        self.shard(h)?.get(&h).copied()
    }
}

/// The hash of a Task body's bytes (the model keeps its low 64 bits to compare). It is seeded
/// at random once per process, so that no one can prepare log lines whose hashes collide.
pub(crate) fn body_hash(body: &str) -> u128 {
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let seed = *SEED.get_or_init(rand::random);
    xxhash_rust::xxh3::xxh3_128_with_seed(body.as_bytes(), seed)
}
