//! The report's BSN route table, read from `bsn_audit` (pseudonyms only; a BSN is in no table):
//! a summary per combination of routes over every notification of the run, and the first
//! `BSN_ROWS` rows, problems first, kept while reading.

use super::read::{TextCol, bools, read_table_columns};
use super::{ReportData, RunInfo};
use anyhow::Result;
use std::collections::BTreeMap;
use std::path::Path;

/// How many BSN rows the report lists.
pub const BSN_ROWS: usize = 200;

/// Notifications per combination of BSN routes.
#[derive(Debug, Clone, Default)]
pub struct RouteSummary {
    pub routes: String,
    pub notifications: u64,
    pub invalid: u64,
    pub mismatch: u64,
    pub unavailable: u64,
}

/// One notification's BSN routes (pseudonyms shortened; never a BSN).
#[derive(Debug, Clone, Default)]
pub struct BsnRow {
    pub notification: String,
    pub sender: Option<String>,
    pub current: bool,
    pub cancelled: bool,
    /// (route name, carried, pseudonym, valid).
    pub routes: Vec<(&'static str, bool, Option<String>, Option<bool>)>,
    pub mismatch: bool,
    pub unavailable: bool,
}

impl BsnRow {
    pub fn has_problem(&self) -> bool {
        self.mismatch || self.unavailable || self.routes.iter().any(|r| r.3 == Some(false))
    }
}

fn short(p: Option<String>) -> Option<String> {
    p.map(|p| p.chars().take(12).collect::<String>() + "…")
}

/// The BSN routes of `bsn_audit`: (name in the report, carried, pseudonym, valid) columns.
const BSN_ROUTES: [(&str, &str, &str, &str); 3] = [
    ("task", "route_task", "pseudonym_task", "valid_task"),
    (
        "workflow task",
        "route_workflow_task",
        "pseudonym_workflow_task",
        "valid_workflow_task",
    ),
    (
        "assertion",
        "route_assertion",
        "pseudonym_assertion",
        "valid_assertion",
    ),
];

/// The columns of `bsn_audit` the report reads (a day's table has a row per notification).
const BSN_COLUMNS: [&str; 16] = [
    "run_id",
    "notification",
    "sender",
    "current",
    "cancelled",
    "route_task",
    "pseudonym_task",
    "valid_task",
    "route_workflow_task",
    "pseudonym_workflow_task",
    "valid_workflow_task",
    "route_assertion",
    "pseudonym_assertion",
    "valid_assertion",
    "mismatch",
    "unavailable",
];

/// The run's BSN routes: a summary per combination of routes over every row, and the first
/// `BSN_ROWS` rows (problems first, then by notification), kept while reading so that a day of
/// millions of notifications is never held as rows.
pub(super) fn load_bsn(out: &Path, run: &RunInfo, data: &mut ReportData) -> Result<()> {
    // Per combination of routes (a bit per route): notifications, invalid, mismatch, unavailable.
    let mut by_routes: BTreeMap<u8, [u64; 4]> = BTreeMap::new();
    let mut shown = FirstRows::default();
    let mut total = 0;
    for p in read_table_columns(out, "bsn_audit", Some(&run.date), Some(&BSN_COLUMNS))? {
        let df = &p.df;
        let n = df.height();
        let (ids, notif, sender) = (
            TextCol::new(df, "run_id"),
            TextCol::new(df, "notification"),
            TextCol::new(df, "sender"),
        );
        let (ids, notif, sender) = (ids.rows(n), notif.rows(n), sender.rows(n));
        let (cur, canc) = (bools(df, "current"), bools(df, "cancelled"));
        let pseudonyms: Vec<TextCol> = BSN_ROUTES.iter().map(|r| TextCol::new(df, r.2)).collect();
        let cols: Vec<_> = BSN_ROUTES
            .iter()
            .zip(&pseudonyms)
            .map(|((name, r, _, v), ps)| (*name, bools(df, r), ps.rows(n), bools(df, v)))
            .collect();
        let (mism, unav) = (bools(df, "mismatch"), bools(df, "unavailable"));
        for k in 0..n {
            if ids[k] != Some(run.run_id.as_str()) {
                continue;
            }
            total += 1;
            let carried = cols
                .iter()
                .enumerate()
                .filter(|(_, c)| c.1[k].unwrap_or(false))
                .fold(0u8, |m, (i, _)| m | 1 << i);
            let invalid = cols.iter().any(|c| c.3[k] == Some(false));
            let (mismatch, unavailable) = (mism[k].unwrap_or(false), unav[k].unwrap_or(false));
            if cols.iter().any(|c| c.2[k].is_some()) {
                data.pseudonym_key = true;
            }
            let s = by_routes.entry(carried).or_default();
            for (i, add) in [true, invalid, mismatch, unavailable]
                .into_iter()
                .enumerate()
            {
                s[i] += u64::from(add);
            }
            let notification = notif[k].unwrap_or_default();
            if shown.wants(mismatch || unavailable || invalid, notification) {
                shown.push(BsnRow {
                    notification: notification.to_owned(),
                    sender: sender[k].map(str::to_owned),
                    current: cur[k].unwrap_or(false),
                    cancelled: canc[k].unwrap_or(false),
                    routes: cols
                        .iter()
                        .map(|c| {
                            let pseudonym = short(c.2[k].map(str::to_owned));
                            (c.0, c.1[k].unwrap_or(false), pseudonym, c.3[k])
                        })
                        .collect(),
                    mismatch,
                    unavailable,
                });
            }
        }
    }
    let mut summary: Vec<RouteSummary> = by_routes
        .into_iter()
        .map(
            |(carried, [notifications, invalid, mismatch, unavailable])| {
                let names: Vec<&str> = BSN_ROUTES
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| carried & (1 << i) != 0)
                    .map(|(_, r)| r.0)
                    .collect();
                RouteSummary {
                    routes: if names.is_empty() {
                        "none".to_owned()
                    } else {
                        names.join(" + ")
                    },
                    notifications,
                    invalid,
                    mismatch,
                    unavailable,
                }
            },
        )
        .collect();
    summary.sort_by(|a, b| {
        b.notifications
            .cmp(&a.notifications)
            .then(a.routes.cmp(&b.routes))
    });
    data.bsn_summary = summary;
    data.bsn_total = total;
    data.bsn_rows = shown.finish();
    Ok(())
}

