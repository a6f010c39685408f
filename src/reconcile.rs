//! One reconciliation run as a library function: ingest both logs, build the model, run every
//! rule, write the audit tables for the run's date, and hand back the findings and a summary.
//! `pullrecon reconcile`, and later `run` and `backfill`, call this; it touches no network.

use crate::bsn::Pseudonymiser;
use crate::checks::{self, Finding, Severity};
use crate::ingest::digest_cache::DigestCache;
use crate::ingest::intern::Interner;
use crate::ingest::{self, Ingested, InputFile, Reject, Window};
use crate::model::{Builder, Model, Params};
use crate::tables::{self, RunRecord, TableData};
use crate::time::{MICROS_PER_SEC, format_duration, format_ts, local_date};
use anyhow::{Context, Result};
use chrono_tz::Tz;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Everything a reconcile needs to know.
#[derive(Debug, Clone)]
pub struct Options {
    pub sent: Vec<String>,
    pub received: Vec<String>,
    pub out: PathBuf,
    /// UTC microseconds.
    pub as_of: i64,
    pub grace_seconds: i64,
    pub lookback_seconds: i64,
    pub push_sla_seconds: i64,
    pub time_zone: Tz,
    pub senders: BTreeMap<String, String>,
    pub pseudonymiser: Pseudonymiser,
    /// The command line or job that asked for this run, for the `runs` table.
    pub command: String,
    /// A run id given by the caller (`run` uses one id for all its steps); else a new one.
    pub run_id: Option<String>,
    /// The first instant read (UTC microseconds), when not `as_of − lookback` (a backfill day).
    pub window_from: Option<i64>,
    /// Logs written by pullrecon's replay (folders or globs; absent ones are skipped): read as
    /// received log, and not cut at as-of (see `ingest::input_files`).
    pub replayed: Vec<String>,
    /// `Some((i, n))`: only the groups whose hash falls in shard `i` of `n` (see `--shard`).
    pub shard: Option<(u32, u32)>,
}

/// What a reconcile produced.
#[derive(Debug)]
pub struct Outcome {
    pub run: RunRecord,
    pub findings: Vec<Finding>,
    pub ingested_files: usize,
    pub rejects_by_reason: BTreeMap<&'static str, u64>,
    pub written: Vec<PathBuf>,
    pub model: Model,
    /// The accounts of the input files, and the records set aside.
    pub files: Vec<InputFile>,
    /// The files' sha256, still being worked out (`write_tables` puts them in `files`).
    pub digests: Option<ingest::Digests>,
    /// The digests remembered in the output folder (`write_tables` saves this run's there).
    pub digest_cache: DigestCache,
    pub rejects: Vec<Reject>,
}

impl Outcome {
    /// 3 when any finding has severity `error`, else 0 (the contract's exit status).
    pub fn exit_code(&self) -> i32 {
        self.run.exit_code
    }

    pub fn count(&self, category: &str) -> usize {
        self.findings
            .iter()
            .filter(|f| f.category == category)
            .count()
    }

    /// What the findings add up to (`Tally`).
    pub fn tally(&self) -> Tally {
        let mut by_category: BTreeMap<(&'static str, Severity), (u64, u64)> = checks::categories()
            .into_iter()
            .map(|c| (c, (0, 0)))
            .collect();
        let (mut unresolved, mut oldest_unresolved) = (0, None::<i64>);
        for f in &self.findings {
            let e = by_category.entry((f.category, f.severity)).or_default();
            e.0 += 1;
            e.1 += u64::from(f.replayable);
            if matches!(f.severity, Severity::Error | Severity::Warning) {
                unresolved += 1;
                if let Some(t) = f.since {
                    oldest_unresolved = Some(oldest_unresolved.map_or(t, |o| o.min(t)));
                }
            }
        }
        Tally {
            run: self.run.clone(),
            ingested_files: self.ingested_files,
            rejects_by_reason: self.rejects_by_reason.clone(),
            written: self.written.clone(),
            by_category,
            unresolved,
            oldest_unresolved,
        }
    }
}

/// What a run's findings add up to: all that the text summary, the job's thresholds and the
/// metrics read. The nightly job keeps this of a run instead of its findings.
#[derive(Debug, Clone)]
pub struct Tally {
    pub run: RunRecord,
    pub ingested_files: usize,
    pub rejects_by_reason: BTreeMap<&'static str, u64>,
    pub written: Vec<PathBuf>,
    /// Findings and replayable findings per category and severity; every category is present.
    pub by_category: BTreeMap<(&'static str, Severity), (u64, u64)>,
    /// Findings of severity error or warning, and when the oldest of them began.
    pub unresolved: u64,
    pub oldest_unresolved: Option<i64>,
}

impl Tally {
    /// The findings of one category and how many of them are replayable (all severities).
    pub fn of(&self, category: &str) -> (u64, u64) {
        self.by_category
            .iter()
            .filter(|((c, _), _)| *c == category)
            .fold((0, 0), |(n, rp), (_, (a, b))| (n + a, rp + b))
    }

