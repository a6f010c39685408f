//! The landing zone: retrieved resources, one NDJSON file per notification under
//! `DIR/landing/date=<D>/<hex hash>.ndjson`. File names come from hashes, never from request or
//! log text. The writing itself (append, fsync before the success counts) is the journal's.

use serde_json::Value;
use std::path::{Path, PathBuf};

pub fn dir(out: &Path, date: &str) -> PathBuf {
    out.join("landing").join(format!("date={date}"))
}

/// The NDJSON lines of the resources of one answer.
pub fn lines(resources: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in resources {
        out.extend_from_slice(r.to_string().as_bytes());
        out.push(b'\n');
    }
    out
}
