//! The scanner: a hand-written, validating JSON reader for the common shape of a log line and its
//! Task — strings without escapes, objects and arrays where the contract puts them — that hands
//! the same parts to the same post-processing as the serde reader of `compact.rs` and `task.rs`,
//! at a fraction of the cost. It gives up (`None`) on anything else (an escape, a number or
//! boolean where text is expected, a repeated field, an array where one object is expected, …),
//! and the serde reader takes the line; `compact::tests` checks that both give the same events.
//! The JSON primitives are here; the Task's parts are read in `scan/task_parts.rs`.

use super::compact::{Line, RawRec, TaskField};
use super::intern::Interner;
use super::known::KnownBodies;
use super::task::BText;
use std::borrow::Cow;

mod task_parts;

/// Where a value that is the last field of the line's object ends: just after the `}` that
/// precedes the line's own closing `}` (whitespace aside). Only a guess, to be confirmed.
fn last_object_end(b: &[u8]) -> Option<usize> {
    let is_ws = |c: &u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r');
    let close = b.iter().rposition(|c| !is_ws(c))?;
    if b[close] != b'}' {
        return None;
    }
    let inner = b[..close].iter().rposition(|c| !is_ws(c))?;
    (b[inner] == b'}').then_some(inner + 1)
}

/// The scanner gives up.
struct Bail;

type R<T> = Result<T, Bail>;

/// serde_json refuses deeper nesting (128); stop well before.
const MAX_DEPTH: u32 = 100;

/// The position of the first `"`, `\\` or control character at or after `from`, eight bytes at a
/// time (the classic "has zero byte" bit trick: the first flagged byte is exact).
fn special(b: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut j = from;
    while let Some(chunk) = b.get(j..j + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let w = u64::from_le_bytes(w);
        let quote = w ^ (ONES * u64::from(b'"'));
        let slash = w ^ (ONES * u64::from(b'\\'));
        let m = (quote.wrapping_sub(ONES) & !quote)
            | (slash.wrapping_sub(ONES) & !slash)
            | (w.wrapping_sub(ONES * 0x20) & !w);
        let m = m & HIGH;
        if m != 0 {
            return Some(j + (m.trailing_zeros() / 8) as usize);
        }
        j += 8;
    }
    b.get(j..)?
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .map(|k| j + k)
}

struct Cur<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
    depth: u32,
}

/// Marks a known field as seen; a repeated one makes the scanner give up.
fn once(seen: &mut u32, bit: u32) -> R<()> {
    if *seen & (1 << bit) != 0 {
        return Err(Bail);
    }
    *seen |= 1 << bit;
    Ok(())
}

impl<'a> Cur<'a> {
    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            if c == b' ' || c == b'\t' || c == b'\n' || c == b'\r' {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    fn peek(&mut self) -> R<u8> {
        self.ws();
        self.b.get(self.i).copied().ok_or(Bail)
    }

    fn eat(&mut self, c: u8) -> R<()> {
        if self.peek()? == c {
            self.i += 1;
            Ok(())
        } else {
            Err(Bail)
        }
    }

    /// A string without escapes or control characters: its content.
    fn string(&mut self) -> R<&'a str> {
        if self.peek()? != b'"' {
            return Err(Bail);
        }
        let start = self.i + 1;
        let end = special(self.b, start).ok_or(Bail)?;
        if self.b[end] != b'"' {
            return Err(Bail);
        }
        self.i = end + 1;
        self.s.get(start..end).ok_or(Bail)
    }

