//! Time: timestamps as microseconds since the Unix epoch (UTC), RFC 3339 and FHIR dateTime
//! parsing, durations like `15m` / `36h` / `14d`, and the local date of a run.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

pub const MICROS_PER_SEC: i64 = 1_000_000;

/// Why a log timestamp could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsError {
    NoOffset,
    Invalid,
}

/// Parses an RFC 3339 timestamp with an offset into UTC microseconds.
pub fn parse_rfc3339(text: &str) -> Result<i64, TsError> {
    let text = text.trim();
    match DateTime::parse_from_rfc3339(text) {
        Ok(dt) => Ok(dt.with_timezone(&Utc).timestamp_micros()),
        Err(_) => {
            // Distinguish "no offset" (a common logging mistake) from plain garbage.
            let t = text.replace(' ', "T");
            if chrono::NaiveDateTime::parse_from_str(&t, "%Y-%m-%dT%H:%M:%S%.f").is_ok() {
                Err(TsError::NoOffset)
            } else {
                Err(TsError::Invalid)
            }
        }
    }
}

/// Parses a FHIR dateTime (`YYYY`, `YYYY-MM`, `YYYY-MM-DD` or a full RFC 3339 instant). A partial
/// date means its start, or with `end_of_period` the start of the next period (an expiry date is
/// valid through its whole day).
pub fn parse_fhir_datetime(text: &str, end_of_period: bool) -> Option<i64> {
    let text = text.trim();
    if let Ok(ts) = parse_rfc3339(text) {
        return Some(ts);
    }
    let parts: Vec<&str> = text.split('-').collect();
    let num = |s: &str| s.parse::<u32>().ok();
    let (date, next) = match parts.as_slice() {
        [y] if y.len() == 4 => {
            let y = num(y)? as i32;
            (
                NaiveDate::from_ymd_opt(y, 1, 1)?,
                NaiveDate::from_ymd_opt(y + 1, 1, 1)?,
            )
        }
        [y, m] if y.len() == 4 => {
            let (y, m) = (num(y)? as i32, num(m)?);
            let d = NaiveDate::from_ymd_opt(y, m, 1)?;
            (d, d.checked_add_months(chrono::Months::new(1))?)
        }
        [y, m, d] if y.len() == 4 && d.len() == 2 => {
            let d = NaiveDate::from_ymd_opt(num(y)? as i32, num(m)?, num(d)?)?;
            (d, d.succ_opt()?)
        }
        _ => return None,
    };
    let pick = if end_of_period { next } else { date };
    Some(pick.and_hms_opt(0, 0, 0)?.and_utc().timestamp_micros())
}

/// Parses `90s`, `15m`, `36h`, `14d`, `2w` (and combinations such as `1d12h`) into seconds.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".into());
    }
    let mut total: i64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => {
                return Err(format!(
                    "'{text}': unknown unit '{c}' (use s, m, h, d or w)"
                ));
            }
        };
        let n: i64 = digits
            .parse()
            .map_err(|_| format!("'{text}': a number must come before '{c}'"))?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("'{text}': too large"))?;
        digits.clear();
    }
    if !digits.is_empty() {
        return Err(format!(
            "'{text}': missing unit after {digits} (for example 15m, 36h, 14d)"
        ));
    }
    Ok(total)
}

/// RFC 3339 text of UTC microseconds.
pub fn format_ts(micros: i64) -> String {
    Utc.timestamp_micros(micros)
        .single()
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| micros.to_string())
}

/// The local calendar date of an instant in a time zone: the partition of a run.
pub fn local_date(micros: i64, tz: Tz) -> NaiveDate {
    Utc.timestamp_micros(micros)
        .single()
        .unwrap_or_default()
        .with_timezone(&tz)
        .date_naive()
}

/// Human text of a number of seconds: `15m`, `36h`, `14d`, `1d12h`.
pub fn format_duration(secs: i64) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut rest = secs;
    for (unit, n) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if rest >= n {
            out.push_str(&format!("{}{unit}", rest / n));
            rest %= n;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15m"), Ok(900));
        assert_eq!(parse_duration("36h"), Ok(129_600));
        assert_eq!(parse_duration("14d"), Ok(1_209_600));
        assert_eq!(parse_duration("1d12h"), Ok(129_600));
        assert!(parse_duration("15").is_err());
        assert!(parse_duration("15x").is_err());
        assert!(parse_duration("").is_err());
        assert_eq!(format_duration(129_600), "1d12h");
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:01Z"), Ok(1_000_000));
        assert_eq!(parse_rfc3339("1970-01-01T01:00:01+01:00"), Ok(1_000_000));
        assert_eq!(parse_rfc3339("2024-01-01T10:00:00"), Err(TsError::NoOffset));
        assert_eq!(parse_rfc3339("yesterday"), Err(TsError::Invalid));
        assert_eq!(
            parse_fhir_datetime("1970-01-01", true),
            Some(86_400 * MICROS_PER_SEC)
        );
        assert_eq!(parse_fhir_datetime("1970-01-01", false), Some(0));
        assert_eq!(parse_fhir_datetime("<<date>>", true), None);
    }
}
