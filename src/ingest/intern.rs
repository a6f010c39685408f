//! Interned strings: every text the model keeps (identifiers, organisations, requests, codes,
//! BSNs, bases) is stored once in an arena and named by a 4-byte `Sym`. Texts of the common form
//! `<prefix>urn:uuid:<lower-case uuid>` are stored as their prefix's symbol plus the uuid's 16
//! bytes (a notification key of 63 characters takes 20 bytes). The table is sharded so parsing
//! threads intern in parallel; `freeze` drops the hash tables once nothing new comes in.

use hashbrown::HashTable;
use std::cell::RefCell;
use std::sync::Mutex;
use xxhash_rust::xxh3::xxh3_64;

mod strings;
pub use strings::Strings;
pub(crate) use strings::prefetch;

/// An interned string. `Sym::NONE` stands for "absent".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sym(u32);

impl Sym {
    pub const NONE: Sym = Sym(u32::MAX);

    pub fn is_none(self) -> bool {
        self == Sym::NONE
    }

    pub fn is_some(self) -> bool {
        self != Sym::NONE
    }

    /// `None` for `Sym::NONE`.
    pub fn opt(self) -> Option<Sym> {
        self.is_some().then_some(self)
    }

    /// A dense index (symbols are numbered per shard, interleaved).
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A hasher for keys that are already well spread (symbols, line hashes): no hashing at all.
#[derive(Default, Clone, Copy)]
pub struct Identity(u64);

impl std::hash::Hasher for Identity {
    fn finish(&self) -> u64 {
        // Spread the bits (symbols are small consecutive numbers): a folded multiply, so that
        // every input bit reaches the low bits the table indexes by.
        let p = u128::from(self.0) * 0x9e37_79b9_7f4a_7c15;
        (p as u64) ^ ((p >> 64) as u64)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u32(&mut self, v: u32) {
        self.0 = self.0.rotate_left(32) ^ u64::from(v);
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = self.0.rotate_left(32) ^ v;
    }
}

/// A map keyed by symbols (or other well-spread numbers).
pub type SymMap<K, V> = std::collections::HashMap<K, V, std::hash::BuildHasherDefault<Identity>>;

impl Default for Sym {
    fn default() -> Self {
        Sym::NONE
    }
}

const SHARD_BITS: u32 = 6;
const SHARDS: usize = 1 << SHARD_BITS;
// The shard comes from bits 32.. of a text's hash; the table within a shard sees only the low 32
// bits (`table_hash`), which vary among the shard's entries.
/// The top bit of a span's length marks a compact uuid entry.
const COMPACT: u32 = 1 << 31;
const UUID_MARK: &str = "urn:uuid:";
const UUID_LEN: usize = 36;

#[derive(Clone, Copy)]
struct Span {
    start: u32,
    len: u32,
}

/// A table entry: the entry's number in its shard and the low 32 bits of its key's hash, from
/// which the table's own hash is rebuilt (`table_hash`). Growing the table then needs no look at
/// the texts, and a lookup passes over entries whose bits differ without reading their key.
#[derive(Clone, Copy)]
struct Slot {
    local: u32,
    bits: u32,
}

/// The hash the table sees for a key's hash: its low 32 bits, twice (the table takes positions
/// from the low bits and a tag from the top seven). The shard is chosen by bits above these.
fn table_hash(bits: u32) -> u64 {
    (u64::from(bits) << 32) | u64::from(bits)
}

/// What a shard's growing vectors reserve up front: a block this large comes straight from the
/// kernel (`process::large_blocks_from_the_kernel`), so the vector grows in place (`mremap`) and
/// leaves no freed blocks behind in the heap; pages not yet written cost no memory.
const RESERVE: usize = 1 << 20;

#[derive(Default)]
struct Shard {
    table: HashTable<Slot>,
    spans: Vec<Span>,
    /// Texts (slicing a `String` needs no UTF-8 check).
    text: String,
    /// Compact uuid entries: prefix symbol and 16 bytes.
    bytes: Vec<u8>,
}

impl Shard {
    fn new() -> Self {
        Shard {
            table: HashTable::new(),
            spans: Vec::with_capacity(RESERVE / std::mem::size_of::<Span>()),
            text: String::with_capacity(RESERVE),
            bytes: Vec::with_capacity(RESERVE),
        }
    }
}

/// The key of a text: either the text or (prefix, uuid).
enum Key<'a> {
    Text(&'a str),
    Uuid(Sym, [u8; 16]),
}

impl Key<'_> {
    fn hash(&self) -> u64 {
        match self {
            Key::Text(b) => xxh3_64(b.as_bytes()),
            Key::Uuid(p, u) => {
                let mut buf = [0u8; 20];
                buf[..4].copy_from_slice(&p.0.to_le_bytes());
                buf[4..].copy_from_slice(u);
                xxh3_64(&buf) ^ 0x5bd1_e995
            }
        }
    }
}

impl Shard {
    fn entry(&self, local: u32) -> Key<'_> {
        key_at(self.spans[local as usize], &self.text, &self.bytes)
    }