    /// Findings per category (all severities).
    pub fn counts(&self) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for ((cat, _), (n, _)) in &self.by_category {
            *m.entry((*cat).to_owned()).or_insert(0) += n;
        }
        m
    }
}

/// A new run id: UTC time of the start plus a short random part.
pub fn new_run_id(started: i64) -> String {
    let t = chrono::DateTime::from_timestamp_micros(started).unwrap_or_default();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let salt = xxhash_rust::xxh3::xxh3_64(format!("{nanos}-{}", std::process::id()).as_bytes());
    format!("{}-{:08x}", t.format("%Y%m%dT%H%M%SZ"), salt as u32)
}

pub fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// One reconciliation: ingest, model and checks, the inputs hashed alongside, then the audit
/// tables written for the run's date.
pub fn reconcile(opts: &Options) -> Result<Outcome> {
    let mut outcome = read_and_check(opts, true)?;
    write_tables(opts, &mut outcome)?;
    Ok(outcome)
}

/// Ingest, model and checks, writing nothing and hashing no input (`reconcile --dry-run`;
/// replay's plan rebuilds a run this way). The files' `sha256` stay empty.
pub fn analyse(opts: &Options) -> Result<Outcome> {
    read_and_check(opts, false)
}

/// Ingest, model and checks; with `hash_inputs` the inputs' sha256 (for the `input_files` and
/// `runs` tables) are worked out alongside, those the output folder remembers taken from there.
fn read_and_check(opts: &Options, hash_inputs: bool) -> Result<Outcome> {
    let started = now_micros();
    crate::process::large_blocks_from_the_kernel();
    let run_id = opts.run_id.clone().unwrap_or_else(|| new_run_id(started));
    let window = Window {
        from: opts
            .window_from
            .unwrap_or(opts.as_of - opts.lookback_seconds * MICROS_PER_SEC),
        to: opts.as_of,
    };
    let params = Params {
        as_of: opts.as_of,
        grace: opts.grace_seconds * MICROS_PER_SEC,
        push_sla: opts.push_sla_seconds * MICROS_PER_SEC,
        senders: opts.senders.clone(),
    };
    if let Some((i, n)) = opts.shard
        && (n == 0 || i >= n)
    {
        anyhow::bail!("shard {i}/{n} does not exist: I must be below N");
    }
    let clock = std::time::Instant::now();
    let lap = |what: &str| {
        tracing::debug!(
            phase = what,
            elapsed_ms = clock.elapsed().as_millis() as u64,
            rss_anon_mb = crate::process::rss_anon_mb(),
            cpu_ms = crate::process::cpu_ms(),
            "reconcile"
        );
    };
    lap("start");
    let interner = Interner::new();
    let expected_events = ingest::input_files(&opts.sent, &opts.received, &opts.replayed)
        .map(|files| {
            files
                .iter()
                .map(|(_, p, _, _)| std::fs::metadata(p).map_or(0, |m| m.len()))
                .sum::<u64>()
        })
        .unwrap_or(0)
        / 700;
    let mut builder = Builder::new(&interner, expected_events as usize);
    let mut digest_cache = hash_inputs.then(|| DigestCache::load(&opts.out, opts.shard));
    let ingested = ingest::ingest(
        &opts.sent,
        &opts.received,
        &opts.replayed,
        window,
        &interner,
        digest_cache.as_mut(),
        &mut |side, origin, at, event| builder.add(side, origin, at, event),
    )?;
    let Ingested {
        files,
        digests,
        rejects,
        duplicates,
        after_as_of,
        before_lookback,
        events: events_used,
    } = ingested;
    lap("read");
    tracing::debug!(
        interner_mb = interner.bytes() / 1_000_000,
        model = ?builder
            .footprint()
            .into_iter()
            .map(|(k, b)| format!("{k}={}MB", b / 1_000_000))
            .collect::<Vec<_>>(),
        "held after reading"
    );
    crate::process::release_free_memory();
    lap("trimmed");
    let model = builder.finish(
        interner,
        &params,
        opts.shard,
        files.iter().map(|f| (f.path.clone(), f.format)).collect(),
    );
    lap("model");
    crate::process::release_free_memory();
    let rejects: Vec<_> = match opts.shard {
        Some((i, n)) if n > 1 => rejects
            .into_iter()
            .filter(|r| {
                crate::model::shard_of(&format!("{}:{}:{}", r.side.as_str(), r.file, r.line), n)
                    == i
            })
            .collect(),
        _ => rejects,
    };
    let findings = checks::run(&model, &params);
    lap("checks");
    // The checks' scratch goes back before the tables are built.
    crate::process::release_free_memory();

    let sev = |s: Severity| findings.iter().filter(|f| f.severity == s).count() as u64;
    let errors = sev(Severity::Error);
    let date = local_date(opts.as_of, opts.time_zone)
        .format("%Y-%m-%d")
        .to_string();
    let run = RunRecord {
        run_id,
        as_of: opts.as_of,
        date,
        started_at: started,
        finished_at: started,
        command: opts.command.clone(),
        parameters_json: parameters_json(opts),
        time_zone: opts.time_zone.name().to_owned(),
        grace_seconds: opts.grace_seconds,
        lookback_seconds: opts.lookback_seconds,
        push_sla_seconds: opts.push_sla_seconds,
        window_from: window.from,
        events_read: files.iter().map(|f| f.rows).sum(),
        events_used,
        duplicates,
        rejects: rejects.len() as u64,
        after_as_of,
        before_lookback,
        notifications: model.notifications.len() as u64,
        errors,
        warnings: sev(Severity::Warning),
        infos: sev(Severity::Info),
        replayable: findings.iter().filter(|f| f.replayable).count() as u64,
        exit_code: if errors > 0 { 3 } else { 0 },
        pseudonym_key: opts.pseudonymiser.has_key(),
    };
    let mut rejects_by_reason = BTreeMap::new();
    for r in &rejects {
        *rejects_by_reason.entry(r.reason.code()).or_insert(0) += 1;
    }
    Ok(Outcome {
        run,
        findings,
        ingested_files: files.len(),
        rejects_by_reason,
        written: Vec::new(),
        model,
        files,
        digests,
        digest_cache: digest_cache.unwrap_or_default(),
        rejects,
    })
}

/// Writes the run's tables: all are staged first, `input_files` once the inputs' digests are done
/// (they are worked out while the other tables are written), then all are moved into place,
/// `runs` last, so a run is listed only once all its tables are in place. A run whose tables
/// cannot all be staged (a full disk, a folder that cannot be written) replaces none of them.
fn write_tables(opts: &Options, o: &mut Outcome) -> Result<()> {
    let p = &opts.pseudonymiser;
    let (run, model, findings, files) = (&o.run, &o.model, &o.findings, &o.files);
    let tables_out = vec![
        (
            "notifications",
            TableData::Batches(tables::notifications_table(run, model, p)),
        ),
        (
            "requests",
            TableData::Batches(tables::requests_table(run, model)),
        ),
        (
            "findings",
            TableData::Frame(tables::findings_table(run, findings, model, p)?),
        ),
        (
            "bsn_audit",
            TableData::Batches(tables::bsn_audit_table(run, model, p)),
        ),
        (
            "rejects",
            TableData::Frame(tables::rejects_table(run, &o.rejects, files)?),
        ),
    ];
    let cannot = || format!("cannot write the tables under {}", opts.out.display());
    let mut staged =
        tables::stage_all(&opts.out, run, opts.shard, tables_out).with_context(cannot)?;
    if let Some(digests) = o.digests.take() {
        for (f, sha) in o.files.iter_mut().zip(digests.finish(&mut o.digest_cache)?) {
            f.sha256 = sha;
        }
    }
    let one = |run: &RunRecord, name: &'static str, frame: polars::prelude::DataFrame| {
        tables::stage_all(
            &opts.out,
            run,
            opts.shard,
            vec![(name, TableData::Frame(frame))],
        )
        .with_context(cannot)
    };
    staged.extend(one(
        &o.run,
        "input_files",
        tables::input_files_table(&o.run, &o.files)?,
    )?);
    o.run.finished_at = now_micros();
    // `runs` goes last: a run is listed only once all its tables are in place.
    staged.extend(one(&o.run, "runs", tables::runs_table(&o.run, &o.files)?)?);
    o.written = tables::commit_all(staged, opts.shard).with_context(cannot)?;
    // The next run (and the replay's check of this one's inputs) reads unchanged files no more.
    o.digest_cache.keep();
    Ok(())
}

