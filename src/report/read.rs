//! Reading the audit tables back (polars `ParquetReader`), one Hive partition file at a time, and
//! turning columns into plain Rust vectors. A missing table or column reads as empty / null: the
//! report shows what is there (`replay_attempts`, for one, exists only once replay has run).

use anyhow::{Context, Result};
use polars::prelude::*;
use std::path::{Path, PathBuf};

/// One Parquet file of a table, with the date of its partition.
pub struct Part {
    pub date: String,
    pub path: PathBuf,
    pub df: DataFrame,
}

/// The `date=` partitions of a table, oldest first.
pub fn partition_dates(out: &Path, table: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(out.join(table)) else {
        return Vec::new();
    };
    let mut dates: Vec<String> = entries
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_prefix("date="))
                .map(str::to_owned)
        })
        .collect();
    dates.sort();
    dates
}

/// Reads every Parquet file of a table (all dates, or one), skipping hidden temporary files.
pub fn read_table(out: &Path, table: &str, date: Option<&str>) -> Result<Vec<Part>> {
    read_table_columns(out, table, date, None)
}

/// `read_table` reading only the named columns that a file has (the others read as absent).
pub fn read_table_columns(
    out: &Path,
    table: &str,
    date: Option<&str>,
    columns: Option<&[&str]>,
) -> Result<Vec<Part>> {
    let dates = match date {
        Some(d) => vec![d.to_owned()],
        None => partition_dates(out, table),
    };
    let mut parts = Vec::new();
    for date in dates {
        let dir = out.join(table).join(format!("date={date}"));
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.extension().is_some_and(|x| x == "parquet")
                    && !p
                        .file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with('.'))
            })
            .collect();
        files.sort();
        for path in files {
            let f = std::fs::File::open(&path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            let failed = |e: PolarsError| anyhow::anyhow!("cannot read {}: {e}", path.display());
            let mut reader = ParquetReader::new(f);
            if let Some(wanted) = columns {
                let schema = reader.schema().map_err(failed)?;
                let present = wanted
                    .iter()
                    .filter(|c| schema.contains(c))
                    .map(|c| (*c).to_owned())
                    .collect();
                reader = reader.with_columns(Some(present));
            }
            let df = reader.finish().map_err(failed)?;
            parts.push(Part {
                date: date.clone(),
                path,
                df,
            });
        }
    }
    Ok(parts)
}

/// A text column (anything castable to text); all null when the column is absent.
pub fn strs(df: &DataFrame, name: &str) -> Vec<Option<String>> {
    TextCol::new(df, name)
        .rows(df.height())
        .into_iter()
        .map(|v| v.map(str::to_owned))
        .collect()
}

/// A text column (anything castable to text) as polars holds it: `TextCol::rows` borrows its
/// values instead of copying them (a table of millions of rows is read this way).
pub struct TextCol(Option<Column>);

impl TextCol {
    pub fn new(df: &DataFrame, name: &str) -> Self {
        TextCol(
            df.column(name)
                .ok()
                .and_then(|c| c.cast(&DataType::String).ok()),
        )
    }

    /// The values, row by row; all null when the column is absent.
    pub fn rows(&self, n: usize) -> Vec<Option<&str>> {
        match self.0.as_ref().and_then(|c| c.str().ok()) {
            Some(s) => s.iter().collect(),
            None => vec![None; n],
        }
    }
}

/// An integer column; a timestamp column gives its stored value (microseconds here).
pub fn ints(df: &DataFrame, name: &str) -> Vec<Option<i64>> {
    let n = df.height();
    let Ok(c) = df.column(name) else {
        return vec![None; n];
    };
    let c = match c.dtype() {
        DataType::Datetime(unit, _) => {
            let mult = match unit {
                TimeUnit::Milliseconds => 1000,
                _ => 1,
            };
            let div = match unit {
                TimeUnit::Nanoseconds => 1000,
                _ => 1,
            };
            return match c.cast(&DataType::Int64) {
                Ok(i) => match i.i64() {
                    Ok(i) => i.iter().map(|v| v.map(|v| v * mult / div)).collect(),
                    Err(_) => vec![None; n],
                },
                Err(_) => vec![None; n],
            };
        }
        _ => c.cast(&DataType::Int64),
    };
    match c {
        Ok(c) => match c.i64() {
            Ok(i) => i.iter().collect(),
            Err(_) => vec![None; n],
        },
        Err(_) => vec![None; n],
    }
}

pub fn bools(df: &DataFrame, name: &str) -> Vec<Option<bool>> {
    let n = df.height();
    let Ok(c) = df.column(name) else {
        return vec![None; n];
    };
    match c.bool() {
        Ok(b) => b.iter().collect(),
        Err(_) => vec![None; n],
    }
}

/// Whether a table's frame has a column.
pub fn has(df: &DataFrame, name: &str) -> bool {
    df.column(name).is_ok()
}

/// The run recorded in `runs/date=<date>`, if any: (run id, as-of, finished at).
pub fn run_of_date(out: &Path, date: &str) -> Option<(String, i64, i64)> {
    let parts = read_table(out, "runs", Some(date)).ok()?;
    let part = parts.first()?;
    let id = strs(&part.df, "run_id").into_iter().next()??;
    let as_of = ints(&part.df, "as_of").into_iter().next()??;
    let finished = ints(&part.df, "finished_at")
        .into_iter()
        .next()
        .flatten()
        .unwrap_or(as_of);
    Some((id, as_of, finished))
}
