//! Durability and resume. Each replay run appends its rows to a journal,
//! `DIR/_replay/journal/<run id>.ndjson`; a success counts only once its row, its landed resources
//! and its replayed-log event are written and fsynced (group commit: one writer task batches what
//! arrives while it syncs). After each batch a checkpoint (`DIR/_replay/checkpoint.json`) is
//! written. The journals are the memory over runs: attempts per item, parked items, successes.
//! A run that was killed leaves a journal without its `replay_attempts` file; the next replay
//! writes that file from the journal first. Before a batch's landed resources and replayed-log
//! events, the journal gets an `intent` line with the lengths of the files they go to: a killed
//! run whose journal ends with one (its rows never written) has those files cut back to these
//! lengths by recovery, so nothing is on disk that the journal does not record (the request is
//! pulled again, and lands and is logged once). A lock file keeps two replays off one folder.

use super::attempts::{self, Row};
use crate::tables::writer::create_private_dir;
use anyhow::{Context, Result, anyhow};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use tokio::sync::{mpsc, oneshot};

/// One journal line.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Record {
    /// The first line: which run, for which reconcile run and date.
    Run {
        run_id: String,
        reconcile_run_id: String,
        date: String,
        as_of: i64,
    },
    Row(Box<Row>),
    /// Before a batch's data: each file it appends to, with its length before.
    Intent {
        files: Vec<(PathBuf, u64)>,
    },
}

pub fn journal_dir(out: &Path) -> PathBuf {
    super::state_dir(out).join("journal")
}

/// What earlier runs did to an item.
#[derive(Debug, Clone, Default)]
pub struct ItemState {
    pub attempts: u32,
    pub parked: Option<String>,
    pub succeeded: bool,
}

/// The journal files, oldest first (run ids start with their UTC start time).
fn journals(out: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(journal_dir(out))
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "ndjson"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Reads a journal; a torn last line (a kill mid-write) is ignored.
pub fn read(path: &Path) -> Result<(Option<Record>, Vec<Row>)> {
    let f = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut header = None;
    let mut rows = Vec::new();
    for line in std::io::BufReader::new(f).lines() {
        let Ok(line) = line else { break };
        match serde_json::from_str::<Record>(&line) {
            Ok(Record::Row(r)) => rows.push(*r),
            Ok(h @ Record::Run { .. }) => header = Some(h),
            Ok(Record::Intent { .. }) | Err(_) => continue,
        }
    }
    Ok((header, rows))
}

/// Folds every journal into the state of each item.
pub fn fold(out: &Path) -> Result<HashMap<String, ItemState>> {
    let mut m: HashMap<String, ItemState> = HashMap::new();
    for j in journals(out) {
        for r in read(&j)?.1 {
            let s = m.entry(r.item.clone()).or_default();
            if let Some(a) = r.attempt {
                s.attempts = s.attempts.max(a);
            }
            if r.decision == "parked" && s.parked.is_none() {
                s.parked = Some(format!(
                    "{} (run {})",
                    r.reason.as_deref().unwrap_or("parked"),
                    r.run_id
                ));
            }
            if r.decision == "succeeded" {
                s.succeeded = true;
            }
        }
    }
    Ok(m)
}

/// The files of a batch whose rows never reached the journal (a kill while it was written): the
/// last `intent` line when no row follows it.
fn unfinished_batch(path: &Path) -> Result<Vec<(PathBuf, u64)>> {
    let f = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut pending = Vec::new();
    for line in std::io::BufReader::new(f).lines() {
        let Ok(line) = line else { break };
        match serde_json::from_str::<Record>(&line) {
            Ok(Record::Intent { files }) => pending = files,
            Ok(Record::Row(_)) => pending.clear(),
            _ => {}
        }
    }
    Ok(pending)
}

/// Cuts the files of an unfinished batch back to their lengths before it.
fn cut_back(files: &[(PathBuf, u64)]) -> Result<()> {
    for (path, len) in files {
        let Ok(f) = OpenOptions::new().write(true).open(path) else {
            continue;
        };
        if f.metadata()?.len() > *len {
            f.set_len(*len)
                .with_context(|| format!("cannot cut back {}", path.display()))?;
            f.sync_all()?;
        }
    }
    Ok(())
}

/// The notifications that an earlier replay acted on for a notification-level finding (so its
/// `notify` event is in the replayed log), with that finding's category.
pub fn taken_over(out: &Path) -> Result<HashMap<String, String>> {
    let mut m = HashMap::new();
    for j in journals(out) {
        for r in read(&j)?.1 {
            if r.attempt.is_some() && super::plan::NOTIFICATION_LEVEL.contains(&r.finding.as_str())
            {
                m.entry(r.notification).or_insert(r.finding);
            }
        }
    }
    Ok(m)
}

/// Writes the `replay_attempts` file of every journal that has none (a killed run), after
/// cutting back the files of its unfinished batch.
pub fn recover(out: &Path) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for j in journals(out) {
        let (header, rows) = read(&j)?;
        let Some(Record::Run {
            run_id,
            date,
            as_of,
            ..
        }) = header
        else {
            continue;
        };
        if attempts::part_path(out, &date, &run_id).exists() {
            continue;
        }
        cut_back(&unfinished_batch(&j)?)?;
        tracing::warn!(run_id = %run_id, rows = rows.len(), "recovering the attempts of an interrupted replay");
        written.push(attempts::write(out, &date, &run_id, as_of, &rows)?);
    }
    Ok(written)
}

