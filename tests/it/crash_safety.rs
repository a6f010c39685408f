//! Crash safety (#6, item 4): `reconcile`, `replay` and `run` are killed with SIGKILL at random
//! moments (seeded: `CRASH_SAFETY_SEED=<n>` repeats a sequence of delays; the seed and every delay
//! are printed), seven times each, interleaved, on a generated sample-like day whose senders are a
//! loopback axum sender that records every request (the embedded sender counts nothing). After
//! each kill, before anything else runs, every `*.parquet` under the output folder is read in full
//! by DuckDB (each file, each table's hive glob, and the `**/*.parquet` glob, which must list
//! exactly the finished files and none of the `.tmp` files of interrupted writes) and by the
//! `parquet` crate. Then the command runs again, and:
//! - its contract tables, read back with the `parquet` crate, equal those of an uninterrupted run
//!   (run ids and wall-clock instants aside; the replayed-log files, named by replay run, are
//!   compared by their summed counts);
//! - every replayed item ends with exactly one success in `replay_attempts`, the replayed log and
//!   the landing zone hold what an uninterrupted replay writes, and every journal has its
//!   `replay_attempts` file;
//! - at the sender, each succeeded item got exactly one 2xx that pullrecon journaled (requests
//!   are matched to `replay_attempts` rows by their `traceparent`); a 2xx that no row records can
//!   only be a request in flight when the process died, and the re-run pulled that item again
//!   (its answer never became durable, so this is the one repeat the design allows); a success
//!   journaled before the kill is never requested again. (A Workflow Task read again as the
//!   check before its inputs, by design, is counted apart.)
//!
//! Two deterministic tests pin what the loop found: a replay killed between the pulls of an
//! undelivered notification is finished by the next `run` or `replay` with one `notify`, and
//! recovery cuts back a batch whose landed resources and events were written without its rows.

use crate::common::*;
use crate::replay::{AttemptRow, Reply, Seen, TestSender, attempt_rows};
use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMicrosecondType};
use arrow_schema::{DataType, TimeUnit};
use pullrecon::generate::bodies::{SENDERS, UNCOVERED};
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const KILLS_PER_COMMAND: usize = 7;
const CONTRACT_TABLES: [&str; 7] = [
    "runs",
    "input_files",
    "notifications",
    "requests",
    "findings",
    "bsn_audit",
    "rejects",
];
/// How long the sender takes to answer: long enough for kills to land among requests in flight.
const SENDER_DELAY: Duration = Duration::from_millis(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Cmd {
    Reconcile,
    Replay,
    Run,
}

impl Cmd {
    fn name(self) -> &'static str {
        match self {
            Cmd::Reconcile => "reconcile",
            Cmd::Replay => "replay",
            Cmd::Run => "run",
        }
    }
}

/// DuckDB in one long-lived Python process: one JSON request per line on stdin, one answer per
/// line on stdout. Every value is read (`hash` of each whole row), not only the footers.
struct DuckDb {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

const DUCKDB_SCRIPT: &str = r#"
import sys, json, duckdb
con = duckdb.connect()
print(json.dumps({"ready": duckdb.__version__}), flush=True)
def q(s): return s.replace("'", "''")
for line in sys.stdin:
    req = json.loads(line)
    out = req["out"]
    res = {"files": {}, "tables": {}, "glob": [], "errors": []}
    for f in req["files"]:
        try:
            res["files"][f] = con.execute(
                f"select count(*), sum(hash(t)) from read_parquet('{q(f)}') t").fetchone()[0]
        except Exception as e:
            res["errors"].append(f"{f}: {e}")
    for t in req["tables"]:
        g = f"{out}/{t}/**/*.parquet"
        try:
            res["tables"][t] = con.execute(
                f"select count(*), sum(hash(t)) from read_parquet('{q(g)}', hive_partitioning=true, union_by_name=true) t").fetchone()[0]
        except Exception as e:
            res["errors"].append(f"{g}: {e}")
    try:
        res["glob"] = [r[0] for r in con.execute(f"select file from glob('{q(out)}/**/*.parquet')").fetchall()]
    except Exception as e:
        res["errors"].append(f"glob: {e}")
    print(json.dumps(res), flush=True)
"#;

impl DuckDb {
    fn start() -> DuckDb {
        let python = std::env::var("PULLRECON_PYTHON").unwrap_or_else(|_| "python3".into());
        let mut child = Command::new(&python)
            .args(["-c", DUCKDB_SCRIPT])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {python}: {e} (run scripts/test)"));
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert!(
            line.contains("ready"),
            "DuckDB did not start under {python} (run scripts/test, which installs it): {line}"
        );
        DuckDb {
            child,
            stdin,
            stdout,
        }
    }

