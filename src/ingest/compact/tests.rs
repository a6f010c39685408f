//! The readers agree: the scanner, the serde one-pass reader and the exact reader of `event.rs`
//! give the same compact event (or both decline) for the same line.

use super::*;

/// An event without the Task body's hash (only the scanner computes it).
fn unhashed(r: Result<CEvent, ()>) -> Result<CEvent, ()> {
    r.map(|mut e| {
        if let Body::Notify { body_hash, .. } = &mut e.body {
            *body_hash = 0;
        }
        e
    })
}

/// The serde reader alone (without the scanner).
fn serde_path(i: &Interner, text: &str) -> Result<CEvent, ()> {
    build(i, serde_line::read(i, text)?)
}

/// Where the scanner takes a line, it must give what the serde reader gives.
fn scanner_agrees(i: &Interner, text: &str) -> bool {
    match super::super::scan::line(i, text, None) {
        Some(l) => {
            let a = unhashed(build(i, l));
            let b = unhashed(serde_path(i, text));
            assert_eq!(a, b, "scanner and serde reader differ on {text}");
            true
        }
        None => false,
    }
}

/// Where the fast path takes a line, it must give what the exact reader gives.
fn agree(i: &Interner, line: &str) -> bool {
    let o = Origin { file: 0, line: 1 };
    let Ok(text) = std::str::from_utf8(line.as_bytes()) else {
        return false;
    };
    match unhashed(fast(i, text, None)) {
        Ok(e) => {
            let slow = parse_json_line(Side::Sent, o, line.as_bytes()).unwrap_or_else(|r| {
                panic!("fast took a line the exact reader rejects ({r}): {line}")
            });
            assert_eq!(e, from_event(&slow, i), "{line}");
            true
        }
        Err(()) => false,
    }
}

fn mutations(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (from, to) in [
        ("\"status\":201", "\"status\":\"201\""),
        ("\"status\":200", "\"status\":200.0"),
        ("\"status\":200", "\"status\":null"),
        ("\"status\":201", "\"status\":\"OK\""),
        ("\"ts\":\"", "\"ts\": \""),
        ("{\"ts\"", "{\"extra\":[1,{\"a\":null}],\"ts\""),
        ("\"identifier\":[", "\"identifier\":[\"junk\","),
        ("\"identifier\":[", "\"identifier\":[[],"),
        ("\"for\":{", "\"for\":[{"),
        ("\"requested\"", "\"req\\u0075ested\""),
        ("\"task\":{", "\"task\":{\"status\":\"draft\","),
        ("\"task\":{", "\"task\":{\"resourceType\":\"Patient\","),
        ("\"task\":{", "\"task\":[{"),
        ("\"bsn_in_assertion\":true", "\"bsn_in_assertion\":\"yes\""),
        ("\"bsn_in_assertion\":true", "\"bsn_in_assertion\":1"),
        ("\"notification\":\"", "\"notification\": \" "),
        ("\"request\":\"", "\"request\":7,\"x\":\""),
        ("\"valueBoolean\":true", "\"valueBoolean\":\"TRUE\""),
        ("\"valueString\":\"", "\"valueString\":1.5,\"valueUri\":\""),
        ("\"coding\":[", "\"coding\":{\"code\":\"x\"},\"c\":["),
        ("\"end\":\"", "\"end\":\"<<"),
        ("\"interaction\":\"read\"", "\"interaction\":\"fetch\""),
        ("\"message\":\"", "\"message\":{\"id\":\""),
    ] {
        if line.contains(from) {
            out.push(line.replacen(from, to, 1));
        }
    }
    for (from, to) in [
        ("\"status\":201", "\"status\":01"),
        ("\"status\":201", "\"status\":2e2"),
        ("\"status\":201", "\"status\":-"),
        ("\"status\":201", "\"status\":1."),
        ("\"status\":200", "\"status\":true"),
        ("\"value\":\"", "\"value\":\"\\ud800"),
        ("\"value\":\"", "\"value\":\"\\n"),
        ("\"value\":\"", "\"value\":12,\"v\":\""),
        ("\"system\":\"", "\"system\":false,\"s\":\""),
        ("\"system\":\"", "\"system\":{\"a\":[]},\"s\":\""),
        ("\"input\":[", "\"input\":[null,1,\"x\",[{}],"),
        (
            "\"input\":[",
            "\"input\":{\"valueString\":\"Patient/9\"},\"x\":[",
        ),
        ("\"code\":{", "\"code\":[{"),
        ("\"requester\":{", "\"requester\":\"x\",\"r\":{"),
        (
            "\"owner\":{",
            "\"owner\":{\"identifier\":[{\"value\":\"o\"}],\"i\":{",
        ),
        (
            "\"restriction\":{",
            "\"restriction\":{\"period\":null,\"p\":{",
        ),
        (
            "\"basedOn\":[",
            "\"basedOn\":[{\"reference\":\"Patient/1\"},",
        ),
        (
            "\"identifier\":[",
            "\"identifier\":{\"system\":\"s\",\"value\":\"v\"},\"i\":[",
        ),
        ("\"groupIdentifier\":{", "\"groupIdentifier\":[{},{"),
        ("\"valueBoolean\":true", "\"valueBoolean\":\" false \""),
        ("\"resourceType\":\"Task\"", "\"resourceType\":\" Task \""),
        (
            "\"resourceType\":\"Task\"",
            "\"resourceType\":\"Task\",\"resourceType\":\"Task\"",
        ),
        ("\"interaction\":\"", "\"interaction\":\"\\u006e"),
        ("}", "}  "),
        ("}", "} x"),
        ("\"ts\"", "\"t\\u0073\""),
        (":", " : "),
        (",", " , "),
        ("[", "[ "),
        ("\"", "\"\u{7}"),
    ] {
        if line.contains(from) {
            out.push(line.replacen(from, to, 1));
        }
    }
    out.push(line.replacen('}', ",\"ts\":\"2026-01-01T00:00:00Z\"}", 1));
    out.push(line[..line.len() / 2].to_owned());
    out.push(format!("{}{}", "[".repeat(150), "]".repeat(150)));
    out
}

