//! The plan: finds the latest run in the output folder (its `runs` row, latest by `finished_at`),
//! verifies that every input file it lists is still there with the same sha256, rebuilds the
//! model and findings with the run's own parameters through the library (so secrets such as the
//! authorization-base are read from the logs into memory only), and turns the replayable findings
//! into items: one (notification, request) each, with the sender route it may go to.
//!
//! Notification-level findings (`notification-undelivered`, `-lost`, `update-missed`) stand for
//! every expected request of the notification without success. Requests that came from a Workflow
//! Task wait for a fresh read of that Task (a guard), which also finds its current inputs.

use super::ReplayConfig;
use crate::bsn::Pseudonymiser;
use crate::fhir::request::{normalise, origin};
use crate::fhir::task::RequestKind;
use crate::ingest::digest_cache::{DigestCache, sha256_cached};
use crate::job::TokenSource;
use crate::model::{Notification, RequestSource};
use crate::reconcile::{Options, Outcome, analyse};
use crate::secret::Secret;
use anyhow::{Context, Result, anyhow, bail};
use polars::prelude::*;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};

/// The finding categories about a whole notification.
pub const NOTIFICATION_LEVEL: [&str; 3] = [
    "notification-undelivered",
    "notification-lost",
    "update-missed",
];

/// The run a replay plans from.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub run_id: String,
    pub as_of: i64,
    pub date: String,
    pub finished_at: i64,
    pub parameters: Value,
    pub inputs: Vec<InputRef>,
}

#[derive(Debug, Clone)]
pub struct InputRef {
    pub side: String,
    pub path: PathBuf,
    pub sha256: String,
    /// Written by an earlier replay (read without the as-of cut).
    pub replayed: bool,
}

/// Where a notification's requests may go.
#[derive(Debug, Clone)]
pub enum Route {
    Send {
        base: String,
        origin: String,
        token: TokenSource,
        /// The sending organisation (or `embedded`), for the token cache and sender stops.
        sender: String,
    },
    Refuse(String),
}

/// What the replay knows of one notification.
#[derive(Debug, Clone)]
pub struct Notif {
    pub id: String,
    pub sender_org: Option<String>,
    pub receiver_org: Option<String>,
    pub expires: Option<i64>,
    pub cancelled_at: Option<i64>,
    pub authorization_base: Option<Secret>,
    pub patient: Option<String>,
    pub based_on: Option<String>,
    pub workflow_status: Option<String>,
    /// Normalised requests that already succeeded (from the logs).
    pub succeeded: HashSet<String>,
    /// The log's `sender_base` (for normalising the Workflow Task's inputs).
    pub log_base: Option<String>,
    /// For a notification-level finding: the Task (without `for` and authorization-base) of the
    /// `notify` event the replay writes once it acts on the notification, as JSON text (a
    /// parsed JSON tree of a Task takes several times the memory, for each of tens of
    /// thousands of notifications).
    pub notify_task: Option<Box<serde_json::value::RawValue>>,
    /// The landing file's name (a hash).
    pub landing: String,
    pub route: Route,
}

/// One retrieval.
#[derive(Debug, Clone)]
pub struct Item {
    /// Hex hash of (notification, request): the item's identity over runs.
    pub key: String,
    pub notif: usize,
    /// Normalised, relative to the sender's base.
    pub request: String,
    /// As the Task wrote it (absolute URLs keep their origin), when known.
    pub raw: Option<String>,
    pub kind: RequestKind,
    pub source: RequestSource,
    /// The finding category that made it replayable.
    pub finding: &'static str,
    /// A fresh read of the Workflow Task made to check its status before its inputs are pulled.
    pub guard: bool,
    /// The key of the Workflow Task read this item waits for.
    pub parent: Option<String>,
}

#[derive(Debug)]
pub struct Plan {
    pub run: RunInfo,
    pub notifs: Vec<Notif>,
    pub items: Vec<Item>,
}

/// A short hex hash (128 bits of sha256).
pub fn hash_hex(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    hex::encode(&h.finalize()[..16])
}

pub fn item_key(notification: &str, request: &str) -> String {
    hash_hex(&["item", notification, request])
}

/// Every Parquet file of a table, over all date partitions (hidden temporary files excluded).
pub fn table_files(out: &Path, table: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(dates) = std::fs::read_dir(out.join(table)) else {
        return files;
    };
    for d in dates.flatten() {
        let Ok(parts) = std::fs::read_dir(d.path()) else {
            continue;
        };
        for p in parts.flatten() {
            let name = p.file_name().to_string_lossy().into_owned();
            if name.ends_with(".parquet") && !name.starts_with('.') {
                files.push(p.path());
            }
        }
    }
    files.sort();
    files
}

