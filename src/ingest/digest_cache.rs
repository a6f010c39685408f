//! Digests remembered between runs: `<out>/.pullrecon-digests.json` holds, for each input file a
//! run read, its sha256 and the file's stamp (device, inode, size, modification and change times
//! to the nanosecond). A later run, the replay's check of the run's inputs and the nightly job's
//! second reconcile take the digest of a file whose stamp is unchanged from there instead of
//! reading the whole file again: the nightly job reads the same 30 days of logs every night, and
//! hashing them was a tenth of each of its two reconciles' work.
//!
//! A file that was written to has another stamp: its change time is set by the kernel on every
//! write and no tool sets it back. A file whose times fall within a second of when it was stamped
//! is not remembered, since a write in the same clock tick would leave its stamp as it was
//! (git's "racily clean" rule). Deleting the cache file makes the next run hash everything; an
//! unreadable or foreign cache file is ignored, and a cache that cannot be saved costs only the
//! time saved.

use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The cache file's name within the output folder (a shard's is
/// `.pullrecon-digests-I-of-N.json`: the machines of a sharded night share the folder, and each
/// keeps its own, so that none writes over another's).
pub const FILE_NAME: &str = ".pullrecon-digests.json";

fn file_name(shard: Option<(u32, u32)>) -> String {
    match shard {
        None => FILE_NAME.to_owned(),
        Some((i, n)) => format!(".pullrecon-digests-{i}-of-{n}.json"),
    }
}

/// What identifies one version of a file's contents without reading them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    /// Modification and change times: seconds and nanoseconds.
    mtime: (i64, i64),
    ctime: (i64, i64),
    /// When the stamp was taken (seconds, nanoseconds); not compared.
    #[serde(skip)]
    taken: (i64, i64),
}

impl Stamp {
    /// The stamp of a file from its metadata (taken before its contents are read).
    pub fn of(meta: &std::fs::Metadata) -> Stamp {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
            taken: (now.as_secs() as i64, i64::from(now.subsec_nanos())),
        }
    }

    /// The stamp of the file at `path` now.
    pub fn of_path(path: &Path) -> std::io::Result<Stamp> {
        std::fs::metadata(path).map(|m| Stamp::of(&m))
    }

    /// The stamp as if taken `secs` seconds later (tests: a file written just now, settled).
    #[cfg(test)]
    pub(crate) fn as_if_taken_later(mut self, secs: i64) -> Stamp {
        self.taken.0 += secs;
        self
    }

    /// Whether the file was written within a second of being stamped (or after): then a write in
    /// the same clock tick could have left the stamp unchanged, and its digest is not remembered.
    fn racy(&self) -> bool {
        let ns = |(s, n): (i64, i64)| i128::from(s) * 1_000_000_000 + i128::from(n);
        let last_write = ns(self.mtime).max(ns(self.ctime));
        last_write + 1_000_000_000 > ns(self.taken)
    }

    fn same_file(&self, other: &Stamp) -> bool {
        (self.dev, self.ino, self.size, self.mtime, self.ctime)
            == (other.dev, other.ino, other.size, other.mtime, other.ctime)
    }
}

#[derive(Serialize, Deserialize)]
struct Entry {
    path: String,
    stamp: Stamp,
    sha256: String,
}

#[derive(Serialize, Deserialize)]
struct Saved {
    version: u32,
    files: Vec<Entry>,
}

const VERSION: u32 = 1;

/// The remembered digests, by path, and where they are saved (`None`: not saved).
#[derive(Default)]
pub struct DigestCache {
    file: Option<PathBuf>,
    entries: BTreeMap<String, (Stamp, String)>,
    /// Digests taken from here and worked out anew, for the debug log.
    pub hits: usize,
    pub misses: usize,
}

impl std::fmt::Debug for DigestCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigestCache")
            .field("file", &self.file)
            .field("entries", &self.entries.len())
            .finish()
    }
}

