//! The tabular formats: CSV and Parquet rows read as text records by contract field name, and a
//! row read again by its number (`row_at`).

use super::{BATCH, Broken, Emit, Rec};
use crate::ingest::Event;
use crate::ingest::compact::from_event;
use crate::ingest::event::{Field, Origin, Record, RejectReason, Side, from_record};
use crate::ingest::intern::Interner;
use anyhow::Result;
use std::path::Path;
use xxhash_rust::xxh3::xxh3_64;

const FIELDS: [&str; 15] = [
    "ts",
    "interaction",
    "status",
    "error",
    "task",
    "notification",
    "request",
    "body",
    "bsn_in_assertion",
    "assertion_bsn",
    "sender_base",
    "message",
    "outcome",
    "sender",
    "receiver",
];

/// A CSV or Parquet row: text fields by contract name.
struct TextRecord<'a> {
    index: &'a [Option<usize>; 15],
    values: Vec<Option<&'a str>>,
}

impl Record for TextRecord<'_> {
    fn field(&self, name: &'static str) -> Option<Field<'_>> {
        let pos = FIELDS.iter().position(|f| *f == name)?;
        let col = self.index[pos]?;
        Some(Field::Text(
            self.values.get(col).copied().flatten().unwrap_or(""),
        ))
    }
}

fn column_index(headers: &[String]) -> [Option<usize>; 15] {
    let mut index = [None; 15];
    for (i, f) in FIELDS.iter().enumerate() {
        index[i] = headers.iter().position(|h| h == f);
    }
    index
}

/// A CSV reader as both readings use it: a header row, rows of any length.
fn csv_reader(path: &Path) -> csv::Result<csv::Reader<std::fs::File>> {
    csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_path(path)
}

/// The contract fields' columns of a CSV header (a byte-order mark, spaces and case aside).
fn csv_index(header: &csv::ByteRecord) -> [Option<usize>; 15] {
    let names: Vec<String> = header
        .iter()
        .map(|f| {
            String::from_utf8_lossy(f)
                .trim_start_matches('\u{feff}')
                .trim()
                .to_ascii_lowercase()
        })
        .collect();
    column_index(&names)
}

/// The contract fields' columns of a Parquet file (case aside).
fn frame_index(df: &polars::prelude::DataFrame) -> [Option<usize>; 15] {
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|n| n.to_ascii_lowercase())
        .collect();
    column_index(&names)
}

fn row_hash(values: &[Option<&str>]) -> u64 {
    let mut joined = Vec::new();
    for v in values {
        joined.extend_from_slice(v.unwrap_or("\u{0}").as_bytes());
        joined.push(0x1f);
    }
    xxh3_64(&joined)
}

pub(crate) fn read_csv(
    i: &Interner,
    side: Side,
    file: u32,
    path: &Path,
    emit: &mut Emit,
) -> Result<Broken> {
    let mut rdr = csv_reader(path)?;
    let index = match rdr.byte_headers() {
        Ok(h) => csv_index(h),
        Err(e) => {
            return Ok(Some((
                1,
                RejectReason::Unreadable(format!("unreadable CSV header: {e}")),
            )));
        }
    };
    let mut records = Vec::new();
    let mut row = csv::ByteRecord::new();
    loop {
        match rdr.read_byte_record(&mut row) {
            Ok(false) => break,
            Ok(true) => {
                let line = row.position().map(|p| p.line()).unwrap_or(0);
                if row.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
                    continue;
                }
                let values: Option<Vec<Option<&str>>> = row
                    .iter()
                    .map(|f| std::str::from_utf8(f).ok().map(Some))
                    .collect();
                let (hash, result) = match values {
                    None => (xxh3_64(row.as_slice()), Err(RejectReason::InvalidUtf8)),
                    Some(values) => {
                        let rec = TextRecord {
                            index: &index,
                            values,
                        };
                        let origin = Origin { file, line };
                        (
                            row_hash(&rec.values),
                            from_record(side, origin, &rec).map(|e| from_event(&e, i)),
                        )
                    }
                };
                records.push(Rec {
                    line,
                    at: line,
                    hash,
                    result,
                });
            }
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                records.push(Rec {
                    line,
                    at: line,
                    hash: xxh3_64(&line.to_le_bytes()),
                    result: Err(RejectReason::Unreadable(format!(
                        "unreadable CSV row: {}",
                        csv_error_kind(&e)
                    ))),
                });
                if !matches!(
                    e.kind(),
                    csv::ErrorKind::Utf8 { .. } | csv::ErrorKind::UnequalLengths { .. }
                ) {
                    break;
                }
            }
        }
        if records.len() >= BATCH {
            emit(std::mem::take(&mut records))?;
        }
    }
    emit(records)?;
    Ok(None)
}

