//! `report`: the human report of one run in an output folder (the latest, or a named run id),
//! read back from the tables: findings per category and per sender, the trend over the runs in the
//! folder, the replay (the run's `job_runs` row and the `replay_attempts` table when present), the
//! oldest unresolved items and the BSN route table (pseudonyms only; a BSN is in no table). It
//! gives a text summary (stdout) and one self-contained HTML file (`html`, charts in `charts`);
//! the BSN route table is read in `bsn`.

mod bsn;
pub mod charts;
pub mod html;
pub mod read;

use crate::checks::categories;
use crate::nightly::job_runs::{self, JobRunRow};
use crate::time::format_ts;
use anyhow::{Context, Result, bail};
pub use bsn::{BSN_ROWS, BsnRow, RouteSummary};
use read::{bools, ints, read_table, strs};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How many oldest unresolved items the report lists.
pub const OLDEST_ITEMS: usize = 20;

/// The `runs` row of the reported run.
#[derive(Debug, Clone, Default)]
pub struct RunInfo {
    pub run_id: String,
    pub date: String,
    pub as_of: i64,
    pub finished_at: Option<i64>,
    pub time_zone: String,
    pub command: String,
    pub window_from: Option<i64>,
    pub events_used: i64,
    pub notifications: i64,
    pub errors: i64,
    pub warnings: i64,
    pub infos: i64,
    pub replayable: i64,
    pub rejects: i64,
    pub input_files: i64,
}

#[derive(Debug, Clone)]
pub struct CategoryCount {
    pub category: String,
    pub severity: String,
    pub count: u64,
    pub replayable: u64,
}

#[derive(Debug, Clone, Default)]
pub struct SenderCount {
    pub sender: String,
    pub error: u64,
    pub warning: u64,
    pub info: u64,
}

impl SenderCount {
    pub fn total(&self) -> u64 {
        self.error + self.warning + self.info
    }
}

#[derive(Debug, Clone)]
pub struct TrendPoint {
    pub date: String,
    pub run_id: String,
    pub errors: i64,
    pub warnings: i64,
    pub infos: i64,
}

/// An unresolved item: a finding of severity error or warning.
#[derive(Debug, Clone)]
pub struct Item {
    pub category: String,
    pub severity: String,
    /// The notification identifier or the pushed message id.
    pub subject: String,
    pub request: Option<String>,
    pub sender: Option<String>,
    pub since: Option<i64>,
    pub replayable: bool,
}

/// Everything the report shows.
#[derive(Debug, Clone, Default)]
pub struct ReportData {
    pub out: PathBuf,
    pub run: RunInfo,
    pub job_run: Option<JobRunRow>,
    pub categories: Vec<CategoryCount>,
    pub senders: Vec<SenderCount>,
    pub trend: Vec<TrendPoint>,
    /// `replay_attempts` rows of the run by outcome, when that table exists.
    pub replay_attempts: Option<Vec<(String, u64)>>,
    pub oldest: Vec<Item>,
    pub unresolved: usize,
    pub bsn_summary: Vec<RouteSummary>,
    pub bsn_rows: Vec<BsnRow>,
    pub bsn_total: usize,
    pub pseudonym_key: bool,
}

fn at<T: Clone + Default>(v: &[Option<T>], i: usize) -> T {
    v.get(i).cloned().flatten().unwrap_or_default()
}

/// The runs in a folder (`runs` rows, all dates), oldest as-of first.
pub fn runs_in(out: &Path) -> Result<Vec<RunInfo>> {
    let mut runs = Vec::new();
    for p in read_table(out, "runs", None)? {
        let df = &p.df;
        let (id, tz, cmd) = (
            strs(df, "run_id"),
            strs(df, "time_zone"),
            strs(df, "command"),
        );
        let i = |n| ints(df, n);
        let (as_of, fin, wf, used, notif, err, warn, info, repl, rej, files) = (
            i("as_of"),
            i("finished_at"),
            i("window_from"),
            i("events_used"),
            i("notifications"),
            i("findings_error"),
            i("findings_warning"),
            i("findings_info"),
            i("findings_replayable"),
            i("rejects"),
            i("input_files"),
        );
        for k in 0..df.height() {
            runs.push(RunInfo {
                run_id: at(&id, k),
                date: p.date.clone(),
                as_of: at(&as_of, k),
                finished_at: fin[k],
                time_zone: at(&tz, k),
                command: at(&cmd, k),
                window_from: wf[k],
                events_used: at(&used, k),
                notifications: at(&notif, k),
                errors: at(&err, k),
                warnings: at(&warn, k),
                infos: at(&info, k),
                replayable: at(&repl, k),
                rejects: at(&rej, k),
                input_files: at(&files, k),
            });
        }
    }
    runs.sort_by_key(|r| (r.as_of, r.finished_at));
    Ok(runs)
}

