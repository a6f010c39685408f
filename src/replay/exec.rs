//! The scheduler: runs a plan's items under the global and per-host limits, one tokio task per
//! item (a bounded window of them; each item's life is `item::run_item`). A Workflow Task read
//! releases (or refuses) the requests that wait for it, and adds its current inputs. A checkpoint
//! follows every `batch_size` finished items. Also the dry run and the replay's text summary.

use super::attempts;
use super::backoff::Backoff;
use super::client;
use super::clock::Clock;
use super::hosts::Hosts;
use super::item::{run_item, unsent};
use super::journal::{self, ItemState, Writer};
use super::plan::{self, Item, Notif, Plan, Route};
use super::retry::{FhirRetryLogic, RetryLogic, RetryPolicy};
use super::token::Tokens;
use super::{ReplayConfig, ReplaySummary};
use crate::bsn::Pseudonymiser;
use crate::fhir::request::redact_bsn;
use crate::fhir::task::RequestKind;
use crate::model::RequestSource;
use anyhow::{Context, Result, anyhow};
use std::collections::{HashMap, HashSet, VecDeque};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// What became of an item in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    Succeeded,
    Failed(String),
    Parked(String),
    Refused(String),
    Deferred(String),
}

impl Fate {
    pub(super) fn decision(&self) -> &'static str {
        match self {
            Fate::Succeeded => "succeeded",
            Fate::Failed(_) => "failed",
            Fate::Parked(_) => "parked",
            Fate::Refused(_) => "refused",
            Fate::Deferred(_) => "deferred",
        }
    }

    pub(super) fn reason(&self) -> Option<String> {
        match self {
            Fate::Succeeded => None,
            Fate::Failed(r) | Fate::Parked(r) | Fate::Refused(r) | Fate::Deferred(r) => {
                Some(r.clone())
            }
        }
    }
}

/// The end of an item's task.
pub(super) struct Done {
    pub(super) item: Item,
    pub(super) fate: Fate,
    /// For a Workflow Task read: whether its inputs may be pulled (and why not), and its inputs.
    pub(super) workflow: Option<WorkflowResult>,
}

pub(super) struct WorkflowResult {
    /// None: active; Some(reason): its waiting requests are refused or deferred.
    pub(super) blocked: Option<Fate>,
    pub(super) inputs: Vec<(String, Option<String>, RequestKind)>,
}

/// Shared by every item task of a run.
pub(super) struct Ctx {
    pub(super) run_id: String,
    pub(super) reconcile_run_id: String,
    pub(super) as_of: i64,
    pub(super) notifs: Vec<Notif>,
    pub(super) limits: crate::job::ReplayLimits,
    pub(super) client: reqwest::Client,
    pub(super) tokens: Tokens,
    pub(super) hosts: Hosts,
    pub(super) clock: Clock,
    pub(super) deadline: Instant,
    pub(super) policy: RetryPolicy,
    pub(super) logic: Box<dyn RetryLogic>,
    pub(super) writer: Writer,
    pub(super) prior: HashMap<String, ItemState>,
    pub(super) stopped: Mutex<HashMap<String, String>>,
    pub(super) acting_system: String,
    pub(super) seed: u64,
    pub(super) attempts: AtomicUsize,
}

pub(super) fn secs(d: crate::job::Dur) -> Duration {
    Duration::from_secs(d.0.max(0) as u64)
}

