//! The format readers. NDJSON is memory-mapped and cut into chunks at line ends that the parsing
//! threads take in turn (its pages are the kernel's cache, not our heap); gzip is decompressed in
//! blocks; CSV and Parquet rows become text records (`formats/tabular.rs`). Each yields `Rec`s:
//! line (or row) number, a hash of the content for duplicate detection, and the compact event or
//! the reject reason.

use super::compact::{CEvent, parse_line};
use super::event::{Origin, RejectReason, Side};
use super::intern::Interner;
use anyhow::Result;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;
use xxhash_rust::xxh3::xxh3_64;

mod tabular;
pub(crate) use tabular::{read_csv, read_parquet};

/// One record as a reader hands it over.
pub(crate) struct Rec {
    pub line: u64,
    /// Where the record starts: its byte offset in a chunk (NDJSON), else its line or row.
    pub at: u64,
    pub hash: u64,
    pub result: Result<CEvent, RejectReason>,
}

/// Records are handed over in batches of about this many.
const BATCH: usize = 20_000;

/// A line longer than this is set aside unread (a Task body is a few KB).
pub const MAX_LINE: usize = 16 << 20;
/// Chunks of NDJSON parsed by one task.
const CHUNK: usize = 4 << 20;

/// The sha256 of bytes already in memory (a mapped file).
pub(crate) fn sha256_bytes(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The sha256 of the file at `path` (hex), read in 1 MiB blocks.
pub(crate) fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// A line without its trailing `\\r`, spaces and tabs.
pub(crate) fn trim(line: &[u8]) -> &[u8] {
    trim_line(line)
}

fn trim_line(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && matches!(line[end - 1], b'\r' | b' ' | b'\t') {
        end -= 1;
    }
    &line[..end]
}

/// Parses the lines of one chunk; line numbers are relative to the chunk (the first is 1).
/// Returns the records and the number of lines the chunk holds.
pub(crate) fn parse_chunk(
    i: &Interner,
    side: Side,
    file: u32,
    chunk: &[u8],
    known: Option<&super::known::KnownBodies>,
) -> (Vec<Rec>, u64) {
    let mut out = Vec::with_capacity(chunk.len() / 600 + 8);
    let mut line_no = 0u64;
    let mut start = 0;
    let mut ends = memchr::memchr_iter(b'\n', chunk);
    loop {
        let end = match ends.next() {
            Some(e) => e,
            None if start <= chunk.len() => chunk.len(),
            None => break,
        };
        let raw = &chunk[start..end];
        start = end + 1;
        line_no += 1;
        let line = trim_line(raw);
        if line.iter().all(u8::is_ascii_whitespace) {
            if end == chunk.len() {
                break;
            }
            continue;
        }
        let origin = Origin {
            file,
            line: line_no,
        };
        let result = if line.len() > MAX_LINE {
            Err(RejectReason::LineTooLong(line.len()))
        } else {
            parse_line(i, side, origin, line, known)
        };
        out.push(Rec {
            line: line_no,
            at: (raw.as_ptr() as usize - chunk.as_ptr() as usize) as u64,
            hash: xxh3_64(line),
            result,
        });
        if end == chunk.len() {
            break;
        }
    }
    // A trailing newline ends the last line; it does not start another.
    if chunk.last() == Some(&b'\n') {
        line_no -= 1;
    }
    (out, line_no)
}

/// Splits a buffer at newlines into chunks of about `CHUNK` bytes.
pub(crate) fn chunks(data: &[u8]) -> Vec<&[u8]> {
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

pub(crate) fn strip_bom(data: &[u8]) -> &[u8] {
    data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data)
}

/// The emitter of a whole-file reader: batches of records with absolute line numbers.
pub(crate) type Emit<'a> = dyn FnMut(Vec<Rec>) -> Result<()> + 'a;

/// A reader's verdict on the file: where it broke and why, if it could not be read to its end.
pub(crate) type Broken = Option<(u64, RejectReason)>;

/// Parses whole lines of a decompressed buffer; `next_line` is the number of its first line.
fn parse_lines(
    i: &Interner,
    side: Side,
    file: u32,
    data: &[u8],
    next_line: &mut u64,
    emit: &mut Emit,
) -> Result<()> {
    let (mut recs, lines) = parse_chunk(i, side, file, data, None);
    for r in &mut recs {
        r.line += *next_line - 1;
        r.at = r.line;
    }
    *next_line += lines;
    emit(recs)
}

pub(crate) fn read_gz(
    i: &Interner,
    side: Side,
    file: u32,
    path: &Path,
    emit: &mut Emit,
) -> Result<Broken> {
    let f = std::fs::File::open(path)?;
    let mut dec = flate2::read::MultiGzDecoder::new(std::io::BufReader::with_capacity(1 << 20, f));
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK + (1 << 20));
    let mut next_line = 1u64;
    let mut first = true;
    let mut block = vec![0u8; 1 << 20];
    let broken = loop {
        match dec.read(&mut block) {
            Ok(0) => {
                // The last line may lack its newline.
                if !buf.is_empty() {
                    parse_lines(i, side, file, &buf, &mut next_line, emit)?;
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
                if buf.len() >= CHUNK
                    && let Some(cut) = memchr::memrchr(b'\n', &buf)
                {
                    parse_lines(i, side, file, &buf[..=cut], &mut next_line, emit)?;
                    buf.drain(..=cut);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // Keep every whole line read so far; what follows is lost and said so.
                if let Some(cut) = memchr::memrchr(b'\n', &buf) {
                    parse_lines(i, side, file, &buf[..=cut], &mut next_line, emit)?;
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
    Ok(broken)
}

/// The record at `at` (a byte offset in an NDJSON file, else a line or row number) read again
/// with the exact reader: for the few values the compact model does not keep.
pub(crate) fn event_at(path: &Path, format: super::Format, at: u64) -> Option<super::Event> {
    use super::Format;
    use std::io::{BufRead, Seek, SeekFrom};
    let origin = Origin { file: 0, line: 0 };
    match format {
        Format::Ndjson => {
            let mut f = std::io::BufReader::new(std::fs::File::open(path).ok()?);
            f.seek(SeekFrom::Start(at)).ok()?;
            let mut line = Vec::new();
            f.read_until(b'\n', &mut line).ok()?;
            if at == 0 && line.starts_with(b"\xEF\xBB\xBF") {
                line.drain(..3);
            }
            let line = trim_line(line.strip_suffix(b"\n").unwrap_or(&line));
            super::event::parse_json_line(Side::Sent, origin, line).ok()
        }
        Format::NdjsonGz => {
            let f = std::fs::File::open(path).ok()?;
            let mut r = std::io::BufReader::new(flate2::read::MultiGzDecoder::new(
                std::io::BufReader::new(f),
            ));
            let mut line = Vec::new();
            for n in 1..=at {
                line.clear();
                if r.read_until(b'\n', &mut line).ok()? == 0 {
                    return None;
                }
                if n == 1 && line.starts_with(b"\xEF\xBB\xBF") {
                    line.drain(..3);
                }
            }
            let line = trim_line(line.strip_suffix(b"\n").unwrap_or(&line));
            super::event::parse_json_line(Side::Sent, origin, line).ok()
        }
        Format::Csv | Format::Parquet => tabular::row_at(path, format == Format::Csv, at),
    }
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
        let i = Interner::new();
        let mut total = 0;
        let mut lines = Vec::new();
        for c in chunks(&data) {
            let (recs, n) = parse_chunk(&i, Side::Sent, 0, c, None);
            lines.extend(recs.iter().map(|r| r.line + total));
            total += n;
        }
        assert_eq!(total, 50_000);
        assert_eq!(lines.len(), 50_000);
        assert!(lines.iter().enumerate().all(|(k, l)| *l == k as u64 + 1));
    }

    #[test]
    fn blank_lines_and_crlf() {
        let data = b"{\"a\":1}\r\n\r\n   \n{\"a\":2}";
        let i = Interner::new();
        let (recs, lines) = parse_chunk(&i, Side::Sent, 0, data, None);
        assert_eq!(lines, 4);
        assert_eq!(recs.iter().map(|p| p.line).collect::<Vec<_>>(), vec![1, 4]);
    }
}