fn str_at(df: &DataFrame, col: &str, i: usize) -> Result<Option<String>> {
    Ok(df
        .column(col)?
        .cast(&DataType::String)?
        .str()?
        .get(i)
        .map(str::to_owned))
}

fn int_at(df: &DataFrame, col: &str, i: usize) -> Result<Option<i64>> {
    Ok(df.column(col)?.cast(&DataType::Int64)?.i64()?.get(i))
}

/// The latest run (by `finished_at`) in `out`.
pub fn latest_run(out: &Path) -> Result<RunInfo> {
    let files = table_files(out, "runs");
    if files.is_empty() {
        bail!(
            "{} holds no runs table: run `pullrecon reconcile --out {}` first",
            out.display(),
            out.display()
        );
    }
    let mut best: Option<RunInfo> = None;
    for f in files {
        let file =
            std::fs::File::open(&f).with_context(|| format!("cannot open {}", f.display()))?;
        let df = ParquetReader::new(file)
            .finish()
            .map_err(|e| anyhow!("cannot read the runs table {}: {e}", f.display()))?;
        for i in 0..df.height() {
            let run_id =
                str_at(&df, "run_id", i)?.ok_or_else(|| anyhow!("a run without run_id"))?;
            let finished_at = int_at(&df, "finished_at", i)?.unwrap_or(i64::MIN);
            if best.as_ref().is_some_and(|b| b.finished_at >= finished_at) {
                continue;
            }
            let parameters: Value =
                serde_json::from_str(&str_at(&df, "parameters", i)?.unwrap_or_else(|| "{}".into()))
                    .with_context(|| format!("run {run_id}: its parameters are not JSON"))?;
            let inputs: Vec<Value> =
                serde_json::from_str(&str_at(&df, "inputs", i)?.unwrap_or_else(|| "[]".into()))
                    .with_context(|| format!("run {run_id}: its inputs are not JSON"))?;
            let inputs = inputs
                .iter()
                .map(|v| {
                    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
                    Ok(InputRef {
                        side: s("side").ok_or_else(|| anyhow!("an input without side"))?,
                        path: PathBuf::from(
                            s("path").ok_or_else(|| anyhow!("an input without path"))?,
                        ),
                        sha256: s("sha256").ok_or_else(|| anyhow!("an input without sha256"))?,
                        replayed: v.get("replayed").and_then(Value::as_bool).unwrap_or(false),
                    })
                })
                .collect::<Result<Vec<_>>>()
                .with_context(|| format!("run {run_id}: its inputs cannot be read"))?;
            best = Some(RunInfo {
                as_of: int_at(&df, "as_of", i)?
                    .ok_or_else(|| anyhow!("run {run_id} has no as_of"))?,
                date: str_at(&df, "date", i)?.ok_or_else(|| anyhow!("run {run_id} has no date"))?,
                run_id,
                finished_at,
                parameters,
                inputs,
            });
        }
    }
    best.ok_or_else(|| anyhow!("the runs table in {} is empty", out.display()))
}

/// Every input of the run must be there, unchanged. A file whose stamp is unchanged since a run
/// remembered its digest in `out` (`ingest::digest_cache`) is not read again.
pub fn verify_inputs(run: &RunInfo, out: &Path) -> Result<()> {
    let mut cache = DigestCache::load(out, None);
    for i in &run.inputs {
        let sha = sha256_cached(&mut cache, &i.path).map_err(|e| {
            anyhow!(
                "run {}: the input {} cannot be read ({}); replay needs the run's inputs as they were",
                run.run_id,
                i.path.display(),
                e.kind()
            )
        })?;
        if sha != i.sha256 {
            bail!(
                "run {}: the input {} changed since the run (sha256 differs); reconcile again before replaying",
                run.run_id,
                i.path.display()
            );
        }
    }
    cache.keep();
    Ok(())
}

fn param_str<'a>(p: &'a Value, key: &str) -> Option<&'a str> {
    p.get(key).and_then(Value::as_str)
}

fn duration_param(p: &Value, key: &str, default: i64) -> Result<i64> {
    match param_str(p, key) {
        Some(s) => crate::time::parse_duration(s).map_err(|e| anyhow!("parameter {key}: {e}")),
        None => Ok(default),
    }
}