    fn equals(&self, local: u32, key: &Key) -> bool {
        match (self.entry(local), key) {
            (Key::Text(a), Key::Text(b)) => a == *b,
            (Key::Uuid(p, u), Key::Uuid(q, v)) => p == *q && u == *v,
            _ => false,
        }
    }

    fn find(&self, hash: u64, key: &Key) -> Option<u32> {
        let bits = hash as u32;
        self.table
            .find(table_hash(bits), |s| {
                s.bits == bits && self.equals(s.local, key)
            })
            .map(|s| s.local)
    }

    fn insert(&mut self, hash: u64, key: &Key) -> u32 {
        let (start, len) = match key {
            Key::Text(b) => {
                let start = self.text.len() as u32;
                self.text.push_str(b);
                (start, b.len() as u32)
            }
            Key::Uuid(p, u) => {
                let start = self.bytes.len() as u32;
                self.bytes.extend_from_slice(&p.0.to_le_bytes());
                self.bytes.extend_from_slice(u);
                (start, COMPACT)
            }
        };
        let local = self.spans.len() as u32;
        self.spans.push(Span { start, len });
        let bits = hash as u32;
        self.table
            .insert_unique(table_hash(bits), Slot { local, bits }, |s| {
                table_hash(s.bits)
            });
        local
    }
}

/// The key an entry stores: its text, or its prefix symbol and uuid.
fn key_at<'a>(s: Span, text: &'a str, bytes: &[u8]) -> Key<'a> {
    let start = s.start as usize;
    if s.len & COMPACT != 0 {
        let b = &bytes[start..start + 20];
        let mut u = [0u8; 16];
        u.copy_from_slice(&b[4..]);
        Key::Uuid(Sym(u32::from_le_bytes([b[0], b[1], b[2], b[3]])), u)
    } else {
        Key::Text(text.get(start..start + s.len as usize).unwrap_or_default())
    }
}

/// A text ending in `urn:uuid:<canonical uuid>`: what comes before it, and the uuid.
fn uuid_tail(s: &str) -> Option<(&str, [u8; 16])> {
    let b = s.as_bytes();
    let cut = b.len().checked_sub(UUID_MARK.len() + UUID_LEN)?;
    if &b[cut..cut + UUID_MARK.len()] != UUID_MARK.as_bytes() {
        return None;
    }
    Some((s.get(..cut)?, parse_uuid(&b[cut + UUID_MARK.len()..])?))
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// The uuid of a canonical lower-case `8-4-4-4-12` text.
fn parse_uuid(t: &[u8]) -> Option<[u8; 16]> {
    if t.len() != UUID_LEN {
        return None;
    }
    let mut out = [0u8; 16];
    let mut n = 0;
    let mut i = 0;
    while i < UUID_LEN {
        if matches!(i, 8 | 13 | 18 | 23) {
            if t[i] != b'-' {
                return None;
            }
            i += 1;
            continue;
        }
        out[n] = (hex(t[i])? << 4) | hex(t[i + 1])?;
        n += 1;
        i += 2;
    }
    Some(out)
}

fn write_uuid(u: &[u8; 16], out: &mut String) {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; UUID_LEN];
    let mut k = 0;
    for (i, b) in u.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            buf[k] = b'-';
            k += 1;
        }
        buf[k] = H[(b >> 4) as usize];
        buf[k + 1] = H[(b & 15) as usize];
        k += 2;
    }
    // Only ASCII hex digits and hyphens were written.
    out.push_str(std::str::from_utf8(&buf).unwrap_or_default());
}

/// Texts up to this length go through a small per-thread cache first (most such texts repeat:
/// systems, codes, organisations, searches).
const FRONT_LEN: usize = 128;
const FRONT_SLOTS: usize = 4096;

#[derive(Clone, Copy)]
struct FrontEntry {
    owner: u32,
    sym: Sym,
    hash: u64,
    len: u8,
    bytes: [u8; FRONT_LEN],
}

const EMPTY_FRONT: FrontEntry = FrontEntry {
    owner: 0,
    sym: Sym::NONE,
    hash: 0,
    len: 0,
    bytes: [0; FRONT_LEN],
};

