//! Request normalisation: one canonical text per FHIR request, so that a Task input, a logged pull
//! and a replayed retrieval compare equal however each was written (absolute or relative, `%3A` or
//! `:`, `%2f` or `%2F`). Also the redaction of BSN values in request text before it is written.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, percent_encode};

/// Characters kept literal in a canonical component: RFC 3986 unreserved plus a few sub-delims
/// that FHIR requests use readably. Everything else is `%XX` (upper case).
const KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b':')
    .remove(b',')
    .remove(b'$')
    .remove(b'@')
    .remove(b'!')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b';');

/// In a query, `/` and `?` may also stay literal (RFC 3986 allows both there).
const QUERY_KEEP: &AsciiSet = &KEEP.remove(b'/').remove(b'?');

fn canon(component: &str, keep: &'static AsciiSet) -> String {
    let bytes: Vec<u8> = percent_decode_str(component).collect();
    percent_encode(&bytes, keep).to_string()
}

/// The rest of an absolute `http(s)://` URL after its scheme, or None for a relative one.
fn strip_scheme(text: &str) -> Option<&str> {
    let b = text.as_bytes();
    // The prefixes are ASCII, so the byte after them starts a character.
    if b.len() >= 8 && b[..8].eq_ignore_ascii_case(b"https://") {
        Some(&text[8..])
    } else if b.len() >= 7 && b[..7].eq_ignore_ascii_case(b"http://") {
        Some(&text[7..])
    } else {
        None
    }
}

/// The request relative to the sender's FHIR base, in canonical form.
///
/// `base` is the sender's base URL when known; an absolute URL under it loses it. Any other
/// absolute URL loses its scheme, host and the path segments before the first one that starts
/// with an upper-case letter (a resource type).
pub fn normalise(text: &str, base: Option<&str>) -> String {
    // Leading slashes first, so that a stray one before an absolute URL changes nothing (and a
    // second normalisation is a no-op).
    let text = text.trim().trim_start_matches('/');
    let mut rel: &str = text;
    if let Some(base) = base {
        let b = base.trim().trim_end_matches('/');
        if !b.is_empty()
            && text.len() > b.len()
            && text[..b.len()].eq_ignore_ascii_case(b)
            && text.as_bytes()[b.len()] == b'/'
        {
            rel = &text[b.len() + 1..];
        }
    }
    if rel.len() == text.len()
        && let Some(after) = strip_scheme(text)
    {
        let path_start = after.find('/').map(|i| i + 1).unwrap_or(after.len());
        let mut rest = &after[path_start..];
        loop {
            if rest.starts_with(|c: char| c.is_ascii_uppercase()) || rest.is_empty() {
                break;
            }
            match rest.find(['/', '?']) {
                Some(i) if rest.as_bytes()[i] == b'/' => rest = &rest[i + 1..],
                _ => break,
            }
        }
        rel = rest;
    }
    let rel = rel.trim_start_matches('/');
    let (path, query) = match rel.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rel, None),
    };
    let path = path.split('#').next().unwrap_or("");
    let mut out = String::with_capacity(rel.len() + 8);
    for (i, seg) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(&canon(seg, KEEP));
    }
    if let Some(query) = query {
        let query = query.split('#').next().unwrap_or("");
        out.push('?');
        for (i, param) in query.split('&').filter(|p| !p.is_empty()).enumerate() {
            if i > 0 {
                out.push('&');
            }
            match param.split_once('=') {
                Some((name, value)) => {
                    out.push_str(&canon(name, QUERY_KEEP));
                    out.push('=');
                    out.push_str(&canon(value, QUERY_KEEP));
                }
                None => out.push_str(&canon(param, QUERY_KEEP)),
            }
        }
    }
    out
}

/// The key a request is compared and written by: its canonical form with BSN values redacted.
/// Two requests of one notification that differ only in the BSN they carry are one request (a
/// notification concerns one patient), and no key ever holds a BSN.
pub fn key(text: &str, base: Option<&str>) -> String {
    redact_bsn(&normalise(text, base))
}

/// The origin (`scheme://host[:port]`, lower-cased) of an absolute URL.
pub fn origin(url: &str) -> Option<String> {
    let after = strip_scheme(url.trim())?;
    let scheme_len = url.trim().len() - after.len();
    let host_end = after.find(['/', '?', '#']).unwrap_or(after.len());
    if host_end == 0 {
        return None;
    }
    Some(format!("{}{}", &url.trim()[..scheme_len], &after[..host_end]).to_ascii_lowercase())
}