    fn literal(&mut self, lit: &[u8]) -> R<()> {
        if self.b.get(self.i..).is_some_and(|r| r.starts_with(lit)) {
            self.i += lit.len();
            Ok(())
        } else {
            Err(Bail)
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        self.i - start
    }

    /// A number, by the JSON grammar.
    fn number(&mut self) -> R<()> {
        if self.b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        match self.b.get(self.i) {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(Bail),
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(Bail);
            }
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(Bail);
            }
        }
        Ok(())
    }

    /// Any value, validated and passed over.
    fn skip(&mut self) -> R<()> {
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b'{' => self.object(|c, _| c.skip()),
            b'[' => self.array(|c| c.skip()),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => Err(Bail),
        }
    }

    /// The raw JSON text of a value (what serde's `RawValue` gives).
    fn raw(&mut self) -> R<&'a str> {
        self.ws();
        let start = self.i;
        self.skip()?;
        self.s.get(start..self.i).ok_or(Bail)
    }

    fn object(&mut self, mut f: impl FnMut(&mut Self, &'a str) -> R<()>) -> R<()> {
        self.eat(b'{')?;
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Bail);
        }
        if self.peek()? == b'}' {
            self.i += 1;
        } else {
            loop {
                let key = self.string()?;
                self.eat(b':')?;
                f(self, key)?;
                match self.peek()? {
                    b',' => self.i += 1,
                    b'}' => {
                        self.i += 1;
                        break;
                    }
                    _ => return Err(Bail),
                }
            }
        }
        self.depth -= 1;
        Ok(())
    }

    fn array(&mut self, mut f: impl FnMut(&mut Self) -> R<()>) -> R<()> {
        self.eat(b'[')?;
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Bail);
        }
        if self.peek()? == b']' {
            self.i += 1;
        } else {
            loop {
                f(self)?;
                match self.peek()? {
                    b',' => self.i += 1,
                    b']' => {
                        self.i += 1;
                        break;
                    }
                    _ => return Err(Bail),
                }
            }
        }
        self.depth -= 1;
        Ok(())
    }

    // ---- the lenient shapes (as `task::BText`, `BFlag`, `BObj`, `BMany`) ----

    /// A text leaf: a string; absent for null, an object or an array.
    fn text(&mut self) -> R<BText<'a>> {
        match self.peek()? {
            b'"' => Ok(BText(Some(Cow::Borrowed(self.string()?)))),
            b'n' => self.literal(b"null").map(|_| BText(None)),
            b'{' | b'[' => self.skip().map(|_| BText(None)),
            _ => Err(Bail),
        }
    }

    /// A boolean leaf: `true`, `false`, or those words as strings (any case).
    fn flag(&mut self) -> R<Option<bool>> {
        match self.peek()? {
            b't' => self.literal(b"true").map(|_| Some(true)),
            b'f' => self.literal(b"false").map(|_| Some(false)),
            b'"' => {
                let t = self.string()?.trim();
                Ok(if t.eq_ignore_ascii_case("true") {
                    Some(true)
                } else if t.eq_ignore_ascii_case("false") {
                    Some(false)
                } else {
                    None
                })
            }
            b'n' => self.literal(b"null").map(|_| None),
            b'{' | b'[' => self.skip().map(|_| None),
            _ => Err(Bail),
        }
    }

    /// One object read by `read`; absent for another type (an array: give up).
    fn obj<T>(&mut self, read: impl FnOnce(&mut Self) -> R<T>) -> R<Option<T>> {
        match self.peek()? {
            b'{' => read(self).map(Some),
            b'[' => Err(Bail),
            _ => self.skip().map(|_| None),
        }
    }

    /// One object or an array of them, each read by `f`; other elements are passed over.
    fn many(&mut self, mut f: impl FnMut(&mut Self) -> R<()>) -> R<()> {
        match self.peek()? {
            b'{' => f(self),
            b'[' => self.array(|c| match c.peek()? {
                b'{' => f(c),
                b'[' => Err(Bail),
                _ => c.skip(),
            }),
            _ => self.skip(),
        }
    }
}

/// Reads a line, or `None` when it is not of the plain shape the scanner handles. `known`: the
/// registry of sent Task bodies and whether this line is on the sending side.
pub(crate) fn line<'a>(
    i: &Interner,
    text: &'a str,
    known: Option<(&KnownBodies, bool)>,
) -> Option<Line<'a>> {
    let mut c = Cur {
        s: text,
        b: text.as_bytes(),
        i: 0,
        depth: 0,
    };
    let mut rec = RawRec::default();
    let mut task = TaskField::Absent;
    let mut body = TaskField::Absent;
    let mut seen = 0;
    c.object(|c, k| {
        let slot = match k {
            "ts" => (0, &mut rec.ts),
            "interaction" => (1, &mut rec.interaction),
            "status" => (2, &mut rec.status),
            "error" => (3, &mut rec.error),
            "notification" => (4, &mut rec.notification),
            "request" => (5, &mut rec.request),
            "bsn_in_assertion" => (6, &mut rec.bsn_in_assertion),
            "assertion_bsn" => (7, &mut rec.assertion_bsn),
            "sender_base" => (8, &mut rec.sender_base),
            "message" => (9, &mut rec.message),
            "outcome" => (10, &mut rec.outcome),
            "sender" => (11, &mut rec.sender),
            "receiver" => (12, &mut rec.receiver),
            "task" => {
                once(&mut seen, 13)?;
                task = c.task_field(i, known)?;
                return Ok(());
            }
            "body" => {
                once(&mut seen, 14)?;
                body = c.task_field(i, None)?;
                return Ok(());
            }
            _ => return c.skip(),
        };
        once(&mut seen, slot.0)?;
        *slot.1 = Some(c.raw()?);
        Ok(())
    })
    .ok()?;
    c.ws();
    if c.i != c.b.len() {
        return None;
    }
    Some(Line { rec, task, body })
}

