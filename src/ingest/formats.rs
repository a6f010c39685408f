//! The format readers. NDJSON is memory-mapped and parsed in parallel chunks (its pages are the
//! kernel's cache, not our heap); gzip is decompressed in blocks that are parsed in parallel; CSV
//! and Parquet rows become text records. Each yields `Parsed` records with their line numbers.

use super::event::{Field, Origin, Record, RejectReason, Side, from_record, parse_json_line};
use super::{Format, Parsed};
use anyhow::{Context, Result};
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;
use xxhash_rust::xxh3::xxh3_128;

/// A line longer than this is set aside unread (a Task body is a few KB).
pub const MAX_LINE: usize = 16 << 20;
/// Chunks of NDJSON parsed by one task.
const CHUNK: usize = 4 << 20;

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

pub(crate) struct FileRead {
    pub records: Vec<Parsed>,
    /// The file could not be read to its end: where it broke, and why.
    pub broken: Option<(u64, RejectReason)>,
}

pub(crate) fn read_file(side: Side, file: u32, path: &Path, format: Format) -> Result<FileRead> {
    match format {
        Format::Ndjson => read_ndjson(side, file, path),
        Format::NdjsonGz => read_gz(side, file, path),
        Format::Csv => read_csv(side, file, path),
        Format::Parquet => read_parquet(side, file, path),
    }
}

pub(crate) fn sha256_file(path: &Path) -> Result<(String, u64)> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        h.update(&buf[..n]);
    }
    Ok((hex::encode(h.finalize()), total))
}

fn trim_line(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && matches!(line[end - 1], b'\r' | b' ' | b'\t') {
        end -= 1;
    }
    &line[..end]
}

/// Parses the lines of one chunk; line numbers are relative to the chunk (0-based).
fn parse_chunk(side: Side, file: u32, chunk: &[u8]) -> (Vec<Parsed>, u64) {
    let mut out = Vec::new();
    let mut line_no = 0u64;
    for raw in chunk.split(|b| *b == b'\n') {
        line_no += 1;
        let line = trim_line(raw);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let origin = Origin {
            file,
            line: line_no,
        };
        let result = if line.len() > MAX_LINE {
            Err(RejectReason::LineTooLong(line.len()))
        } else {
            parse_json_line(side, origin, line)
        };
        out.push(Parsed {
            line: line_no,
            hash: xxh3_128(line),
            result,
        });
    }
    // `split` yields one item after a trailing newline: it is not a line.
    if chunk.last() == Some(&b'\n') {
        line_no -= 1;
    }
    (out, line_no)
}

/// Splits a buffer at newlines into chunks of about `CHUNK` bytes.
fn chunks(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < data.len() {
        let mut end = (start + CHUNK).min(data.len());
        if end < data.len() {
            end = match memchr::memchr(b'\n', &data[end..]) {
                Some(i) => end + i + 1,
                None => data.len(),
            };
        }
        out.push(&data[start..end]);
        start = end;
    }
    out
}

/// Parses a buffer of whole lines in parallel; `first_line` is the number of its first line.
fn parse_buffer(side: Side, file: u32, data: &[u8], first_line: u64, out: &mut Vec<Parsed>) -> u64 {
    let parts: Vec<(Vec<Parsed>, u64)> = chunks(data)
        .into_par_iter()
        .map(|c| parse_chunk(side, file, c))
        .collect();
    let mut base = first_line - 1;
    for (mut recs, lines) in parts {
        for r in &mut recs {
            r.line += base;
            if let Ok(e) = &mut r.result {
                e.origin.line = r.line;
            }
        }
        out.append(&mut recs);
        base += lines;
    }
    base - (first_line - 1)
}

fn strip_bom(data: &[u8]) -> &[u8] {
    data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data)
}

fn read_ndjson(side: Side, file: u32, path: &Path) -> Result<FileRead> {
    let f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let mut records = Vec::new();
    if len > 0 {
        // SAFETY: the map is read-only and dropped before we return; a log file being truncated
        // by another process while we read it is outside what a batch job over closed logs
        // guards against.
        let map = unsafe { memmap2::Mmap::map(&f) }.context("cannot map the file")?;
        parse_buffer(side, file, strip_bom(&map), 1, &mut records);
    }
    Ok(FileRead {
        records,
        broken: None,
    })
}

