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

// ---- randomness: SplitMix64, stable across platforms and versions ----

#[derive(Clone)]
struct Rng(u64);

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Rng {
    fn new(seed: u64, stream: u64) -> Self {
        Rng(mix(
            seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ mix(stream.wrapping_add(0x632b_e59b))
        ))
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }
    /// 0 ≤ r < n.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n.max(1))) >> 64) as u64
    }
    /// lo ≤ r < hi.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo).max(1) as u64) as i64
    }
    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
    fn uuid(&mut self) -> String {
        let (a, b) = (self.next(), self.next());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | ((b >> 48) & 0x3fff),
            b & 0xffff_ffff_ffff
        )
    }
    /// A BSN that passes the elfproef.
    fn bsn(&mut self) -> String {
        loop {
            let mut d = [0u8; 9];
            d[0] = 1 + self.below(9) as u8;
            for x in d.iter_mut().take(8).skip(1) {
                *x = self.below(10) as u8;
            }
            let s: u32 = d[..8]
                .iter()
                .zip((2..=9).rev())
                .map(|(x, w)| u32::from(*x) * w)
                .sum();
            let last = s % 11;
            if last < 10 {
                d[8] = last as u8;
                return d.iter().map(|x| char::from(b'0' + x)).collect();
            }
        }
    }
    /// An authorization-base: base64 of a uuid, or a JWT-like blob.
    fn auth_base(&mut self) -> String {
        use std::fmt::Write;
        let mut s = String::with_capacity(64);
        if self.chance(0.5) {
            let u = self.uuid();
            for chunk in u.as_bytes().chunks(3) {
                let n = chunk.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b))
                    << (8 * (3 - chunk.len()));
                for i in 0..=chunk.len() {
                    s.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
                }
            }
        } else {
            s.push_str("eyJhbGciOiJFUzI1NiJ9.");
            for _ in 0..6 {
                let _ = write!(s, "{:016x}", self.next());
            }
        }
        s
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

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