    fn check(&mut self, out: &Path, files: &[PathBuf], tables: &[String]) -> Value {
        let req = serde_json::json!({"out": out, "files": files, "tables": tables});
        writeln!(self.stdin, "{req}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("DuckDB answered {line:?}: {e}"))
    }
}

impl Drop for DuckDb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn name_of(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// Reads a whole Parquet file with the `parquet` crate: its row count, or why it cannot be read.
fn parquet_rows(path: &Path) -> Result<usize, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| e.to_string())?;
    let mut n = 0;
    for b in reader {
        n += b.map_err(|e| e.to_string())?.num_rows();
    }
    Ok(n)
}

/// What one kill left behind for readers.
#[derive(Debug, Default)]
struct Leftovers {
    parquet: usize,
    tmp: Vec<String>,
    hidden_parquet: Vec<String>,
}

/// (c): every Parquet file under `out` reads cleanly with DuckDB and the `parquet` crate, with
/// the same rows; DuckDB's `**/*.parquet` glob lists exactly those files and no `.tmp` file.
fn check_readable(duck: &mut DuckDb, out: &Path, what: &str) -> Leftovers {
    let files = all_files(out);
    let parquet: Vec<PathBuf> = files
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .cloned()
        .collect();
    let mut left = Leftovers {
        parquet: parquet.len(),
        ..Leftovers::default()
    };
    for p in &files {
        let rel = p.strip_prefix(out).unwrap().to_string_lossy().into_owned();
        if name_of(p).ends_with(".tmp") {
            left.tmp.push(rel.clone());
        }
        if p.extension().is_some_and(|x| x == "parquet")
            && rel.split('/').any(|s| s.starts_with('.'))
        {
            left.hidden_parquet.push(rel);
        }
    }
    let mut tables: BTreeSet<String> = BTreeSet::new();
    for p in &parquet {
        let first = p
            .strip_prefix(out)
            .unwrap()
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .into_owned();
        if !first.starts_with('.') && !first.starts_with('_') {
            tables.insert(first);
        }
    }
    let tables: Vec<String> = tables.into_iter().collect();
    let answer = duck.check(out, &parquet, &tables);
    let errors: Vec<&Value> = answer["errors"].as_array().unwrap().iter().collect();
    assert!(errors.is_empty(), "{what}: DuckDB cannot read: {errors:?}");
    for p in &parquet {
        let ours = parquet_rows(p).unwrap_or_else(|e| {
            panic!("{what}: the parquet crate cannot read {}: {e}", p.display())
        });
        let duck_rows = answer["files"][p.to_str().unwrap()].as_u64();
        assert_eq!(
            duck_rows,
            Some(ours as u64),
            "{what}: {} reads differently in DuckDB",
            p.display()
        );
    }
    for t in &tables {
        let sum: usize = parquet
            .iter()
            .filter(|p| p.strip_prefix(out).unwrap().starts_with(t))
            .map(|p| parquet_rows(p).unwrap())
            .sum();
        assert_eq!(
            answer["tables"][t].as_u64(),
            Some(sum as u64),
            "{what}: DuckDB's glob over {t} sees other rows than its files hold"
        );
    }
    let globbed: BTreeSet<String> = answer["glob"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert!(
        globbed.iter().all(|f| !f.ends_with(".tmp")),
        "{what}: DuckDB's glob picks up a temporary file: {globbed:?}"
    );
    let walked: BTreeSet<String> = parquet
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        globbed, walked,
        "{what}: DuckDB's **/*.parquet glob lists other files than the folder holds"
    );
    left
}

/// One row: column → value as text.
type Row = BTreeMap<String, String>;
/// The normalised tables: their rows, sorted.
type Snapshot = BTreeMap<&'static str, Vec<Row>>;

/// The contract tables of `out`, read back with the `parquet` crate, normalised: no `run_id`;
/// instants of the wall clock while this test ran (started_at, finished_at, replayed events)
/// become `<clock>`; the output folder becomes `<OUT>`; the replayed-log files (named by replay
/// run, stamped by the wall clock) are summed into one input per side.
fn snapshot(out: &Path, clock: (i64, i64)) -> Snapshot {
    let out_text = out.to_string_lossy().into_owned();
    let mut snap = Snapshot::new();
    for table in CONTRACT_TABLES {
        let files = parquet_files(&out.join(table));
        assert!(
            !files.is_empty(),
            "no {table} table under {}",
            out.display()
        );
        let mut rows: Vec<BTreeMap<String, String>> = Vec::new();
        for f in files {
            for b in read_batches(&f) {
                let schema = b.schema();
                for r in 0..b.num_rows() {
                    let mut row = BTreeMap::new();
                    for (i, field) in schema.fields().iter().enumerate() {
                        if field.name() == "run_id" {
                            continue;
                        }
                        let v = cell(b.column(i).as_ref(), r, &out_text, clock);
                        row.insert(field.name().clone(), v);
                    }
                    rows.push(row);
                }
            }
        }
        let rows = match table {
            "input_files" => merge_replayed_files(rows),
            "runs" => rows
                .into_iter()
                .map(|mut row| {
                    let inputs: Vec<Value> = serde_json::from_str(&row["inputs"]).unwrap();
                    let merged = merge_replayed_inputs(inputs);
                    row.insert("input_files".into(), merged.len().to_string());
                    row.insert("inputs".into(), Value::Array(merged).to_string());
                    row
                })
                .collect(),
            _ => rows,
        };
        let mut rows = rows;
        rows.sort();
        snap.insert(table, rows);
    }
    snap
}

fn cell(c: &dyn Array, i: usize, out: &str, (from, to): (i64, i64)) -> String {
    if c.is_null(i) {
        return "null".into();
    }
    match c.data_type() {
        DataType::Utf8 => c.as_string::<i32>().value(i).replace(out, "<OUT>"),
        DataType::LargeUtf8 => c.as_string::<i64>().value(i).replace(out, "<OUT>"),
        DataType::Utf8View => c.as_string_view().value(i).replace(out, "<OUT>"),
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            let v = c.as_primitive::<TimestampMicrosecondType>().value(i);
            if (from..=to).contains(&v) {
                "<clock>".into()
            } else {
                pullrecon::time::format_ts(v)
            }
        }
        DataType::Int64 => c.as_primitive::<Int64Type>().value(i).to_string(),
        DataType::Boolean => c.as_boolean().value(i).to_string(),
        _ => format!("{:?}", c.slice(i, 1)),
    }
}

