//! `generate`: deterministic synthetic sent and received logs with known faults, for demos, tests
//! and benchmarks, and `expected.json`, the exact number of findings per category they give for
//! the stated as-of, grace, lookback and push SLA.
//!
//! The logs are a shuffled list of *scenarios*. A healthy scenario (a notification delivered and
//! fully pulled, a group with updates, a Workflow Task referral, a clean cancellation, a message in
//! flight, …) gives no finding; a fault scenario gives exactly one finding of its category and
//! nothing else. Each scenario has its own identifiers, group and messages, so faults never
//! interact and the expected counts are simply the numbers of fault scenarios. Scenario `i` draws
//! from its own random stream (seed, i), so the same seed gives the same files whatever the number
//! of threads. Files are written in parts (one task each, in parallel): part `p` writes the sent
//! files `…-p` and the received files `…-(p+1)`, so a notification's pulls sit in another file than
//! its sending.

pub mod bodies;
mod catalogue;
mod ctx;
mod event_lines;
mod faults;
mod lines;
mod rng;
mod stories;

use faults::*;
use lines::*;
use rng::*;
use stories::*;

use anyhow::{Context, Result, bail};
use bodies::{End, NotificationTask, Org, RECEIVERS, Req, SENDERS, WorkflowTask};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

const SEC: i64 = 1_000_000;
const MIN: i64 = 60 * SEC;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;

/// The run the expected counts hold for.
pub const DEFAULT_AS_OF: &str = "2026-11-20T05:00:00Z";
pub const GRACE: &str = "15m";
pub const LOOKBACK: &str = "30d";
pub const PUSH_SLA: &str = "24h";

/// Every finding category with its default rate (fault scenarios per notification).
pub const DEFAULT_RATES: [(&str, f64); 20] = [
    ("notification-undelivered", 0.002),
    ("notification-lost", 0.002),
    ("update-missed", 0.002),
    ("notification-unknown-to-sender", 0.001),
    ("notification-duplicate", 0.003),
    ("notification-malformed", 0.001),
    ("task-code-system-nonstandard", 0.002),
    ("workflow-task-reference-missing", 0.001),
    ("cancellation-undelivered", 0.001),
    ("cancellation-unmatched", 0.0005),
    ("pulled-after-cancellation", 0.001),
    ("pull-failed", 0.01),
    ("pull-missing", 0.005),
    ("pull-expired", 0.003),
    ("bsn-unavailable", 0.002),
    ("bsn-invalid", 0.001),
    ("bsn-mismatch", 0.001),
    ("push-undelivered", 0.001),
    ("push-unprocessed", 0.002),
    ("push-unknown-to-sender", 0.0005),
];

/// Variants per fault category (different shapes of the same fault).
const VARIANTS: [u8; 20] = [3, 2, 2, 1, 2, 3, 1, 1, 2, 3, 2, 4, 2, 2, 1, 2, 2, 2, 2, 1];

/// What to generate.
#[derive(Debug, Clone)]
pub struct Config {
    pub notifications: u64,
    pub seed: u64,
    /// Fault scenarios per notification, by category (every category of `DEFAULT_RATES`).
    pub rates: BTreeMap<&'static str, f64>,
    /// UTC microseconds.
    pub as_of: i64,
    /// Files per kind of log; default from the size.
    pub parts: Option<u32>,
}

impl Config {
    pub fn new(notifications: u64, seed: u64) -> Self {
        Config {
            notifications,
            seed,
            rates: DEFAULT_RATES.iter().copied().collect(),
            as_of: crate::time::parse_rfc3339(DEFAULT_AS_OF).unwrap_or_default(),
            parts: None,
        }
    }

    /// Sets a rate from `category=fraction`.
    pub fn set_rate(&mut self, arg: &str) -> Result<()> {
        let (name, value) = arg
            .split_once('=')
            .with_context(|| format!("'{arg}': expected CATEGORY=RATE, e.g. pull-failed=0.01"))?;
        let Some(&(category, _)) = DEFAULT_RATES.iter().find(|(c, _)| *c == name.trim()) else {
            bail!(
                "'{name}' is not a finding category (one of: {})",
                DEFAULT_RATES.map(|(c, _)| c).join(", ")
            );
        };
        let rate: f64 = value
            .trim()
            .parse()
            .ok()
            .filter(|r: &f64| (0.0..=1.0).contains(r))
            .with_context(|| format!("'{value}': a rate is a number from 0 to 1"))?;
        self.rates.insert(category, rate);
        Ok(())
    }
}