impl Ctx {
    fn sender(&mut self) -> &'static Org {
        self.rng.pick(&SENDERS)
    }

    fn receiver(&mut self) -> &'static Org {
        self.rng.pick(&RECEIVERS)
    }

    fn shape(&mut self) -> Shape {
        match self.rng.below(10) {
            0..=5 => Shape::Nuts14,
            6..=7 => Shape::Nuts12,
            _ => Shape::Sections,
        }
    }

    fn route(&mut self) -> BsnRoute {
        match self.rng.below(20) {
            0..=9 => BsnRoute::TaskFlag,
            10..=13 => BsnRoute::TaskAndAssertion,
            14..=16 => BsnRoute::AssertionValue,
            _ => BsnRoute::AssertionFlag,
        }
    }

    /// An expiry that has not passed at as-of for anything authored in the last few days.
    fn live_end(&mut self, authored: i64) -> End {
        match self.rng.below(3) {
            0 => End::At(authored + 14 * DAY),
            1 => End::At(authored + 365 * DAY),
            _ => End::Date(authored + 14 * DAY),
        }
    }

    /// Any of the expiries seen in practice (7 days, 14 days, 12 months).
    fn any_end(&mut self, authored: i64) -> End {
        match self.rng.below(4) {
            0 => End::At(authored + 7 * DAY),
            1 => End::At(authored + 14 * DAY),
            2 => End::Date(authored + 14 * DAY),
            _ => End::At(authored + 365 * DAY),
        }
    }

    fn read(&mut self, sender: &Org, release_12: bool) -> Req {
        let (ty, name) = *self.rng.pick(&bodies::READ_TYPES);
        let id = format!("{}-{name}-{}", sender.host, self.rng.range(10_000, 99_999));
        let task_text = format!("{ty}/{id}");
        let pulled_as = match self.rng.below(4) {
            0 => format!("{}/{task_text}", sender.base()),
            1 => format!("/{task_text}"),
            _ => task_text.clone(),
        };
        Req {
            task_text,
            pulled_as,
            read: true,
            section: None,
            release_12,
        }
    }

    fn search(&mut self, i: usize, release_12: bool) -> Req {
        let (task, pulled) = bodies::SEARCHES[i];
        Req {
            task_text: task.to_owned(),
            pulled_as: if self.rng.chance(0.5) { pulled } else { task }.to_owned(),
            read: false,
            section: None,
            release_12,
        }
    }

    fn section(&mut self, i: usize) -> Req {
        let s = &bodies::SECTIONS[i];
        Req {
            task_text: s.search.to_owned(),
            pulled_as: if self.rng.chance(0.5) {
                s.pulled_as
            } else {
                s.search
            }
            .to_owned(),
            read: false,
            section: Some(i),
            release_12: false,
        }
    }

    /// `k` distinct indices below `n`.
    fn distinct(&mut self, n: usize, k: usize) -> Vec<usize> {
        let mut all: Vec<usize> = (0..n).collect();
        for i in 0..k.min(n) {
            let j = i + self.rng.below((n - i) as u64) as usize;
            all.swap(i, j);
        }
        all.truncate(k.min(n));
        all
    }

    fn requests(&mut self, shape: Shape, sender: &Org, bsn: Option<&str>) -> Vec<Req> {
        match shape {
            Shape::Sections => {
                let k = self.rng.range(2, 5) as usize;
                self.distinct(bodies::SECTIONS.len(), k)
                    .into_iter()
                    .map(|i| self.section(i))
                    .collect()
            }
            Shape::Nuts14 | Shape::Nuts12 => {
                let r12 = shape == Shape::Nuts12;
                let searches = self.rng.range(1, 3) as usize;
                let reads = self.rng.range(0, 3) as usize;
                let mut out: Vec<Req> = self
                    .distinct(bodies::SEARCHES.len(), searches)
                    .into_iter()
                    .map(|i| self.search(i, r12))
                    .collect();
                for _ in 0..reads {
                    out.push(self.read(sender, r12));
                }
                // A patient search by BSN, as the TA's examples do (redacted in every output).
                if let Some(b) = bsn
                    && self.rng.chance(0.1)
                {
                    out.push(Req {
                        task_text: format!("Patient?identifier={}|{b}", bodies::BSN_SYSTEM),
                        pulled_as: format!(
                            "Patient?identifier=http%3A%2F%2Ffhir.nl%2Ffhir%2FNamingSystem%2Fbsn%7C{b}"
                        ),
                        read: false,
                        section: None,
                        release_12: r12,
                    });
                }
                out
            }
        }
    }

    /// A Notification Task from `sender`, authored at `authored`, with the BSN by `route`.
    fn note(
        &mut self,
        sender: &'static Org,
        authored: i64,
        end: End,
        route: BsnRoute,
        group: Option<String>,
    ) -> Note {
        let shape = self.shape();
        let bsn = self.rng.bsn();
        let in_task = matches!(route, BsnRoute::TaskFlag | BsnRoute::TaskAndAssertion);
        let requests = self.requests(shape, sender, in_task.then_some(bsn.as_str()));
        let (id_system, identifier_object) = if shape == Shape::Sections {
            (bodies::RFC4122, self.rng.chance(0.7))
        } else {
            (bodies::RFC3986, false)
        };
        let receiver = self.receiver();
        let task = NotificationTask {
            id_system,
            id_value: self.rng.uuid(),
            identifier_object,
            group_value: Some(group.unwrap_or_else(|| self.rng.uuid())),
            status: "requested",
            intent: "proposal",
            code_system: bodies::TASK_CODE,
            based_on: None,
            bsn: in_task.then(|| bsn.clone()),
            patient_ref: format!(
                "Patient/{}-p-{}",
                sender.host,
                self.rng.range(10_000, 99_999)
            ),
            authored,
            end,
            sender,
            receiver,
            auth_base: self.rng.auth_base(),
            get_workflow_task: false,
            requests,
        };
        let (assertion, assertion_bsn) = match route {
            BsnRoute::TaskFlag | BsnRoute::AssertionFlag => (Some(true), None),
            BsnRoute::TaskAndAssertion | BsnRoute::AssertionValue => (Some(true), Some(bsn)),
        };
        Note {
            task,
            assertion,
            assertion_bsn,
        }
    }

    /// A notification in a referral: `basedOn` a Workflow Task whose `for` carries the BSN.
    fn referral(&mut self, sender: &'static Org, authored: i64) -> (Note, WorkflowTask) {
        let mut note = self.note(sender, authored, End::At(0), BsnRoute::AssertionFlag, None);
        let bsn = self.rng.bsn();
        let wf_id = format!("bgz-verwijzing-{}", &self.rng.uuid()[..8]);
        let days = if self.rng.chance(0.5) { 7 } else { 14 };
        note.task.end = End::At(authored + days * DAY);
        note.task.id_system = bodies::RFC4122;
        note.task.based_on = Some(wf_id.clone());
        note.task.get_workflow_task = true;
        note.task.requests.clear();
        note.task.bsn = None;
        // The assertion: no BSN, or the same BSN with its value logged.
        match self.rng.below(3) {
            0 => (note.assertion, note.assertion_bsn) = (Some(false), None),
            1 => (note.assertion, note.assertion_bsn) = (Some(true), Some(bsn.clone())),
            _ => (note.assertion, note.assertion_bsn) = (None, None),
        }
        let k = self.rng.range(3, 7) as usize;
        let sections = self
            .distinct(bodies::SECTIONS.len(), k)
            .into_iter()
            .map(|i| self.section(i))
            .collect();
        // The same order of draws as the fields below have always had.
        let identifier = self.rng.uuid();
        let &status = self.rng.pick(&["requested", "accepted", "in-progress"]);
        let wf = WorkflowTask {
            id: wf_id,
            identifier,
            status,
            bsn: Some(bsn),
            patient_ref: note.task.patient_ref.clone(),
            authored: authored - self.rng.range(MIN, 30 * MIN),
            end: authored + 14 * DAY,
            sender,
            receiver: note.task.receiver,
            auth_base: self.rng.auth_base(),
            sections,
        };
        (note, wf)
    }

    fn duration(&mut self) -> u32 {
        self.rng.range(40, 900) as u32
    }
}

