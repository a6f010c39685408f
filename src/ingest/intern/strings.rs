//! `Strings`: the interned texts once reading is over, read-only and without hash tables
//! (`Interner::freeze`); a compact uuid entry is spelled out on reading.

use super::{Interner, Key, Span, Sym, UUID_MARK, key_at, split, write_uuid};
use std::borrow::Cow;

/// A hint to the cache; does nothing where there is no such instruction.
pub(crate) fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch only hints the cache and never faults.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

struct FrozenShard {
    spans: Vec<Span>,
    text: String,
    bytes: Vec<u8>,
}

/// The interned texts, read-only.
pub struct Strings {
    shards: Vec<FrozenShard>,
}

impl std::fmt::Debug for Strings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Strings({} shards)", self.shards.len())
    }
}

impl Default for Strings {
    fn default() -> Self {
        Interner::new().freeze()
    }
}

impl Strings {
    /// The texts of an interner's shards: (spans, texts, uuid entries) each.
    pub(super) fn new(shards: Vec<(Vec<Span>, String, Vec<u8>)>) -> Self {
        let shards = shards
            .into_iter()
            .map(|(spans, text, bytes)| FrozenShard { spans, text, bytes })
            .collect();
        Strings { shards }
    }

    /// The key stored for `sym` (`None` for `NONE` or an unknown symbol).
    fn key(&self, sym: Sym) -> Option<Key<'_>> {
        if sym.is_none() {
            return None;
        }
        let (shard, local) = split(sym);
        let sh = &self.shards[shard];
        let s = sh.spans.get(local as usize).copied()?;
        Some(key_at(s, &sh.text, &sh.bytes))
    }

    /// The text of `sym` (borrowed, or built for a compact uuid entry); "" for `NONE`.
    pub fn get(&self, sym: Sym) -> Cow<'_, str> {
        match self.key(sym) {
            None => Cow::Borrowed(""),
            Some(Key::Text(t)) => Cow::Borrowed(t),
            Some(Key::Uuid(..)) => {
                let mut out = String::with_capacity(64);
                self.push_to(sym, &mut out);
                Cow::Owned(out)
            }
        }
    }

    /// Appends the text of `sym` to `out` (nothing for `NONE`), building no string of its own.
    pub fn push_to(&self, sym: Sym, out: &mut String) {
        match self.key(sym) {
            None => {}
            Some(Key::Text(t)) => out.push_str(t),
            Some(Key::Uuid(prefix, u)) => {
                self.push_to(prefix, out);
                out.push_str(UUID_MARK);
                write_uuid(&u, out);
            }
        }
    }

    /// Asks the memory for where `sym`'s entry is kept, ahead of `prefetch_entry` and of the
    /// reading: a table column reads symbols in an order of its own, and at scale each reading
    /// would otherwise wait for two misses (the span, then the text).
    fn prefetch_span(&self, sym: Sym) {
        if sym.is_none() {
            return;
        }
        let (shard, local) = split(sym);
        if let Some(s) = self
            .shards
            .get(shard)
            .and_then(|s| s.spans.get(local as usize))
        {
            prefetch(std::ptr::from_ref(s).cast());
        }
    }

    /// Asks the memory for `sym`'s text or uuid entry (its span fetched by `prefetch_span`).
    fn prefetch_entry(&self, sym: Sym) {
        if sym.is_none() {
            return;
        }
        let (shard, local) = split(sym);
        let Some(sh) = self.shards.get(shard) else {
            return;
        };
        if let Some(s) = sh.spans.get(local as usize) {
            let start = s.start as usize;
            let p = if s.len & super::COMPACT != 0 {
                sh.bytes.get(start..).map(<[u8]>::as_ptr)
            } else {
                sh.text.as_bytes().get(start..).map(<[u8]>::as_ptr)
            };
            if let Some(p) = p {
                prefetch(p);
            }
        }
    }

    /// Before reading `syms[k]`: prefetches the entry of the symbol a few places on and the span
    /// of the one twice as far, so that reading a column of symbols in order overlaps the misses.
    pub fn prefetch_ahead(&self, syms: &[Sym], k: usize) {
        const AHEAD: usize = 8;
        if let Some(&s) = syms.get(k + 2 * AHEAD) {
            self.prefetch_span(s);
        }
        if let Some(&s) = syms.get(k + AHEAD) {
            self.prefetch_entry(s);
        }
    }

    /// `None` for `Sym::NONE`, else the owned text.
    pub fn opt(&self, sym: Sym) -> Option<String> {
        sym.opt().map(|s| self.get(s).into_owned())
    }

    /// Bytes held (texts and spans), for diagnostics.
    pub fn bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.text.capacity() + s.bytes.capacity() + s.spans.capacity() * 8)
            .sum()
    }
}