/// What was written.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub notifications: u64,
    pub groups: u64,
    pub pushes: u64,
    pub findings: BTreeMap<&'static str, u64>,
    pub sent_lines: u64,
    pub received_lines: u64,
    pub duplicates: u64,
    pub after_as_of: u64,
    pub before_lookback: u64,
    pub rejects: u64,
    pub bytes: u64,
    pub files: Vec<PathBuf>,
}

// ---- the plan ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A healthy notification from a given covered sender (every sender appears in the sent log).
    Anchor(u8),
    Simple,
    Update(u8),
    Workflow,
    CancelledClean,
    CancelInFlight,
    InFlight,
    InFlightReceived,
    SenderTimeout,
    Uncovered,
    RetrySucceeded,
    ShipperDuplicate,
    LateRetry,
    /// A notification entirely before the lookback window (not counted, not judged).
    BeforeLookback,
    /// One finding of category `DEFAULT_RATES[c]`, in variant `v`.
    Fault(u8, u8),
    PushHealthy,
    PushRecent,
    PushUncovered,
}

impl Kind {
    /// Notifications (in the run's window) this scenario creates.
    fn notifications(self) -> u64 {
        match self {
            Kind::Update(k) => u64::from(k),
            Kind::BeforeLookback | Kind::PushHealthy | Kind::PushRecent | Kind::PushUncovered => 0,
            Kind::Fault(c, v) => match DEFAULT_RATES[c as usize].0 {
                "update-missed" => 2 + u64::from(v),
                "cancellation-unmatched"
                | "push-undelivered"
                | "push-unprocessed"
                | "push-unknown-to-sender" => 0,
                _ => 1,
            },
            _ => 1,
        }
    }

    fn groups(self) -> u64 {
        u64::from(self.notifications() > 0)
    }

    fn pushes(self) -> u64 {
        match self {
            Kind::PushHealthy | Kind::PushRecent | Kind::PushUncovered => 1,
            Kind::Fault(c, _) if DEFAULT_RATES[c as usize].0.starts_with("push-") => 1,
            _ => 0,
        }
    }
}

/// The shuffled list of scenarios, and the expected findings.
fn plan(cfg: &Config) -> Result<(Vec<Kind>, BTreeMap<&'static str, u64>)> {
    let n = cfg.notifications;
    let mut rng = Rng::new(cfg.seed, u64::MAX);
    let mut kinds = Vec::new();
    let mut expected = BTreeMap::new();
    for (c, (category, _)) in DEFAULT_RATES.iter().enumerate() {
        let rate = cfg.rates.get(category).copied().unwrap_or(0.0);
        let mut count = (rate * n as f64).round() as u64;
        if rate > 0.0 && count == 0 {
            count = 1;
        }
        for _ in 0..count {
            let v = rng.below(u64::from(VARIANTS[c])) as u8;
            kinds.push(Kind::Fault(c as u8, v));
        }
        expected.insert(*category, count);
    }
    for k in 0..SENDERS.len() {
        kinds.push(Kind::Anchor(k as u8));
    }
    let used: u64 = kinds.iter().map(|k| k.notifications()).sum();
    if used > n {
        bail!(
            "{n} notifications are too few for these rates ({used} go to faults and one per sender): \
             lower the rates or generate more"
        );
    }
    let mut left = n - used;
    const HEALTHY: [(Kind, u32); 13] = [
        (Kind::Simple, 420),
        (Kind::Update(2), 90),
        (Kind::Update(3), 30),
        (Kind::Workflow, 150),
        (Kind::CancelledClean, 40),
        (Kind::CancelInFlight, 5),
        (Kind::InFlight, 10),
        (Kind::InFlightReceived, 10),
        (Kind::SenderTimeout, 15),
        (Kind::Uncovered, 20),
        (Kind::RetrySucceeded, 40),
        (Kind::ShipperDuplicate, 15),
        (Kind::LateRetry, 10),
    ];
    let total: u32 = HEALTHY.iter().map(|(_, w)| w).sum();
    while left > 0 {
        let mut r = rng.below(u64::from(total)) as u32;
        let mut kind = Kind::Simple;
        for (k, w) in HEALTHY {
            if r < w {
                kind = k;
                break;
            }
            r -= w;
        }
        if kind.notifications() > left {
            kind = Kind::Simple;
        }
        left -= kind.notifications();
        kinds.push(kind);
    }
    for _ in 0..(n / 1000).max(1) {
        kinds.push(Kind::BeforeLookback);
    }
    for i in 0..(n / 10).max(3) {
        kinds.push(match i % 10 {
            0 => Kind::PushRecent,
            1 => Kind::PushUncovered,
            _ => Kind::PushHealthy,
        });
    }
    // Fisher-Yates.
    for i in (1..kinds.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        kinds.swap(i, j);
    }
    Ok((kinds, expected))
}