/// Emits the sender's notify attempts.
fn send(out: &mut Out, note: &Note, json: &str, attempts: &[(i64, Option<u16>)]) {
    for &(ts, st) in attempts {
        let line = bodies::sent_notify(
            ts,
            st,
            json,
            &note.task.sender.base(),
            note.assertion,
            note.assertion_bsn.as_deref(),
        );
        out.put(File::SentNp, ts, line);
    }
}

fn receive(out: &mut Out, json: &str, ts: i64) {
    out.put(
        File::RecvNp,
        ts,
        bodies::received_notify(ts, Some(201), json),
    );
}

/// Pulls `reqs` one after another from `ts` with status 200, except the index `skip` (left out)
/// and `fail` (answered with the given statuses, a few minutes apart). Returns the last pull time.
fn pull_all(
    cx: &mut Ctx,
    out: &mut Out,
    key: &str,
    reqs: &[Req],
    mut ts: i64,
    skip: Option<usize>,
    fail: Option<(usize, &[Option<u16>])>,
) -> i64 {
    for (i, r) in reqs.iter().enumerate() {
        if Some(i) == skip {
            continue;
        }
        ts += cx.rng.range(300_000, 1_500_000);
        match fail {
            Some((f, statuses)) if f == i => {
                let mut t = ts;
                for st in statuses {
                    let d = cx.duration();
                    out.put(
                        File::RecvPulls,
                        t,
                        bodies::pull(t, r.interaction(), *st, key, &r.pulled_as, d, None),
                    );
                    t += 5 * MIN;
                }
            }
            _ => {
                let d = cx.duration();
                out.put(
                    File::RecvPulls,
                    ts,
                    bodies::pull(ts, r.interaction(), Some(200), key, &r.pulled_as, d, None),
                );
            }
        }
    }
    ts
}

/// A Workflow Task fetch (200 with the body), then all its sections pulled.
fn pull_referral(cx: &mut Ctx, out: &mut Out, key: &str, wf: &WorkflowTask, mut ts: i64) -> i64 {
    ts += cx.rng.range(2 * SEC, 6 * SEC);
    if cx.rng.chance(0.1) {
        let d = cx.duration();
        out.put(
            File::RecvPulls,
            ts,
            bodies::pull(
                ts,
                "get-workflow-task",
                Some(503),
                key,
                &format!("Task/{}", wf.id),
                d,
                None,
            ),
        );
        ts += 2 * MIN;
    }
    let body = wf.json();
    let d = cx.duration();
    out.put(
        File::RecvPulls,
        ts,
        bodies::pull(
            ts,
            "get-workflow-task",
            Some(200),
            key,
            &format!("Task/{}", wf.id),
            d,
            Some(&body),
        ),
    );
    pull_all(cx, out, key, &wf.sections, ts, None, None)
}

