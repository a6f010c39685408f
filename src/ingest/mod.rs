//! Ingest: finds the log files named by paths, directories and globs, reads each in its format
//! (NDJSON plain or gzip, CSV, Parquet), sets bad records aside as rejects, drops identical
//! duplicate lines and events outside the run's window, and keeps per-file accounts (sha256,
//! rows, rejects) for the `runs` table. Nothing read is lost: every record is an event, a reject,
//! a counted duplicate or a counted out-of-window event.
//!
//! Reading is a pipeline: the files are cut into jobs (chunks of a mapped NDJSON file, a whole
//! gzip, CSV or Parquet file, a file's sha256) that the parsing threads take in turn, across
//! files; the calling thread takes their results back in file order and hands each event, compact,
//! to the caller's sink. Memory stays bounded: only a few chunks are ahead of the sink at a time.
//!
//! Which files a run reads is `files.rs`; the duplicate-line set is `seen.rs`.

pub mod compact;
pub mod digest_cache;
mod digests;
pub use digests::Digests;
pub mod event;
mod files;
mod formats;
pub mod intern;
mod known;
mod scan;
mod seen;
pub mod task;

pub use event::{Event, Interaction, Origin, RejectReason, Side};
pub use files::{Format, Input, discover, input_files};
use seen::Seen;

/// The record at a position `ingest` handed out (for values the compact model does not keep).
pub fn event_at(path: &Path, format: Format, at: u64) -> Option<Event> {
    formats::event_at(path, format, at)
}

use anyhow::{Context, Result, anyhow};
use compact::CEvent;
use formats::Rec;
use intern::Interner;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};

/// The account of one input file, as the `runs` and `input_files` tables show it.
#[derive(Debug, Clone)]
pub struct InputFile {
    pub side: Side,
    pub path: PathBuf,
    pub format: Format,
    pub bytes: u64,
    /// Empty until the run's digests are finished (`Ingested::digests`, taken by the tables).
    pub sha256: String,
    /// Records read (lines or rows, blank lines excluded).
    pub rows: u64,
    pub events: u64,
    pub rejects: u64,
    pub duplicates: u64,
    pub out_of_window: u64,
    /// A log that pullrecon's own replay wrote: its events count even after as-of.
    pub replayed: bool,
}

#[derive(Debug, Clone)]
pub struct Reject {
    pub side: Side,
    pub file: u32,
    pub line: u64,
    pub reason: RejectReason,
}

/// The time window of a run, in UTC microseconds, both ends included.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub from: i64,
    pub to: i64,
}

/// What reading both logs gave, besides the events handed to the sink.
#[derive(Debug, Default)]
pub struct Ingested {
    /// The accounts of the input files, their `sha256` still empty: `digests` works them out.
    pub files: Vec<InputFile>,
    /// The digests being worked out (`None`: the read was asked to hash nothing).
    pub digests: Option<Digests>,
    pub rejects: Vec<Reject>,
    pub duplicates: u64,
    pub after_as_of: u64,
    pub before_lookback: u64,
    /// Events handed to the sink.
    pub events: u64,
}

/// A unit of parsing work.
enum Job {
    /// A chunk of a mapped NDJSON file, by byte range.
    Chunk { file: u32, start: usize, end: usize },
    /// A whole gzip, CSV or Parquet file.
    Whole { file: u32 },
}

impl Job {
    fn file(&self) -> u32 {
        match self {
            Job::Chunk { file, .. } | Job::Whole { file } => *file,
        }
    }
}

/// A batch of records of one job.
struct Msg {
    seq: usize,
    part: u32,
    last: bool,
    recs: Vec<Rec>,
    /// Lines of the chunk (chunk jobs); line numbers are then relative to it.
    lines: u64,
    broken: formats::Broken,
    error: Option<anyhow::Error>,
}

/// How many ordered jobs may be done ahead of the one the sink waits for.
const AHEAD: usize = 6;

