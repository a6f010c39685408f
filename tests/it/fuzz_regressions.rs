//! Inputs the fuzzers found (fuzz/README.md), kept as regression tests: each once broke a
//! property the fuzz targets check.

use pullrecon::fhir::request::{normalise, redact_bsn};
use pullrecon::fhir::task::{parse_task, request_shape};
use pullrecon::ingest::{Origin, Side, event::parse_json_line};

/// `normalise` is idempotent: what it returns is already canonical.
#[test]
fn normalise_is_idempotent_on_found_inputs() {
    let found: &[&[u8]] = &[
        // fuzz/artifacts/task/crash-345c908f950005cf4a76c485f3e65dcf7b85174c
        b"/https://",
        // fuzz/artifacts/task/crash-af8bf4f90b75afdf2f10690f75febbbe4ca3c298: a multi-byte
        // character right after the scheme
        b"http://\xcc\x80",
        b"http://",
        b"//http://x/",
        b"https://",
        b"http://h?",
        b"?&=&",
        b"%",
        b"a/%2F/b",
    ];
    for input in found {
        let text = String::from_utf8_lossy(input);
        let once = normalise(&text, None);
        assert_eq!(normalise(&once, None), once, "input {text:?}");
        let _ = request_shape(&text);
        let _ = redact_bsn(&text);
        let _ = parse_task(&text);
        let _ = parse_json_line(Side::Sent, Origin { file: 0, line: 1 }, input);
    }
}