const SUMMED: [&str; 5] = ["rows", "events", "rejects", "duplicates", "out_of_window"];

/// `input_files` rows of `<OUT>/replayed/` summed into one row per side.
fn merge_replayed_files(rows: Vec<BTreeMap<String, String>>) -> Vec<BTreeMap<String, String>> {
    let (replayed, mut kept): (Vec<_>, Vec<_>) = rows
        .into_iter()
        .partition(|r| r["path"].starts_with("<OUT>/replayed/"));
    let mut merged: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for r in replayed {
        let m = merged.entry(r["side"].clone()).or_insert_with(|| {
            let mut m = r.clone();
            m.insert("path".into(), "<OUT>/replayed/*".into());
            m.remove("bytes");
            m.remove("sha256");
            for k in SUMMED {
                m.insert(k.into(), "0".into());
            }
            m
        });
        for k in SUMMED {
            let sum: i64 = m[k].parse::<i64>().unwrap() + r[k].parse::<i64>().unwrap();
            m.insert(k.into(), sum.to_string());
        }
    }
    kept.extend(merged.into_values());
    kept
}

/// The `inputs` JSON of `runs`, with the replayed-log files summed the same way.
fn merge_replayed_inputs(inputs: Vec<Value>) -> Vec<Value> {
    let (replayed, mut kept): (Vec<_>, Vec<_>) = inputs
        .into_iter()
        .partition(|v| v["replayed"] == Value::Bool(true));
    let mut merged: BTreeMap<String, Value> = BTreeMap::new();
    for r in replayed {
        let side = r["side"].as_str().unwrap_or_default().to_owned();
        let m = merged.entry(side).or_insert_with(|| {
            let mut m = r.clone();
            let o = m.as_object_mut().unwrap();
            o.insert("path".into(), "<OUT>/replayed/*".into());
            o.remove("bytes");
            o.remove("sha256");
            for k in SUMMED {
                o.insert(k.into(), 0.into());
            }
            m
        });
        for k in SUMMED {
            let sum = m[k].as_i64().unwrap_or(0) + r[k].as_i64().unwrap_or(0);
            m[k] = sum.into();
        }
    }
    kept.extend(merged.into_values());
    kept
}

/// The rows of `a` that `b` lacks (as multisets).
fn missing<'a>(a: &'a [Row], b: &[Row]) -> Vec<&'a Row> {
    let mut left: Vec<&Row> = b.iter().collect();
    a.iter()
        .filter(|r| match left.iter().position(|x| x == r) {
            Some(i) => {
                left.swap_remove(i);
                false
            }
            None => true,
        })
        .collect()
}

/// The differences, each row shown by the columns that differ from its nearest counterpart.
fn diff(what: &str, want: &Snapshot, got: &Snapshot) -> Option<String> {
    let mut text = String::new();
    for (table, w) in want {
        let g = &got[table];
        if w == g {
            continue;
        }
        text += &format!(
            "{what}: table {table} differs ({} rows uninterrupted, {} after the kill and re-run)\n",
            w.len(),
            g.len()
        );
        let (only_w, only_g) = (missing(w, g), missing(g, w));
        for (label, rows, other) in [
            ("uninterrupted", &only_w, &only_g),
            ("after re-run", &only_g, &only_w),
        ] {
            for r in rows.iter().take(4) {
                let near = other
                    .iter()
                    .max_by_key(|o| r.iter().filter(|(k, v)| o.get(*k) == Some(v)).count());
                let cols: Vec<String> = r
                    .iter()
                    .filter(|(k, v)| near.is_none_or(|o| o.get(*k) != Some(v)))
                    .map(|(k, v)| format!("{k}={}", v.chars().take(160).collect::<String>()))
                    .collect();
                let key = ["notification", "request", "category", "path"]
                    .iter()
                    .filter_map(|k| r.get(*k).map(|v| format!("{k}={v}")))
                    .collect::<Vec<_>>()
                    .join(", ");
                text += &format!("  only {label} [{key}]: {}\n", cols.join(" | "));
            }
        }
    }
    (!text.is_empty()).then_some(text)
}

/// What a replay left: the items that succeeded, the replayed log's events (without their
/// instants) and the landed resources, as multisets.
#[derive(Debug, PartialEq)]
struct ReplayState {
    succeeded: BTreeSet<String>,
    events: BTreeMap<String, usize>,
    landing: BTreeMap<String, usize>,
}