fn read_gz(side: Side, file: u32, path: &Path) -> Result<FileRead> {
    let f = std::fs::File::open(path)?;
    let mut dec = flate2::read::MultiGzDecoder::new(std::io::BufReader::with_capacity(1 << 20, f));
    let mut records = Vec::new();
    let mut buf: Vec<u8> = Vec::with_capacity(8 << 20);
    let mut next_line = 1u64;
    let mut first = true;
    let mut block = vec![0u8; 1 << 20];
    let broken = loop {
        match dec.read(&mut block) {
            Ok(0) => {
                // The last line may lack its newline.
                if !buf.is_empty() {
                    parse_buffer(side, file, &buf, next_line, &mut records);
                }
                break None;
            }
            Ok(n) => {
                buf.extend_from_slice(&block[..n]);
                if first && buf.len() >= 3 {
                    if buf.starts_with(b"\xEF\xBB\xBF") {
                        buf.drain(..3);
                    }
                    first = false;
                }
                if buf.len() >= 8 << 20
                    && let Some(cut) = memchr::memrchr(b'\n', &buf)
                {
                    let lines = parse_buffer(side, file, &buf[..=cut], next_line, &mut records);
                    next_line += lines;
                    buf.drain(..=cut);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // Keep every whole line read so far; what follows is lost and said so.
                if let Some(cut) = memchr::memrchr(b'\n', &buf) {
                    next_line += parse_buffer(side, file, &buf[..=cut], next_line, &mut records);
                }
                let what = if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    "the gzip stream is truncated".to_owned()
                } else {
                    format!("the gzip stream is corrupt ({})", e.kind())
                };
                break Some((
                    next_line,
                    RejectReason::Unreadable(format!(
                        "{what}: lines from {next_line} on could not be read"
                    )),
                ));
            }
        }
    };
    Ok(FileRead { records, broken })
}

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

fn row_hash(values: &[Option<&str>]) -> u128 {
    let mut joined = Vec::new();
    for v in values {
        joined.extend_from_slice(v.unwrap_or("\u{0}").as_bytes());
        joined.push(0x1f);
    }
    xxh3_128(&joined)
}

fn read_csv(side: Side, file: u32, path: &Path) -> Result<FileRead> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_path(path)?;
    let headers: Vec<String> = match rdr.byte_headers() {
        Ok(h) => h
            .iter()
            .map(|f| {
                String::from_utf8_lossy(f)
                    .trim_start_matches('\u{feff}')
                    .trim()
                    .to_ascii_lowercase()
            })
            .collect(),
        Err(e) => {
            return Ok(FileRead {
                records: Vec::new(),
                broken: Some((
                    1,
                    RejectReason::Unreadable(format!("unreadable CSV header: {e}")),
                )),
            });
        }
    };
    let index = column_index(&headers);
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
                    None => (xxh3_128(row.as_slice()), Err(RejectReason::InvalidUtf8)),
                    Some(values) => {
                        let rec = TextRecord {
                            index: &index,
                            values,
                        };
                        let origin = Origin { file, line };
                        (row_hash(&rec.values), from_record(side, origin, &rec))
                    }
                };
                records.push(Parsed { line, hash, result });
            }
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                records.push(Parsed {
                    line,
                    hash: xxh3_128(&line.to_le_bytes()),
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
    }
    Ok(FileRead {
        records,
        broken: None,
    })
}

fn csv_error_kind(e: &csv::Error) -> &'static str {
    match e.kind() {
        csv::ErrorKind::Io(_) => "read error",
        csv::ErrorKind::Utf8 { .. } => "invalid UTF-8",
        csv::ErrorKind::UnequalLengths { .. } => "wrong number of fields",
        _ => "malformed",
    }
}

fn read_parquet(side: Side, file: u32, path: &Path) -> Result<FileRead> {
    use polars::prelude::*;
    let f = std::fs::File::open(path)?;
    let df = match ParquetReader::new(f).finish() {
        Ok(df) => df,
        Err(e) => {
            let reason = RejectReason::Unreadable(format!(
                "not a readable Parquet file ({})",
                e.to_string().chars().take(120).collect::<String>()
            ));
            return Ok(FileRead {
                records: Vec::new(),
                broken: Some((0, reason)),
            });
        }
    };
    let headers: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|n| n.to_ascii_lowercase())
        .collect();
    let index = column_index(&headers);
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
                from_record(side, Origin { file, line }, &rec)
            }
        };
        records.push(Parsed {
            line,
            hash: row_hash(&values),
            result,
        });
    }
    Ok(FileRead {
        records,
        broken: None,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_line_numbers_add_up() {
        let mut data = Vec::new();
        for i in 0..50_000 {
            data.extend_from_slice(format!("{{\"n\":{i}}}\n").as_bytes());
        }
        let mut out = Vec::new();
        let lines = parse_buffer(Side::Sent, 0, &data, 1, &mut out);
        assert_eq!(lines, 50_000);
        assert_eq!(out.len(), 50_000);
        assert!(out.iter().enumerate().all(|(i, p)| p.line == i as u64 + 1));
    }

    #[test]
    fn blank_lines_and_crlf() {
        let data = b"{\"a\":1}\r\n\r\n   \n{\"a\":2}";
        let mut out = Vec::new();
        let lines = parse_buffer(Side::Sent, 0, data, 1, &mut out);
        assert_eq!(lines, 4);
        assert_eq!(out.iter().map(|p| p.line).collect::<Vec<_>>(), vec![1, 4]);
    }
}
