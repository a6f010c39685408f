//! The inputs' sha256 (for the `input_files` and `runs` tables). Nothing else in a run waits for
//! them, so they are worked out on a thread of their own that runs only when a core would
//! otherwise be idle (Linux's `SCHED_IDLE`), from the start of the read until the tables need
//! them: it takes the time the other steps leave (the model's serial steps, the tails of the read
//! and of the tables) instead of sharing the cores with the parse. `Digests::finish` hashes what
//! is left at normal priority, on two threads, and hands the digests over; it never waits for the
//! background thread, which a busy machine may keep from running. Dropping the handle stops the
//! work after the file in hand. A file whose digest an earlier run remembered for the same stamp
//! (`digest_cache`) starts out done.

use super::Format;
use super::digest_cache::{DigestCache, Stamp};
use anyhow::{Result, anyhow};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The files of a run and the digests worked out so far.
pub(crate) struct Files {
    inputs: Vec<(PathBuf, Format)>,
    /// Each file's stamp, taken when it was opened (`None`: no stamp, not remembered).
    stamps: Vec<Option<Stamp>>,
    /// The mapped NDJSON files (the parse reads the same bytes); the other formats are read again.
    maps: Vec<Option<memmap2::Mmap>>,
    next: AtomicUsize,
    stop: AtomicBool,
    done: Mutex<Vec<Option<Result<String, String>>>>,
}

impl Files {
    /// The files of a run; those whose stamp is unchanged since `cache` (if any) remembered them
    /// start out done.
    pub(crate) fn new(
        inputs: Vec<(PathBuf, Format)>,
        maps: Vec<Option<memmap2::Mmap>>,
        stamps: Vec<Option<Stamp>>,
        mut cache: Option<&mut DigestCache>,
    ) -> Self {
        let done = inputs
            .iter()
            .zip(&stamps)
            .map(|((path, _), stamp)| {
                let cache = cache.as_deref_mut()?;
                stamp.as_ref().and_then(|s| cache.get(path, s)).map(Ok)
            })
            .collect();
        Files {
            inputs,
            stamps,
            maps,
            next: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            done: Mutex::new(done),
        }
    }

    fn is_done(&self, f: usize) -> bool {
        self.done
            .lock()
            .map(|d| d.get(f).is_some_and(Option::is_some))
            .unwrap_or(false)
    }

    /// The whole of a mapped file (empty when it is not mapped).
    pub(crate) fn data(&self, f: usize) -> &[u8] {
        self.maps[f].as_deref().unwrap_or(&[])
    }

    fn hash(&self, f: usize) -> Result<String, String> {
        let (path, format) = &self.inputs[f];
        if *format == Format::Ndjson {
            Ok(super::formats::sha256_bytes(self.data(f)))
        } else {
            super::formats::sha256_file(path).map_err(|e| format!("{e:#}"))
        }
    }

    /// Hashes files not yet taken, one at a time, until none is left (or the work is stopped).
    fn work(&self) {
        while !self.stop.load(Ordering::Relaxed) {
            let f = self.next.fetch_add(1, Ordering::Relaxed);
            if f >= self.inputs.len() {
                return;
            }
            if self.is_done(f) {
                continue;
            }
            let r = self.hash(f);
            if let Some(slot) = self.done.lock().ok().as_mut().and_then(|d| d.get_mut(f)) {
                *slot = Some(r);
            }
        }
    }
}

/// The digests being worked out in the background.
pub struct Digests {
    files: Arc<Files>,
}

impl std::fmt::Debug for Digests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Digests")
            .field("files", &self.files.inputs.len())
            .finish()
    }
}

impl Digests {
    /// Starts hashing `files` on a background thread at the lowest priority.
    pub(crate) fn start(files: Arc<Files>) -> Self {
        let shared = Arc::clone(&files);
        // Not joined: it holds its own reference to the files (see `Drop`).
        let background = std::thread::Builder::new()
            .name("pullrecon-sha256".into())
            .spawn(move || {
                lowest_priority();
                shared.work();
            });
        if background.is_err() {
            tracing::debug!("no thread for the digests: they are worked out when needed");
        }
        Digests { files }
    }