thread_local! {
    static SCRATCH: RefCell<String> = const { RefCell::new(String::new()) };
    static FRONT: RefCell<Vec<FrontEntry>> = const { RefCell::new(Vec::new()) };
}

static NEXT_ID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);

/// The interner while strings are being added (shared by parsing threads).
pub struct Interner {
    shards: Vec<Mutex<Shard>>,
    /// Tells this interner's entries in the per-thread caches from another's.
    id: u32,
}

impl Default for Interner {
    fn default() -> Self {
        Interner::new()
    }
}

impl Interner {
    pub fn new() -> Self {
        Interner {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::new())).collect(),
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }

    fn shard(&self, i: usize) -> std::sync::MutexGuard<'_, Shard> {
        // A panic while holding a shard leaves it consistent (pushes are the last steps).
        self.shards[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    fn intern_key_(&self, key: &Key) -> Sym {
        let hash = key.hash();
        let shard = ((hash >> 32) as usize) & (SHARDS - 1);
        let mut g = self.shard(shard);
        let local = match g.find(hash, key) {
            Some(l) => l,
            None => g.insert(hash, key),
        };
        Sym((local << SHARD_BITS) | shard as u32)
    }

    /// The symbol of `s`, adding it when new.
    pub fn intern(&self, s: &str) -> Sym {
        let b = s.as_bytes();
        // A text ending in a uuid is mostly new (an identifier): its prefix goes through the
        // cache, the rest straight to the table.
        if let Some((prefix, u)) = uuid_tail(s) {
            let prefix = self.intern(prefix);
            return self.intern_key_(&Key::Uuid(prefix, u));
        }
        if b.len() > FRONT_LEN {
            return self.intern_key_(&Key::Text(s));
        }
        let hash = xxh3_64(b);
        let slot = (hash as usize) & (FRONT_SLOTS - 1);
        let hit = FRONT.with(|f| {
            let f = f.borrow();
            f.get(slot).and_then(|e| {
                (e.owner == self.id
                    && e.hash == hash
                    && e.len as usize == b.len()
                    && &e.bytes[..b.len()] == b)
                    .then_some(e.sym)
            })
        });
        if let Some(sym) = hit {
            return sym;
        }
        let sym = self.intern_key_(&Key::Text(s));
        FRONT.with(|f| {
            let mut f = f.borrow_mut();
            if f.is_empty() {
                f.resize(FRONT_SLOTS, EMPTY_FRONT);
            }
            let e = &mut f[slot];
            e.owner = self.id;
            e.sym = sym;
            e.hash = hash;
            e.len = b.len() as u8;
            e.bytes[..b.len()].copy_from_slice(b);
        });
        sym
    }

    /// Tells interners apart (for caches kept per thread).
    pub fn id(&self) -> u32 {
        self.id
    }

    /// `Sym::NONE` for `None`.
    pub fn intern_opt(&self, s: Option<&str>) -> Sym {
        s.map_or(Sym::NONE, |s| self.intern(s))
    }

    /// The symbol of `system|value` (or `value` without a system), without allocating.
    pub fn intern_pair(&self, system: Option<&str>, value: &str) -> Sym {
        match system {
            None => self.intern(value),
            Some(system) => SCRATCH.with(|b| {
                let mut b = b.borrow_mut();
                b.clear();
                b.push_str(system);
                b.push('|');
                b.push_str(value);
                self.intern(&b)
            }),
        }
    }

    /// The symbol of `s` if it was interned.
    pub fn lookup(&self, s: &str) -> Option<Sym> {
        let key = match uuid_tail(s) {
            Some((prefix, u)) => Key::Uuid(self.lookup(prefix)?, u),
            None => Key::Text(s),
        };
        let hash = key.hash();
        let shard = ((hash >> 32) as usize) & (SHARDS - 1);
        let g = self.shard(shard);
        g.find(hash, &key)
            .map(|l| Sym((l << SHARD_BITS) | shard as u32))
    }

    /// Calls `f` with the text of `sym` (while strings may still be added).
    pub fn with_str<R>(&self, sym: Sym, f: impl FnOnce(&str) -> R) -> R {
        let (shard, local) = split(sym);
        let g = self.shard(shard);
        match g.entry(local) {
            Key::Text(b) => f(b),
            Key::Uuid(p, u) => {
                drop(g);
                let mut s = String::with_capacity(64);
                self.push_text(p, &mut s);
                s.push_str(UUID_MARK);
                write_uuid(&u, &mut s);
                f(&s)
            }
        }
    }

    fn push_text(&self, sym: Sym, out: &mut String) {
        let (shard, local) = split(sym);
        let g = self.shard(shard);
        match g.entry(local) {
            Key::Text(b) => out.push_str(b),
            Key::Uuid(p, u) => {
                drop(g);
                self.push_text(p, out);
                out.push_str(UUID_MARK);
                write_uuid(&u, out);
            }
        }
    }

    /// The number of symbol slots (an upper bound of `Sym::index() + 1`).
    pub fn capacity(&self) -> usize {
        self.shards
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let n = s.lock().map(|g| g.spans.len()).unwrap_or(0);
                if n == 0 {
                    0
                } else {
                    ((n - 1) << SHARD_BITS) + i + 1
                }
            })
            .max()
            .unwrap_or(0)
    }

    /// Bytes held (texts, spans and hash tables), for the debug log.
    pub fn bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|m| {
                m.lock().map_or(0, |s| {
                    s.text.capacity()
                        + s.bytes.capacity()
                        + s.spans.capacity() * 8
                        + s.table.capacity() * 9
                })
            })
            .sum()
    }

    /// Stops adding: drops the hash tables, keeps the texts.
    pub fn freeze(self) -> Strings {
        let shards = self
            .shards
            .into_iter()
            .map(|m| {
                // Capacity beyond the length was never touched: it costs no memory, and
                // shrinking would copy.
                let s = m.into_inner().unwrap_or_else(|e| e.into_inner());
                (s.spans, s.text, s.bytes)
            })
            .collect();
        Strings::new(shards)
    }
}