/// An exclusive lock on the folder's replay state, held while the value lives.
pub struct Lock {
    _file: File,
}

pub fn lock(out: &Path) -> Result<Lock> {
    let dir = super::state_dir(out);
    create_private_dir(&dir)?;
    let path = dir.join("lock");
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o640)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match f.try_lock() {
        Ok(()) => Ok(Lock { _file: f }),
        Err(std::fs::TryLockError::WouldBlock) => Err(anyhow!(
            "another replay is running on {} (lock {})",
            out.display(),
            path.display()
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(anyhow!("cannot lock {}: {e}", path.display())),
    }
}

/// Writes the checkpoint file atomically.
pub fn checkpoint(out: &Path, value: &serde_json::Value) -> Result<()> {
    let dir = super::state_dir(out);
    let tmp = dir.join(".checkpoint.json.tmp");
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o640)
        .open(&tmp)?;
    f.write_all(value.to_string().as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join("checkpoint.json"))?;
    Ok(())
}

/// What one write carries: a journal row, replayed-log event lines, landed resources.
#[derive(Debug, Default)]
pub struct Entry {
    pub row: Option<Row>,
    pub events: Vec<String>,
    /// (landing file name, NDJSON bytes).
    pub landing: Option<(String, Vec<u8>)>,
    /// (notification, its replayed `notify` event): the writer writes it once per run, before the
    /// first event of that notification it writes, so a journaled attempt implies its `notify`.
    pub notify: Option<(String, String)>,
}

enum Msg {
    Write(Box<Entry>, Option<oneshot::Sender<Result<(), String>>>),
    Sync(oneshot::Sender<Result<(), String>>),
}

/// The handle of the writer task.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::UnboundedSender<Msg>,
}

struct Files {
    journal: File,
    events: File,
    events_path: PathBuf,
    landing_dir: PathBuf,
    /// Rows written, for the table at the end.
    rows: Vec<Row>,
    /// Notifications whose `notify` event this run wrote.
    notified: HashSet<String>,
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
}

/// Paths of one run's files.
pub struct Paths {
    pub journal: PathBuf,
    pub events: PathBuf,
    pub landing_dir: PathBuf,
}

/// The writer task's handle: its rows when it ends.
pub type WriterTask = tokio::task::JoinHandle<Result<Vec<Row>, String>>;

impl Writer {
    /// Starts the writer task; writes the journal's header line.
    pub fn start(paths: &Paths, header: &Record) -> Result<(Writer, WriterTask)> {
        for p in [&paths.journal, &paths.events] {
            if let Some(d) = p.parent() {
                create_private_dir(d)?;
            }
        }
        create_private_dir(&paths.landing_dir)?;
        let mut journal = open_append(&paths.journal)
            .with_context(|| format!("cannot create {}", paths.journal.display()))?;
        writeln!(journal, "{}", serde_json::to_string(header)?)?;
        journal.sync_data()?;
        let events = open_append(&paths.events)
            .with_context(|| format!("cannot create {}", paths.events.display()))?;
        let files = Files {
            journal,
            events,
            events_path: paths.events.clone(),
            landing_dir: paths.landing_dir.clone(),
            rows: Vec::new(),
            notified: HashSet::new(),
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let handle = tokio::spawn(run(files, rx));
        Ok((Writer { tx }, handle))
    }

    /// Writes an entry; with `durable`, waits until it is on disk.
    pub async fn write(&self, e: Entry, durable: bool) -> Result<(), String> {
        let stopped = || "the journal writer stopped".to_owned();
        if durable {
            let (ack, rx) = oneshot::channel();
            self.tx
                .send(Msg::Write(Box::new(e), Some(ack)))
                .map_err(|_| stopped())?;
            rx.await.map_err(|_| stopped())?
        } else {
            self.tx
                .send(Msg::Write(Box::new(e), None))
                .map_err(|_| stopped())
        }
    }

    /// Waits until everything written so far is on disk.
    pub async fn sync(&self) -> Result<(), String> {
        let stopped = || "the journal writer stopped".to_owned();
        let (ack, rx) = oneshot::channel();
        self.tx.send(Msg::Sync(ack)).map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }
}

/// Runs blocking file work without stalling a multi-threaded runtime.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    if tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
    {
        tokio::task::block_in_place(f)
    } else {
        f()
    }
}