// ---- emitting events ----

/// The files of one part.
#[derive(Clone, Copy)]
enum File {
    SentNp,
    SentPush,
    RecvNp,
    RecvPulls,
    RecvPush,
    RecvReplayed,
}

#[derive(Default)]
struct Out {
    lines: [Vec<(i64, String)>; 6],
    counts: Summary,
}

impl Out {
    fn put(&mut self, f: File, ts: i64, line: String) {
        self.lines[f as usize].push((ts, line));
    }
}

/// One scenario's context: its random stream and the run's as-of.
struct Ctx {
    rng: Rng,
    as_of: i64,
}

#[derive(Clone, Copy, PartialEq)]
enum Shape {
    /// The Nuts demo Task, release 1.4 input codes.
    Nuts14,
    /// The same with release 1.2 codes.
    Nuts12,
    /// BgZ-section-coded searches, identifier as an object (rfc4122), as in the BgZ appendix.
    Sections,
}

/// How the patient's BSN reaches the receiver.
#[derive(Clone, Copy, PartialEq)]
enum BsnRoute {
    /// In the Notification Task's `for`, and the assertion said so without logging the value.
    TaskFlag,
    /// In the Task and logged with the assertion (same value).
    TaskAndAssertion,
    /// Only in the assertion, with its value.
    AssertionValue,
    /// Only in the assertion, the value not logged.
    AssertionFlag,
}

/// A notification and how the sender logged its assertion.
struct Note {
    task: NotificationTask,
    assertion: Option<bool>,
    assertion_bsn: Option<String>,
}

// ---- writing ----

const FILE_NAMES: [(&str, &str); 6] = [
    ("sent", "notified-pull"),
    ("sent", "push"),
    ("received", "notified-pull"),
    ("received", "pulls"),
    ("received", "push"),
    ("received", "replayed"),
];

/// A line the receiver's log got wrong (a timestamp without offset): one reject.
const BAD_LINE: &str = r#"{"ts":"2026-11-19T16:00:00","interaction":"read","status":200,"notification":"urn:ietf:rfc:3986|urn:uuid:00000000-0000-4000-8000-00000000bad1","request":"Patient/bad-1"}"#;

