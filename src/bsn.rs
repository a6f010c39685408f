//! BSN (burgerservicenummer): the elfproef, and the keyed pseudonym that stands in for a BSN in
//! every output. The BSN itself is never written anywhere.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// 9 digits and 9·d1 + 8·d2 + … + 2·d8 − 1·d9 divisible by 11.
pub fn is_valid(bsn: &str) -> bool {
    let b = bsn.as_bytes();
    if b.len() != 9 || !b.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: i64 = b[..8]
        .iter()
        .zip((2..=9).rev())
        .map(|(d, w)| i64::from(d - b'0') * w)
        .sum::<i64>()
        - i64::from(b[8] - b'0');
    sum % 11 == 0
}

/// HMAC-SHA256 keyed pseudonyms. Without a key, there are no pseudonyms (`None`).
#[derive(Clone)]
pub struct Pseudonymiser {
    key: Option<Vec<u8>>,
}

impl std::fmt::Debug for Pseudonymiser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Pseudonymiser(key: {})",
            if self.key.is_some() { "set" } else { "none" }
        )
    }
}

impl Pseudonymiser {
    pub fn new(key: Option<Vec<u8>>) -> Self {
        Pseudonymiser { key }
    }

    pub fn none() -> Self {
        Pseudonymiser { key: None }
    }

    pub fn has_key(&self) -> bool {
        self.key.is_some()
    }

    /// Hex HMAC-SHA256 of the BSN (trimmed), or `None` without a key.
    pub fn pseudonym(&self, bsn: &str) -> Option<String> {
        let key = self.key.as_ref()?;
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).ok()?;
        mac.update(bsn.trim().as_bytes());
        Some(hex::encode(mac.finalize().into_bytes()))
    }
}

/// Reads the key from an environment variable or a file (its content, one trailing newline removed).
pub fn load_key(
    env: Option<&str>,
    file: Option<&std::path::Path>,
) -> anyhow::Result<Option<Vec<u8>>> {
    if let Some(var) = env {
        let v = std::env::var(var)
            .map_err(|_| anyhow::anyhow!("the BSN key variable {var} is not set"))?;
        if v.is_empty() {
            anyhow::bail!("the BSN key variable {var} is empty");
        }
        return Ok(Some(v.into_bytes()));
    }
    if let Some(path) = file {
        let mut v = std::fs::read(path)
            .map_err(|e| anyhow::anyhow!("cannot read the BSN key file {}: {e}", path.display()))?;
        while v.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            v.pop();
        }
        if v.is_empty() {
            anyhow::bail!("the BSN key file {} is empty", path.display());
        }
        return Ok(Some(v));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elfproef_table() {
        for (bsn, ok) in [
            ("172642863", true),
            ("111222333", true),
            ("123456782", true),
            ("123456789", false),
            ("12345678", false),
            ("1234567820", false),
            ("17264286a", false),
            ("", false),
        ] {
            assert_eq!(is_valid(bsn), ok, "{bsn}");
        }
    }

    #[test]
    fn pseudonyms_are_keyed() {
        let a = Pseudonymiser::new(Some(b"k1".to_vec()));
        let b = Pseudonymiser::new(Some(b"k2".to_vec()));
        let p = a.pseudonym("172642863").unwrap();
        assert_eq!(p.len(), 64);
        assert_ne!(Some(p.clone()), b.pseudonym("172642863"));
        assert_eq!(Some(p), a.pseudonym(" 172642863 "));
        assert_eq!(Pseudonymiser::none().pseudonym("172642863"), None);
    }
}