fn parameters_json(o: &Options) -> String {
    serde_json::json!({
        "sent": o.sent,
        "received": o.received,
        "replayed": o.replayed,
        "out": o.out.display().to_string(),
        "as_of": format_ts(o.as_of),
        "grace": format_duration(o.grace_seconds),
        "lookback": format_duration(o.lookback_seconds),
        "window_from": o.window_from.map(format_ts),
        "push_sla": format_duration(o.push_sla_seconds),
        "time_zone": o.time_zone.name(),
        "senders": o.senders,
        "pseudonym_key": o.pseudonymiser.has_key(),
        "shard": o.shard.map(|(i, n)| format!("{i}/{n}")),
    })
    .to_string()
}

/// The text summary printed on stdout: counts per category and the rejects.
pub fn summary(o: &Tally) -> String {
    use std::fmt::Write;
    let r = &o.run;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "pullrecon reconcile: run {} as of {} (date {}, {})",
        r.run_id,
        format_ts(r.as_of),
        r.date,
        r.time_zone
    );
    let _ = writeln!(
        s,
        "inputs: {} files, {} records read, {} events used, {} duplicates, {} after as-of, {} before lookback, {} rejects",
        o.ingested_files,
        r.events_read,
        r.events_used,
        r.duplicates,
        r.after_as_of,
        r.before_lookback,
        r.rejects
    );
    for (code, n) in &o.rejects_by_reason {
        let _ = writeln!(s, "  rejected {code}: {n}");
    }
    let _ = writeln!(
        s,
        "notifications: {}; findings: {} error, {} warning, {} info ({} replayable)",
        r.notifications, r.errors, r.warnings, r.infos, r.replayable
    );
    let _ = writeln!(
        s,
        "  {:<32} {:<8} {:>6} {:>10}",
        "category", "severity", "count", "replayable"
    );
    for (cat, sev) in checks::categories() {
        let (n, rp) = o.of(cat);
        let _ = writeln!(s, "  {:<32} {:<8} {:>6} {:>10}", cat, sev.as_str(), n, rp);
    }
    let out = o
        .written
        .first()
        .and_then(|p| p.ancestors().nth(3))
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    if o.written.is_empty() {
        // `reconcile --dry-run`: a run that writes always writes all its tables, or fails.
        let _ = writeln!(s, "tables: none written (a dry run)");
    } else {
        let _ = writeln!(
            s,
            "tables: {} written under {} (date={})",
            o.written.len(),
            out,
            r.date
        );
    }
    s
}
