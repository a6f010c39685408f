//! The replay benchmark (not a test): N retrievals against a loopback sender that answers each
//! after a fixed latency, with a given concurrency (per-host limit as high). It prints the
//! achieved throughput of the sending phase as a fraction of the ideal, concurrency / latency
//! (64 / 0.05 s = 1280 requests/s for the defaults). Run it with `bench/replay.sh` (release).
//!
//! Usage: replay_bench [--items N] [--latency-ms MS] [--concurrency N]

use axum::extract::Request;
use axum::response::IntoResponse;
use pullrecon::bsn::Pseudonymiser;
use pullrecon::job::ReplayLimits;
use pullrecon::reconcile::{Options, reconcile};
use pullrecon::replay::{ReplayConfig, replay_latest_async};
use serde_json::json;
use std::io::Write;
use std::time::{Duration, Instant};

const ORG: &str = "http://fhir.nl/fhir/NamingSystem/ura|11112222";

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn task(n: u64, per: u64) -> serde_json::Value {
    let param = "http://fhir.nl/fhir/NamingSystem/TaskParameter";
    let inputs: Vec<_> = (0..per)
        .map(|k| {
            json!({"type": {"coding": [{"system": param, "code": "read-available-resource"}]},
                        "valueReference": {"reference": format!("DocumentReference/d-{n}-{k}")}})
        })
        .collect();
    json!({
        "resourceType": "Task",
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": format!("urn:uuid:bench-{n}")}],
        "groupIdentifier": {"system": "urn:ietf:rfc:3986", "value": format!("urn:uuid:bench-group-{n}")},
        "status": "requested", "intent": "proposal",
        "code": {"coding": [{"system": "http://fhir.nl/fhir/NamingSystem/TaskCode", "code": "pull-notification"}]},
        "authoredOn": "2026-11-19T08:00:00Z",
        "requester": {"onBehalfOf": {"identifier": {"system": "http://fhir.nl/fhir/NamingSystem/ura", "value": "11112222"}}},
        "owner": {"identifier": {"system": "http://fhir.nl/fhir/NamingSystem/ura", "value": "99990000"}},
        "restriction": {"period": {"end": "2099-01-01T00:00:00Z"}},
        "input": inputs,
    })
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let items = arg("--items", 10_000);
    let latency = Duration::from_millis(arg("--latency-ms", 50));
    let concurrency = arg("--concurrency", 64) as usize;
    let per = 5;
    let notifications = items.div_ceil(per);

    // The sender: every request answered after `latency` with a small resource.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/fhir", listener.local_addr()?);
    let app = axum::Router::new().fallback(move |req: Request| async move {
        tokio::time::sleep(latency).await;
        let id = req
            .uri()
            .path()
            .rsplit('/')
            .next()
            .unwrap_or("x")
            .to_owned();
        (
            [("content-type", "application/fhir+json")],
            json!({"resourceType": "DocumentReference", "id": id, "status": "current"}).to_string(),
        )
            .into_response()
    });
    tokio::spawn(async move { axum::serve(listener, app).await });

    // The logs: notifications delivered and never pulled.
    let dir = tempfile::tempdir()?;
    let (sent, received) = (
        dir.path().join("sent.ndjson"),
        dir.path().join("received.ndjson"),
    );
    let mut s = std::io::BufWriter::new(std::fs::File::create(&sent)?);
    let mut r = std::io::BufWriter::new(std::fs::File::create(&received)?);
    for n in 0..notifications {
        let t = task(n, per);
        writeln!(
            s,
            "{}",
            json!({"ts": "2026-11-19T09:00:00Z", "interaction": "notify", "status": 201, "task": t})
        )?;
        writeln!(
            r,
            "{}",
            json!({"ts": "2026-11-19T09:00:01Z", "interaction": "notify", "status": 201, "task": t})
        )?;
    }
    s.flush()?;
    r.flush()?;
    drop((s, r));
    let out = dir.path().join("out");
    let t0 = Instant::now();
    let outcome = reconcile(&Options {
        sent: vec![sent.display().to_string()],
        received: vec![received.display().to_string()],
        out: out.clone(),
        as_of: pullrecon::time::parse_rfc3339("2026-11-20T05:00:00Z")
            .map_err(|_| anyhow::anyhow!("as-of"))?,
        grace_seconds: 900,
        lookback_seconds: 30 * 86_400,
        push_sla_seconds: 86_400,
        time_zone: chrono_tz::Europe::Amsterdam,
        senders: [(ORG.to_owned(), base.clone())].into_iter().collect(),
        pseudonymiser: Pseudonymiser::none(),
        command: "replay_bench".into(),
        run_id: None,
        window_from: None,
        replayed: Vec::new(),
        shard: None,
    })?;
    let reconcile_s = t0.elapsed().as_secs_f64();
    let cfg = ReplayConfig {
        out: out.clone(),
        limits: ReplayLimits {
            concurrency,
            per_host: concurrency,
            ..ReplayLimits::default()
        },
        ..ReplayConfig::default()
    };
    let t1 = Instant::now();
    let sum = replay_latest_async(&cfg).await?;
    let total_s = t1.elapsed().as_secs_f64();
    let ideal = concurrency as f64 / latency.as_secs_f64();
    let achieved = sum.succeeded as f64 / sum.send_seconds;
    println!(
        "replay benchmark: {items} retrievals, sender latency {} ms, concurrency {concurrency} (per host {concurrency})",
        latency.as_millis()
    );
    println!(
        "  replayable findings: {}",
        outcome.findings.iter().filter(|f| f.replayable).count()
    );
    println!(
        "  succeeded {} of {} planned, {} attempts, {} failed",
        sum.succeeded,
        sum.planned,
        sum.attempts,
        sum.failed + sum.parked + sum.deferred + sum.refused
    );
    println!(
        "  reconcile (plan input): {reconcile_s:.2} s; replay in all (plan, send, table): {total_s:.2} s"
    );
    println!(
        "  sending phase: {:.2} s -> {achieved:.0} requests/s",
        sum.send_seconds
    );
    println!(
        "  ideal {concurrency} / {:.3} s = {ideal:.0} requests/s; achieved fraction {:.3} (goal >= 0.9)",
        latency.as_secs_f64(),
        achieved / ideal
    );
    Ok(())
}
