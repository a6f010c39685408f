//! What a run says: human lines or JSON lines (`--log-format json`) on stdout, and step errors
//! cut to one line with anything that looks like a BSN masked.

use crate::reconcile::now_micros;
use crate::time::format_ts;
use serde_json::json;

/// Where a run's human or JSON lines go (stdout).
#[derive(Debug, Clone, Copy)]
pub struct Console {
    pub json: bool,
    pub quiet: bool,
}

impl Console {
    /// From the global `--log-format` flag.
    pub fn new(quiet: bool) -> Console {
        Console {
            json: crate::cli::json_output(),
            quiet,
        }
    }

    /// A human line (text mode only).
    pub fn line(&self, text: impl AsRef<str>) {
        if !self.json && !self.quiet {
            out(&format!("{}\n", text.as_ref()));
        }
    }

    /// Human text as it is (text mode only).
    pub fn text(&self, text: &str) {
        if !self.json && !self.quiet {
            out(text);
        }
    }

    /// A JSON event (JSON mode only): one object per line, with `ts` and `event`.
    pub fn event(&self, event: &str, fields: serde_json::Value) {
        if !self.json || self.quiet {
            return;
        }
        let mut v = json!({"ts": format_ts(now_micros()), "event": event});
        if let (Some(o), serde_json::Value::Object(f)) = (v.as_object_mut(), fields) {
            o.extend(f);
        }
        out(&format!("{v}\n"));
    }
}

/// Writes to stdout; a closed stdout (`| head`) is no reason to stop a run.
pub fn out(text: &str) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(text.as_bytes());
    let _ = o.flush();
}

/// One line of an error, without control characters, at most 400 characters, and without
/// anything that looks like a BSN (a value after the BSN naming system, or a 9-digit number that
/// passes the elfproef): a step's error goes to `job_runs`, the report and the log.
pub fn one_line(text: &str) -> String {
    let t: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let t = crate::fhir::request::redact_bsn(&t);
    let mut masked = String::with_capacity(t.len());
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        if digits.len() == 9 && crate::bsn::is_valid(digits) {
            out.push_str("[bsn]");
        } else {
            out.push_str(digits);
        }
        digits.clear();
    };
    for c in t.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            flush(&mut digits, &mut masked);
            masked.push(c);
        }
    }
    flush(&mut digits, &mut masked);
    let t = masked.split_whitespace().collect::<Vec<_>>().join(" ");
    if t.chars().count() > 400 {
        t.chars().take(399).collect::<String>() + "…"
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn error_lines_hold_no_bsn() {
        let e = "GET Patient?identifier=http://fhir.nl/fhir/NamingSystem/bsn|172642863 failed: 503";
        let l = super::one_line(e);
        assert!(!l.contains("172642863") && l.contains("bsn|[bsn]"), "{l}");
        let e = "sender said:\n  no patient 111222333 (port 8080, id 123456789)";
        assert_eq!(
            super::one_line(e),
            "sender said: no patient [bsn] (port 8080, id 123456789)"
        );
    }
}