fn replay_state(out: &Path, what: &str) -> (ReplayState, Vec<AttemptRow>) {
    let rows = attempt_rows(out);
    let mut per_item: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &rows {
        assert!(
            !matches!(r.decision.as_str(), "failed" | "parked"),
            "{what}: an item {} against an always-answering sender: {r:?}",
            r.decision
        );
        if r.decision == "succeeded" && !r.guard {
            *per_item.entry(r.item.as_str()).or_default() += 1;
        }
    }
    let twice: Vec<_> = per_item.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        twice.is_empty(),
        "{what}: items with more than one success in replay_attempts: {twice:?}"
    );
    // Every journal with a header has its replay_attempts file (a killed run's is recovered).
    let journals = all_files(&out.join("_replay/journal"));
    for j in journals {
        let text = std::fs::read_to_string(&j).unwrap();
        let Some(first) = text.lines().next() else {
            continue;
        };
        let Ok(h) = serde_json::from_str::<Value>(first) else {
            continue;
        };
        let (Some(run), Some(date)) = (h["run_id"].as_str(), h["date"].as_str()) else {
            continue;
        };
        let part = out
            .join("replay_attempts")
            .join(format!("date={date}"))
            .join(format!("part-{run}.parquet"));
        assert!(
            part.exists(),
            "{what}: the journal of replay run {run} has no replay_attempts file"
        );
    }
    let mut events = BTreeMap::new();
    for f in all_files(&out.join("replayed")) {
        for line in std::fs::read_to_string(&f).unwrap().lines() {
            let mut v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{what}: a torn replayed-log line in {f:?}: {e}"));
            v.as_object_mut().unwrap().remove("ts");
            *events.entry(v.to_string()).or_default() += 1;
        }
    }
    let mut landing = BTreeMap::new();
    for f in all_files(&out.join("landing")) {
        for line in std::fs::read_to_string(&f).unwrap().lines() {
            *landing
                .entry(format!("{} {line}", name_of(&f)))
                .or_default() += 1;
        }
    }
    let state = ReplayState {
        succeeded: per_item.keys().map(|k| k.to_string()).collect(),
        events,
        landing,
    };
    (state, rows)
}

fn multiset_diff(a: &BTreeMap<String, usize>, b: &BTreeMap<String, usize>) -> Vec<String> {
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| {
            format!(
                "{}× / {}× {k}",
                a.get(k).unwrap_or(&0),
                b.get(k).unwrap_or(&0)
            )
        })
        .collect()
}

/// What the sender saw of one replay (and its re-run).
#[derive(Debug, Default)]
struct Pulls {
    /// 2xx answers to requests still in flight when the process was killed, pulled again after.
    in_flight_repeated: usize,
    /// Fresh reads of a Workflow Task whose own read had succeeded before (by design).
    guard_reads: usize,
}

