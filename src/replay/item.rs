//! One item's life in a replay run: the re-checks before each attempt, the token, the request,
//! its classification, the retry decision, and the durable record of every attempt (row, landed
//! resources, replayed-log event). The scheduler in `exec` runs many of these at once.

use super::attempts::Row;
use super::classify::Class;
use super::client::{self, Answer, Get};
use super::events;
use super::exec::{Ctx, Done, Fate, WorkflowResult, secs};
use super::journal::Entry;
use super::plan::{Item, Route};
use super::retry::{Next, RetryAction};
use crate::fhir::request::{normalise, redact_bsn};
use crate::fhir::task::RequestKind;
use crate::job::TokenSource;
use anyhow::{Result, anyhow};
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::Instant;

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
pub(super) async fn unsent(ctx: &Ctx, it: &Item, fate: Fate) -> Result<()> {
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
    if let Some(task) = &n.notify_task {
        entry.notify = Some((n.id.clone(), events::notify_event(a.started_at, task)));
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
pub(super) async fn run_item(ctx: Arc<Ctx>, it: Item) -> Done {
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