/// The run's senders (organisation → base) from its parameters.
pub fn run_senders(run: &RunInfo) -> BTreeMap<String, String> {
    run.parameters
        .get("senders")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// Rebuilds the run's model and findings from exactly its inputs, with its parameters, writing
/// nothing (`reconcile::analyse`). Replayed logs among its inputs are read as the run read them.
pub fn rebuild(run: &RunInfo, out: &Path, pseudonymiser: &Pseudonymiser) -> Result<Outcome> {
    let p = &run.parameters;
    let side = |s: &str, replayed: bool| {
        run.inputs
            .iter()
            .filter(|i| i.side == s && i.replayed == replayed)
            .map(|i| i.path.display().to_string())
            .collect::<Vec<_>>()
    };
    let received = side("received", false);
    let tz = param_str(p, "time_zone").unwrap_or("Europe/Amsterdam");
    let opts = Options {
        sent: side("sent", false),
        received,
        out: out.to_path_buf(),
        as_of: run.as_of,
        grace_seconds: duration_param(p, "grace", 15 * 60)?,
        lookback_seconds: duration_param(p, "lookback", 30 * 86_400)?,
        push_sla_seconds: duration_param(p, "push_sla", 24 * 3600)?,
        time_zone: tz
            .parse()
            .map_err(|_| anyhow!("run {}: unknown time zone {tz}", run.run_id))?,
        senders: run_senders(run),
        pseudonymiser: pseudonymiser.clone(),
        command: "pullrecon replay (plan)".into(),
        run_id: Some(run.run_id.clone()),
        replayed: side("received", true),
        window_from: param_str(p, "window_from").and_then(|t| crate::time::parse_rfc3339(t).ok()),
        shard: None,
    };
    analyse(&opts).with_context(|| format!("cannot rebuild run {} from its inputs", run.run_id))
}

/// The sender route of a notification.
fn route(
    n: &Notification,
    cfg: &ReplayConfig,
    run_senders: &BTreeMap<String, String>,
    embedded: Option<&str>,
) -> Route {
    if let Some(base) = embedded {
        return Route::Send {
            base: base.to_owned(),
            origin: origin(base).unwrap_or_default(),
            token: TokenSource::None,
            sender: "embedded".into(),
        };
    }
    let Some(org) = n.task.sender_org.as_deref() else {
        return Route::Refuse("the notification names no sending organisation".into());
    };
    let configured = cfg
        .senders
        .iter()
        .find(|s| s.organisation == org)
        .map(|s| (s.base.trim_end_matches('/').to_owned(), s.token.clone()))
        .or_else(|| {
            run_senders
                .get(org)
                .map(|b| (b.trim_end_matches('/').to_owned(), TokenSource::None))
        });
    let Some((base, token)) = configured else {
        return Route::Refuse(format!(
            "no base is configured for the sending organisation {org}"
        ));
    };
    let Some(base_origin) = origin(&base) else {
        return Route::Refuse(format!(
            "the configured base of {org} is not an http(s) URL"
        ));
    };
    if let Some(lb) = n.sender_base.as_deref()
        && origin(lb).as_deref() != Some(base_origin.as_str())
    {
        return Route::Refuse(format!(
            "the log's sender_base is on another origin than the base configured for {org}"
        ));
    }
    Route::Send {
        base,
        origin: base_origin,
        token,
        sender: org.to_owned(),
    }
}

fn raw_of(n: &Notification, request: &str, source: RequestSource) -> Option<String> {
    let base = n.sender_base.as_deref();
    let list = match source {
        RequestSource::NotificationTask => &n.task.requests,
        RequestSource::WorkflowTask => &n.workflow.as_ref()?.requests,
        RequestSource::WorkflowTaskRef => return None,
    };
    list.iter()
        .find(|r| crate::fhir::request::key(&r.raw, base) == request)
        .map(|r| r.raw.clone())
}

/// Builds the items from a rebuilt run. `taken_over` (from the journals): the notifications an
/// earlier replay delivered for a notification-level finding. Their `notify` event is written
/// already, and while they may be replayed their expected requests without a 2xx stay items
/// under that finding, even when no finding names them now (their receipt is the replay's,
/// after as-of, so `pull-missing` is not judged yet: a replay killed halfway is finished).
pub fn items(
    run: RunInfo,
    outcome: &Outcome,
    cfg: &ReplayConfig,
    pseudonymiser: &Pseudonymiser,
    embedded: Option<&str>,
    taken_over: &HashMap<String, String>,
) -> Plan {
    let senders = run_senders(&run);
    let model = &outcome.model;
    let mut notifs: Vec<Notif> = Vec::new();
    let mut notif_index: HashMap<String, usize> = HashMap::new();
    let mut items: Vec<Item> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    // (notification, finding category, request): the replayable findings, then the taken over.
    let mut causes: Vec<(&str, &'static str, Option<&str>)> = outcome
        .findings
        .iter()
        .filter(|f| f.replayable)
        .filter_map(|f| Some((f.notification.as_deref()?, f.category, f.request.as_deref())))
        .collect();
    let mut taken: Vec<(&String, &String)> = taken_over.iter().collect();
    taken.sort();
    for (id, category) in taken {
        let category = NOTIFICATION_LEVEL.iter().find(|c| *c == category);
        let n = model.get_once(id);
        if let (Some(category), Some(n)) = (category, &n)
            && n.replayable(run.as_of)
            && n.expected.iter().any(|e| !n.succeeded(&e.request))
        {
            causes.push((id.as_str(), category, None));
        }
    }
    for (id, category, request) in causes {
        let Some(n) = model.get_once(id) else {
            continue;
        };
        let n = &n;
        let succeeded = |r: &str| n.pulls.get(r).is_some_and(|p| p.succeeded_at.is_some());
        let ni = *notif_index.entry(id.to_owned()).or_insert_with(|| {
            notifs.push(Notif {
                id: id.to_owned(),
                sender_org: n.task.sender_org.clone(),
                receiver_org: n.task.receiver_org.clone(),
                expires: n.task.expires,
                cancelled_at: n.cancelled_at,
                authorization_base: n.task.authorization_base.clone(),
                patient: crate::tables::patient_pseudonym(n, pseudonymiser),
                based_on: n.task.based_on.clone(),
                workflow_status: n.workflow.as_ref().and_then(|w| w.status.clone()),
                succeeded: n
                    .pulls
                    .iter()
                    .filter(|(_, p)| p.succeeded_at.is_some())
                    .map(|(r, _)| r.clone())
                    .collect(),
                log_base: n.sender_base.clone(),
                notify_task: None,
                landing: hash_hex(&["landing", id]),
                route: route(n, cfg, &senders, embedded),
            });
            notifs.len() - 1
        });
        if NOTIFICATION_LEVEL.contains(&category)
            && notifs[ni].notify_task.is_none()
            && !taken_over.contains_key(id)
        {
            notifs[ni].notify_task =
                serde_json::value::to_raw_value(&super::events::notify_task(&n.task)).ok();
        }
        let wanted: Vec<&crate::model::ExpectedRequest> = match request {
            Some(r) => n.expected.iter().filter(|e| e.request == r).collect(),
            None => n
                .expected
                .iter()
                .filter(|e| !succeeded(&e.request))
                .collect(),
        };
        for e in wanted {
            let key = item_key(id, &e.request);
            if !seen.insert(key.clone()) {
                continue;
            }
            items.push(Item {
                key,
                notif: ni,
                request: e.request.clone(),
                raw: raw_of(n, &e.request, e.source),
                kind: e.kind.clone(),
                source: e.source,
                finding: category,
                guard: false,
                parent: None,
            });
        }
    }
    // Requests of a Workflow Task wait for a fresh read of that Task.
    let mut guards = Vec::new();
    for it in &mut items {
        if it.source != RequestSource::WorkflowTask {
            continue;
        }
        let n = &notifs[it.notif];
        let Some(wf) = n.based_on.as_deref() else {
            continue;
        };
        let request = normalise(&format!("Task/{wf}"), None);
        let key = item_key(&n.id, &request);
        it.parent = Some(key.clone());
        if seen.insert(key.clone()) {
            guards.push(Item {
                key,
                notif: it.notif,
                request,
                raw: None,
                kind: RequestKind::WorkflowTask,
                source: RequestSource::WorkflowTaskRef,
                finding: it.finding,
                guard: true,
                parent: None,
            });
        }
    }
    items.extend(guards);
    let items = interleave(items, &notifs);
    Plan { run, notifs, items }
}

/// Orders items in phases (Workflow Task reads, other requests, requests that wait for a
/// Workflow Task) and, within a phase, round-robin over their hosts, so that early batches hold
/// work for every host.
fn interleave(items: Vec<Item>, notifs: &[Notif]) -> Vec<Item> {
    let mut phases: Vec<Vec<Item>> = vec![Vec::new(), Vec::new(), Vec::new()];
    for it in items {
        let p = if it.kind == RequestKind::WorkflowTask {
            0
        } else if it.parent.is_none() {
            1
        } else {
            2
        };
        phases[p].push(it);
    }
    let mut out = Vec::new();
    for phase in phases {
        let mut queues: Vec<(String, VecDeque<Item>)> = Vec::new();
        for it in phase {
            let host = match &notifs[it.notif].route {
                Route::Send { origin, .. } => origin.clone(),
                Route::Refuse(_) => String::new(),
            };
            match queues.iter_mut().find(|(h, _)| *h == host) {
                Some((_, q)) => q.push_back(it),
                None => queues.push((host, VecDeque::from([it]))),
            }
        }
        loop {
            let mut any = false;
            for (_, q) in queues.iter_mut() {
                if let Some(it) = q.pop_front() {
                    out.push(it);
                    any = true;
                }
            }
            if !any {
                break;
            }
        }
    }
    out
}