impl DigestCache {
    /// The cache of an output folder, or of one shard in it (empty when there is none or it
    /// cannot be read).
    pub fn load(out: &Path, shard: Option<(u32, u32)>) -> DigestCache {
        let file = out.join(file_name(shard));
        let entries = std::fs::read(&file)
            .ok()
            .and_then(|b| serde_json::from_slice::<Saved>(&b).ok())
            .filter(|s| s.version == VERSION)
            .map(|s| {
                s.files
                    .into_iter()
                    .filter(|e| is_sha256(&e.sha256))
                    .map(|e| (e.path, (e.stamp, e.sha256)))
                    .collect()
            })
            .unwrap_or_default();
        DigestCache {
            file: Some(file),
            entries,
            ..Default::default()
        }
    }

    /// The remembered digest of the file at `path`, if its stamp is unchanged.
    pub fn get(&mut self, path: &Path, stamp: &Stamp) -> Option<String> {
        let found = path
            .to_str()
            .and_then(|p| self.entries.get(p))
            .filter(|(s, _)| s.same_file(stamp))
            .map(|(_, sha)| sha.clone());
        match found {
            Some(_) => self.hits += 1,
            None => self.misses += 1,
        }
        found
    }

    /// Remembers a file's digest (unless the file was written too recently to trust its stamp).
    pub fn record(&mut self, path: &Path, stamp: &Stamp, sha256: &str) {
        let Some(p) = path.to_str() else { return };
        // An entry of the same file remembered earlier stays: it was not racy then.
        if stamp.racy() || !is_sha256(sha256) {
            return;
        }
        self.entries
            .insert(p.to_owned(), (*stamp, sha256.to_owned()));
    }

    /// `save`, where failing costs only the time it would save: a failure is a warning.
    pub fn keep(&self) {
        if let Err(e) = self.save() {
            tracing::warn!("the digests of the inputs could not be remembered: {e:#}");
        }
    }