/// A notification sent and delivered at `t`, everything pulled. Returns the last pull time.
fn healthy(cx: &mut Ctx, out: &mut Out, note: &Note, t: i64) -> i64 {
    let json = note.task.json();
    send(out, note, &json, &[(t, Some(201))]);
    let r = t + cx.rng.range(100_000, 900_000);
    receive(out, &json, r);
    let from = r + cx.rng.range(SEC, 6 * SEC);
    pull_all(
        cx,
        out,
        &note.task.key(),
        &note.task.requests,
        from,
        None,
        None,
    )
}

fn push_lines(
    cx: &mut Ctx,
    out: &mut Out,
    sender: &Org,
    t: i64,
    sent: Option<Option<u16>>,
    received: bool,
    processed: Option<i64>,
) {
    let id = cx.rng.uuid();
    let receiver = cx.receiver().key();
    let s = sender.key();
    if let Some(st) = sent {
        out.put(File::SentPush, t, bodies::push(t, st, &id, &s, &receiver));
    }
    if received {
        let r = t + cx.rng.range(100_000, 900_000);
        out.put(
            File::RecvPush,
            r,
            bodies::push(r, Some(201), &id, &s, &receiver),
        );
    }
    if let Some(p) = processed {
        let outcome = if cx.rng.chance(0.9) {
            "accepted"
        } else {
            "rejected"
        };
        out.put(
            File::RecvPush,
            p,
            bodies::push_processed(p, &id, outcome, &s, &receiver),
        );
    }
}