const BSN_MARKERS: [&str; 4] = [
    "NamingSystem/bsn%7C",
    "NamingSystem/bsn|",
    "NamingSystem%2Fbsn%7C",
    "NamingSystem%2Fbsn|",
];

/// Replaces every value after `…/NamingSystem/bsn|` (canonical `%7C`, or a literal `|`) with
/// `[bsn]`, so that request text can be written to an output.
pub fn redact_bsn(request: &str) -> String {
    // ASCII lower-casing keeps byte offsets, so positions found in `lower` hold in `request`.
    let lower = request.to_ascii_lowercase();
    let markers: Vec<String> = BSN_MARKERS.iter().map(|m| m.to_ascii_lowercase()).collect();
    let mut out = String::with_capacity(request.len());
    let mut pos = 0;
    loop {
        let next = markers
            .iter()
            .filter_map(|m| lower[pos..].find(m.as_str()).map(|i| (pos + i, m.len())))
            .min();
        let Some((at, len)) = next else {
            out.push_str(&request[pos..]);
            return out;
        };
        let end = at + len;
        out.push_str(&request[pos..end]);
        out.push_str("[bsn]");
        let tail = &request[end..];
        pos = end + tail.find(['&', ',', '#']).unwrap_or(tail.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_table() {
        let base = Some("https://fhir.a.example/fhir");
        let cases: &[(&str, Option<&str>, &str)] = &[
            ("Patient/123", None, "Patient/123"),
            ("/Patient/123", None, "Patient/123"),
            (
                "https://fhir.a.example/fhir/Patient/123",
                base,
                "Patient/123",
            ),
            (
                "HTTPS://FHIR.A.EXAMPLE/fhir/Patient/123",
                base,
                "Patient/123",
            ),
            (
                "http://localhost:7050/fhir/sunflower/Practitioner/x",
                None,
                "Practitioner/x",
            ),
            (
                "Patient?_include=Patient:general-practitioner",
                None,
                "Patient?_include=Patient:general-practitioner",
            ),
            (
                "Patient?_include=Patient%3Ageneral-practitioner",
                None,
                "Patient?_include=Patient:general-practitioner",
            ),
            (
                "Consent?category=http%3A%2F%2Fsnomed.info%2Fsct%7C11291000146105",
                None,
                "Consent?category=http://snomed.info/sct%7C11291000146105",
            ),
            (
                "Consent?category=http://snomed.info/sct|11291000146105",
                None,
                "Consent?category=http://snomed.info/sct%7C11291000146105",
            ),
            (
                "Observation/$lastn?code=a%2cb",
                None,
                "Observation/$lastn?code=a,b",
            ),
            ("Observation?code=a%7c1", None, "Observation?code=a%7C1"),
            ("Observation?code=a b", None, "Observation?code=a%20b"),
            ("Observation?code=%zz", None, "Observation?code=%25zz"),
        ];
        for (input, base, want) in cases {
            assert_eq!(&normalise(input, *base), want, "input {input}");
        }
    }

    #[test]
    fn origins() {
        assert_eq!(
            origin("https://Fhir.A.example:8443/fhir/x").as_deref(),
            Some("https://fhir.a.example:8443")
        );
        assert_eq!(origin("Patient/1"), None);
    }

    #[test]
    fn bsn_values_are_redacted() {
        let r = normalise(
            "Patient?identifier=http://fhir.nl/fhir/NamingSystem/bsn|172642863&_count=1",
            None,
        );
        assert_eq!(
            redact_bsn(&r),
            "Patient?identifier=http://fhir.nl/fhir/NamingSystem/bsn%7C[bsn]&_count=1"
        );
        assert_eq!(
            redact_bsn("Patient?identifier=http://fhir.nl/fhir/NamingSystem/bsn|172642863"),
            "Patient?identifier=http://fhir.nl/fhir/NamingSystem/bsn|[bsn]"
        );
        assert_eq!(
            redact_bsn("a=NamingSystem/bsn|1&b=namingsystem%2Fbsn%7C2,3"),
            "a=NamingSystem/bsn|[bsn]&b=namingsystem%2Fbsn%7C[bsn],3"
        );
    }
}