/// Reads both logs, handing every usable event (in file order) to `sink` with the position of
/// its record (`formats::event_at` reads it again). Fails only when a
/// named input does not exist or cannot be opened. With `digest_cache` the files' digests are
/// taken from it where it remembers them, and `Ingested::digests` works out the others; without
/// it, no file is hashed (`Ingested::digests` is `None`).
pub fn ingest(
    sent: &[String],
    received: &[String],
    replayed: &[String],
    window: Window,
    interner: &Interner,
    digest_cache: Option<&mut digest_cache::DigestCache>,
    sink: &mut dyn FnMut(Side, Origin, u64, CEvent) -> bool,
) -> Result<Ingested> {
    let files = input_files(sent, received, replayed)?;
    // Map the NDJSON files; the others are opened by their readers.
    let mut maps: Vec<Option<memmap2::Mmap>> = Vec::with_capacity(files.len());
    let mut sizes = Vec::with_capacity(files.len());
    let mut stamps = Vec::with_capacity(files.len());
    for (_, path, format, _) in &files {
        let f =
            std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        let meta = f
            .metadata()
            .with_context(|| format!("cannot read {}", path.display()))?;
        let len = meta.len();
        sizes.push(len);
        stamps.push(Some(digest_cache::Stamp::of(&meta)));
        maps.push(if *format == Format::Ndjson && len > 0 {
            // SAFETY: the map is read-only and dropped before we return; a log file being
            // truncated by another process while we read it is outside what a batch job over
            // closed logs guards against.
            Some(
                unsafe { memmap2::Mmap::map(&f) }
                    .with_context(|| format!("cannot map {}", path.display()))?,
            )
        } else {
            None
        });
    }
    // The digests are worked out beside the parse, from the same mapped bytes, for the files
    // whose stamp `digest_cache` does not remember.
    let hashing = digest_cache.is_some();
    let mapped = Arc::new(digests::Files::new(
        files.iter().map(|(_, p, f, _)| (p.clone(), *f)).collect(),
        maps,
        stamps,
        digest_cache,
    ));
    let digests = hashing.then(|| Digests::start(Arc::clone(&mapped)));
    // Whole files; parsing skips a byte-order mark.
    let data: Vec<&[u8]> = (0..files.len()).map(|f| mapped.data(f)).collect();

    let mut jobs = Vec::new();
    for (f, (_, _, format, _)) in files.iter().enumerate() {
        if *format == Format::Ndjson {
            let text = formats::strip_bom(data[f]);
            let base = text.as_ptr() as usize;
            for c in formats::chunks(text) {
                let start = c.as_ptr() as usize - base;
                jobs.push(Job::Chunk {
                    file: f as u32,
                    start,
                    end: start + c.len(),
                });
            }
        } else {
            jobs.push(Job::Whole { file: f as u32 });
        }
    }

    let mut accounts: Vec<InputFile> = files
        .iter()
        .zip(&sizes)
        .map(|((side, path, format, replayed), bytes)| InputFile {
            side: *side,
            path: path.clone(),
            format: *format,
            bytes: *bytes,
            sha256: String::new(),
            rows: 0,
            events: 0,
            rejects: 0,
            duplicates: 0,
            out_of_window: 0,
            replayed: *replayed,
        })
        .collect();
    let next = AtomicUsize::new(0);
    let abort = AtomicBool::new(false);
    let cursor = Mutex::new(0usize);
    let moved = Condvar::new();
    let (tx, rx) = mpsc::channel::<Msg>();
    let workers = rayon::current_num_threads().max(1);
    let known = known::KnownBodies::new();
    let parse_ns = AtomicUsize::new(0);
    let mut sink_ns = 0u128;

    let mut out = Ingested::default();
    let result = std::thread::scope(|scope| -> Result<()> {
        for _ in 0..workers {
            let tx = tx.clone();
            let (jobs, files, data, known) = (&jobs, &files, &data, &known);
            let (next, abort, cursor, moved) = (&next, &abort, &cursor, &moved);
            let parse_ns = &parse_ns;
            scope.spawn(move || {
                loop {
                    if abort.load(Ordering::Relaxed) {
                        return;
                    }
                    let seq = next.fetch_add(1, Ordering::Relaxed);
                    if seq >= jobs.len() {
                        return;
                    }
                    let whole = matches!(jobs[seq], Job::Whole { .. });
                    // Wait until this job is not too far ahead of the sink (a whole file waits
                    // for its turn, so that its batches stream straight through).
                    {
                        let mut c = cursor.lock().unwrap_or_else(|e| e.into_inner());
                        while !abort.load(Ordering::Relaxed)
                            && (if whole { seq > *c } else { seq >= *c + AHEAD })
                        {
                            c = moved.wait(c).unwrap_or_else(|e| e.into_inner());
                        }
                    }
                    let t0 = std::time::Instant::now();
                    run_job(interner, seq, &jobs[seq], files, data, known, &tx);
                    parse_ns.fetch_add(t0.elapsed().as_nanos() as usize, Ordering::Relaxed);
                }
            });
        }
        drop(tx);

        // The sink side: results in job order.
        let mut pending: HashMap<(usize, u32), Msg> = HashMap::new();
        let (mut want_seq, mut want_part) = (0usize, 0u32);
        let mut line_base: Vec<u64> = vec![0; files.len()];
        let mut seen: [Seen; 2] = [Seen::default(), Seen::default()];
        let fail = |e: anyhow::Error| {
            abort.store(true, Ordering::Relaxed);
            moved.notify_all();
            e
        };
        while want_seq < jobs.len() {
            let msg = match pending.remove(&(want_seq, want_part)) {
                Some(m) => m,
                None => {
                    let m = rx
                        .recv()
                        .map_err(|_| fail(anyhow!("a reading thread stopped unexpectedly")))?;
                    if let Some(e) = m.error {
                        let file = &files[jobs[m.seq].file() as usize].1;
                        return Err(fail(e.context(format!("cannot read {}", file.display()))));
                    }
                    pending.insert((m.seq, m.part), m);
                    continue;
                }
            };
            let t_sink = std::time::Instant::now();
            let job = &jobs[msg.seq];
            let f = job.file() as usize;
            let side = files[f].0;
            if side == Side::Received && !seen[0].is_empty() {
                // Sent files come first: their duplicates can no longer occur.
                seen[0] = Seen::default();
            }
            let (base, at_base) = match job {
                Job::Chunk { start, .. } => (
                    line_base[f],
                    (*start + data[f].len() - formats::strip_bom(data[f]).len()) as u64,
                ),
                Job::Whole { .. } => (0, 0),
            };
            let account = &mut accounts[f];
            // Which of the batch's events are new lines, looked up together (`Seen::insert_all`).
            let hashes: Vec<u64> = msg
                .recs
                .iter()
                .filter(|r| r.result.is_ok())
                .map(|r| r.hash)
                .collect();
            let mut fresh = seen[side as usize].insert_all(&hashes).into_iter();
            for rec in msg.recs {
                account.rows += 1;
                let line = base + rec.line;
                match rec.result {
                    Err(reason) => {
                        account.rejects += 1;
                        out.rejects.push(Reject {
                            side,
                            file: f as u32,
                            line,
                            reason,
                        });
                    }
                    Ok(event) => {
                        if !fresh.next().unwrap_or(true) {
                            account.duplicates += 1;
                            out.duplicates += 1;
                        } else if event.ts > window.to && !files[f].3 {
                            account.out_of_window += 1;
                            out.after_as_of += 1;
                        } else if event.ts < window.from {
                            account.out_of_window += 1;
                            out.before_lookback += 1;
                        } else {
                            account.events += 1;
                            out.events += 1;
                            let origin = Origin {
                                file: f as u32,
                                line,
                            };
                            let at = at_base + rec.at;
                            if !sink(side, origin, at, event) {
                                // The model wants the line read in full (a Task body it could
                                // not match): read it again from the mapping.
                                let full = data[f]
                                    .get(at as usize..)
                                    .map(|rest| {
                                        let end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
                                        formats::trim(&rest[..end])
                                    })
                                    .and_then(|l| {
                                        compact::parse_line(interner, side, origin, l, None).ok()
                                    });
                                match full {
                                    Some(e) => {
                                        sink(side, origin, at, e);
                                    }
                                    None => {
                                        return Err(fail(anyhow!(
                                            "{} line {line} could not be read again",
                                            files[f].1.display()
                                        )));
                                    }
                                }
                            }
                        }
                    }
                }
            }
            if let Some((line, reason)) = msg.broken {
                account.rejects += 1;
                out.rejects.push(Reject {
                    side,
                    file: f as u32,
                    line,
                    reason,
                });
            }
            if matches!(job, Job::Chunk { .. }) {
                line_base[f] += msg.lines;
            }
            sink_ns += t_sink.elapsed().as_nanos();
            if msg.last {
                want_seq += 1;
                want_part = 0;
                if let Ok(mut c) = cursor.lock() {
                    *c = want_seq;
                }
                moved.notify_all();
            } else {
                want_part += 1;
            }
        }
        Ok(())
    });
    result?;
    tracing::debug!(
        parse_ms = parse_ns.load(Ordering::Relaxed) / 1_000_000,
        sink_ms = (sink_ns / 1_000_000) as u64,
        "read"
    );
    out.files = accounts;
    out.digests = digests;
    Ok(out)
}