/// The first `BSN_ROWS` rows by (without a problem, notification), in that order, kept while
/// reading: rows are collected up to twice that many, then cut back to the first `BSN_ROWS`, and
/// a row after the last of those is not taken any more.
#[derive(Default)]
struct FirstRows {
    rows: Vec<BsnRow>,
    /// The last row kept at the latest cut: (without a problem, notification).
    last: Option<(bool, String)>,
}

impl FirstRows {
    fn wants(&self, problem: bool, notification: &str) -> bool {
        self.last
            .as_ref()
            .is_none_or(|(p, n)| (!problem, notification) < (*p, n.as_str()))
    }

    fn push(&mut self, row: BsnRow) {
        self.rows.push(row);
        if self.rows.len() >= 2 * BSN_ROWS {
            self.cut();
        }
    }

    fn cut(&mut self) {
        // Stable: among equal keys the row read first stays first.
        self.rows.sort_by(|a, b| {
            (!a.has_problem(), &a.notification).cmp(&(!b.has_problem(), &b.notification))
        });
        self.rows.truncate(BSN_ROWS);
        if self.rows.len() == BSN_ROWS {
            self.last = self
                .rows
                .last()
                .map(|r| (!r.has_problem(), r.notification.clone()));
        }
    }

    fn finish(mut self) -> Vec<BsnRow> {
        self.cut();
        self.rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(notification: String, mismatch: bool) -> BsnRow {
        BsnRow {
            notification,
            mismatch,
            ..BsnRow::default()
        }
    }

    /// Keeping the first rows while reading gives what sorting every row and cutting gives,
    /// whatever the order of reading: problems first, then by notification, the first read of
    /// equal keys first.
    #[test]
    fn first_rows_while_reading_equal_sorting_everything() {
        for (n, step, problem_every) in [
            (0, 1, 3),
            (BSN_ROWS - 1, 7, 3),
            (BSN_ROWS, 7, 5),
            (2 * BSN_ROWS, 13, 4),
            (5 * BSN_ROWS + 3, 17, 9),
            (5 * BSN_ROWS + 3, 1, 1_000_000),
            (5 * BSN_ROWS + 3, 1, 1),
        ] {
            // A scrambled order, with repeated notifications (`% (n / 2 + 1)`).
            let rows: Vec<(String, bool, usize)> = (0..n)
                .map(|i| {
                    let k = (i * step + 11) % n.max(1);
                    (
                        format!("n{:05}", k % (n / 2 + 1)),
                        k % problem_every == 0,
                        i,
                    )
                })
                .collect();
            let mut first = FirstRows::default();
            for (notification, problem, _) in &rows {
                if first.wants(*problem, notification) {
                    first.push(row(notification.clone(), *problem));
                }
            }
            let got: Vec<(String, bool)> = first
                .finish()
                .into_iter()
                .map(|r| (r.notification, r.mismatch))
                .collect();
            let mut want = rows.clone();
            want.sort_by(|a, b| (!a.1, &a.0, a.2).cmp(&(!b.1, &b.0, b.2)));
            want.truncate(BSN_ROWS);
            let want: Vec<(String, bool)> = want.into_iter().map(|(n, p, _)| (n, p)).collect();
            assert_eq!(got, want, "{n} rows, step {step}");
        }
    }
}
