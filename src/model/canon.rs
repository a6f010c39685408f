//! A quick test of whether request text is already the key that `fhir::request::key(text, None)`
//! gives (canonical, no BSN to redact), so that normalising it can be skipped. It errs on
//! the safe side: `false` only means "normalise it".

/// Characters `normalise` keeps literal in a path segment (besides letters and digits).
const KEEP: &[u8] = b"-._~:,$@!*'();";

fn literal(b: u8, query: bool) -> bool {
    b.is_ascii_alphanumeric() || KEEP.contains(&b) || (query && (b == b'/' || b == b'?'))
}

fn upper_hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// A path segment, query name or value: literal characters, or `%XX` (upper case) of a byte that
/// would be encoded again.
fn component(s: &[u8], query: bool) -> bool {
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if b == b'%' {
            let (Some(h), Some(l)) = (
                s.get(i + 1).copied().and_then(upper_hex),
                s.get(i + 2).copied().and_then(upper_hex),
            ) else {
                return false;
            };
            if literal((h << 4) | l, query) {
                return false;
            }
            i += 3;
        } else if literal(b, query) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

/// `true` only if `key(text, None) == text`.
pub fn is_canonical(text: &str) -> bool {
    let b = text.as_bytes();
    // Anything that may name a BSN system is left to `key`, which redacts it.
    if b.windows(3).any(|w| w.eq_ignore_ascii_case(b"bsn")) {
        return false;
    }
    let Some(&first) = b.first() else {
        return true;
    };
    if !first.is_ascii_alphanumeric() {
        return false;
    }
    if b.len() >= 7 && b[..7].eq_ignore_ascii_case(b"http://")
        || b.len() >= 8 && b[..8].eq_ignore_ascii_case(b"https://")
    {
        return false;
    }
    let (path, query) = match text.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (text, None),
    };
    if !path.split('/').all(|seg| component(seg.as_bytes(), false)) {
        return false;
    }
    if let Some(q) = query {
        for param in q.split('&') {
            if param.is_empty() {
                return false;
            }
            let ok = match param.split_once('=') {
                Some((n, v)) => component(n.as_bytes(), true) && component(v.as_bytes(), true),
                None => component(param.as_bytes(), true),
            };
            if !ok {
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fhir::request::key;

    #[test]
    fn canonical_means_unchanged() {
        let cases = [
            "Patient/123",
            "Condition?clinical-status=active",
            "Observation?code=http://loinc.org%7C85354-9",
            "Observation?code=http%3A%2F%2Floinc.org%7C85354-9",
            "Observation?code=http://loinc.org%7c85354-9",
            "Observation?code=http://loinc.org|85354-9",
            "Observation/$lastn?code=a,b",
            "Observation?code=a=b",
            "Observation?code=a&&b=c",
            "Observation?",
            "Observation?code=a&",
            "/Patient/1",
            " Patient/1",
            "Patient/1 ",
            "Patient/1#x",
            "https://x/fhir/Patient/1",
            "Patient/%C3%A9",
            "Patient/%c3%a9",
            "Patient/é",
            "Patient/a%2Fb",
            "Patient//1",
            "Consent?category=http://snomed.info/sct%7C11291000146105",
            "MedicationStatement?category=urn:oid:2.16.840.1.113883.2.4.3.11.60.20.77.5.3%7C6&_include=MedicationStatement:medication",
            "Observation/%24lastn?code=1",
            "Patient?identifier=http://fhir.nl/fhir/NamingSystem/bsn%7C172642863",
            "Task/wf-1",
            "a?b?c=d/e",
            "",
        ];
        for c in cases {
            if is_canonical(c) {
                assert_eq!(key(c, None), c, "{c:?} claimed canonical");
            }
        }
        assert!(is_canonical("Condition?clinical-status=active"));
        assert!(is_canonical("Observation?code=http://loinc.org%7C85354-9"));
        assert!(!is_canonical(
            "Observation?code=http%3A%2F%2Floinc.org%7C85354-9"
        ));
        assert!(!is_canonical(
            "Patient?identifier=http://fhir.nl/fhir/NamingSystem/bsn%7C172642863"
        ));
    }

    #[test]
    fn fuzz_against_key() {
        let alphabet: Vec<char> = "aZ09/?=&%-._~:,$@!*'();|#+ 7Cc3Aebsn".chars().collect();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 12) as usize;
            let mut s = String::from("P");
            let mut y = x;
            for _ in 0..len {
                y = y.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                s.push(alphabet[(y >> 33) as usize % alphabet.len()]);
            }
            if is_canonical(&s) {
                assert_eq!(key(&s, None), s, "{s:?}");
            }
        }
    }
}
