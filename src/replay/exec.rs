//! The scheduler: runs a plan's items under the global and per-host limits, one tokio task per
//! item (a bounded window of them), each going through: re-checks (cancelled, expired against the
//! real clock too, budget, breaker, attempts), permits, token, the request, classification, the
//! retry decision, and the durable write of its row, resources and replayed-log event. A
//! Workflow Task read releases (or refuses) the requests that wait for it, and adds its current
//! inputs. A checkpoint follows every `batch_size` finished items.

use super::attempts::{self, Row};
use super::backoff::Backoff;
use super::classify::Class;
use super::client::{self, Answer, Get};
use super::clock::Clock;
use super::events;
use super::hosts::Hosts;
use super::journal::{self, Entry, ItemState, Writer};
use super::plan::{self, Item, Notif, Plan, Route};
use super::retry::{FhirRetryLogic, Next, RetryAction, RetryLogic, RetryPolicy};
use super::token::Tokens;
use super::{ReplayConfig, ReplaySummary};
use crate::bsn::Pseudonymiser;
use crate::fhir::request::{normalise, redact_bsn};
use crate::fhir::task::RequestKind;
use crate::job::TokenSource;
use crate::model::RequestSource;
use anyhow::{Context, Result, anyhow};
use rand::{Rng, SeedableRng};
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
    fn decision(&self) -> &'static str {
        match self {
            Fate::Succeeded => "succeeded",
            Fate::Failed(_) => "failed",
            Fate::Parked(_) => "parked",
            Fate::Refused(_) => "refused",
            Fate::Deferred(_) => "deferred",
        }
    }

    fn reason(&self) -> Option<String> {
        match self {
            Fate::Succeeded => None,
            Fate::Failed(r) | Fate::Parked(r) | Fate::Refused(r) | Fate::Deferred(r) => {
                Some(r.clone())
            }
        }
    }
}

/// The end of an item's task.
struct Done {
    item: Item,
    fate: Fate,
    /// For a Workflow Task read: whether its inputs may be pulled (and why not), and its inputs.
    workflow: Option<WorkflowResult>,
}

struct WorkflowResult {
    /// None: active; Some(reason): its waiting requests are refused or deferred.
    blocked: Option<Fate>,
    inputs: Vec<(String, Option<String>, RequestKind)>,
}

/// Shared by every item task of a run.
struct Ctx {
    run_id: String,
    reconcile_run_id: String,
    as_of: i64,
    notifs: Vec<Notif>,
    limits: crate::job::ReplayLimits,
    client: reqwest::Client,
    tokens: Tokens,
    hosts: Hosts,
    clock: Clock,
    deadline: Instant,
    policy: RetryPolicy,
    logic: Box<dyn RetryLogic>,
    writer: Writer,
    prior: HashMap<String, ItemState>,
    stopped: Mutex<HashMap<String, String>>,
    notified: Mutex<HashSet<usize>>,
    acting_system: String,
    seed: u64,
    attempts: AtomicUsize,
}

