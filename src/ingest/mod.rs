//! Ingest: finds the log files named by paths, directories and globs, reads each in its format
//! (NDJSON plain or gzip, CSV, Parquet) in parallel, sets bad records aside as rejects, drops
//! identical duplicate lines and events outside the run's window, and keeps per-file accounts
//! (sha256, rows, rejects) for the `runs` table. Nothing read is lost: every record is an event,
//! a reject, a counted duplicate or a counted out-of-window event.

pub mod event;
mod formats;

pub use event::{Event, Interaction, Origin, RejectReason, Side};

use anyhow::{Context, Result, bail};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The input formats, chosen by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Ndjson,
    NdjsonGz,
    Csv,
    Parquet,
}

impl Format {
    pub fn of(path: &Path) -> Option<Format> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        if name.starts_with('.') {
            return None;
        }
        Some(if name.ends_with(".ndjson") || name.ends_with(".jsonl") {
            Format::Ndjson
        } else if name.ends_with(".ndjson.gz") || name.ends_with(".jsonl.gz") {
            Format::NdjsonGz
        } else if name.ends_with(".csv") {
            Format::Csv
        } else if name.ends_with(".parquet") {
            Format::Parquet
        } else {
            return None;
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Ndjson => "ndjson",
            Format::NdjsonGz => "ndjson.gz",
            Format::Csv => "csv",
            Format::Parquet => "parquet",
        }
    }
}

/// The account of one input file, as the `runs` and `input_files` tables show it.
#[derive(Debug, Clone)]
pub struct InputFile {
    pub side: Side,
    pub path: PathBuf,
    pub format: Format,
    pub bytes: u64,
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

#[derive(Debug, Default)]
pub struct Ingested {
    pub files: Vec<InputFile>,
    pub events: Vec<Event>,
    pub rejects: Vec<Reject>,
    pub duplicates: u64,
    pub after_as_of: u64,
    pub before_lookback: u64,
}

/// One record as a format reader hands it over: its line (or row) number, a hash of its content
/// for duplicate detection, and the parse result.
pub(crate) struct Parsed {
    pub line: u64,
    pub hash: u128,
    pub result: Result<Event, RejectReason>,
}

/// Expands paths (files, directories, globs) into log files, sorted, without repeats.
pub fn discover(patterns: &[String]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for pattern in patterns {
        let path = Path::new(pattern);
        let mut found = Vec::new();
        if path.is_dir() {
            for entry in std::fs::read_dir(path)
                .with_context(|| format!("cannot list the directory {}", path.display()))?
            {
                let p = entry?.path();
                if p.is_file() && Format::of(&p).is_some() {
                    found.push(p);
                }
            }
            if found.is_empty() {
                bail!(
                    "{} holds no log files (.ndjson, .jsonl, .ndjson.gz, .jsonl.gz, .csv, .parquet)",
                    path.display()
                );
            }
        } else if path.is_file() {
            if Format::of(path).is_none() {
                bail!(
                    "{}: unknown log format (expected .ndjson, .jsonl, .ndjson.gz, .jsonl.gz, .csv or .parquet)",
                    path.display()
                );
            }
            found.push(path.to_path_buf());
        } else if pattern.contains(['*', '?', '[']) {
            let entries =
                glob::glob(pattern).with_context(|| format!("bad glob pattern '{pattern}'"))?;
            for p in entries.flatten() {
                if p.is_file() && Format::of(&p).is_some() {
                    found.push(p);
                }
            }
            if found.is_empty() {
                bail!("the pattern '{pattern}' matches no log files");
            }
        } else {
            bail!("{pattern}: no such file or directory");
        }
        found.sort();
        out.extend(found);
    }
    // Absolute paths, so that `runs` names the files wherever the run was started from, and
    // a file named twice is read once.
    let mut seen = HashSet::new();
    let out: Vec<PathBuf> = out
        .into_iter()
        .map(|p| p.canonicalize().unwrap_or(p))
        .filter(|p| seen.insert(p.clone()))
        .collect();
    Ok(out)
}

/// Reads both logs. Fails only when a named input does not exist or cannot be opened.
///
/// `replayed` names the received-log events that pullrecon's own replay wrote (folders that may
/// not exist yet): they are part of the received log, and, being made after the run judged, they
/// count even when they are later than as-of.
pub fn ingest(
    sent: &[String],
    received: &[String],
    replayed: &[String],
    window: Window,
) -> Result<Ingested> {
    let mut files = Vec::new();
    for (side, patterns) in [(Side::Sent, sent), (Side::Received, received)] {
        for path in discover(patterns).with_context(|| format!("{} log", side.as_str()))? {
            files.push((side, path, false));
        }
    }
    for pattern in replayed {
        if Path::new(pattern).exists() || pattern.contains(['*', '?', '[']) {
            for path in discover(std::slice::from_ref(pattern)).unwrap_or_default() {
                files.push((Side::Received, path, true));
            }
        }
    }
    let mut out = Ingested::default();
    let mut seen: [HashSet<u128>; 2] = [HashSet::new(), HashSet::new()];
    for (index, (side, path, replayed)) in files.into_iter().enumerate() {
        let format = Format::of(&path).expect("discover keeps known formats only");
        let file_no = index as u32;
        let (read, sha) = rayon::join(
            || formats::read_file(side, file_no, &path, format),
            || formats::sha256_file(&path),
        );
        let read = read.with_context(|| format!("cannot read {}", path.display()))?;
        let (sha256, bytes) = sha.with_context(|| format!("cannot read {}", path.display()))?;
        let mut account = InputFile {
            side,
            path,
            format,
            bytes,
            sha256,
            rows: 0,
            events: 0,
            rejects: 0,
            duplicates: 0,
            out_of_window: 0,
            replayed,
        };
        let seen = &mut seen[side as usize];
        for p in read.records {
            account.rows += 1;
            match p.result {
                Err(reason) => {
                    account.rejects += 1;
                    out.rejects.push(Reject {
                        side,
                        file: file_no,
                        line: p.line,
                        reason,
                    });
                }
                Ok(event) => {
                    if !seen.insert(p.hash) {
                        account.duplicates += 1;
                        out.duplicates += 1;
                    } else if event.ts > window.to && !replayed {
                        account.out_of_window += 1;
                        out.after_as_of += 1;
                    } else if event.ts < window.from {
                        account.out_of_window += 1;
                        out.before_lookback += 1;
                    } else {
                        account.events += 1;
                        out.events.push(event);
                    }
                }
            }
        }
        if let Some((line, reason)) = read.broken {
            account.rejects += 1;
            out.rejects.push(Reject {
                side,
                file: file_no,
                line,
                reason,
            });
        }
        out.files.push(account);
    }
    Ok(out)
}