/// Reads what the report of one run shows: `run_id`, else the latest (greatest as-of).
pub fn load(out: &Path, run_id: Option<&str>) -> Result<ReportData> {
    let runs = runs_in(out)
        .with_context(|| format!("cannot read the runs table under {}", out.display()))?;
    let run = match run_id {
        Some(id) => runs.iter().find(|r| r.run_id == id).cloned(),
        None => runs.last().cloned(),
    };
    let Some(run) = run else {
        match run_id {
            Some(id) => bail!("{} holds no run {id}", out.display()),
            None => bail!(
                "{} holds no run (no runs/date=*/ table); run `pullrecon run` or `reconcile` first",
                out.display()
            ),
        }
    };
    let mut data = ReportData {
        out: out.to_path_buf(),
        run: run.clone(),
        ..Default::default()
    };
    data.trend = runs
        .iter()
        .map(|r| TrendPoint {
            date: r.date.clone(),
            run_id: r.run_id.clone(),
            errors: r.errors,
            warnings: r.warnings,
            infos: r.infos,
        })
        .collect();
    data.job_run = job_runs::read_all(out)
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.run_id == run.run_id)
        .max_by_key(|r| r.finished_at);
    load_findings(out, &run, &mut data)?;
    bsn::load_bsn(out, &run, &mut data)?;
    data.replay_attempts = load_replay_attempts(out, &run);
    Ok(data)
}

fn load_findings(out: &Path, run: &RunInfo, data: &mut ReportData) -> Result<()> {
    let mut per_cat: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut per_sender: BTreeMap<String, SenderCount> = BTreeMap::new();
    let mut items = Vec::new();
    for p in read_table(out, "findings", Some(&run.date))? {
        let df = &p.df;
        let (ids, cat, sev, notif, msg, req, sender) = (
            strs(df, "run_id"),
            strs(df, "category"),
            strs(df, "severity"),
            strs(df, "notification"),
            strs(df, "message"),
            strs(df, "request"),
            strs(df, "sender"),
        );
        let (repl, since) = (bools(df, "replayable"), ints(df, "since"));
        for k in 0..df.height() {
            if ids[k].as_deref() != Some(run.run_id.as_str()) {
                continue;
            }
            let category = at(&cat, k);
            let severity = at(&sev, k);
            let replayable = repl[k].unwrap_or(false);
            let e = per_cat.entry(category.clone()).or_default();
            e.0 += 1;
            e.1 += u64::from(replayable);
            let s_name = sender[k]
                .clone()
                .unwrap_or_else(|| "(no sender)".to_owned());
            let s = per_sender
                .entry(s_name.clone())
                .or_insert_with(|| SenderCount {
                    sender: s_name,
                    ..Default::default()
                });
            match severity.as_str() {
                "error" => s.error += 1,
                "warning" => s.warning += 1,
                _ => s.info += 1,
            }
            if severity == "error" || severity == "warning" {
                items.push(Item {
                    category,
                    severity,
                    subject: notif[k]
                        .clone()
                        .or_else(|| msg[k].clone())
                        .unwrap_or_default(),
                    request: req[k].clone(),
                    sender: sender[k].clone(),
                    since: since[k],
                    replayable,
                });
            }
        }
    }
    let mut cats: Vec<CategoryCount> = categories()
        .into_iter()
        .map(|(c, s)| {
            let (count, replayable) = per_cat.remove(c).unwrap_or((0, 0));
            CategoryCount {
                category: c.to_owned(),
                severity: s.as_str().to_owned(),
                count,
                replayable,
            }
        })
        .collect();
    // Categories a newer or older version wrote that this one does not know.
    for (c, (count, replayable)) in per_cat {
        cats.push(CategoryCount {
            category: c,
            severity: "unknown".into(),
            count,
            replayable,
        });
    }
    data.categories = cats;
    let mut senders: Vec<SenderCount> = per_sender.into_values().collect();
    senders.sort_by(|a, b| b.total().cmp(&a.total()).then(a.sender.cmp(&b.sender)));
    data.senders = senders;
    data.unresolved = items.len();
    items.sort_by(|a, b| {
        (a.since.is_none(), a.since, &a.category, &a.subject).cmp(&(
            b.since.is_none(),
            b.since,
            &b.category,
            &b.subject,
        ))
    });
    items.truncate(OLDEST_ITEMS);
    data.oldest = items;
    Ok(())
}