/// (b): every request the sender answered is matched to its `replay_attempts` row by
/// `traceparent`. Each succeeded item has exactly one journaled 2xx; an unmatched one was in
/// flight at the kill, and the re-run pulled that request again.
fn check_pulls(seen: &[Seen], rows: &[AttemptRow], rerun_at: Option<Instant>, what: &str) -> Pulls {
    let by_tp: HashMap<&str, &AttemptRow> = rows
        .iter()
        .filter_map(|r| r.traceparent.as_deref().map(|t| (t, r)))
        .collect();
    let mut pulls = Pulls::default();
    let mut per_item: HashMap<&str, usize> = HashMap::new();
    let mut unmatched = Vec::new();
    for s in seen {
        match s.traceparent.as_deref().and_then(|t| by_tp.get(t)) {
            Some(r) if r.guard => pulls.guard_reads += 1,
            Some(r) => {
                assert_eq!(r.status, Some(200), "{what}: {r:?}");
                *per_item.entry(r.item.as_str()).or_default() += 1;
            }
            None => unmatched.push(s),
        }
    }
    for r in rows
        .iter()
        .filter(|r| r.decision == "succeeded" && !r.guard)
    {
        assert_eq!(
            per_item.get(r.item.as_str()),
            Some(&1),
            "{what}: item {} ({}) was answered 2xx {} times by the sender under journaled attempts",
            r.item,
            r.request,
            per_item.get(r.item.as_str()).unwrap_or(&0)
        );
    }
    for s in unmatched {
        let Some(k) = rerun_at else {
            panic!("{what}: the sender answered a request that no attempt records: {s:?}");
        };
        // The killed process's last requests may reach the sender's handler a little after the
        // kill, never after the re-run started.
        assert!(
            s.at.into_std() < k,
            "{what}: the re-run sent a request that no attempt records: {}",
            s.request
        );
        let again = seen.iter().any(|o| {
            o.request == s.request
                && o.at.into_std() > k
                && o.traceparent
                    .as_deref()
                    .is_some_and(|t| by_tp.contains_key(t))
        });
        assert!(
            again,
            "{what}: {} was in flight at the kill, is recorded nowhere and was not pulled again",
            s.request
        );
        pulls.in_flight_repeated += 1;
    }
    pulls
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

fn now_micros() -> i64 {
    pullrecon::reconcile::now_micros()
}

struct World {
    logs: PathBuf,
    /// The run's as-of: an hour ago, so that the generated Tasks (valid 7 days to a year from
    /// their authoring) are still live when the replay checks their expiry against the clock.
    as_of: String,
    job: PathBuf,
    template: PathBuf,
    outs: HashMap<Cmd, PathBuf>,
}

impl World {
    fn out(&self, c: Cmd) -> &Path {
        &self.outs[&c]
    }

    fn command(&self, c: Cmd) -> Command {
        let mut cmd = bin();
        match c {
            Cmd::Reconcile => {
                cmd.arg("reconcile")
                    .arg("--sent")
                    .arg(self.logs.join("sent"))
                    .arg("--received")
                    .arg(self.logs.join("received"))
                    .args(["--as-of", &self.as_of, "--out"])
                    .arg(self.out(c));
            }
            Cmd::Replay => {
                cmd.args(["replay", "--quiet", "--job"])
                    .arg(&self.job)
                    .arg("--out")
                    .arg(self.out(c));
            }
            Cmd::Run => {
                cmd.args(["run", "--quiet", "--job"]).arg(&self.job);
            }
        }
        cmd
    }

    /// The state before each run: `reconcile` reuses its folder (a re-run replaces a date),
    /// `replay` starts from a copy of one reconciled folder, `run` from an empty folder.
    fn prepare(&self, c: Cmd) {
        let out = self.out(c);
        match c {
            Cmd::Reconcile => {}
            Cmd::Replay => {
                let _ = std::fs::remove_dir_all(out);
                copy_dir(&self.template, out);
            }
            Cmd::Run => {
                let _ = std::fs::remove_dir_all(out);
            }
        }
    }
}

/// What an uninterrupted run of a command gave.
struct Baseline {
    exit: Option<i32>,
    seconds: f64,
    tables: Snapshot,
    replay: Option<ReplayState>,
}

#[test]
fn kill_9_at_random_moments_of_reconcile_replay_and_run() {
    let t0 = Instant::now();
    let seed: u64 = std::env::var("CRASH_SAFETY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("crash_safety: seed {seed} (CRASH_SAFETY_SEED={seed} repeats these delays)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let clock_from = now_micros();

    // The sender, on its own runtime: every request answered 200 with a resource of the asked
    // kind after SENDER_DELAY, and recorded with its traceparent and arrival.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let sender = rt.block_on(TestSender::start(Arc::new(|seen: &Seen, _| {
        Reply::fhir(&seen.request).after(SENDER_DELAY)
    })));

    // A generated day with every kind of fault, more replayable ones than the default, its
    // senders' bases pointing at the loopback sender.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let generated = root.join("generated");
    let mut cfg = pullrecon::generate::Config::new(300, 1);
    // As-of an hour ago (whole seconds), not a fixed date: the replay refuses expired Tasks by
    // the real clock, and a fixed date would see more of them expire every day.
    cfg.as_of = (now_micros() / 1_000_000 - 3600) * 1_000_000;
    let as_of = pullrecon::time::format_ts(cfg.as_of);
    for r in [
        "pull-failed=0.06",
        "pull-missing=0.06",
        "notification-undelivered=0.03",
        "notification-lost=0.03",
        "update-missed=0.02",
    ] {
        cfg.set_rate(r).unwrap();
    }
    pullrecon::generate::generate(&cfg, &generated).unwrap();
    let logs = root.join("logs");
    let orgs: Vec<_> = SENDERS.iter().chain([&UNCOVERED]).collect();
    for side in ["sent", "received"] {
        std::fs::create_dir_all(logs.join(side)).unwrap();
        for f in all_files(&generated.join(side)) {
            let bytes = std::fs::read(&f).unwrap();
            let bytes = match String::from_utf8(bytes) {
                Ok(mut text) => {
                    for o in &orgs {
                        text = text.replace(&o.base(), &sender.base);
                    }
                    text.into_bytes()
                }
                Err(e) => e.into_bytes(),
            };
            std::fs::write(logs.join(side).join(f.file_name().unwrap()), bytes).unwrap();
        }
    }
    let mut job_text = format!(
        r#"name = "crash-safety"
time_zone = "Europe/Amsterdam"
[reconcile]
as_of = "{as_of}"
[inputs]
sent = ["{logs}/sent/*"]
received = ["{logs}/received/*"]
[output]
dir = "{out}"
[replay]
enabled = true
concurrency = 4
per_host = 4
batch_size = 8
budget = "2m"
timeout = "10s"
"#,
        logs = logs.display(),
        out = root.join("run-out").display()
    );
    for o in &orgs {
        job_text += &format!(
            "[[senders]]\norganisation = \"{}\"\nbase = \"{}\"\ntoken = \"none\"\n",
            o.key(),
            sender.base
        );
    }
    let job = root.join("crash.toml");
    std::fs::write(&job, job_text).unwrap();
    let w = World {
        logs,
        as_of,
        job,
        template: root.join("template"),
        outs: [
            (Cmd::Reconcile, root.join("reconcile-out")),
            (Cmd::Replay, root.join("replay-out")),
            (Cmd::Run, root.join("run-out")),
        ]
        .into_iter()
        .collect(),
    };
    let mut duck = DuckDb::start();

    // The reconciled folder every replay starts from.
    let tpl = bin()
        .arg("reconcile")
        .arg("--sent")
        .arg(w.logs.join("sent"))
        .arg("--received")
        .arg(w.logs.join("received"))
        .args(["--as-of", &w.as_of, "--out"])
        .arg(&w.template)
        .output()
        .unwrap();
    assert_eq!(
        tpl.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&tpl.stderr)
    );

    // Uninterrupted runs: what every re-run must give.
    let mut baselines: HashMap<Cmd, Baseline> = HashMap::new();
    for c in [Cmd::Reconcile, Cmd::Replay, Cmd::Run] {
        w.prepare(c);
        let from = sender.seen().len();
        let started = Instant::now();
        let o = w.command(c).output().unwrap();
        let seconds = started.elapsed().as_secs_f64();
        assert!(
            matches!(o.status.code(), Some(0 | 3)),
            "{}: {}",
            c.name(),
            String::from_utf8_lossy(&o.stderr)
        );
        let out = w.out(c);
        check_readable(&mut duck, out, &format!("uninterrupted {}", c.name()));
        let tables = snapshot(out, (clock_from, now_micros()));
        let replay = (c != Cmd::Reconcile).then(|| {
            let what = format!("uninterrupted {}", c.name());
            let (state, rows) = replay_state(out, &what);
            assert!(
                state.succeeded.len() >= 30,
                "{what}: too few items to make kills meaningful: {}",
                state.succeeded.len()
            );
            check_pulls(&sender.seen()[from..], &rows, None, &what);
            state
        });
        println!(
            "crash_safety: uninterrupted {} took {seconds:.2}s, exit {:?}{}",
            c.name(),
            o.status.code(),
            replay
                .as_ref()
                .map(|r| format!(", {} items replayed", r.succeeded.len()))
                .unwrap_or_default()
        );
        baselines.insert(
            c,
            Baseline {
                exit: o.status.code(),
                seconds,
                tables,
                replay,
            },
        );
    }
    // Both replays replay the same items.
    assert_eq!(
        baselines[&Cmd::Replay]
            .replay
            .as_ref()
            .unwrap()
            .succeeded
            .len(),
        baselines[&Cmd::Run]
            .replay
            .as_ref()
            .unwrap()
            .succeeded
            .len()
    );

    // The kills, interleaved.
    let mut kills: BTreeMap<Cmd, usize> = BTreeMap::new();
    let mut too_late: BTreeMap<Cmd, usize> = BTreeMap::new();
    let mut tmp_left = 0;
    let mut hidden_left = 0;
    let mut in_flight_repeated = 0;
    let mut guard_reads = 0;
    // The span the delays are drawn from: the shortest uninterrupted run of each command seen so
    // far (the machine is shared: a slow first run must not push the kills past the end).
    let mut span: HashMap<Cmd, f64> = baselines.iter().map(|(c, b)| (*c, b.seconds)).collect();
    let mut n = 0;
    loop {
        let todo: Vec<Cmd> = [Cmd::Reconcile, Cmd::Replay, Cmd::Run]
            .into_iter()
            .filter(|c| kills.get(c).copied().unwrap_or(0) < KILLS_PER_COMMAND)
            .collect();
        if todo.is_empty() {
            break;
        }
        n += 1;
        assert!(
            n <= 5 * KILLS_PER_COMMAND,
            "too many runs ended before their kill: {too_late:?}"
        );
        let c = todo[n % todo.len()];
        let base = &baselines[&c];
        let out = w.out(c);
        w.prepare(c);
        let from = sender.seen().len();
        let delay = Duration::from_secs_f64(span[&c] * rng.random_range(0.02..0.95));
        let mut child = w
            .command(c)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        child.kill().unwrap();
        let status = child.wait().unwrap();
        let what = format!(
            "kill {n} (seed {seed}): {} killed after {} ms",
            c.name(),
            delay.as_millis()
        );
        if status.signal() != Some(9) {
            println!("crash_safety: {what}: it had already ended ({status}), not counted");
            *too_late.entry(c).or_default() += 1;
            span.insert(c, span[&c].min(delay.as_secs_f64()));
            continue;
        }
        *kills.entry(c).or_default() += 1;

        // (c) before anything else touches the folder.
        let left = check_readable(&mut duck, out, &what);
        tmp_left += left.tmp.len();
        hidden_left += left.hidden_parquet.len();

        // (a) the re-run gives the uninterrupted run's tables.
        let rerun_at = Instant::now();
        let o = w.command(c).output().unwrap();
        span.insert(c, span[&c].min(rerun_at.elapsed().as_secs_f64()));
        assert_eq!(
            o.status.code(),
            base.exit,
            "{what}: the re-run: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        check_readable(&mut duck, out, &format!("{what}, re-run"));
        let tables = snapshot(out, (clock_from, now_micros()));
        if let Some(d) = diff(&what, &base.tables, &tables) {
            panic!("{d}");
        }
        let mut pulls = Pulls::default();
        if let Some(want) = &base.replay {
            let (state, rows) = replay_state(out, &what);
            // (b)
            pulls = check_pulls(&sender.seen()[from..], &rows, Some(rerun_at), &what);
            in_flight_repeated += pulls.in_flight_repeated;
            guard_reads += pulls.guard_reads;
            assert_eq!(
                state.succeeded, want.succeeded,
                "{what}: other items succeeded than in an uninterrupted replay"
            );
            let ev = multiset_diff(&want.events, &state.events);
            assert!(
                ev.is_empty(),
                "{what}: the replayed log differs (uninterrupted / after the re-run):\n{}",
                ev.join("\n")
            );
            let la = multiset_diff(&want.landing, &state.landing);
            assert!(
                la.is_empty(),
                "{what}: the landing zone differs (uninterrupted / after the re-run):\n{}",
                la.join("\n")
            );
        }
        println!(
            "crash_safety: {what}: {} Parquet files readable, {} temporary files left by the kill{}{}; re-run equal",
            left.parquet,
            left.tmp.len(),
            if left.hidden_parquet.is_empty() {
                String::new()
            } else {
                format!(
                    ", {} Parquet files in hidden folders",
                    left.hidden_parquet.len()
                )
            },
            if base.replay.is_some() {
                format!(
                    ", {} requests in flight at the kill pulled again, {} Workflow Task re-reads",
                    pulls.in_flight_repeated, pulls.guard_reads
                )
            } else {
                String::new()
            }
        );
    }
    println!(
        "crash_safety: seed {seed}: kills {kills:?} (ended before the kill: {too_late:?}); \
         temporary files seen after kills: {tmp_left}; Parquet files in hidden folders after kills: \
         {hidden_left}; requests in flight at a kill pulled again: {in_flight_repeated}; Workflow \
         Task re-reads: {guard_reads}; {:.1}s",
        t0.elapsed().as_secs_f64()
    );
    for c in [Cmd::Reconcile, Cmd::Replay, Cmd::Run] {
        assert_eq!(kills.get(&c).copied().unwrap_or(0), KILLS_PER_COMMAND);
    }
    drop(rt);
}