/// The whole replay: lock, plan, recover, execute, write the table.
pub async fn replay(cfg: &ReplayConfig) -> Result<ReplaySummary> {
    let out = cfg.out.clone();
    let clock = Clock::start(cfg.clock_start);
    let run_id = cfg
        .run_id
        .clone()
        .unwrap_or_else(|| crate::reconcile::new_run_id(clock.now()));
    let _lock = if cfg.dry_run {
        None
    } else {
        Some(journal::lock(&out)?)
    };
    let pseudonymiser = cfg
        .pseudonymiser
        .clone()
        .unwrap_or_else(Pseudonymiser::none);
    let (run, outcome) = {
        let out = out.clone();
        let p = pseudonymiser.clone();
        let analysed = cfg.analysed.clone();
        tokio::task::spawn_blocking(move || -> Result<_> {
            let run = plan::latest_run(&out)?;
            let outcome = match analysed {
                // The caller read these inputs (hashing them as it read) moments ago: reading
                // them again would build the same model.
                Some(o) if o.run.run_id == run.run_id => o,
                _ => {
                    plan::verify_inputs(&run, &out)?;
                    std::sync::Arc::new(plan::rebuild(&run, &out, &p)?)
                }
            };
            Ok((run, outcome))
        })
        .await
        .map_err(|e| anyhow!("the plan failed: {e}"))??
    };
    let embedded = match (&cfg.embedded_sender, cfg.dry_run) {
        (Some(dir), false) => Some(super::embedded::start(dir).await?),
        _ => None,
    };
    let embedded_base = match (&cfg.embedded_sender, &embedded) {
        (_, Some(e)) => Some(e.base.clone()),
        (Some(_), None) => Some("http://127.0.0.1/fhir".to_owned()),
        _ => None,
    };
    let mut written = Vec::new();
    if !cfg.dry_run {
        let o = out.clone();
        written.extend(
            tokio::task::spawn_blocking(move || journal::recover(&o))
                .await
                .map_err(|e| anyhow!("recovery failed: {e}"))??,
        );
    }
    let (prior, taken_over) = {
        let o = out.clone();
        tokio::task::spawn_blocking(move || -> Result<_> {
            Ok((journal::fold(&o)?, journal::taken_over(&o)?))
        })
        .await
        .map_err(|e| anyhow!("reading the journals failed: {e}"))??
    };
    // The embedded sender serves a snapshot of the run's night (the sample job, demos): the replay
    // acts at that night's as-of, so what it may still pull does not depend on the day it runs.
    let clock = match (&cfg.embedded_sender, cfg.clock_start) {
        (Some(_), None) => Clock::start(Some(run.as_of)),
        _ => clock,
    };
    let plan = plan::items(
        run,
        &outcome,
        cfg,
        &pseudonymiser,
        embedded_base.as_deref(),
        &taken_over,
    );
    drop(outcome);
    if cfg.dry_run {
        return Ok(dry_run(&plan, &prior, &run_id, cfg));
    }
    let result = execute(cfg, plan, prior, run_id, clock, &pseudonymiser).await;
    if let Some(e) = embedded {
        e.stop().await;
    }
    let mut summary = result?;
    written.append(&mut summary.written);
    summary.written = written;
    Ok(summary)
}

fn route_text(n: &Notif) -> String {
    match &n.route {
        Route::Send { origin, .. } => format!("→ {origin}"),
        Route::Refuse(r) => format!("refused: {r}"),
    }
}

fn dry_run(
    plan: &Plan,
    prior: &HashMap<String, ItemState>,
    run_id: &str,
    cfg: &ReplayConfig,
) -> ReplaySummary {
    use std::fmt::Write;
    let mut s = ReplaySummary {
        run_id: run_id.to_owned(),
        reconcile_run_id: plan.run.run_id.clone(),
        ..ReplaySummary::default()
    };
    let mut text = format!(
        "pullrecon replay --dry-run: plan of run {} (as of {}); nothing is sent\n",
        plan.run.run_id,
        crate::time::format_ts(plan.run.as_of)
    );
    for it in &plan.items {
        let n = &plan.notifs[it.notif];
        let p = prior.get(&it.key).cloned().unwrap_or_default();
        let what = if p.succeeded && !it.guard {
            s.already_done += 1;
            "done ".to_owned()
        } else if let Some(r) = &p.parked {
            s.parked += 1;
            s.planned += 1;
            format!("parked ({r})")
        } else {
            s.planned += 1;
            match &n.route {
                Route::Refuse(_) => {
                    s.refused += 1;
                    "refuse".into()
                }
                Route::Send { .. } if it.parent.is_some() => "after the Workflow Task check".into(),
                Route::Send { .. } if it.guard => "check".into(),
                Route::Send { .. } => "send ".into(),
            }
        };
        let _ = writeln!(
            text,
            "  {what:<6} {:<17} {} [{}; {}; attempts so far {}] {}",
            it.kind.as_str(),
            redact_bsn(&it.request),
            n.id,
            it.finding,
            p.attempts,
            route_text(n)
        );
    }
    let _ = writeln!(
        text,
        "items: {} to do ({} refused, {} parked), {} already pulled by an earlier replay; limits: concurrency {}, per host {}, max attempts {}",
        s.planned,
        s.refused,
        s.parked,
        s.already_done,
        cfg.limits.concurrency,
        cfg.limits.per_host,
        cfg.limits.max_attempts
    );
    s.text = text;
    s
}