/// Random small edits at JSON-significant places.
fn random_edits(line: &str, seed: u64) -> Vec<String> {
    let bytes = line.as_bytes();
    let marks: Vec<usize> = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| b"{}[]:,\"".contains(b))
        .map(|(k, _)| k)
        .collect();
    let mut x = seed | 1;
    let mut out = Vec::new();
    for _ in 0..6 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if marks.is_empty() {
            break;
        }
        let at = marks[(x % marks.len() as u64) as usize];
        let repl =
            ["", "{}", "[]", "null", "1", "\"\"", ",", ":", "]", "}"][(x >> 20) as usize % 10];
        let mut s = String::with_capacity(line.len() + 4);
        s.push_str(&line[..at]);
        s.push_str(repl);
        s.push_str(&line[at + 1..]);
        out.push(s);
    }
    out
}

#[test]
fn fast_path_agrees_with_the_exact_reader() {
    let dir = tempfile::tempdir().unwrap();
    crate::generate::generate(&crate::generate::Config::new(300, 5), dir.path()).unwrap();
    let mut lines = Vec::new();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for d in [
        dir.path().join("sent"),
        dir.path().join("received"),
        root.join("sample-data/sent"),
        root.join("sample-data/received"),
    ] {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            let text = match p.extension().and_then(|x| x.to_str()) {
                Some("ndjson") => std::fs::read_to_string(&p).unwrap(),
                Some("gz") => {
                    use std::io::Read;
                    let mut s = String::new();
                    flate2::read::MultiGzDecoder::new(std::fs::File::open(&p).unwrap())
                        .read_to_string(&mut s)
                        .unwrap();
                    s
                }
                _ => continue,
            };
            lines.extend(text.lines().map(str::to_owned));
        }
    }
    let i = Interner::new();
    let (mut fast_taken, mut total) = (0, 0);
    for line in &lines {
        total += 1;
        if agree(&i, line) {
            fast_taken += 1;
        }
        scanner_agrees(&i, line);
        for m in mutations(line)
            .into_iter()
            .chain(random_edits(line, total as u64))
        {
            agree(&i, &m);
            scanner_agrees(&i, &m);
        }
    }
    assert!(
        fast_taken * 100 >= total * 95,
        "{fast_taken} of {total} lines on the fast path"
    );
}