/// The undelivered notification of [`killed_between_two_pulls_of_an_undelivered_notification`].
const X: &str = "00000000-0000-4000-8000-00000000c0de";

/// Writes the logs of one notification the receiver never got (`notification-undelivered`) with
/// two reads, `DocumentReference/a-1` and `DocumentReference/b-1`, and a job whose sender is
/// `base`, replaying into `out`.
fn undelivered_story(dir: &Path, base: &str) -> PathBuf {
    let mut t = task(X, &format!("{X}-group"));
    t["restriction"]["period"]["end"] = serde_json::json!("2099-01-01T00:00:00Z");
    t["input"] = serde_json::json!([
        {"type": {"coding": [{"system": crate::replay::PARAM, "code": "authorization-base"}]}, "valueString": AUTH_BASE},
        crate::replay::read_input("DocumentReference/a-1"),
        crate::replay::read_input("DocumentReference/b-1"),
    ]);
    let other = task("00000000-0000-4000-8000-0000000000aa", "other-group");
    Story::new()
        .sent(notify("2026-11-19T09:00:00Z", Some(201), &t))
        .healthy("00000000-0000-4000-8000-0000000000aa", &other)
        .write(dir);
    let job = crate::jobs::story_job_text(
        "killed-between-two-pulls",
        dir,
        &dir.join("out"),
        base,
        "[replay]\nconcurrency = 4\nper_host = 4",
    );
    crate::jobs::write_job(dir, "job.toml", &job)
}