async fn execute(
    cfg: &ReplayConfig,
    plan: Plan,
    prior: HashMap<String, ItemState>,
    run_id: String,
    clock: Clock,
    _pseudonymiser: &Pseudonymiser,
) -> Result<ReplaySummary> {
    let out = cfg.out.clone();
    let limits = cfg.limits.clone();
    let date = plan.run.date.clone();
    let paths = journal::Paths {
        journal: journal::journal_dir(&out).join(format!("{run_id}.ndjson")),
        events: super::replayed_log_dir(&out).join(format!("replay-{run_id}.ndjson")),
        landing_dir: super::landing::dir(&out, &date),
    };
    let header = journal::Record::Run {
        run_id: run_id.clone(),
        reconcile_run_id: plan.run.run_id.clone(),
        date: date.clone(),
        as_of: plan.run.as_of,
    };
    let (writer, writer_task) = Writer::start(&paths, &header)?;
    let http = client::build(secs(limits.timeout), limits.per_host.max(1))?;
    let ctx = Arc::new(Ctx {
        run_id: run_id.clone(),
        reconcile_run_id: plan.run.run_id.clone(),
        as_of: plan.run.as_of,
        notifs: plan.notifs,
        tokens: Tokens::new(http.clone(), secs(limits.timeout)),
        client: http,
        hosts: Hosts::new(limits.concurrency, limits.per_host),
        deadline: clock.started() + secs(limits.budget),
        policy: RetryPolicy {
            backoff: Backoff::new(secs(limits.backoff_base), secs(limits.backoff_cap)),
            retry_after_cap: secs(limits.retry_after_cap),
            max_attempts: limits.max_attempts.max(1),
            attempts_per_run: limits.attempts_per_run.max(1),
        },
        logic: Box::new(FhirRetryLogic),
        clock,
        limits: limits.clone(),
        writer: writer.clone(),
        prior,
        stopped: Mutex::new(HashMap::new()),
        acting_system: cfg
            .acting_system
            .clone()
            .unwrap_or_else(|| concat!("pullrecon/", env!("CARGO_PKG_VERSION")).to_owned()),
        seed: cfg.seed.unwrap_or_else(rand::random),
        attempts: AtomicUsize::new(0),
    });

    let mut summary = ReplaySummary {
        run_id: run_id.clone(),
        reconcile_run_id: ctx.reconcile_run_id.clone(),
        ..ReplaySummary::default()
    };
    // Items already pulled by an earlier replay are skipped, except Workflow Task reads that
    // other items wait for: those become checks.
    let parents: HashSet<String> = plan.items.iter().filter_map(|i| i.parent.clone()).collect();
    let mut keys: HashSet<String> = HashSet::new();
    let mut queue: VecDeque<Item> = VecDeque::new();
    let mut waiting: HashMap<String, Vec<Item>> = HashMap::new();
    for mut it in plan.items {
        keys.insert(it.key.clone());
        if ctx.prior.get(&it.key).is_some_and(|p| p.succeeded) {
            if parents.contains(&it.key) {
                it.guard = true;
            } else {
                summary.already_done += 1;
                continue;
            }
        }
        match it.parent.clone() {
            Some(p) => waiting.entry(p).or_default().push(it),
            None => queue.push_back(it),
        }
    }
    summary.planned = queue.len() + waiting.values().map(Vec::len).sum::<usize>();

    let progress = progress_bar(cfg.progress, summary.planned as u64);
    let window = (limits.concurrency.max(1) * 4).max(limits.batch_size.max(1));
    let batch = limits.batch_size.max(1);
    let mut tasks = tokio::task::JoinSet::new();
    let mut done = 0usize;
    let started = Instant::now();
    tracing::info!(run_id = %run_id, items = summary.planned, "replay started");
    loop {
        while tasks.len() < window
            && let Some(it) = queue.pop_front()
        {
            tasks.spawn(run_item(ctx.clone(), it));
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        let d = joined.map_err(|e| anyhow!("a replay task failed: {e}"))?;
        count(&mut summary, &d.fate);
        done += 1;
        if let Some(p) = &progress {
            p.inc(1);
        }
        if let Some(wf) = d.workflow {
            let n = &ctx.notifs[d.item.notif];
            let held = waiting.remove(&d.item.key).unwrap_or_default();
            match wf.blocked {
                Some(fate) => {
                    // An inactive Workflow Task: its current inputs are refused too.
                    let mut held = held;
                    if let Fate::Refused(_) = fate {
                        for (request, raw, kind) in wf.inputs {
                            let key = plan::item_key(&n.id, &request);
                            if n.succeeded.contains(&request) || !keys.insert(key.clone()) {
                                continue;
                            }
                            summary.planned += 1;
                            held.push(Item {
                                key,
                                notif: d.item.notif,
                                request,
                                raw,
                                kind,
                                source: RequestSource::WorkflowTask,
                                finding: d.item.finding,
                                guard: false,
                                parent: None,
                            });
                        }
                    }
                    for it in held {
                        let f = match &fate {
                            Fate::Refused(r) => Fate::Refused(r.clone()),
                            other => Fate::Deferred(format!(
                                "the Workflow Task could not be checked ({})",
                                other.reason().unwrap_or_default()
                            )),
                        };
                        unsent(&ctx, &it, f.clone()).await?;
                        count(&mut summary, &f);
                        done += 1;
                    }
                }
                None => {
                    let current: HashSet<String> = wf
                        .inputs
                        .iter()
                        .map(|(r, _, _)| plan::item_key(&n.id, r))
                        .collect();
                    for it in held {
                        if current.contains(&it.key) {
                            queue.push_back(Item { parent: None, ..it });
                        } else {
                            let f = Fate::Refused("no longer an input of the Workflow Task".into());
                            unsent(&ctx, &it, f.clone()).await?;
                            count(&mut summary, &f);
                            done += 1;
                        }
                    }
                    for (request, raw, kind) in wf.inputs {
                        let key = plan::item_key(&n.id, &request);
                        if n.succeeded.contains(&request)
                            || ctx.prior.get(&key).is_some_and(|p| p.succeeded)
                            || !keys.insert(key.clone())
                        {
                            continue;
                        }
                        summary.planned += 1;
                        if let Some(p) = &progress {
                            p.inc_length(1);
                        }
                        queue.push_back(Item {
                            key,
                            notif: d.item.notif,
                            request,
                            raw,
                            kind,
                            source: RequestSource::WorkflowTask,
                            finding: d.item.finding,
                            guard: false,
                            parent: None,
                        });
                    }
                }
            }
        }
        if done / batch > (done - 1) / batch || (tasks.is_empty() && queue.is_empty()) {
            checkpoint(&ctx, &out, done, &summary).await?;
        }
    }
    // Requests whose Workflow Task read never ran.
    for (_, held) in waiting.drain() {
        for it in held {
            let f = Fate::Deferred("the Workflow Task was not read in this run".into());
            unsent(&ctx, &it, f.clone()).await?;
            count(&mut summary, &f);
        }
    }
    summary.send_seconds = started.elapsed().as_secs_f64();
    summary.attempts = ctx.attempts.load(Ordering::Relaxed);
    if let Some(p) = progress {
        p.finish_and_clear();
    }
    checkpoint(&ctx, &out, done, &summary).await?;
    drop(ctx);
    drop(writer);
    let rows = writer_task
        .await
        .map_err(|e| anyhow!("the journal writer failed: {e}"))?
        .map_err(|e| anyhow!(e))?;
    let (o, d, r, a) = (
        out.clone(),
        date.clone(),
        run_id.clone(),
        header_as_of(&header),
    );
    let part = tokio::task::spawn_blocking(move || attempts::write(&o, &d, &r, a, &rows))
        .await
        .map_err(|e| anyhow!("writing replay_attempts failed: {e}"))?
        .context("cannot write the replay_attempts table")?;
    summary.written = vec![part, paths.events.clone(), paths.landing_dir.clone()];
    summary.text = text(&summary);
    tracing::info!(
        run_id = %run_id,
        succeeded = summary.succeeded,
        failed = summary.failed,
        parked = summary.parked,
        refused = summary.refused,
        deferred = summary.deferred,
        "replay finished"
    );
    Ok(summary)
}

fn header_as_of(h: &journal::Record) -> i64 {
    match h {
        journal::Record::Run { as_of, .. } => *as_of,
        journal::Record::Row(r) => r.as_of,
        journal::Record::Intent { .. } => 0,
    }
}

fn progress_bar(wanted: bool, len: u64) -> Option<indicatif::ProgressBar> {
    if !wanted || !std::io::stderr().is_terminal() {
        return None;
    }
    let p = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "replay {bar:40} {pos}/{len} items, {elapsed} elapsed, eta {eta}",
    ) {
        p.set_style(style);
    }
    Some(p)
}