    /// The digests in file order, hashing what is left here and on one more thread at normal
    /// priority; an error names the first file that could not be read. Each is remembered in
    /// `cache`.
    pub fn finish(self, cache: &mut DigestCache) -> Result<Vec<String>> {
        let files = &self.files;
        let (t0, taken) = (
            std::time::Instant::now(),
            files.next.load(Ordering::Relaxed),
        );
        std::thread::scope(|s| {
            s.spawn(|| files.work());
            files.work();
        });
        // The file the background thread may still be on is hashed again rather than waited for.
        let mut again = 0;
        let done: Vec<Result<String, String>> = files
            .done
            .lock()
            .map(|d| d.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
            .into_iter()
            .enumerate()
            .map(|(f, d)| {
                d.unwrap_or_else(|| {
                    again += 1;
                    files.hash(f)
                })
            })
            .collect();
        tracing::debug!(
            files = files.inputs.len(),
            remembered = cache.hits,
            in_background = taken.min(files.inputs.len()),
            hashed_again = again,
            finish_ms = t0.elapsed().as_millis() as u64,
            "digests"
        );
        done.into_iter()
            .zip(&files.inputs)
            .zip(&files.stamps)
            .map(|((d, (path, _)), stamp)| match d {
                Ok(h) => {
                    if let Some(s) = stamp {
                        cache.record(path, s, &h);
                    }
                    Ok(h)
                }
                Err(e) => Err(anyhow!("cannot read {}: {e}", path.display())),
            })
            .collect()
    }
}

impl Drop for Digests {
    /// Stops the background thread after the file in hand, without waiting for it (it holds its
    /// own reference to the files).
    fn drop(&mut self) {
        self.files.stop.store(true, Ordering::Relaxed);
    }
}

/// The calling thread runs only when a core would otherwise be idle (Linux's `SCHED_IDLE`, which
/// any thread may choose for itself). Elsewhere it keeps its priority.
fn lowest_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: sched_setscheduler(0, …) changes only the calling thread's policy; `param` lives
    // across the call.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        libc::sched_setscheduler(0, libc::SCHED_IDLE, &param);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &std::path::Path, list: &[(&str, &[u8], Format)]) -> Arc<Files> {
        for (name, bytes, _) in list {
            if !name.starts_with("missing") {
                std::fs::write(dir.join(name), bytes).unwrap();
            }
        }
        open(dir, list, &mut DigestCache::default())
    }

    /// The files of `list` as they are in `dir` (a name starting with "missing" is not there).
    fn open(
        dir: &std::path::Path,
        list: &[(&str, &[u8], Format)],
        cache: &mut DigestCache,
    ) -> Arc<Files> {
        let (mut inputs, mut maps, mut stamps) = (Vec::new(), Vec::new(), Vec::new());
        for (name, bytes, format) in list {
            let path = dir.join(name);
            if name.starts_with("missing") {
                maps.push(None);
                stamps.push(None);
            } else {
                let f = std::fs::File::open(&path).unwrap();
                stamps.push(Some(Stamp::of(&f.metadata().unwrap())));
                maps.push(
                    (*format == Format::Ndjson && !bytes.is_empty())
                        .then(|| unsafe { memmap2::Mmap::map(&f) }.unwrap()),
                );
            }
            inputs.push((path, *format));
        }
        Arc::new(Files::new(inputs, maps, stamps, Some(cache)))
    }

    /// The digests are the files' sha256 (FIPS 180-2's "abc" vector and the empty input), mapped
    /// or read again, in file order.
    #[test]
    fn digests_are_the_sha256_of_each_file_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let list: &[(&str, &[u8], Format)] = &[
            ("a.ndjson", b"abc", Format::Ndjson),
            ("b.ndjson", b"", Format::Ndjson),
            ("c.csv", b"abc", Format::Csv),
        ];
        // Finished at once (the background thread may not have started), and after it is done.
        for wait in [false, true] {
            let d = Digests::start(files(dir.path(), list));
            if wait {
                while d.files.next.load(Ordering::Relaxed) < list.len() {
                    std::thread::yield_now();
                }
            }
            assert_eq!(
                d.finish(&mut DigestCache::default()).unwrap(),
                [abc, empty, abc]
            );
        }
    }

    /// A file whose stamp the cache remembers is not read again: its digest is the remembered
    /// one (here a made-up one, to tell them apart). A file written to since is read again, and
    /// what was read is remembered.
    #[test]
    fn a_file_remembered_with_its_stamp_is_not_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let list: &[(&str, &[u8], Format)] = &[
            ("a.ndjson", b"abc", Format::Ndjson),
            ("b.csv", b"abc", Format::Csv),
            ("c.ndjson", b"abc", Format::Ndjson),
        ];
        let made_up = "0".repeat(64);
        let mut cache = DigestCache::default();
        for (name, bytes, _) in list {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            let stamp = Stamp::of_path(&path).unwrap().as_if_taken_later(2);
            cache.record(&path, &stamp, &made_up);
        }
        std::fs::write(dir.path().join("c.ndjson"), b"abd").unwrap();
        for wait in [false, true] {
            let d = Digests::start(open(dir.path(), list, &mut cache));
            if wait {
                while d.files.next.load(Ordering::Relaxed) < list.len() {
                    std::thread::yield_now();
                }
            }
            let abd = "a52d159f262b2c6ddb724a61840befc36eb30c88877a4030b65cbe86298449c9";
            let got = d.finish(&mut cache).unwrap();
            assert_eq!(got, [made_up.as_str(), made_up.as_str(), abd]);
        }
    }

    #[test]
    fn a_file_that_cannot_be_read_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let d = Digests::start(files(
            dir.path(),
            &[
                ("a.ndjson", b"abc", Format::Ndjson),
                ("missing.csv", b"", Format::Csv),
            ],
        ));
        let e = format!("{:#}", d.finish(&mut DigestCache::default()).unwrap_err());
        assert!(
            e.contains("cannot read") && e.contains("missing.csv"),
            "{e}"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_background_thread_runs_only_on_idle_cores() {
        let policy = std::thread::spawn(|| {
            lowest_priority();
            // SAFETY: asks for the calling thread's policy.
            unsafe { libc::sched_getscheduler(0) }
        })
        .join()
        .unwrap();
        assert_eq!(policy, libc::SCHED_IDLE);
    }
}