async fn run(mut files: Files, mut rx: mpsc::UnboundedReceiver<Msg>) -> Result<Vec<Row>, String> {
    let mut failed: Option<String> = None;
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while let Ok(m) = rx.try_recv() {
            batch.push(m);
        }
        let mut acks = Vec::new();
        let mut entries = Vec::new();
        for m in batch {
            match m {
                Msg::Write(e, ack) => {
                    entries.push(*e);
                    acks.extend(ack);
                }
                Msg::Sync(ack) => acks.push(ack),
            }
        }
        let result = match &failed {
            Some(e) => Err(e.clone()),
            None => blocking(|| write_batch(&mut files, entries, !acks.is_empty()))
                .map_err(|e| format!("cannot write the replay journal: {e}")),
        };
        if let Err(e) = &result {
            failed = Some(e.clone());
        }
        for a in acks {
            let _ = a.send(result.clone());
        }
    }
    let result = blocking(|| -> std::io::Result<()> {
        files.journal.sync_data()?;
        files.events.sync_data()
    });
    match (failed, result) {
        (Some(e), _) => Err(e),
        (None, Err(e)) => Err(format!("cannot sync the replay journal: {e}")),
        (None, Ok(())) => Ok(files.rows),
    }
}

fn write_batch(files: &mut Files, entries: Vec<Entry>, sync: bool) -> std::io::Result<()> {
    let mut journal = Vec::new();
    let mut events = Vec::new();
    let mut landing: HashMap<String, Vec<u8>> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut touched: HashSet<String> = HashSet::new();
    for e in entries {
        if let Some((name, bytes)) = e.landing {
            if touched.insert(name.clone()) {
                order.push(name.clone());
            }
            landing.entry(name).or_default().extend_from_slice(&bytes);
        }
        if let Some((notification, ev)) = e.notify
            && files.notified.insert(notification)
        {
            events.extend_from_slice(ev.as_bytes());
            events.push(b'\n');
        }
        for ev in e.events {
            events.extend_from_slice(ev.as_bytes());
            events.push(b'\n');
        }
        if let Some(r) = e.row {
            journal.extend_from_slice(
                serde_json::to_string(&Record::Row(Box::new(r.clone())))?.as_bytes(),
            );
            journal.push(b'\n');
            files.rows.push(r);
        }
    }
    // The lengths before the data, for recovery to cut back a batch whose rows never follow.
    if !order.is_empty() || !events.is_empty() {
        let mut lengths = vec![(files.events_path.clone(), files.events.metadata()?.len())];
        for name in &order {
            let p = files.landing_dir.join(name);
            let len = match std::fs::metadata(&p) {
                Ok(m) => m.len(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
                Err(e) => return Err(e),
            };
            lengths.push((p, len));
        }
        let mut line = serde_json::to_string(&Record::Intent { files: lengths })?;
        line.push('\n');
        files.journal.write_all(line.as_bytes())?;
    }
    // Landed data and events first: a success's journal line is never on disk before them.
    for name in order {
        let mut f = open_append(&files.landing_dir.join(&name))?;
        if let Some(bytes) = landing.get(&name) {
            f.write_all(bytes)?;
        }
        if sync {
            f.sync_data()?;
        }
    }
    if !events.is_empty() {
        files.events.write_all(&events)?;
        if sync {
            files.events.sync_data()?;
        }
    }
    files.journal.write_all(&journal)?;
    if sync {
        files.journal.sync_data()?;
    }
    Ok(())
}