fn count(s: &mut ReplaySummary, f: &Fate) {
    match f {
        Fate::Succeeded => s.succeeded += 1,
        Fate::Failed(_) => s.failed += 1,
        Fate::Parked(_) => s.parked += 1,
        Fate::Refused(_) => s.refused += 1,
        Fate::Deferred(_) => s.deferred += 1,
    }
}

async fn checkpoint(
    ctx: &Ctx,
    out: &std::path::Path,
    done: usize,
    s: &ReplaySummary,
) -> Result<()> {
    ctx.writer.sync().await.map_err(|e| anyhow!(e))?;
    let v = serde_json::json!({
        "run_id": ctx.run_id,
        "reconcile_run_id": ctx.reconcile_run_id,
        "done": done,
        "planned": s.planned,
        "succeeded": s.succeeded,
        "failed": s.failed,
        "parked": s.parked,
        "refused": s.refused,
        "deferred": s.deferred,
        "at": crate::time::format_ts(ctx.clock.now()),
    });
    let o = out.to_path_buf();
    tokio::task::spawn_blocking(move || journal::checkpoint(&o, &v))
        .await
        .map_err(|e| anyhow!("checkpoint failed: {e}"))??;
    tracing::info!(done, planned = s.planned, "checkpoint");
    Ok(())
}

fn text(s: &ReplaySummary) -> String {
    format!(
        "pullrecon replay: run {} of reconcile run {}\nitems: {} planned, {} succeeded, {} failed, {} parked, {} refused, {} deferred ({} already pulled earlier); {} attempts in {:.1}s\n",
        s.run_id,
        s.reconcile_run_id,
        s.planned,
        s.succeeded,
        s.failed,
        s.parked,
        s.refused,
        s.deferred,
        s.already_done,
        s.attempts,
        s.send_seconds
    )
}