fn secs(d: crate::job::Dur) -> Duration {
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
        tokio::task::spawn_blocking(move || -> Result<_> {
            let run = plan::latest_run(&out)?;
            plan::verify_inputs(&run)?;
            let outcome = plan::rebuild(&run, &out, &p)?;
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
    let plan = plan::items(run, &outcome, cfg, &pseudonymiser, embedded_base.as_deref());
    drop(outcome);
    let mut written = Vec::new();
    if !cfg.dry_run {
        let o = out.clone();
        written.extend(
            tokio::task::spawn_blocking(move || journal::recover(&o))
                .await
                .map_err(|e| anyhow!("recovery failed: {e}"))??,
        );
    }
    let prior = {
        let o = out.clone();
        tokio::task::spawn_blocking(move || journal::fold(&o))
            .await
            .map_err(|e| anyhow!("reading the journals failed: {e}"))??
    };
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
        notified: Mutex::new(HashSet::new()),
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

/// The parts of a row that describe the item.
fn base_row(ctx: &Ctx, it: &Item) -> Row {
    let n = &ctx.notifs[it.notif];
    Row {
        run_id: ctx.run_id.clone(),
        as_of: ctx.as_of,
        reconcile_run_id: ctx.reconcile_run_id.clone(),
        item: it.key.clone(),
        notification: n.id.clone(),
        request: redact_bsn(&it.request),
        kind: it.kind.as_str().to_owned(),
        source: it.source.as_str().to_owned(),
        finding: it.finding.to_owned(),
        guard: it.guard,
        sender: n.sender_org.clone(),
        acting_system: ctx.acting_system.clone(),
        on_behalf_of: n.receiver_org.clone(),
        patient: n.patient.clone(),
        recorded_at: ctx.clock.now(),
        target: match &n.route {
            Route::Send { origin, .. } => Some(origin.clone()),
            Route::Refuse(_) => None,
        },
        ..Row::default()
    }
}

/// Records an item that ends without a request in this step.
async fn unsent(ctx: &Ctx, it: &Item, fate: Fate) -> Result<()> {
    let mut row = base_row(ctx, it);
    row.class = Class::NotSent.as_str().to_owned();
    row.decision = fate.decision().to_owned();
    row.reason = fate.reason();
    row.outcome = "not-attempted".into();
    ctx.writer
        .write(
            Entry {
                row: Some(row),
                ..Entry::default()
            },
            false,
        )
        .await
        .map_err(|e| anyhow!(e))
}

async fn finish(ctx: &Ctx, it: Item, fate: Fate) -> Done {
    if let Err(e) = unsent(ctx, &it, fate.clone()).await {
        tracing::error!(error = %e, "cannot journal an item");
    }
    let workflow = (it.kind == RequestKind::WorkflowTask).then(|| WorkflowResult {
        blocked: Some(fate.clone()),
        inputs: Vec::new(),
    });
    Done {
        item: it,
        fate,
        workflow,
    }
}

fn stopped_reason(ctx: &Ctx, sender: &str) -> Option<String> {
    ctx.stopped
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(sender)
        .cloned()
}

fn traceparent<R: Rng>(rng: &mut R) -> String {
    let trace: u128 = rng.random::<u128>() | 1;
    let span: u64 = rng.random::<u64>() | 1;
    format!("00-{trace:032x}-{span:016x}-01")
}

/// One attempt's facts, for its row and event.
struct Attempted {
    answer: Answer,
    attempt: u32,
    started_at: i64,
    elapsed: Duration,
    traceparent: String,
}

/// The journal entry of an attempt: its row, its replayed-log event(s) and, on success, the
/// resources to land.
fn attempt_entry(
    ctx: &Ctx,
    it: &Item,
    a: &Attempted,
    decision: &str,
    reason: Option<String>,
    wait: Option<Duration>,
    workflow_task: Option<&crate::fhir::task::Task>,
) -> Entry {
    let n = &ctx.notifs[it.notif];
    let answer = &a.answer;
    let success = answer.class == Class::Success;
    let mut row = base_row(ctx, it);
    row.attempt = Some(a.attempt);
    row.started_at = Some(a.started_at);
    row.duration_ms = Some(a.elapsed.as_millis() as i64);
    row.status = answer.status;
    row.class = answer.class.as_str().to_owned();
    row.decision = decision.to_owned();
    row.reason = reason;
    row.retry_after_s = answer.retry_after.map(|d| d.as_secs() as i64);
    row.wait_ms = wait.map(|d| d.as_millis() as i64);
    row.bytes = Some(answer.bytes as i64);
    row.resources = Some(answer.resources.len() as i64);
    row.pages = Some(i64::from(answer.pages));
    row.traceparent = Some(a.traceparent.clone());
    row.recorded_at = ctx.clock.now();
    row.outcome = if success { "success" } else { "failure" }.into();
    row.outcome_code = Some(match answer.class {
        Class::Success => 0,
        Class::Transient | Class::InvalidBody => 4,
        _ => 8,
    });
    let mut entry = Entry {
        row: Some(row),
        ..Entry::default()
    };
    let first_for_notification = ctx
        .notified
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(it.notif);
    if first_for_notification && let Some(task) = &n.notify_task {
        entry.events.push(events::notify_event(a.started_at, task));
    }
    entry.events.push(events::pull_event(
        a.started_at,
        &it.kind,
        answer.status,
        &n.id,
        &it.request,
        answer.error.as_deref().filter(|_| !success),
        workflow_task.map(events::workflow_body),
    ));
    if success && !answer.resources.is_empty() {
        entry.landing = Some((
            format!("{}.ndjson", n.landing),
            super::landing::lines(&answer.resources),
        ));
    }
    entry
}

/// One item: re-checks, attempts, retries.
async fn run_item(ctx: Arc<Ctx>, it: Item) -> Done {
    let n = &ctx.notifs[it.notif];
    let prior = ctx.prior.get(&it.key).cloned().unwrap_or_default();
    if let Some(r) = &prior.parked {
        return finish(&ctx, it, Fate::Parked(format!("parked earlier: {r}"))).await;
    }
    let (base, origin, token_source, sender) = match &n.route {
        Route::Refuse(r) => return finish(&ctx, it, Fate::Refused(r.clone())).await,
        Route::Send {
            base,
            origin,
            token,
            sender,
        } => (base.clone(), origin.clone(), token.clone(), sender.clone()),
    };
    // The item's request is its key (BSN values redacted); what is sent is the Task's own text.
    let send = it
        .raw
        .as_deref()
        .map(|r| normalise(r, n.log_base.as_deref()))
        .unwrap_or_else(|| it.request.clone());
    let url = match client::target_url(&base, &send, it.raw.as_deref()) {
        Ok(u) => u,
        Err(r) => return finish(&ctx, it, Fate::Refused(r)).await,
    };
    // A static token is the sender's, whatever the notification's authorization-base.
    let ab = match token_source {
        TokenSource::ClientCredentials { .. } => n.authorization_base.as_ref(),
        _ => None,
    };
    let host = ctx.hosts.get(&origin);
    let mut total = prior.attempts;
    let mut in_run = 0u32;
    let mut renewed = false;
    let mut rng = rand::rngs::StdRng::seed_from_u64(
        ctx.seed ^ u64::from_str_radix(&it.key[..16.min(it.key.len())], 16).unwrap_or(0),
    );
    let cooldown = secs(ctx.limits.backoff_cap);
    let budget_left = |now: Instant| ctx.deadline.saturating_duration_since(now);
    let stopped = |in_run: u32| {
        stopped_reason(&ctx, &sender).map(|r| {
            if in_run == 0 {
                Fate::Deferred(r)
            } else {
                Fate::Failed(r)
            }
        })
    };
    loop {
        // Re-checks just before the retrieval.
        if let Some(f) = stopped(in_run) {
            return finish(&ctx, it, f).await;
        }
        let now = ctx.clock.now();
        if let Some(c) = n.cancelled_at {
            let r = format!("cancelled at {}", crate::time::format_ts(c));
            return finish(&ctx, it, Fate::Refused(r)).await;
        }
        if let Some(e) = n.expires.filter(|e| *e < now.max(ctx.as_of)) {
            let r = format!("expired at {}", crate::time::format_ts(e));
            return finish(&ctx, it, Fate::Refused(r)).await;
        }
        if total >= ctx.policy.max_attempts {
            let r = format!("attempts used up ({total} of {})", ctx.policy.max_attempts);
            return finish(&ctx, it, Fate::Parked(r)).await;
        }
        if budget_left(Instant::now()).is_zero() {
            return finish(
                &ctx,
                it,
                Fate::Deferred("the time budget is used up".into()),
            )
            .await;
        }
        if !host.allows(Instant::now()) {
            let r = format!("the circuit breaker of {origin} is open");
            return finish(&ctx, it, Fate::Deferred(r)).await;
        }
        let Ok(host_permit) = host.permits.clone().acquire_owned().await else {
            return finish(&ctx, it, Fate::Deferred("the run is closing".into())).await;
        };
        let Ok(global_permit) = ctx.hosts.global.clone().acquire_owned().await else {
            return finish(&ctx, it, Fate::Deferred("the run is closing".into())).await;
        };
        if budget_left(Instant::now()).is_zero() {
            return finish(
                &ctx,
                it,
                Fate::Deferred("the time budget is used up".into()),
            )
            .await;
        }
        if !host.allows(Instant::now()) {
            let r = format!("the circuit breaker of {origin} is open");
            return finish(&ctx, it, Fate::Deferred(r)).await;
        }
        if let Some(f) = stopped(in_run) {
            return finish(&ctx, it, f).await;
        }
        // The attempt; a refused first-generation token is renewed and the request tried once
        // more at once, still within this item's permits.
        let mut refused_generation = None;
        let a = loop {
            let token = match ctx
                .tokens
                .get(&sender, &token_source, ab, refused_generation)
                .await
            {
                Ok(t) => t,
                Err(e) => {
                    drop((host_permit, global_permit));
                    return finish(&ctx, it, Fate::Failed(format!("no token: {e}"))).await;
                }
            };
            total += 1;
            in_run += 1;
            ctx.attempts.fetch_add(1, Ordering::Relaxed);
            let traceparent = traceparent(&mut rng);
            let started_at = ctx.clock.now();
            let t0 = Instant::now();
            let answer = client::fetch(
                &ctx.client,
                &Get {
                    url: url.clone(),
                    kind: &it.kind,
                    request: &it.request,
                    token: token.as_ref().map(|t| &t.value),
                    traceparent: &traceparent,
                    timeout: secs(ctx.limits.timeout),
                    max_body: ctx.limits.max_body.0,
                    now: started_at,
                },
            )
            .await;
            let a = Attempted {
                answer,
                attempt: total,
                started_at,
                elapsed: t0.elapsed(),
                traceparent,
            };
            let generation = token.as_ref().map(|t| t.generation);
            if a.answer.class == Class::Auth
                && !renewed
                && generation == Some(1)
                && total < ctx.policy.max_attempts
            {
                renewed = true;
                refused_generation = generation;
                let why = format!("{}; the token is renewed", a.answer.describe());
                log_attempt(&it, &a.answer, total, "renew-token");
                let e = attempt_entry(&ctx, &it, &a, "renew-token", Some(why), None, None);
                if let Err(e) = ctx.writer.write(e, false).await {
                    drop((host_permit, global_permit));
                    return finish(&ctx, it, Fate::Deferred(e)).await;
                }
                continue;
            }
            break a;
        };
        drop((host_permit, global_permit));
        if host.record(
            a.answer.class.is_transient(),
            ctx.limits.breaker_threshold,
            cooldown,
            Instant::now(),
        ) {
            tracing::warn!(host = %origin, "circuit breaker opened");
        }
        // Decide before writing, so the row says what became of the item.
        let mut wait = None;
        let (decision, reason, fate): (&str, Option<String>, Option<Fate>) = match ctx
            .logic
            .action(&a.answer)
        {
            RetryAction::Successful => ("succeeded", None, Some(Fate::Succeeded)),
            RetryAction::RenewToken(why) => {
                let r = format!("{why}; the sender is stopped for this run");
                ctx.stopped
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(sender.clone())
                    .or_insert_with(|| {
                        format!("the sender {sender} refused its token; stopped for this run")
                    });
                ("failed", Some(r.clone()), Some(Fate::Failed(r)))
            }
            RetryAction::Refuse(why) => ("refused", Some(why.clone()), Some(Fate::Refused(why))),
            RetryAction::DontRetry(why) => ("parked", Some(why.clone()), Some(Fate::Parked(why))),
            RetryAction::Retry(why) => {
                let left = budget_left(Instant::now());
                match ctx
                    .policy
                    .next(a.answer.retry_after, total, in_run, left, &mut rng)
                {
                    Next::Wait(d) => {
                        wait = Some(d);
                        ("retry", Some(why), None)
                    }
                    Next::Defer(r) => {
                        let r = format!("{why}; {r}");
                        ("deferred", Some(r.clone()), Some(Fate::Deferred(r)))
                    }
                    Next::GiveUp(r) => {
                        let r = format!("{why}; {r}");
                        ("failed", Some(r.clone()), Some(Fate::Failed(r)))
                    }
                    Next::Park(r) => {
                        let r = format!("{why}; {r}");
                        ("parked", Some(r.clone()), Some(Fate::Parked(r)))
                    }
                }
            }
        };
        let success = a.answer.class == Class::Success;
        let workflow_task = if success && it.kind == RequestKind::WorkflowTask {
            a.answer
                .body
                .as_ref()
                .and_then(|b| crate::fhir::task::parse_task(&b.to_string()).ok())
        } else {
            None
        };
        log_attempt(&it, &a.answer, total, decision);
        let entry = attempt_entry(
            &ctx,
            &it,
            &a,
            decision,
            reason,
            wait,
            workflow_task.as_ref(),
        );
        if let Err(e) = ctx.writer.write(entry, success).await {
            return Done {
                workflow: (it.kind == RequestKind::WorkflowTask).then(|| WorkflowResult {
                    blocked: Some(Fate::Deferred(e.clone())),
                    inputs: Vec::new(),
                }),
                item: it,
                fate: Fate::Deferred(e),
            };
        }
        if let Some(fate) = fate {
            let workflow =
                (it.kind == RequestKind::WorkflowTask).then(|| match (&fate, &workflow_task) {
                    (Fate::Succeeded, Some(t)) if t.workflow_active() => WorkflowResult {
                        blocked: None,
                        inputs: inputs_of(t, n.log_base.as_deref()),
                    },
                    (Fate::Succeeded, Some(t)) => WorkflowResult {
                        blocked: Some(Fate::Refused(format!(
                            "the Workflow Task is no longer active (status {})",
                            t.status.as_deref().unwrap_or("unknown")
                        ))),
                        inputs: inputs_of(t, n.log_base.as_deref()),
                    },
                    _ => WorkflowResult {
                        blocked: Some(fate.clone()),
                        inputs: Vec::new(),
                    },
                });
            return Done {
                item: it,
                fate,
                workflow,
            };
        }
        if let Some(d) = wait
            && !d.is_zero()
        {
            tokio::time::sleep(d).await;
        }
    }
}

/// The requests of a Workflow Task: (normalised, as written, kind).
fn inputs_of(
    t: &crate::fhir::task::Task,
    base: Option<&str>,
) -> Vec<(String, Option<String>, RequestKind)> {
    t.requests
        .iter()
        .map(|r| {
            let key = crate::fhir::request::key(&r.raw, base);
            (key, Some(r.raw.clone()), r.kind.clone())
        })
        .collect()
}

fn log_attempt(it: &Item, a: &Answer, attempt: u32, decision: &str) {
    tracing::debug!(
        item = %it.key,
        kind = it.kind.as_str(),
        attempt,
        status = a.status,
        class = a.class.as_str(),
        decision,
        "attempt"
    );
}