fn generate_part(
    cfg: &Config,
    kinds: &[Kind],
    part: u32,
    parts: u32,
    out_dir: &Path,
) -> Result<Summary> {
    let mut out = Out::default();
    for (i, kind) in kinds.iter().enumerate() {
        if i as u64 % u64::from(parts) != u64::from(part) {
            continue;
        }
        let mut cx = Ctx {
            rng: Rng::new(cfg.seed, i as u64),
            as_of: cfg.as_of,
        };
        emit(*kind, &mut cx, &mut out);
        out.counts.notifications += kind.notifications();
        out.counts.groups += kind.groups();
        out.counts.pushes += kind.pushes();
    }
    if part == 0 {
        out.put(File::RecvPulls, cfg.as_of - DAY, BAD_LINE.to_owned());
        out.counts.rejects += 1;
    }
    let mut counts = std::mem::take(&mut out.counts);
    for (f, lines) in out.lines.iter_mut().enumerate() {
        if lines.is_empty() {
            continue;
        }
        let (side, stem) = FILE_NAMES[f];
        let p = if side == "sent" {
            part
        } else {
            (part + 1) % parts
        };
        let path = out_dir.join(side).join(format!("{stem}-{p:03}.ndjson"));
        lines.sort_by_key(|(ts, _)| *ts);
        let file = std::fs::File::create(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
        for (_, line) in lines.iter() {
            w.write_all(line.as_bytes())?;
            w.write_all(b"\n")?;
            counts.bytes += line.len() as u64 + 1;
        }
        w.flush()?;
        if side == "sent" {
            counts.sent_lines += lines.len() as u64;
        } else {
            counts.received_lines += lines.len() as u64;
        }
        counts.files.push(path);
    }
    Ok(counts)
}

/// Writes the logs and `expected.json` under `out`; returns what was written.
pub fn generate(cfg: &Config, out: &Path) -> Result<Summary> {
    if cfg.notifications == 0 {
        bail!("--notifications must be at least 1");
    }
    let (kinds, findings) = plan(cfg)?;
    let parts = cfg
        .parts
        .unwrap_or_else(|| (cfg.notifications.div_ceil(25_000)).clamp(2, 64) as u32)
        .max(1);
    for side in ["sent", "received"] {
        let dir = out.join(side);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        // Files of an earlier, larger generation would be read too: remove them.
        for e in std::fs::read_dir(&dir)?.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".ndjson") && FILE_NAMES.iter().any(|(_, s)| name.starts_with(s)) {
                std::fs::remove_file(e.path())?;
            }
        }
    }
    let results: Vec<Summary> = (0..parts)
        .into_par_iter()
        .map(|p| generate_part(cfg, &kinds, p, parts, out))
        .collect::<Result<_>>()?;
    let mut total = Summary {
        findings,
        ..Summary::default()
    };
    for r in results {
        total.notifications += r.notifications;
        total.groups += r.groups;
        total.pushes += r.pushes;
        total.sent_lines += r.sent_lines;
        total.received_lines += r.received_lines;
        total.duplicates += r.duplicates;
        total.after_as_of += r.after_as_of;
        total.before_lookback += r.before_lookback;
        total.rejects += r.rejects;
        total.bytes += r.bytes;
        total.files.extend(r.files);
    }
    total.files.sort();
    write_expected(cfg, out, &total)?;
    Ok(total)
}

fn write_expected(cfg: &Config, out: &Path, s: &Summary) -> Result<()> {
    let as_of = crate::time::format_ts(cfg.as_of);
    let findings: BTreeMap<&str, u64> = s.findings.clone();
    let total: u64 = findings.values().sum();
    let json = serde_json::json!({
        "generator": format!("pullrecon generate {}", env!("CARGO_PKG_VERSION")),
        "seed": cfg.seed,
        "notifications": s.notifications,
        "groups": s.groups,
        "pushes": s.pushes,
        "as_of": as_of,
        "grace": GRACE,
        "lookback": LOOKBACK,
        "push_sla": PUSH_SLA,
        "reconcile": format!(
            "pullrecon reconcile --sent {0}/sent --received {0}/received --out OUT --as-of {as_of} --grace {GRACE} --lookback {LOOKBACK} --push-sla {PUSH_SLA}",
            out.display()
        ),
        "rates": cfg.rates,
        "findings": findings,
        "findings_total": total,
        "lines": {
            "sent": s.sent_lines,
            "received": s.received_lines,
            "duplicates": s.duplicates,
            "after_as_of": s.after_as_of,
            "before_lookback": s.before_lookback,
            "rejects": s.rejects,
        },
        "bytes": s.bytes,
        "files": s.files.iter().map(|f| f.strip_prefix(out).unwrap_or(f).display().to_string()).collect::<Vec<_>>(),
    });
    let path = out.join("expected.json");
    std::fs::write(&path, serde_json::to_string_pretty(&json)? + "\n")
        .with_context(|| format!("cannot write {}", path.display()))
}