/// Runs one ordered job and sends its batches.
fn run_job(
    interner: &Interner,
    seq: usize,
    job: &Job,
    files: &[Input],
    data: &[&[u8]],
    known: &known::KnownBodies,
    tx: &mpsc::Sender<Msg>,
) {
    let f = job.file() as usize;
    let (side, path, format) = (&files[f].0, &files[f].1, files[f].2);
    match job {
        Job::Chunk { start, end, .. } => {
            let (recs, lines) = formats::parse_chunk(
                interner,
                *side,
                f as u32,
                &formats::strip_bom(data[f])[*start..*end],
                Some(known),
            );
            let _ = tx.send(Msg {
                seq,
                part: 0,
                last: true,
                recs,
                lines,
                broken: None,
                error: None,
            });
        }
        Job::Whole { .. } => {
            let mut part = 0u32;
            let mut emit = |recs: Vec<Rec>| -> Result<()> {
                tx.send(Msg {
                    seq,
                    part,
                    last: false,
                    recs,
                    lines: 0,
                    broken: None,
                    error: None,
                })
                .map_err(|_| anyhow!("the reader stopped"))?;
                part += 1;
                Ok(())
            };
            let r = match format {
                Format::NdjsonGz => formats::read_gz(interner, *side, f as u32, path, &mut emit),
                Format::Csv => formats::read_csv(interner, *side, f as u32, path, &mut emit),
                Format::Parquet => {
                    formats::read_parquet(interner, *side, f as u32, path, &mut emit)
                }
                Format::Ndjson => Ok(None),
            };
            let (broken, error) = match r {
                Ok(b) => (b, None),
                Err(e) => (None, Some(e)),
            };
            let _ = tx.send(Msg {
                seq,
                part,
                last: true,
                recs: Vec::new(),
                lines: 0,
                broken,
                error,
            });
        }
    }
}
