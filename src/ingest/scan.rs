//! The scanner: a hand-written, validating JSON reader for the common shape of a log line and its
//! Task — strings without escapes, objects and arrays where the contract puts them — that hands
//! the same parts to the same post-processing as the serde reader of `compact.rs` and `task.rs`,
//! at a fraction of the cost. It gives up (`None`) on anything else (an escape, a number or
//! boolean where text is expected, a repeated field, an array where one object is expected, …),
//! and the serde reader takes the line; `compact::tests` checks that both give the same events.

use super::compact::{Line, RawRec, TaskField};
use super::intern::Interner;
use super::known::{KnownBodies, body_hash};
use super::task::{
    BText, Concept, Input, RawCoding, RawIdentifier, RawPeriod, RawReference, RawRequester,
    RawRestriction, TaskInfo, TaskParts, TaskReq, classify_input, workflow_task_id,
};
use std::borrow::Cow;

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

    // ---- the Task's parts (as the derived readers of `task.rs`) ----

    fn identifier(&mut self) -> R<RawIdentifier<'a>> {
        let mut x = RawIdentifier::default();
        let mut seen = 0;
        self.object(|c, k| match k {
            "system" => {
                once(&mut seen, 0)?;
                x.system = c.text()?;
                Ok(())
            }
            "value" => {
                once(&mut seen, 1)?;
                x.value = c.text()?;
                Ok(())
            }
            _ => c.skip(),
        })?;
        Ok(x)
    }

    fn reference(&mut self) -> R<RawReference<'a>> {
        let mut x = RawReference::default();
        let mut seen = 0;
        self.object(|c, k| match k {
            "reference" => {
                once(&mut seen, 0)?;
                x.reference = c.text()?;
                Ok(())
            }
            "identifier" => {
                once(&mut seen, 1)?;
                x.identifier = super::task::BObj(c.obj(Cur::identifier)?);
                Ok(())
            }
            _ => c.skip(),
        })?;
        Ok(x)
    }

    fn coding(&mut self) -> R<RawCoding<'a>> {
        let mut x = RawCoding::default();
        let mut seen = 0;
        self.object(|c, k| match k {
            "system" => {
                once(&mut seen, 0)?;
                x.system = c.text()?;
                Ok(())
            }
            "code" => {
                once(&mut seen, 1)?;
                x.code = c.text()?;
                Ok(())
            }
            _ => c.skip(),
        })?;
        Ok(x)
    }

    fn concept(&mut self) -> R<Concept<'a>> {
        let mut x = Concept::default();
        let mut seen = 0;
        self.object(|c, k| match k {
            "coding" => {
                once(&mut seen, 0)?;
                c.many(|c| {
                    let k = c.coding()?;
                    x.add(k);
                    Ok(())
                })
            }
            _ => c.skip(),
        })?;
        Ok(x)
    }

    fn requester(&mut self) -> R<RawRequester<'a>> {
        let mut x = RawRequester::default();
        let mut seen = 0;
        self.object(|c, k| match k {
            "agent" => {
                once(&mut seen, 0)?;
                x.agent = super::task::BObj(c.obj(Cur::reference)?);
                Ok(())
            }
            "onBehalfOf" => {
                once(&mut seen, 1)?;
                x.on_behalf_of = super::task::BObj(c.obj(Cur::reference)?);
                Ok(())
            }
            "identifier" => {
                once(&mut seen, 2)?;
                x.identifier = super::task::BObj(c.obj(Cur::identifier)?);
                Ok(())
            }
            _ => c.skip(),
        })?;
        Ok(x)
    }

    fn restriction(&mut self) -> R<RawRestriction<'a>> {
        let mut x = RawRestriction::default();
        let mut seen = 0;
        self.object(|c, k| match k {
            "period" => {
                once(&mut seen, 0)?;
                x.period = super::task::BObj(c.obj(|c| {
                    let mut p = RawPeriod::default();
                    let mut seen = 0;
                    c.object(|c, k| match k {
                        "end" => {
                            once(&mut seen, 0)?;
                            p.end = c.text()?;
                            Ok(())
                        }
                        _ => c.skip(),
                    })?;
                    Ok(p)
                })?);
                Ok(())
            }
            _ => c.skip(),
        })?;
        Ok(x)
    }

    fn input(&mut self) -> R<Input<'a>> {
        let mut x = Input::default();
        let mut seen = 0;
        self.object(|c, k| match k {
            "type" => {
                once(&mut seen, 0)?;
                x.kind = c.obj(Cur::concept)?.unwrap_or_default();
                Ok(())
            }
            "valueReference" => {
                once(&mut seen, 1)?;
                x.reference = c
                    .obj(Cur::reference)?
                    .and_then(|r| super::task::trimmed(r.reference));
                Ok(())
            }
            "valueString" => {
                once(&mut seen, 2)?;
                x.value_string = c.text()?;
                Ok(())
            }
            "valueUri" => {
                once(&mut seen, 3)?;
                x.value_uri = c.text()?;
                Ok(())
            }
            "valueUrl" => {
                once(&mut seen, 4)?;
                x.value_url = c.text()?;
                Ok(())
            }
            "valueBoolean" => {
                once(&mut seen, 5)?;
                x.value_boolean = c.flag()?;
                Ok(())
            }
            _ => c.skip(),
        })?;
        Ok(x)
    }

    fn task(&mut self, i: &Interner) -> R<Option<(TaskInfo, Vec<TaskReq>)>> {
        let mut p = TaskParts::default();
        let mut seen = 0;
        self.object(|c, k| {
            match k {
                "resourceType" => {
                    once(&mut seen, 0)?;
                    p.resource_type = c.text()?;
                }
                "id" => {
                    once(&mut seen, 1)?;
                    p.id = c.text()?;
                }
                "identifier" => {
                    once(&mut seen, 2)?;
                    c.many(|c| {
                        let x = c.identifier()?;
                        if p.identifier.is_none() {
                            p.identifier = x.key(i);
                        }
                        Ok(())
                    })?;
                }
                "groupIdentifier" => {
                    once(&mut seen, 3)?;
                    c.many(|c| {
                        let x = c.identifier()?;
                        if p.group.is_none() {
                            p.group = x.key(i);
                        }
                        Ok(())
                    })?;
                }
                "status" => {
                    once(&mut seen, 4)?;
                    p.status = c.text()?;
                }
                "intent" => {
                    once(&mut seen, 5)?;
                    p.intent = c.text()?;
                }
                "code" => {
                    once(&mut seen, 6)?;
                    p.code = c.obj(Cur::concept)?.unwrap_or_default();
                }
                "basedOn" => {
                    once(&mut seen, 7)?;
                    c.many(|c| {
                        let x = c.reference()?;
                        if p.based_on.is_none()
                            && let Some(r) = x.reference.get()
                        {
                            p.based_on = workflow_task_id(r);
                        }
                        Ok(())
                    })?;
                }
                "for" => {
                    once(&mut seen, 8)?;
                    p.for_ = c.obj(Cur::reference)?;
                }
                "authoredOn" => {
                    once(&mut seen, 9)?;
                    p.authored_on = c.text()?;
                }
                "requester" => {
                    once(&mut seen, 10)?;
                    p.requester = c.obj(Cur::requester)?;
                }
                "owner" => {
                    once(&mut seen, 11)?;
                    p.owner = c.obj(Cur::reference)?;
                }
                "restriction" => {
                    once(&mut seen, 12)?;
                    p.restriction = c.obj(Cur::restriction)?;
                }
                "input" => {
                    once(&mut seen, 13)?;
                    c.many(|c| {
                        let x = c.input()?;
                        classify_input(x, &mut p.task, &mut p.reqs, i);
                        Ok(())
                    })?;
                }
                _ => c.skip()?,
            }
            Ok(())
        })?;
        Ok(p.finish(i))
    }

    /// A `task` or `body` value. On the sending side a Task body is registered in `known`; on
    /// the receiving side a body registered there is only checked, not read.
    fn task_field(&mut self, i: &Interner, known: Option<(&KnownBodies, bool)>) -> R<TaskField> {
        match self.peek()? {
            b'{' => {
                let start = self.i;
                if let Some((k, false)) = known {
                    // A receiver usually logs the sender's very bytes as the line's last field:
                    // when the span up to the line's end is a body registered (and so validated)
                    // on the sending side, it is that body, and needs no walking through.
                    if let Some(end) = last_object_end(self.b)
                        && end > start
                    {
                        let h = body_hash(self.s.get(start..end).ok_or(Bail)?);
                        if let Some(id) = k.get(h) {
                            self.i = end;
                            return Ok(TaskField::Known(id, h as u64));
                        }
                    }
                    self.skip()?;
                    let h = body_hash(self.s.get(start..self.i).ok_or(Bail)?);
                    if let Some(id) = k.get(h) {
                        return Ok(TaskField::Known(id, h as u64));
                    }
                    self.i = start;
                }
                let t = self.task(i)?;
                let h = body_hash(self.s.get(start..self.i).ok_or(Bail)?);
                if let (Some((k, true)), Some((t, _))) = (known, &t)
                    && t.identifier.is_some()
                {
                    k.insert(h, t.identifier);
                }
                Ok(TaskField::Object(t.map(|t| Box::new((t, h as u64)))))
            }
            b'n' => self.literal(b"null").map(|_| TaskField::Null),
            _ => self.skip().map(|_| TaskField::Other),
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