/// Writes the events of one scenario.
fn emit(kind: Kind, cx: &mut Ctx, out: &mut Out) {
    let as_of = cx.as_of;
    match kind {
        Kind::Anchor(_)
        | Kind::Simple
        | Kind::LateRetry
        | Kind::RetrySucceeded
        | Kind::ShipperDuplicate => {
            let sender = match kind {
                Kind::Anchor(k) => &SENDERS[k as usize],
                _ => cx.sender(),
            };
            let t = as_of - cx.rng.range(30 * MIN, 20 * DAY);
            let authored = t - cx.rng.range(0, 300 * SEC);
            let end = cx.any_end(authored);
            let route = cx.route();
            let note = cx.note(sender, authored, end, route, None);
            let json = note.task.json();
            send(
                out,
                &note,
                &json,
                &[(t, Some(*cx.rng.pick(&[200, 201, 201, 202])))],
            );
            let r = t + cx.rng.range(100_000, 900_000);
            let recv_line = bodies::received_notify(r, Some(201), &json);
            if kind == Kind::ShipperDuplicate {
                out.put(File::RecvReplayed, r, recv_line.clone());
                out.counts.duplicates += 1;
            }
            out.put(File::RecvNp, r, recv_line);
            let key = note.task.key();
            let fail: Option<(usize, &[Option<u16>])> =
                (kind == Kind::RetrySucceeded).then_some((0, &[Some(503), Some(200)]));
            pull_all(cx, out, &key, &note.task.requests, r + 3 * SEC, None, fail);
            if kind == Kind::LateRetry
                && let Some(first) = note.task.requests.first()
            {
                let late = as_of + cx.rng.range(MIN, 2 * HOUR);
                let d = cx.duration();
                out.put(
                    File::RecvPulls,
                    late,
                    bodies::pull(
                        late,
                        first.interaction(),
                        Some(200),
                        &key,
                        &first.pulled_as,
                        d,
                        None,
                    ),
                );
                out.counts.after_as_of += 1;
            }
        }
        Kind::Update(k) => {
            let sender = cx.sender();
            let group = cx.rng.uuid();
            let route = cx.route();
            let mut authored = as_of - cx.rng.range(10 * HOUR, 20 * DAY);
            let first = cx.note(
                sender,
                authored,
                End::At(authored + 14 * DAY),
                route,
                Some(group.clone()),
            );
            let bsn = first.task.bsn.clone();
            let assertion_bsn = first.assertion_bsn.clone();
            let mut notes = vec![first];
            for _ in 1..k {
                authored += cx.rng.range(10 * MIN, 3 * HOUR);
                let mut n = cx.note(
                    sender,
                    authored,
                    End::At(authored + 14 * DAY),
                    route,
                    Some(group.clone()),
                );
                n.task.bsn.clone_from(&bsn);
                n.assertion_bsn.clone_from(&assertion_bsn);
                n.task.receiver = notes[0].task.receiver;
                notes.push(n);
            }
            for (i, note) in notes.iter().enumerate() {
                let t = note.task.authored + cx.rng.range(SEC, 60 * SEC);
                let json = note.task.json();
                send(out, note, &json, &[(t, Some(201))]);
                let r = t + cx.rng.range(100_000, 900_000);
                receive(out, &json, r);
                let reqs = &note.task.requests;
                // Superseded ones were pulled only in part: no finding (only the current counts).
                let upto = if i + 1 == notes.len() { reqs.len() } else { 1 };
                pull_all(
                    cx,
                    out,
                    &note.task.key(),
                    &reqs[..upto],
                    r + 2 * SEC,
                    None,
                    None,
                );
            }
        }
        Kind::Workflow => {
            let sender = cx.sender();
            let t = as_of - cx.rng.range(30 * MIN, 20 * DAY);
            let authored = t - cx.rng.range(0, 120 * SEC);
            let (note, wf) = cx.referral(sender, authored);
            let json = note.task.json();
            send(out, &note, &json, &[(t, Some(201))]);
            let r = t + cx.rng.range(100_000, 900_000);
            receive(out, &json, r);
            pull_referral(cx, out, &note.task.key(), &wf, r);
        }
        Kind::CancelledClean | Kind::CancelInFlight => {
            let sender = cx.sender();
            let t = as_of - cx.rng.range(3 * HOUR, 10 * DAY);
            let route = cx.route();
            let end = cx.live_end(t);
            let mut note = cx.note(sender, t - 30 * SEC, end, route, None);
            if cx.rng.chance(0.5) {
                // Nothing says where the patient is: no matter once cancelled.
                note.task.bsn = None;
                (note.assertion, note.assertion_bsn) = (Some(false), None);
            }
            let json = note.task.json();
            send(out, &note, &json, &[(t, Some(201))]);
            let r = t + cx.rng.range(100_000, 900_000);
            receive(out, &json, r);
            let key = note.task.key();
            let n = note.task.requests.len();
            let skip = (n > 1).then(|| cx.rng.below(n as u64) as usize);
            let last = pull_all(cx, out, &key, &note.task.requests, r + 2 * SEC, skip, None);
            let body = bodies::cancel_body(note.task.id_system, &note.task.id_value);
            if kind == Kind::CancelledClean {
                let c = last + cx.rng.range(10 * MIN, 2 * HOUR);
                out.put(File::SentNp, c, bodies::cancel(c, Some(200), &body, true));
                let rc = c + cx.rng.range(100_000, 900_000);
                out.put(
                    File::RecvNp,
                    rc,
                    bodies::cancel(rc, Some(200), &body, false),
                );
            } else {
                let c = as_of - cx.rng.range(MIN, 10 * MIN);
                out.put(File::SentNp, c, bodies::cancel(c, Some(200), &body, true));
            }
        }
        Kind::InFlight | Kind::InFlightReceived => {
            let sender = cx.sender();
            let t = as_of - cx.rng.range(2 * MIN, 10 * MIN);
            let end = cx.live_end(t);
            let note = cx.note(sender, t - 20 * SEC, end, BsnRoute::TaskFlag, None);
            let json = note.task.json();
            send(out, &note, &json, &[(t, Some(201))]);
            if kind == Kind::InFlightReceived {
                receive(out, &json, t + cx.rng.range(100_000, 900_000));
            }
        }
        Kind::SenderTimeout => {
            let sender = cx.sender();
            let t = as_of - cx.rng.range(HOUR, 20 * DAY);
            let route = cx.route();
            let end = cx.any_end(t);
            let note = cx.note(sender, t - 10 * SEC, end, route, None);
            let json = note.task.json();
            send(out, &note, &json, &[(t, None)]);
            let r = t + cx.rng.range(20 * SEC, 29 * SEC);
            receive(out, &json, r);
            pull_all(
                cx,
                out,
                &note.task.key(),
                &note.task.requests,
                r + 3 * SEC,
                None,
                None,
            );
        }
        Kind::Uncovered => {
            let t = as_of - cx.rng.range(HOUR, 20 * DAY);
            let end = cx.any_end(t);
            let note = cx.note(
                &bodies::UNCOVERED,
                t - 10 * SEC,
                end,
                BsnRoute::TaskFlag,
                None,
            );
            let json = note.task.json();
            receive(out, &json, t);
            pull_all(
                cx,
                out,
                &note.task.key(),
                &note.task.requests,
                t + 3 * SEC,
                None,
                None,
            );
        }
        Kind::BeforeLookback => {
            let sender = cx.sender();
            let t = as_of - cx.rng.range(35 * DAY, 45 * DAY);
            let note = cx.note(
                sender,
                t - 10 * SEC,
                End::At(t + 7 * DAY),
                BsnRoute::TaskFlag,
                None,
            );
            let json = note.task.json();
            send(out, &note, &json, &[(t, Some(201))]);
            out.counts.before_lookback += 1;
        }
        Kind::PushHealthy => {
            let sender = cx.sender();
            let t = as_of - cx.rng.range(4 * HOUR, 20 * DAY);
            let p = t + cx.rng.range(MIN, 3 * HOUR);
            push_lines(cx, out, sender, t, Some(Some(201)), true, Some(p));
        }
        Kind::PushRecent => {
            let sender = cx.sender();
            let t = as_of - cx.rng.range(HOUR, 20 * HOUR);
            push_lines(cx, out, sender, t, Some(Some(202)), true, None);
        }
        Kind::PushUncovered => {
            let t = as_of - cx.rng.range(4 * HOUR, 20 * DAY);
            let p = t + cx.rng.range(MIN, 3 * HOUR);
            push_lines(cx, out, &bodies::LAB, t, None, true, Some(p));
        }
        Kind::Fault(c, v) => fault(DEFAULT_RATES[c as usize].0, v, cx, out),
    }
}