/// The replayed log's `notify` events of [`X`].
fn notifies_of_x(out: &Path) -> usize {
    all_files(&out.join("replayed"))
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|l| l.contains("\"interaction\":\"notify\"") && l.contains(X))
        .count()
}

/// A replay (alone, or as the step of `run`) of an undelivered notification with two requests is
/// killed once the first one's success is journaled while the second is still in flight. The
/// next run writes no second `notify` for it and pulls the second request, although the
/// notification now counts as delivered (by the replay, after as-of), so no finding names it.
#[test]
fn killed_between_two_pulls_of_an_undelivered_notification() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    for c in [Cmd::Run, Cmd::Replay] {
        // b-1 hangs the first time (the kill comes while it does), answers at once after.
        let sender = rt.block_on(TestSender::start(Arc::new(|seen: &Seen, nth| {
            let r = Reply::fhir(&seen.request);
            if seen.request.contains("b-1") && nth == 0 {
                r.after(Duration::from_secs(30))
            } else {
                r
            }
        })));
        let dir = tempfile::tempdir().unwrap();
        let job = undelivered_story(dir.path(), &sender.base);
        let out = dir.path().join("out");
        let from = sender.seen().len();
        let cmd = || {
            let mut cmd = bin();
            match c {
                Cmd::Run => cmd.args(["run", "--quiet", "--job"]).arg(&job),
                _ => cmd
                    .args(["replay", "--quiet", "--job"])
                    .arg(&job)
                    .arg("--out")
                    .arg(&out),
            };
            cmd
        };
        if c == Cmd::Replay {
            let o = bin()
                .arg("reconcile")
                .arg("--sent")
                .arg(dir.path().join("sent.ndjson"))
                .arg("--received")
                .arg(dir.path().join("received.ndjson"))
                .args(["--as-of", AS_OF, "--out"])
                .arg(&out)
                .output()
                .unwrap();
            assert_eq!(o.status.code(), Some(3));
        }
        let mut child = cmd()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let journaled = || {
            all_files(&out.join("_replay/journal")).iter().any(|j| {
                std::fs::read_to_string(j).unwrap().lines().any(|l| {
                    l.contains("DocumentReference/a-1") && l.contains("\"decision\":\"succeeded\"")
                })
            })
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !(journaled()
            && sender.seen()[from..]
                .iter()
                .any(|s| s.request.contains("b-1")))
        {
            assert!(
                Instant::now() < deadline,
                "{}: the replay never got there",
                c.name()
            );
            assert!(
                child.try_wait().unwrap().is_none(),
                "{}: ended early",
                c.name()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        child.kill().unwrap();
        assert_eq!(child.wait().unwrap().signal(), Some(9));
        assert_eq!(
            notifies_of_x(&out),
            1,
            "{}: the killed replay's notify",
            c.name()
        );

        let o = cmd().output().unwrap();
        assert!(
            matches!(o.status.code(), Some(0 | 3)),
            "{}: {}",
            c.name(),
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(
            notifies_of_x(&out),
            1,
            "{}: the re-run wrote a second notify for the notification",
            c.name()
        );
        let seen: Vec<String> = sender.seen()[from..]
            .iter()
            .map(|s| s.request.clone())
            .collect();
        assert_eq!(
            seen.iter().filter(|r| r.contains("a-1")).count(),
            1,
            "{}: a journaled success was pulled again: {seen:?}",
            c.name()
        );
        assert_eq!(
            seen.iter().filter(|r| r.contains("b-1")).count(),
            2,
            "{}: the request in flight at the kill was not pulled again: {seen:?}",
            c.name()
        );
        let rows = attempt_rows(&out);
        for r in ["DocumentReference/a-1", "DocumentReference/b-1"] {
            let ok = rows
                .iter()
                .filter(|x| x.request == r && x.decision == "succeeded")
                .count();
            assert_eq!(ok, 1, "{}: {r} succeeded {ok} times: {rows:?}", c.name());
        }
    }
    drop(rt);
}

/// A journal that ends with an `intent` line (its rows never written: the kill came between a
/// batch's data and its rows) has that batch's landed resources and replayed-log events cut back
/// by recovery, so nothing is on disk that the journal does not record.
#[test]
fn recovery_cuts_back_a_batch_whose_rows_never_reached_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    let run = "20261120T060000Z-deadbeef";
    let journal = pullrecon::replay::journal::journal_dir(out);
    std::fs::create_dir_all(&journal).unwrap();
    let events = out.join(format!("replayed/replay-{run}.ndjson"));
    let landing = out.join("landing/date=2026-11-20");
    std::fs::create_dir_all(events.parent().unwrap()).unwrap();
    std::fs::create_dir_all(&landing).unwrap();
    let (old, new) = (landing.join("old.ndjson"), landing.join("new.ndjson"));
    // Before the batch: one event, one landed resource; the batch adds to both and a new file.
    std::fs::write(&events, "{\"e\":1}\n{\"e\":2}\n").unwrap();
    std::fs::write(&old, "{\"r\":1}\n{\"r\":2}\n").unwrap();
    std::fs::write(&new, "{\"r\":3}\n").unwrap();
    let header = serde_json::json!({"t": "run", "run_id": run, "reconcile_run_id": "r", "date": "2026-11-20", "as_of": 0});
    let intent = serde_json::json!({"t": "intent", "files": [[events, 8], [old, 8], [new, 0]]});
    std::fs::write(
        journal.join(format!("{run}.ndjson")),
        format!("{header}\n{intent}\n"),
    )
    .unwrap();
    let written = pullrecon::replay::journal::recover(out).unwrap();
    assert_eq!(written.len(), 1, "the killed run's replay_attempts file");
    assert_eq!(std::fs::read_to_string(&events).unwrap(), "{\"e\":1}\n");
    assert_eq!(std::fs::read_to_string(&old).unwrap(), "{\"r\":1}\n");
    assert_eq!(std::fs::read_to_string(&new).unwrap(), "");
    // Once a row follows the intent, the batch is complete: nothing is cut.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    let journal = pullrecon::replay::journal::journal_dir(out);
    std::fs::create_dir_all(&journal).unwrap();
    let events = out.join(format!("replayed/replay-{run}.ndjson"));
    std::fs::create_dir_all(events.parent().unwrap()).unwrap();
    std::fs::write(&events, "{\"e\":1}\n{\"e\":2}\n").unwrap();
    let intent = serde_json::json!({"t": "intent", "files": [[events, 8]]});
    let row =
        serde_json::to_string(&pullrecon::replay::journal::Record::Row(Box::default())).unwrap();
    std::fs::write(
        journal.join(format!("{run}.ndjson")),
        format!("{header}\n{intent}\n{row}\n"),
    )
    .unwrap();
    pullrecon::replay::journal::recover(out).unwrap();
    assert_eq!(
        std::fs::read_to_string(&events).unwrap(),
        "{\"e\":1}\n{\"e\":2}\n"
    );
}