/// Counts of `replay_attempts` rows of the run by their outcome column (`outcome`, else `result`,
/// else `status`), when the table exists.
fn load_replay_attempts(out: &Path, run: &RunInfo) -> Option<Vec<(String, u64)>> {
    let parts = read_table(out, "replay_attempts", Some(&run.date)).ok()?;
    if parts.is_empty() {
        return None;
    }
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for p in &parts {
        let df = &p.df;
        let ids = strs(df, "run_id");
        let col = ["outcome", "result", "status"]
            .into_iter()
            .find(|c| read::has(df, c))
            .unwrap_or("outcome");
        let vals = strs(df, col);
        for k in 0..df.height() {
            if read::has(df, "run_id") && ids[k].as_deref() != Some(run.run_id.as_str()) {
                continue;
            }
            let v = vals[k].clone().unwrap_or_else(|| "(none)".into());
            *counts.entry(v).or_default() += 1;
        }
    }
    Some(counts.into_iter().collect())
}

/// The text summary of a report (stdout).
pub fn text_summary(d: &ReportData, html: Option<&Path>) -> String {
    use std::fmt::Write;
    let r = &d.run;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "pullrecon report: run {} as of {} (date {}, {})",
        r.run_id,
        format_ts(r.as_of),
        r.date,
        r.time_zone
    );
    let _ = writeln!(
        s,
        "findings: {} error, {} warning, {} info ({} replayable); {} notifications, {} rejects",
        r.errors, r.warnings, r.infos, r.replayable, r.notifications, r.rejects
    );
    for c in d.categories.iter().filter(|c| c.count > 0) {
        let _ = writeln!(s, "  {:<32} {:<8} {:>6}", c.category, c.severity, c.count);
    }
    if !d.senders.is_empty() {
        let _ = writeln!(s, "per sender (error/warning/info):");
        for x in d.senders.iter().take(10) {
            let _ = writeln!(s, "  {:<52} {}/{}/{}", x.sender, x.error, x.warning, x.info);
        }
    }
    match &d.job_run {
        Some(j) => {
            let rp = &j.replay;
            match rp.status.as_str() {
                "ok" => {
                    let _ = writeln!(
                        s,
                        "replay: {} planned, {} succeeded, {} failed, {} parked, {} refused, {} deferred ({} attempts)",
                        rp.planned,
                        rp.succeeded,
                        rp.failed,
                        rp.parked,
                        rp.refused,
                        rp.deferred,
                        rp.attempts
                    );
                }
                "error" => {
                    let _ = writeln!(
                        s,
                        "replay: FAILED: {}",
                        rp.error.as_deref().unwrap_or("(no reason recorded)")
                    );
                }
                other => {
                    let _ = writeln!(s, "replay: {other}");
                }
            }
        }
        None => {
            let _ = writeln!(s, "replay: not recorded (a plain `reconcile` run)");
        }
    }
    if d.trend.len() > 1 {
        let _ = writeln!(
            s,
            "trend: {} runs in the folder, from {} to {}",
            d.trend.len(),
            d.trend.first().map(|t| t.date.as_str()).unwrap_or(""),
            d.trend.last().map(|t| t.date.as_str()).unwrap_or("")
        );
    }
    if let Some(o) = d.oldest.first() {
        let _ = writeln!(
            s,
            "unresolved: {} items; the oldest since {} ({} {})",
            d.unresolved,
            o.since.map(format_ts).unwrap_or_else(|| "?".into()),
            o.category,
            o.subject
        );
    }
    let routes: Vec<String> = d
        .bsn_summary
        .iter()
        .map(|b| format!("{} {}", b.routes, b.notifications))
        .collect();
    if !routes.is_empty() {
        let _ = writeln!(s, "BSN routes: {}", routes.join(", "));
    }
    if let Some(p) = html {
        let _ = writeln!(s, "report: {}", p.display());
    }
    s
}

/// Loads the run and writes its HTML report to `path` atomically; returns the data.
pub fn write_report(out: &Path, run_id: Option<&str>, path: &Path) -> Result<ReportData> {
    let data = load(out, run_id)?;
    let page = html::render(&data)?;
    html::write_atomic(path, &page)?;
    Ok(data)
}