#[cfg(test)]
mod tests {
    use super::super::compact::TaskField;
    use super::*;

    #[test]
    fn last_object_end_finds_the_body_before_the_closing_brace() {
        let cases: &[(&str, Option<usize>)] = &[
            (r#"{"task":{"a":1}}"#, Some(15)),
            ("{\"task\":{\"a\":1} } \r\n", Some(15)),
            (r#"{"task":{"a":1},"x":2}"#, None),
            (r#"{"task":[1]}"#, None),
            ("}", None),
            ("", None),
            ("   ", None),
        ];
        for (line, want) in cases {
            assert_eq!(last_object_end(line.as_bytes()), *want, "{line:?}");
        }
    }

    const BODY: &str = r#"{"resourceType":"Task","identifier":{"system":"urn:ietf:rfc:3986","value":"urn:uuid:6128cfe7-0e89-4d37-ba90-e4ca3b3fcbbe"},"status":"requested"}"#;

    /// How the receiving side reads `line` once the sending side has logged `BODY`.
    fn received(text: &str) -> Option<&'static str> {
        let i = Interner::new();
        let known = KnownBodies::new();
        let sent =
            format!(r#"{{"ts":"2026-01-01T00:00:00Z","interaction":"notify","task":{BODY}}}"#);
        line(&i, &sent, Some((&known, true)))?;
        let l = line(&i, text, Some((&known, false)))?;
        Some(match l.task {
            TaskField::Known(..) => "known",
            TaskField::Object(_) => "read",
            _ => "other",
        })
    }

    #[test]
    fn a_received_copy_of_a_sent_body_is_known_without_reading_it() {
        let head = r#"{"ts":"2026-01-01T00:00:01Z","interaction":"notify","status":201"#;
        let other = BODY.replace("requested", "cancelled");
        let cases: Vec<(String, Option<&str>)> = vec![
            // The body as the line's last field: the shortcut.
            (format!("{head},\"task\":{BODY}}}"), Some("known")),
            (format!("{head},\"task\":{BODY} }}\n"), Some("known")),
            // A field after it: the body is walked through, then found.
            (format!("{head},\"task\":{BODY},\"x\":1}}"), Some("known")),
            // Another body: read in full.
            (format!("{head},\"task\":{other}}}"), Some("read")),
            // Not JSON after all: the shortcut must not take it.
            (format!("{head},\"task\":{BODY}}}}}"), None),
            (format!("{head},\"task\":{BODY},}}"), None),
        ];
        for (line, want) in cases {
            assert_eq!(received(&line), want, "{line}");
        }
    }

    #[test]
    fn special_finds_the_first_quote_backslash_or_control() {
        let cases: &[&[u8]] = &[
            b"abc\"",
            b"\"",
            b"abcdefghijklmnop\"x",
            b"abcdefgh\\\"",
            b"abc\x01defghijk\"",
            b"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"",
            b"no end at all....",
            b"12345678\x1f",
            b"\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x80\"",
        ];
        for c in cases {
            let want = c.iter().position(|&x| x == b'"' || x == b'\\' || x < 0x20);
            for from in 0..c.len() {
                let want = c[from..]
                    .iter()
                    .position(|&x| x == b'"' || x == b'\\' || x < 0x20)
                    .map(|k| k + from);
                assert_eq!(super::special(c, from), want, "{c:?} from {from}");
            }
            let _ = want;
        }
    }
}
