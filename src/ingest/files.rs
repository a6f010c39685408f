//! The input files of a run: their formats (by file extension), the expansion of the paths,
//! folders and globs the command line and jobs name, and the run's ordered list of inputs.

use super::Side;
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

/// One input file of a run: its side, path and format, and whether pullrecon's replay wrote it.
pub type Input = (Side, PathBuf, Format, bool);

/// The input files of a run, in order: sent, received, then the replayed logs.
///
/// `replayed` names the received-log events that pullrecon's own replay wrote (folders that may
/// not exist yet): they are part of the received log, and, being made after the run judged, they
/// count even when they are later than as-of.
pub fn input_files(
    sent: &[String],
    received: &[String],
    replayed: &[String],
) -> Result<Vec<Input>> {
    let mut files = Vec::new();
    for (side, patterns) in [(Side::Sent, sent), (Side::Received, received)] {
        for path in discover(patterns).with_context(|| format!("{} log", side.as_str()))? {
            let format = Format::of(&path).context("discover keeps known formats only")?;
            files.push((side, path, format, false));
        }
    }
    for pattern in replayed {
        if Path::new(pattern).exists() || pattern.contains(['*', '?', '[']) {
            for path in discover(std::slice::from_ref(pattern)).unwrap_or_default() {
                let format = Format::of(&path).context("discover keeps known formats only")?;
                files.push((Side::Received, path, format, true));
            }
        }
    }
    Ok(files)
}