    /// Saves the cache (atomically), keeping only the files that are still as remembered.
    pub fn save(&self) -> Result<()> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let files = self
            .entries
            .iter()
            .filter(|(p, (s, _))| Stamp::of_path(Path::new(p)).is_ok_and(|now| now.same_file(s)))
            .map(|(p, (s, sha))| Entry {
                path: p.clone(),
                stamp: *s,
                sha256: sha.clone(),
            })
            .collect();
        let json = serde_json::to_vec(&Saved {
            version: VERSION,
            files,
        })?;
        crate::tables::writer::write_file_atomic(file, &json, "digest cache")
    }
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The sha256 of the file at `path`: remembered in `cache` when its stamp is unchanged, else
/// read (and remembered).
pub fn sha256_cached(cache: &mut DigestCache, path: &Path) -> std::io::Result<String> {
    let stamp = Stamp::of_path(path)?;
    if let Some(sha) = cache.get(path, &stamp) {
        return Ok(sha);
    }
    let sha = super::formats::sha256_file(path)?;
    cache.record(path, &stamp, &sha);
    Ok(sha)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::formats::sha256_file;

    /// A file written now, stamped as if two seconds later, so that its stamp is not racy (the
    /// change time cannot be set back).
    fn settled(path: &Path, bytes: &[u8]) -> Stamp {
        std::fs::write(path, bytes).unwrap();
        Stamp::of_path(path).unwrap().as_if_taken_later(2)
    }

    #[test]
    fn a_remembered_digest_is_given_back_only_for_the_same_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.ndjson");
        let stamp = settled(&path, b"abc\n");
        let sha = sha256_file(&path).unwrap();
        let mut cache = DigestCache::load(dir.path(), None);
        assert_eq!(cache.get(&path, &stamp), None);
        cache.record(&path, &stamp, &sha);
        assert_eq!(cache.get(&path, &stamp), Some(sha.clone()));
        // Each part of the stamp matters.
        let changed = [
            Stamp { size: 5, ..stamp },
            Stamp {
                ino: stamp.ino + 1,
                ..stamp
            },
            Stamp {
                dev: stamp.dev + 1,
                ..stamp
            },
            Stamp {
                mtime: (stamp.mtime.0, stamp.mtime.1 + 1),
                ..stamp
            },
            Stamp {
                ctime: (stamp.ctime.0 + 1, stamp.ctime.1),
                ..stamp
            },
        ];
        for other in changed {
            assert_eq!(cache.get(&path, &other), None, "{other:?}");
        }
        assert_eq!(cache.get(&dir.path().join("b.ndjson"), &stamp), None);
        assert_eq!((cache.hits, cache.misses), (1, 7));
    }

    #[test]
    fn a_file_written_just_before_it_was_stamped_is_not_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.ndjson");
        std::fs::write(&path, b"abc\n").unwrap();
        let fresh = Stamp::of_path(&path).unwrap();
        assert!(fresh.racy());
        let mut cache = DigestCache::load(dir.path(), None);
        cache.record(&path, &fresh, &sha256_file(&path).unwrap());
        assert_eq!(cache.get(&path, &fresh), None);
    }

    #[test]
    fn the_cache_is_saved_and_loaded_keeping_only_unchanged_files() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.ndjson"), dir.path().join("b.ndjson"));
        let (sa, sb) = (settled(&a, b"abc\n"), settled(&b, b"def\n"));
        let mut cache = DigestCache::load(dir.path(), None);
        cache.record(&a, &sa, &sha256_file(&a).unwrap());
        cache.record(&b, &sb, &sha256_file(&b).unwrap());
        // b is written to after it was remembered: its entry is not saved.
        std::fs::write(&b, b"xyz\n").unwrap();
        cache.save().unwrap();
        let mut again = DigestCache::load(dir.path(), None);
        assert_eq!(again.get(&a, &sa), Some(sha256_file(&a).unwrap()));
        assert_eq!(again.get(&b, &sb), None);
        let mode = std::fs::metadata(dir.path().join(FILE_NAME))
            .unwrap()
            .mode();
        assert_eq!(mode & 0o777, 0o640);
    }

    /// The shards of a night share the output folder: each keeps a cache of its own.
    #[test]
    fn each_shard_keeps_its_own_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.ndjson");
        let stamp = settled(&path, b"abc\n");
        let sha = sha256_file(&path).unwrap();
        for shard in [None, Some((1, 4))] {
            let mut cache = DigestCache::load(dir.path(), shard);
            assert_eq!(cache.get(&path, &stamp), None, "{shard:?}");
            cache.record(&path, &stamp, &sha);
            cache.save().unwrap();
        }
        for name in [FILE_NAME, ".pullrecon-digests-1-of-4.json"] {
            assert!(dir.path().join(name).exists(), "{name}");
        }
        let mut other = DigestCache::load(dir.path(), Some((2, 4)));
        assert_eq!(other.get(&path, &stamp), None);
    }

    #[test]
    fn an_unreadable_or_foreign_cache_file_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.ndjson");
        let stamp = settled(&path, b"abc\n");
        let entry = serde_json::json!({"path": path.to_str().unwrap(), "stamp": stamp,
            "sha256": "0".repeat(64)});
        for text in [
            "not json".to_owned(),
            serde_json::json!({"version": 2, "files": [entry]}).to_string(),
            serde_json::json!({"version": 1, "files": [{"path": "x"}]}).to_string(),
            serde_json::json!({"version": 1, "files": [
                {"path": path.to_str().unwrap(), "stamp": stamp, "sha256": "not a digest"}]})
            .to_string(),
        ] {
            std::fs::write(dir.path().join(FILE_NAME), &text).unwrap();
            assert_eq!(
                DigestCache::load(dir.path(), None).get(&path, &stamp),
                None,
                "{text}"
            );
        }
        // The same entry in a well-formed file is taken (so the cases above fail for their flaw).
        let good = serde_json::json!({"version": 1, "files": [entry]}).to_string();
        std::fs::write(dir.path().join(FILE_NAME), good).unwrap();
        assert_eq!(
            DigestCache::load(dir.path(), None).get(&path, &stamp),
            Some("0".repeat(64))
        );
    }

    #[test]
    fn sha256_cached_reads_a_changed_file_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.ndjson");
        std::fs::write(&path, b"abc").unwrap();
        let mut cache = DigestCache::default();
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(sha256_cached(&mut cache, &path).unwrap(), abc);
        std::fs::write(&path, b"abd").unwrap();
        assert_ne!(sha256_cached(&mut cache, &path).unwrap(), abc);
        assert!(sha256_cached(&mut cache, &dir.path().join("missing")).is_err());
    }
}