fn split(sym: Sym) -> (usize, u32) {
    ((sym.0 & (SHARDS as u32 - 1)) as usize, sym.0 >> SHARD_BITS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_once_and_reads_back() {
        let i = Interner::new();
        let texts = [
            "",
            "Condition?clinical-status=active",
            "urn:ietf:rfc:3986|urn:uuid:6128cfe7-0e89-4d37-ba90-e4ca3b3fcbbe",
            "urn:uuid:6128cfe7-0e89-4d37-ba90-e4ca3b3fcbbe",
            "urn:ietf:rfc:3986|urn:uuid:6128CFE7-0e89-4d37-ba90-e4ca3b3fcbbe",
            "x|urn:uuid:6128cfe7-0e89-4d37-ba90-e4ca3b3fcbb",
            "urn:ietf:rfc:3986|",
        ];
        let syms: Vec<Sym> = texts.iter().map(|t| i.intern(t)).collect();
        let again: Vec<Sym> = texts.iter().map(|t| i.intern(t)).collect();
        assert_eq!(syms, again);
        let distinct: std::collections::HashSet<_> = syms.iter().collect();
        assert_eq!(distinct.len(), texts.len());
        assert_eq!(
            i.intern_pair(
                Some("urn:ietf:rfc:3986"),
                "urn:uuid:6128cfe7-0e89-4d37-ba90-e4ca3b3fcbbe"
            ),
            syms[2]
        );
        assert_eq!(i.lookup(texts[2]), Some(syms[2]));
        assert_eq!(i.lookup("never"), None);
        i.with_str(syms[2], |s| assert_eq!(s, texts[2]));
        let cap = i.capacity();
        assert!(syms.iter().all(|s| s.index() < cap));
        let frozen = i.freeze();
        let mut buf = String::from(">");
        for (t, s) in texts.iter().zip(&syms) {
            assert_eq!(frozen.get(*s), *t);
            buf.truncate(1);
            frozen.push_to(*s, &mut buf);
            assert_eq!(buf, format!(">{t}"));
        }
        buf.truncate(1);
        frozen.push_to(Sym::NONE, &mut buf);
        assert_eq!(buf, ">");
        assert_eq!(frozen.get(Sym::NONE), "");
    }

    #[test]
    fn the_identity_hasher_spreads_high_bits_to_the_low_ones() {
        use std::hash::Hasher;
        // Keys that differ only in their high half (as `(text << 32) | base` would).
        for low in [0u64, 7, u64::from(u32::MAX)] {
            let buckets: std::collections::HashSet<u64> = (0..4096u64)
                .map(|k| {
                    let mut h = Identity::default();
                    h.write_u64((k << 32) | low);
                    h.finish() & 4095
                })
                .collect();
            assert!(
                buckets.len() > 2000,
                "{} buckets for low {low}",
                buckets.len()
            );
        }
    }

    #[test]
    fn many_symbols_across_shards() {
        let i = Interner::new();
        let syms: Vec<Sym> = (0..20_000)
            .map(|n| i.intern(&format!("Patient/{n}")))
            .collect();
        let f = i.freeze();
        for (n, s) in syms.iter().enumerate() {
            assert_eq!(f.get(*s), format!("Patient/{n}"));
        }
    }
}
