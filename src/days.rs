//! Day windows in a job's time zone: local midnights, and the window of one calendar day for
//! `backfill` (as-of = local midnight of D+1, events from local midnight of D), right across DST
//! changes: the last Sunday of March has 23 hours in Europe/Amsterdam, the last of October 25.

use chrono::{NaiveDate, TimeZone};
use chrono_tz::Tz;

/// The instant (UTC microseconds) of a date's local midnight: the first instant of that date.
/// Where a DST change skips midnight itself (a gap), the first instant after the gap.
pub fn local_midnight(date: NaiveDate, tz: Tz) -> Option<i64> {
    let start = date.and_hms_opt(0, 0, 0)?;
    // Look minute by minute past a gap (gaps last at most a few hours anywhere).
    for minutes in 0..(4 * 60) {
        let local = start + chrono::Duration::minutes(minutes);
        if let Some(t) = tz.from_local_datetime(&local).earliest() {
            return Some(t.timestamp_micros());
        }
    }
    None
}

/// The window of one local calendar day: events of `[from, to]` (`to` is the next day's
/// midnight, the run's as-of; the contract counts an event stamped exactly at as-of).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayWindow {
    pub day: NaiveDate,
    /// Local midnight that starts `day`, UTC microseconds.
    pub from: i64,
    /// Local midnight that starts the next day: the as-of of the day's run.
    pub to: i64,
}

impl DayWindow {
    pub fn of(day: NaiveDate, tz: Tz) -> Option<DayWindow> {
        let from = local_midnight(day, tz)?;
        let to = local_midnight(day.succ_opt()?, tz)?;
        Some(DayWindow { day, from, to })
    }

    /// The length of the day in seconds (82 800, 86 400 or 90 000 in Europe/Amsterdam): the
    /// lookback that makes the run read exactly this day.
    pub fn seconds(&self) -> i64 {
        (self.to - self.from) / crate::time::MICROS_PER_SEC
    }

    /// RFC 3339 text of an instant in the day's time zone (`2026-03-30T00:00:00+02:00`).
    pub fn local_text(micros: i64, tz: Tz) -> String {
        chrono::Utc
            .timestamp_micros(micros)
            .single()
            .map(|t| {
                t.with_timezone(&tz)
                    .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
            })
            .unwrap_or_else(|| crate::time::format_ts(micros))
    }
}

/// Every date from `from` to `to`, both included, oldest first.
pub fn dates(from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
    from.iter_days().take_while(|d| *d <= to).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Amsterdam;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn dst_days_in_amsterdam() {
        assert_eq!(
            DayWindow::of(d("2026-03-29"), Amsterdam).unwrap().seconds(),
            23 * 3600
        );
        assert_eq!(
            DayWindow::of(d("2026-10-25"), Amsterdam).unwrap().seconds(),
            25 * 3600
        );
        assert_eq!(
            DayWindow::of(d("2026-03-28"), Amsterdam).unwrap().seconds(),
            24 * 3600
        );
        let w = DayWindow::of(d("2026-03-29"), Amsterdam).unwrap();
        assert_eq!(crate::time::format_ts(w.from), "2026-03-28T23:00:00Z");
        assert_eq!(crate::time::format_ts(w.to), "2026-03-29T22:00:00Z");
        assert_eq!(
            DayWindow::local_text(w.to, Amsterdam),
            "2026-03-30T00:00:00+02:00"
        );
    }

    #[test]
    fn midnight_in_a_gap_is_the_first_instant_after_it() {
        // Chile skipped 2022-09-11T00:00 (clocks went from 00:00 to 01:00).
        let t = local_midnight(d("2022-09-11"), chrono_tz::America::Santiago).unwrap();
        assert_eq!(crate::time::format_ts(t), "2022-09-11T04:00:00Z");
    }

    #[test]
    fn date_ranges() {
        assert_eq!(dates(d("2026-03-28"), d("2026-03-30")).len(), 3);
        assert!(dates(d("2026-03-30"), d("2026-03-28")).is_empty());
    }
}