fn csv_error_kind(e: &csv::Error) -> &'static str {
    match e.kind() {
        csv::ErrorKind::Io(_) => "read error",
        csv::ErrorKind::Utf8 { .. } => "invalid UTF-8",
        csv::ErrorKind::UnequalLengths { .. } => "wrong number of fields",
        _ => "malformed",
    }
}

pub(crate) fn read_parquet(
    i: &Interner,
    side: Side,
    file: u32,
    path: &Path,
    emit: &mut Emit,
) -> Result<Broken> {
    use polars::prelude::*;
    let f = std::fs::File::open(path)?;
    let df = match ParquetReader::new(f).finish() {
        Ok(df) => df,
        Err(e) => {
            let reason = RejectReason::Unreadable(format!(
                "not a readable Parquet file ({})",
                e.to_string().chars().take(120).collect::<String>()
            ));
            return Ok(Some((0, reason)));
        }
    };
    let index = frame_index(&df);
    // Every column as text; timestamps as RFC 3339; a column of another shape (a struct, a list)
    // makes the rows that carry it rejects.
    let mut columns: Vec<Option<Vec<Option<String>>>> = Vec::new();
    for col in df.columns() {
        columns.push(column_as_text(col));
    }
    let height = df.height();
    let mut records = Vec::with_capacity(height);
    for r in 0..height {
        let values: Vec<Option<&str>> = columns
            .iter()
            .map(|c| c.as_ref().and_then(|v| v[r].as_deref()))
            .collect();
        let bad = FIELDS
            .iter()
            .enumerate()
            .find(|(i, _)| index[*i].is_some_and(|c| columns[c].is_none()));
        let line = r as u64 + 1;
        let result = match bad {
            Some((_, name)) => Err(RejectReason::BadFieldType(name)),
            None => {
                let rec = TextRecord {
                    index: &index,
                    values: values.clone(),
                };
                from_record(side, Origin { file, line }, &rec).map(|e| from_event(&e, i))
            }
        };
        records.push(Rec {
            line,
            at: line,
            hash: row_hash(&values),
            result,
        });
        if records.len() >= BATCH {
            emit(std::mem::take(&mut records))?;
        }
    }
    emit(records)?;
    Ok(None)
}

fn column_as_text(col: &polars::prelude::Column) -> Option<Vec<Option<String>>> {
    use polars::prelude::*;
    if let DataType::Datetime(unit, _) = col.dtype() {
        let per_micro: (i64, i64) = match unit {
            TimeUnit::Nanoseconds => (1, 1000),
            TimeUnit::Microseconds => (1, 1),
            TimeUnit::Milliseconds => (1000, 1),
        };
        let ints = col.cast(&DataType::Int64).ok()?;
        let ints = ints.i64().ok()?;
        return Some(
            ints.iter()
                .map(|v| v.map(|v| crate::time::format_ts(v * per_micro.0 / per_micro.1)))
                .collect(),
        );
    }
    if matches!(
        col.dtype(),
        DataType::List(_) | DataType::Binary | DataType::Null
    ) {
        if matches!(col.dtype(), DataType::Null) {
            return Some(vec![None; col.len()]);
        }
        return None;
    }
    let s = col.cast(&DataType::String).ok()?;
    let s = s.str().ok()?;
    Some(s.iter().map(|v| v.map(str::to_owned)).collect())
}

/// The CSV (`csv`) or Parquet row at line or row `at`, read again with the exact reader.
pub(super) fn row_at(path: &Path, csv: bool, at: u64) -> Option<Event> {
    let origin = Origin { file: 0, line: 0 };
    let mut found = None;
    if csv {
        let mut rdr = csv_reader(path).ok()?;
        let index = csv_index(rdr.byte_headers().ok()?);
        let mut row = csv::ByteRecord::new();
        while rdr.read_byte_record(&mut row).ok()? {
            if row.position().map(|p| p.line()) == Some(at) {
                let values: Vec<Option<&str>> =
                    row.iter().map(|f| std::str::from_utf8(f).ok()).collect();
                let rec = TextRecord {
                    index: &index,
                    values,
                };
                found = from_record(Side::Sent, origin, &rec).ok();
                break;
            }
        }
    } else {
        use polars::prelude::*;
        let df = ParquetReader::new(std::fs::File::open(path).ok()?)
            .finish()
            .ok()?;
        let index = frame_index(&df);
        let row = usize::try_from(at).ok()?.checked_sub(1)?;
        let columns: Vec<Option<Vec<Option<String>>>> =
            df.columns().iter().map(column_as_text).collect();
        let values: Vec<Option<&str>> = columns
            .iter()
            .map(|c| c.as_ref().and_then(|v| v.get(row)?.as_deref()))
            .collect();
        let rec = TextRecord {
            index: &index,
            values,
        };
        found = from_record(Side::Sent, origin, &rec).ok();
    }
    found
}