/// Writes one fault scenario: exactly one finding of `category`, nothing else.
fn fault(category: &str, v: u8, cx: &mut Ctx, out: &mut Out) {
    let as_of = cx.as_of;
    let sender = cx.sender();
    // Old enough to be judged, young enough not to have expired.
    let t = as_of - cx.rng.range(3 * HOUR, 3 * DAY);
    let authored = t - cx.rng.range(0, 120 * SEC);
    let end = cx.live_end(authored);
    match category {
        "notification-undelivered" | "notification-lost" => {
            let note = cx.note(sender, authored, end, BsnRoute::TaskFlag, None);
            let json = note.task.json();
            let attempts: Vec<(i64, Option<u16>)> = match (category, v) {
                ("notification-undelivered", 0) => vec![(t, Some(503))],
                ("notification-undelivered", 1) => vec![(t, Some(503)), (t + 15 * MIN, None)],
                ("notification-undelivered", _) => vec![(t, Some(500))],
                (_, 0) => vec![(t, Some(201))],
                _ => vec![(t, None), (t + 31 * SEC, Some(201))],
            };
            send(out, &note, &json, &attempts);
        }
        "update-missed" => {
            let group = cx.rng.uuid();
            let mut notes = Vec::new();
            let mut a = authored - 6 * HOUR;
            for _ in 0..(2 + v) {
                let mut n = cx.note(
                    sender,
                    a,
                    End::At(a + 14 * DAY),
                    BsnRoute::TaskFlag,
                    Some(group.clone()),
                );
                if let Some(first) = notes.first() {
                    let first: &Note = first;
                    n.task.bsn.clone_from(&first.task.bsn);
                    n.task.receiver = first.task.receiver;
                }
                notes.push(n);
                a += cx.rng.range(30 * MIN, 2 * HOUR);
            }
            // The second notification is the one the receiver never logged: the current one of
            // two (variant 0) or the middle one of three (variant 1, superseded).
            let missed = 1;
            for (i, note) in notes.iter().enumerate() {
                let ts = note.task.authored + cx.rng.range(SEC, 30 * SEC);
                let json = note.task.json();
                if i == missed {
                    let st = if v == 0 { Some(201) } else { Some(503) };
                    send(out, note, &json, &[(ts, st)]);
                } else {
                    send(out, note, &json, &[(ts, Some(201))]);
                    let r = ts + cx.rng.range(100_000, 900_000);
                    receive(out, &json, r);
                    pull_all(
                        cx,
                        out,
                        &note.task.key(),
                        &note.task.requests,
                        r + 2 * SEC,
                        None,
                        None,
                    );
                }
            }
        }
        "notification-unknown-to-sender" => {
            let note = cx.note(sender, authored, end, BsnRoute::TaskFlag, None);
            let json = note.task.json();
            receive(out, &json, t);
            pull_all(
                cx,
                out,
                &note.task.key(),
                &note.task.requests,
                t + 3 * SEC,
                None,
                None,
            );
        }
        "notification-duplicate" => {
            let route = cx.route();
            let note = cx.note(sender, authored, end, route, None);
            let json = note.task.json();
            let (r1, r2) = if v == 0 {
                send(out, &note, &json, &[(t, None), (t + 31 * SEC, Some(201))]);
                (t + 28 * SEC, t + 31 * SEC + 500_000)
            } else {
                send(out, &note, &json, &[(t, Some(201))]);
                (t + 400_000, t + 2 * SEC + 100_000)
            };
            receive(out, &json, r1);
            receive(out, &json, r2);
            pull_all(
                cx,
                out,
                &note.task.key(),
                &note.task.requests,
                r2 + 3 * SEC,
                None,
                None,
            );
        }
        "notification-malformed" | "task-code-system-nonstandard" => {
            let route = cx.route();
            let mut note = cx.note(sender, authored, end, route, None);
            match (category, v) {
                ("task-code-system-nonstandard", _) => {
                    note.task.code_system = bodies::TASK_CODE_TYPO
                }
                (_, 0) => note.task.intent = "order",
                (_, 1) => note.task.status = "draft",
                _ => note.task.group_value = None,
            }
            healthy(cx, out, &note, t);
        }
        "workflow-task-reference-missing" => {
            let mut note = cx.note(sender, authored, end, BsnRoute::TaskFlag, None);
            note.task.get_workflow_task = true;
            healthy(cx, out, &note, t);
        }
        "cancellation-undelivered" | "pulled-after-cancellation" => {
            let route = cx.route();
            let note = cx.note(sender, authored, end, route, None);
            let json = note.task.json();
            send(out, &note, &json, &[(t, Some(201))]);
            let r = t + cx.rng.range(100_000, 900_000);
            receive(out, &json, r);
            let key = note.task.key();
            let reqs = &note.task.requests;
            let late = cx.rng.below(reqs.len() as u64) as usize;
            let skip = (category == "pulled-after-cancellation").then_some(late);
            let last = pull_all(cx, out, &key, reqs, r + 2 * SEC, skip, None);
            let c = last + cx.rng.range(10 * MIN, 60 * MIN);
            let body = bodies::cancel_body(note.task.id_system, &note.task.id_value);
            if category == "cancellation-undelivered" {
                if v == 0 {
                    out.put(File::SentNp, c, bodies::cancel(c, Some(502), &body, true));
                } else {
                    out.put(File::SentNp, c, bodies::cancel(c, Some(200), &body, true));
                    let rc = c + cx.rng.range(100_000, 900_000);
                    out.put(
                        File::RecvNp,
                        rc,
                        bodies::cancel(rc, Some(409), &body, false),
                    );
                }
            } else {
                out.put(File::SentNp, c, bodies::cancel(c, Some(200), &body, true));
                let rc = c + cx.rng.range(100_000, 900_000);
                out.put(
                    File::RecvNp,
                    rc,
                    bodies::cancel(rc, Some(200), &body, false),
                );
                let p = rc + cx.rng.range(2 * MIN, 10 * MIN);
                let req = &reqs[late];
                let st = if v == 0 { Some(410) } else { Some(200) };
                let d = cx.duration();
                out.put(
                    File::RecvPulls,
                    p,
                    bodies::pull(p, req.interaction(), st, &key, &req.pulled_as, d, None),
                );
            }
        }
        "cancellation-unmatched" => {
            let id = cx.rng.uuid();
            let body = bodies::cancel_body(bodies::RFC3986, &id);
            if v != 2 {
                out.put(File::SentNp, t, bodies::cancel(t, Some(404), &body, true));
            }
            if v != 1 {
                let r = t + cx.rng.range(100_000, 900_000);
                out.put(File::RecvNp, r, bodies::cancel(r, Some(404), &body, false));
            }
        }
        "pull-failed" | "pull-missing" if v == cx_wf_variant(category) => {
            // A referral whose Workflow Task was never fetched (missing) or never fetched
            // successfully (failed): its inputs stay unknown; the BSN comes by another route.
            let (mut note, wf) = cx.referral(sender, authored);
            note.task.end = end;
            if category == "pull-failed" {
                note.task.bsn = wf.bsn.clone();
            } else {
                (note.assertion, note.assertion_bsn) = (Some(true), wf.bsn.clone());
            }
            let json = note.task.json();
            send(out, &note, &json, &[(t, Some(201))]);
            let r = t + cx.rng.range(100_000, 900_000);
            receive(out, &json, r);
            if category == "pull-failed" {
                let key = note.task.key();
                let req = format!("Task/{}", wf.id);
                for (i, st) in [Some(503), None].iter().enumerate() {
                    let p = r + 3 * SEC + i as i64 * 10 * MIN;
                    let d = cx.duration();
                    out.put(
                        File::RecvPulls,
                        p,
                        bodies::pull(p, "get-workflow-task", *st, &key, &req, d, None),
                    );
                }
            }
        }
        "pull-failed" | "pull-missing" | "pull-expired" => {
            let (t, authored, end) = if category == "pull-expired" {
                let t = as_of - cx.rng.range(10 * DAY, 20 * DAY);
                let a = t - 60 * SEC;
                let e = if cx.rng.chance(0.5) {
                    End::At(a + 7 * DAY)
                } else {
                    End::Date(a + 7 * DAY)
                };
                (t, a, e)
            } else {
                (t, authored, end)
            };
            let route = cx.route();
            let note = cx.note(sender, authored, end, route, None);
            let json = note.task.json();
            send(out, &note, &json, &[(t, Some(201))]);
            let r = t + cx.rng.range(100_000, 900_000);
            receive(out, &json, r);
            let reqs = &note.task.requests;
            let bad = cx.rng.below(reqs.len() as u64) as usize;
            let statuses: &[Option<u16>] = match (category, v) {
                ("pull-failed", 0) => &[Some(503), Some(503), Some(503)],
                ("pull-failed", 1) => &[None, None],
                ("pull-failed", _) => &[Some(404)],
                _ => &[Some(503)],
            };
            let (skip, fail) = match (category, v) {
                ("pull-failed", _) | ("pull-expired", 1) => (None, Some((bad, statuses))),
                _ => (Some(bad), None),
            };
            pull_all(cx, out, &note.task.key(), reqs, r + 2 * SEC, skip, fail);
        }
        "bsn-unavailable" | "bsn-invalid" | "bsn-mismatch" => {
            if category == "bsn-mismatch" && v == 1 {
                // The Notification Task and the Workflow Task name different patients.
                let (mut note, wf) = cx.referral(sender, authored);
                let mut other = cx.rng.bsn();
                while Some(&other) == wf.bsn.as_ref() {
                    other = cx.rng.bsn();
                }
                note.task.bsn = Some(other);
                (note.assertion, note.assertion_bsn) = (Some(false), None);
                let json = note.task.json();
                send(out, &note, &json, &[(t, Some(201))]);
                let r = t + cx.rng.range(100_000, 900_000);
                receive(out, &json, r);
                pull_referral(cx, out, &note.task.key(), &wf, r);
                return;
            }
            let mut note = cx.note(sender, authored, end, BsnRoute::TaskFlag, None);
            match (category, v) {
                ("bsn-unavailable", _) => {
                    note.task.bsn = None;
                    (note.assertion, note.assertion_bsn) = (Some(false), None);
                }
                ("bsn-invalid", 0) => {
                    // Nine digits that fail the elfproef: a valid BSN with its last digit changed.
                    let mut b = cx.rng.bsn().into_bytes();
                    b[8] = b'0' + (b[8] - b'0' + 1) % 10;
                    note.task.bsn = String::from_utf8(b).ok();
                }
                ("bsn-invalid", _) => {
                    // Logged as a number, its leading zero lost: eight digits.
                    note.task.bsn = None;
                    note.assertion_bsn = Some(format!("{}", cx.rng.range(10_000_000, 99_999_999)));
                }
                _ => {
                    let mut other = cx.rng.bsn();
                    while Some(&other) == note.task.bsn.as_ref() {
                        other = cx.rng.bsn();
                    }
                    note.assertion_bsn = Some(other);
                }
            }
            healthy(cx, out, &note, t);
        }
        "push-undelivered" => {
            let st = if v == 0 { Some(201) } else { None };
            push_lines(cx, out, sender, t, Some(st), false, None);
        }
        "push-unprocessed" => {
            let t = as_of - cx.rng.range(36 * HOUR, 5 * DAY);
            let processed = (v == 1).then(|| t + 24 * HOUR + cx.rng.range(HOUR, 10 * HOUR));
            push_lines(cx, out, sender, t, Some(Some(201)), true, processed);
        }
        "push-unknown-to-sender" => {
            let p = t + cx.rng.range(MIN, HOUR);
            push_lines(cx, out, sender, t, None, true, Some(p));
        }
        _ => {}
    }
}

/// The variant of `pull-failed` / `pull-missing` that concerns a Workflow Task reference.
fn cx_wf_variant(category: &str) -> u8 {
    if category == "pull-failed" { 3 } else { 1 }
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
