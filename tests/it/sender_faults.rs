//! The sender fault matrix (#6, item 3) against real loopback servers: the axum sender of
//! `replay.rs` where an ordinary HTTP answer will do, and a raw `TcpListener` where the HTTP
//! conversation itself is the fault (a reset mid-body, a 1 GB body streamed lazily, a slow drip,
//! a silent server, a listener that does not speak TLS). Each fault: the class recorded in
//! `replay_attempts`, what became of the item, a bounded run (tokio's paused clock where the path
//! allows it, and a real-time bound measured here), no panic, and summary counts that add up.
//! Faults already covered elsewhere are not repeated here: a 200 HTML page
//! (`replay_faults::permanent_answers_park_at_once_and_invalid_bodies_are_retried`), a redirect
//! and a `next` link to another origin (`replay_safety::other_origins_are_refused_and_never_contacted`).

use crate::common::*;
use crate::replay::*;
use crate::tables::column_i64;
use pullrecon::job::{Dur, SecretSource, Size, TokenSource};
use pullrecon::replay::ReplaySummary;
use serde_json::json;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Generous real-time bound for a whole faulty replay.
const REAL_BOUND: Duration = Duration::from_secs(20);

fn one_read(n: usize) -> Notice {
    Notice::new(n).inputs(vec![read_input(&format!("DocumentReference/doc-{n}"))])
}

/// Wall time of a replay: tokio's (paused or not) and the real one.
struct Timer {
    virt: tokio::time::Instant,
    real: std::time::Instant,
}

impl Timer {
    fn start() -> Timer {
        Timer {
            virt: tokio::time::Instant::now(),
            real: std::time::Instant::now(),
        }
    }

    /// Asserts the real bound and returns tokio's elapsed time.
    fn stop(&self) -> Duration {
        let (real, virt) = (self.real.elapsed(), self.virt.elapsed());
        eprintln!("the replay took {virt:?} on tokio's clock, {real:?} of real time");
        assert!(real < REAL_BOUND, "the replay took {real:?} of real time");
        virt
    }
}

/// The summary's counts add up, and every attempt made is one row with an attempt number.
fn adds_up(s: &ReplaySummary, out: &Path) {
    assert_eq!(
        s.planned,
        s.succeeded + s.failed + s.parked + s.refused + s.deferred,
        "{s:?}"
    );
    let attempted = attempt_rows(out)
        .iter()
        .filter(|r| r.run_id == s.run_id && r.attempt.is_some())
        .count();
    assert_eq!(s.attempts, attempted, "{s:?}");
}

/// `(request, bytes, duration_ms)` of every `replay_attempts` row, in `attempt_rows` order.
fn bytes_and_durations(out: &Path) -> Vec<(String, Option<i64>, Option<i64>)> {
    let mut v = Vec::new();
    for f in parquet_files(&out.join("replay_attempts")) {
        for b in read_batches(&f) {
            let req = crate::tables::column_strings(&b, "request");
            let bytes = column_i64(&b, "bytes");
            let ms = column_i64(&b, "duration_ms");
            for r in 0..b.num_rows() {
                v.push((req[r].clone().unwrap(), bytes[r], ms[r]));
            }
        }
    }
    v
}

fn decisions(rows: &[&AttemptRow]) -> Vec<String> {
    rows.iter().map(|r| r.decision.clone()).collect()
}

fn classes(rows: &[&AttemptRow]) -> Vec<String> {
    rows.iter().map(|r| r.class.clone()).collect()
}

/// Nothing landed for the notification's items.
fn nothing_landed(out: &Path) {
    let dir = out.join("landing/date=2026-11-20");
    let landed: usize = std::fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .map(|f| std::fs::read_to_string(f.path()).unwrap().lines().count())
                .sum()
        })
        .unwrap_or(0);
    assert_eq!(landed, 0, "something landed in {}", dir.display());
}

// ---- a raw HTTP/1.1 sender, for conversations axum would not have ----

type Conn = Pin<Box<dyn Future<Output = ()> + Send>>;
/// (request after `/fhir/`, times this request was seen before, the socket, body bytes written).
type RawScript = Arc<dyn Fn(String, usize, TcpStream, Arc<AtomicU64>) -> Conn + Send + Sync>;

#[derive(Clone)]
struct RawSender {
    base: String,
    requests: Arc<Mutex<Vec<String>>>,
    /// Body bytes the script wrote into sockets, over all connections.
    written: Arc<AtomicU64>,
    /// Connections whose script has returned.
    closed: Arc<AtomicUsize>,
}

impl RawSender {
    async fn start(script: RawScript) -> RawSender {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let s = RawSender {
            base: format!("http://{}/fhir", listener.local_addr().unwrap()),
            requests: Arc::default(),
            written: Arc::default(),
            closed: Arc::default(),
        };
        let st = s.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let st = st.clone();
                let script = script.clone();
                tokio::spawn(async move {
                    let Some(request) = read_head(&mut sock).await else {
                        return;
                    };
                    let nth = {
                        let mut log = st.requests.lock().unwrap();
                        let n = log.iter().filter(|r| **r == request).count();
                        log.push(request.clone());
                        n
                    };
                    script(request, nth, sock, st.written.clone()).await;
                    st.closed.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        s
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// Reads a request head; returns its target after `/fhir/`.
async fn read_head(sock: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut b = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = sock.read(&mut b).await.ok()?;
        if n == 0 || buf.len() > 64 << 10 {
            return None;
        }
        buf.extend_from_slice(&b[..n]);
    }
    let line = String::from_utf8_lossy(&buf).lines().next()?.to_owned();
    let target = line.split_whitespace().nth(1)?;
    Some(target.strip_prefix("/fhir/").unwrap_or(target).to_owned())
}

/// A full, correct answer to a read.
async fn answer_fhir(mut sock: TcpStream, request: &str) {
    let (rtype, id) = request.split_once('/').unwrap();
    let body = json!({"resourceType": rtype, "id": id}).to_string();
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/fhir+json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = sock.write_all(head.as_bytes()).await;
    let _ = sock.write_all(body.as_bytes()).await;
    let _ = sock.shutdown().await;
}

/// Waits (without timers) until the client closes the connection.
async fn until_closed(sock: &mut TcpStream) {
    let mut b = [0u8; 1024];
    while matches!(sock.read(&mut b).await, Ok(n) if n > 0) {}
}

// ---- the faults ----

#[tokio::test(start_paused = true)]
async fn a_500_is_transient_retried_and_the_item_failed_for_this_run() {
    let s = TestSender::start(Arc::new(|_: &Seen, _| Reply::status(500))).await;
    let dir = tempfile::tempdir().unwrap();
    let (out, _) = story(dir.path(), &[one_read(1)], &[(ORG_A, &s.base)]);
    let t = Timer::start();
    let sum = replay(&config(&out)).await;
    let took = t.stop();
    assert_eq!(
        (sum.failed, sum.attempts, sum.exit_code()),
        (1, 3, 3),
        "{sum:?}"
    );
    adds_up(&sum, &out);
    let rows = attempt_rows(&out);
    let r = rows_of(&rows, "DocumentReference/doc-1");
    assert_eq!(classes(&r), ["transient"; 3]);
    assert_eq!(decisions(&r), ["retry", "retry", "failed"]);
    assert!(r.iter().all(|x| x.status == Some(500)));
    assert!(
        r[2].reason
            .as_deref()
            .unwrap()
            .contains("3 attempts in this run"),
        "{r:?}"
    );
    assert_eq!(s.requests().len(), 3);
    // Two backoff waits of at most 1 s and 2 s (base 1 s), nothing else.
    assert!(took <= Duration::from_secs(3), "{took:?}");
    nothing_landed(&out);
}

#[tokio::test(start_paused = true)]
async fn a_503_with_retry_after_seconds_waits_as_told_then_succeeds() {
    let s = TestSender::start(Arc::new(|seen: &Seen, nth| {
        if nth == 0 {
            Reply::status(503).header("retry-after", "4")
        } else {
            Reply::fhir(&seen.request)
        }
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (out, _) = story(dir.path(), &[one_read(1)], &[(ORG_A, &s.base)]);
    let t = Timer::start();
    let sum = replay(&config(&out)).await;
    let took = t.stop();
    assert_eq!(
        (sum.succeeded, sum.attempts, sum.exit_code()),
        (1, 2, 0),
        "{sum:?}"
    );
    adds_up(&sum, &out);
    let rows = attempt_rows(&out);
    let r = rows_of(&rows, "DocumentReference/doc-1");
    assert_eq!(classes(&r), ["transient", "success"]);
    assert_eq!(decisions(&r), ["retry", "succeeded"]);
    assert_eq!(
        (r[0].status, r[0].retry_after_s, r[0].wait_ms),
        (Some(503), Some(4), Some(4000))
    );
    let seen = s.seen();
    let gap = (seen[1].at - seen[0].at).as_millis();
    assert!((4000..4050).contains(&gap), "waited {gap} ms");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[tokio::test(start_paused = true)]
async fn a_429_with_an_http_date_an_hour_away_is_deferred_to_the_next_run() {
    let in_an_hour = httpdate::fmt_http_date(
        std::time::UNIX_EPOCH + Duration::from_micros(test_clock() as u64 + 3_600_000_000),
    );
    let s = TestSender::start(Arc::new(move |seen: &Seen, nth| {
        if nth == 0 {
            Reply::status(429).header("retry-after", in_an_hour.clone())
        } else {
            Reply::fhir(&seen.request)
        }
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (out, _) = story(dir.path(), &[one_read(1)], &[(ORG_A, &s.base)]);
    let mut cfg = config(&out);
    // The cap would defer it too; raised here so that the budget (30 min) is what decides.
    cfg.limits.retry_after_cap = Dur(2 * 3600);
    let t = Timer::start();
    let sum = replay(&cfg).await;
    let took = t.stop();
    assert_eq!(
        (sum.deferred, sum.attempts, sum.failed, sum.exit_code()),
        (1, 1, 0, 0),
        "{sum:?}"
    );
    adds_up(&sum, &out);
    assert!(took < Duration::from_secs(1), "it did not wait: {took:?}");
    let rows = attempt_rows(&out);
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0].status,
            rows[0].class.as_str(),
            rows[0].decision.as_str(),
            rows[0].retry_after_s,
            rows[0].wait_ms
        ),
        (Some(429), "transient", "deferred", Some(3600), None)
    );
    assert!(
        rows[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("a wait of 3600s does not fit in what is left of the time budget"),
        "{rows:?}"
    );
    // Left for the next run, which (two hours later) sends it again.
    cfg.clock_start = Some(test_clock() + 2 * 3_600_000_000);
    let next = replay(&cfg).await;
    assert_eq!((next.succeeded, next.attempts), (1, 1), "{next:?}");
    adds_up(&next, &out);
    assert_eq!(s.requests().len(), 2);
    let rows = attempt_rows(&out);
    assert_eq!(rows[1].attempt, Some(2), "attempts count over runs");
}

#[tokio::test(start_paused = true)]
async fn a_sender_that_never_answers_times_out_per_request() {
    let s = RawSender::start(Arc::new(|_, _, mut sock, _| {
        Box::pin(async move { until_closed(&mut sock).await })
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (out, _) = story(dir.path(), &[one_read(1)], &[(ORG_A, &s.base)]);
    let mut cfg = config(&out);
    cfg.limits.timeout = Dur(5);
    let t = Timer::start();
    let sum = replay(&cfg).await;
    let took = t.stop();
    assert_eq!((sum.failed, sum.attempts), (1, 3), "{sum:?}");
    adds_up(&sum, &out);
    let rows = attempt_rows(&out);
    let r = rows_of(&rows, "DocumentReference/doc-1");
    assert_eq!(classes(&r), ["transient"; 3]);
    assert_eq!(decisions(&r), ["retry", "retry", "failed"]);
    assert!(r.iter().all(|x| x.status.is_none()));
    assert!(
        r.iter().all(|x| x
            .reason
            .as_deref()
            .unwrap()
            .starts_with("transient: timeout")),
        "{r:?}"
    );
    for (_, _, ms) in bytes_and_durations(&out) {
        assert!((5000..5100).contains(&ms.unwrap()), "{ms:?}");
    }
    // Three timeouts of 5 s and two backoff waits of at most 1 s and 2 s.
    assert!(
        (Duration::from_secs(15)..=Duration::from_secs(18)).contains(&took),
        "{took:?}"
    );
    assert_eq!(s.requests().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_connection_reset_mid_body_is_transient_and_retried() {
    let s = RawSender::start(Arc::new(|request, nth, mut sock, written| {
        Box::pin(async move {
            if nth > 0 {
                return answer_fhir(sock, &request).await;
            }
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/fhir+json\r\ncontent-length: 1000\r\n\r\n";
            let part = br#"{"resourceType":"DocumentReference","id":"doc-1","text":"#;
            sock.write_all(head.as_bytes()).await.unwrap();
            sock.write_all(part).await.unwrap();
            sock.flush().await.unwrap();
            written.fetch_add(part.len() as u64, Ordering::SeqCst);
            // Then a reset (RST, not FIN) instead of the other 900-odd bytes.
            sock.set_zero_linger().unwrap();
            drop(sock);
        })
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (out, _) = story(dir.path(), &[one_read(1)], &[(ORG_A, &s.base)]);
    let t = Timer::start();
    let sum = replay(&config(&out)).await;
    let took = t.stop();
    assert_eq!((sum.succeeded, sum.attempts), (1, 2), "{sum:?}");
    adds_up(&sum, &out);
    let rows = attempt_rows(&out);
    let r = rows_of(&rows, "DocumentReference/doc-1");
    assert_eq!(classes(&r), ["transient", "success"]);
    assert_eq!(decisions(&r), ["retry", "succeeded"]);
    assert_eq!(r[0].status, Some(200), "the head had come");
    assert_eq!(
        r[0].reason.as_deref(),
        Some("transient: HTTP 200: error while reading the body")
    );
    let bytes = bytes_and_durations(&out)[0].1.unwrap();
    assert!(bytes < 100, "{bytes} bytes of a cut-off body");
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert_eq!(s.requests().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_truncated_json_body_is_an_invalid_body_retried_then_failed() {
    let full = json!({"resourceType": "DocumentReference", "id": "doc-1", "status": "current"})
        .to_string();
    let cut = full[..full.len() / 2].to_owned();
    let s = TestSender::start(Arc::new(move |_: &Seen, _| Reply {
        body: cut.clone(),
        ..Reply::status(200)
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (out, _) = story(dir.path(), &[one_read(1)], &[(ORG_A, &s.base)]);
    let t = Timer::start();
    let sum = replay(&config(&out)).await;
    let took = t.stop();
    assert_eq!(
        (sum.failed, sum.attempts, sum.exit_code()),
        (1, 3, 3),
        "{sum:?}"
    );
    adds_up(&sum, &out);
    let rows = attempt_rows(&out);
    let r = rows_of(&rows, "DocumentReference/doc-1");
    assert_eq!(classes(&r), ["invalid-body"; 3]);
    assert_eq!(decisions(&r), ["retry", "retry", "failed"]);
    assert!(r.iter().all(|x| x.status == Some(200)));
    assert!(
        r[0].reason
            .as_deref()
            .unwrap()
            .starts_with("invalid-body: HTTP 200: the body is not JSON"),
        "{r:?}"
    );
    assert!(took <= Duration::from_secs(3), "{took:?}");
    nothing_landed(&out);
}

#[tokio::test(start_paused = true)]
async fn a_200_carrying_an_operation_outcome_is_an_invalid_body() {
    // `Reply::status(200)`: a 200 whose body is an OperationOutcome.
    let s = TestSender::start(Arc::new(|_: &Seen, _| Reply::status(200))).await;
    let dir = tempfile::tempdir().unwrap();
    // A read and a search: neither a DocumentReference nor a Bundle came back.
    let (out, _) = story(dir.path(), &[Notice::new(1)], &[(ORG_A, &s.base)]);
    let t = Timer::start();
    let sum = replay(&config(&out)).await;
    let took = t.stop();
    assert_eq!(
        (sum.failed, sum.attempts, sum.succeeded),
        (2, 6, 0),
        "{sum:?}"
    );
    adds_up(&sum, &out);
    let rows = attempt_rows(&out);
    for (req, want) in [
        (
            "DocumentReference/doc-1",
            "expected a DocumentReference, got a OperationOutcome",
        ),
        (
            "Observation?code=1",
            "expected a Bundle, got a OperationOutcome",
        ),
    ] {
        let r = rows_of(&rows, req);
        assert_eq!(classes(&r), ["invalid-body"; 3], "{req}");
        assert_eq!(decisions(&r), ["retry", "retry", "failed"], "{req}");
        assert!(r[0].reason.as_deref().unwrap().contains(want), "{r:?}");
        assert!(r.iter().all(|x| x.resources == Some(0)));
    }
    assert!(took <= Duration::from_secs(3), "{took:?}");
    nothing_landed(&out);
}

/// Streams `x`s, 64 KiB at a time, up to 1 GiB, until the client goes away; returns the bytes
/// written. Nothing of the gigabyte exists before it is written.
async fn stream_a_gigabyte(sock: &mut TcpStream, written: &AtomicU64, chunked: bool) {
    let chunk = vec![b'x'; 64 << 10];
    let mut sent = 0u64;
    while sent < 1 << 30 {
        let r = if chunked {
            let mut c = format!("{:x}\r\n", chunk.len()).into_bytes();
            c.extend_from_slice(&chunk);
            c.extend_from_slice(b"\r\n");
            sock.write_all(&c).await
        } else {
            sock.write_all(&chunk).await
        };
        if r.is_err() {
            return;
        }
        sent += chunk.len() as u64;
        written.fetch_add(chunk.len() as u64, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_1_gb_body_is_refused_at_the_cap_without_being_read() {
    let s = RawSender::start(Arc::new(|request, _, mut sock, written| {
        Box::pin(async move {
            let chunked = request == "DocumentReference/doc-2";
            let framing = if chunked {
                "transfer-encoding: chunked".to_owned()
            } else {
                format!("content-length: {}", 1u64 << 30)
            };
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/fhir+json\r\n{framing}\r\n\r\n"
            );
            if sock.write_all(head.as_bytes()).await.is_ok() {
                stream_a_gigabyte(&mut sock, &written, chunked).await;
            }
        })
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    // doc-1 says its length up front; doc-2 is chunked and says nothing.
    let (out, _) = story(dir.path(), &[one_read(1), one_read(2)], &[(ORG_A, &s.base)]);
    let mut cfg = config(&out);
    cfg.limits.max_body = Size(1 << 20);
    let t = Timer::start();
    let sum = replay(&cfg).await;
    t.stop();
    assert_eq!(
        (sum.parked, sum.attempts, sum.exit_code()),
        (2, 2, 3),
        "{sum:?}"
    );
    adds_up(&sum, &out);
    let rows = attempt_rows(&out);
    let sizes = bytes_and_durations(&out);
    for (req, max_read) in [
        ("DocumentReference/doc-1", 0),
        ("DocumentReference/doc-2", 2 << 20),
    ] {
        let r = rows_of(&rows, req);
        assert_eq!(r.len(), 1, "not retried: {r:?}");
        assert_eq!(
            (r[0].status, r[0].class.as_str(), r[0].decision.as_str()),
            (Some(200), "too-large", "parked")
        );
        assert!(
            r[0].reason
                .as_deref()
                .unwrap()
                .contains("the body is larger than 1048576 bytes")
        );
        let read = sizes.iter().find(|x| x.0 == req).unwrap().1.unwrap();
        assert!(read <= max_read, "{req}: {read} bytes read");
        if req.ends_with("doc-2") {
            assert!(read > 1 << 20, "read up to the cap: {read}");
        }
    }
    // The client hung up: both server streams stopped long before a gigabyte (socket buffers
    // hold a few MB at most).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while s.closed.load(Ordering::SeqCst) < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the server is still streaming"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let written = s.written.load(Ordering::SeqCst);
    assert!(written < 64 << 20, "{written} bytes were streamed");
    nothing_landed(&out);
}

#[tokio::test(start_paused = true)]
async fn a_slow_drip_body_is_cut_off_by_the_request_timeout() {
    let s = RawSender::start(Arc::new(|_, _, mut sock, written| {
        Box::pin(async move {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/fhir+json\r\ncontent-length: 100000\r\n\r\n";
            if sock.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            // One byte a second: a whole body would take more than a day.
            for b in br#"{"resourceType":"DocumentReference""#.iter().cycle().take(100_000) {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if sock.write_all(&[*b]).await.is_err() {
                    return;
                }
                written.fetch_add(1, Ordering::SeqCst);
            }
        })
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (out, _) = story(dir.path(), &[one_read(1)], &[(ORG_A, &s.base)]);
    let mut cfg = config(&out);
    cfg.limits.timeout = Dur(5);
    let t = Timer::start();
    let sum = replay(&cfg).await;
    let took = t.stop();
    assert_eq!((sum.failed, sum.attempts), (1, 3), "{sum:?}");
    adds_up(&sum, &out);
    let rows = attempt_rows(&out);
    let r = rows_of(&rows, "DocumentReference/doc-1");
    assert_eq!(classes(&r), ["transient"; 3]);
    assert_eq!(decisions(&r), ["retry", "retry", "failed"]);
    assert!(
        r.iter().all(|x| x.status == Some(200)
            && x.reason
                .as_deref()
                .unwrap()
                .starts_with("transient: HTTP 200: timeout")),
        "{r:?}"
    );
    for (_, bytes, ms) in bytes_and_durations(&out) {
        assert!((5000..5100).contains(&ms.unwrap()), "{ms:?}");
        assert!(bytes.unwrap() <= 5, "{bytes:?}");
    }
    assert!(
        (Duration::from_secs(15)..=Duration::from_secs(18)).contains(&took),
        "{took:?}"
    );
    nothing_landed(&out);
}

#[tokio::test(start_paused = true)]
async fn a_tls_handshake_failure_is_a_transient_connection_error() {
    // An HTTPS base on a plain-HTTP server, and on a listener that answers with garbage.
    let plain = TestSender::start(Arc::new(|seen: &Seen, _| Reply::fhir(&seen.request))).await;
    let garbage = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let garbage_addr = garbage.local_addr().unwrap();
    let hellos = Arc::new(AtomicUsize::new(0));
    let h = hellos.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = garbage.accept().await {
            let mut b = [0u8; 512];
            if matches!(sock.read(&mut b).await, Ok(n) if n > 5 && b[0] == 0x16) {
                h.fetch_add(1, Ordering::SeqCst); // a TLS handshake record
            }
            let _ = sock
                .write_all(b"\x15\x03\x03garbage\xff\x00 not TLS at all")
                .await;
            let _ = sock.shutdown().await;
        }
    });
    let https_plain = plain.base.replacen("http://", "https://", 1);
    let https_garbage = format!("https://{garbage_addr}/fhir");
    let dir = tempfile::tempdir().unwrap();
    let notices = [
        one_read(1),
        Notice {
            org: ORG_B,
            ..one_read(2)
        },
    ];
    let (out, _) = story(
        dir.path(),
        &notices,
        &[(ORG_A, &https_plain), (ORG_B, &https_garbage)],
    );
    let t = Timer::start();
    let sum = replay(&config(&out)).await;
    let took = t.stop();
    assert_eq!(
        (sum.failed, sum.attempts, sum.exit_code()),
        (2, 6, 3),
        "{sum:?}"
    );
    adds_up(&sum, &out);
    let rows = attempt_rows(&out);
    for req in ["DocumentReference/doc-1", "DocumentReference/doc-2"] {
        let r = rows_of(&rows, req);
        assert_eq!(classes(&r), ["transient"; 3], "{req}");
        assert_eq!(decisions(&r), ["retry", "retry", "failed"], "{req}");
        assert!(
            r.iter().all(|x| x.status.is_none()
                && x.reason
                    .as_deref()
                    .unwrap()
                    .starts_with("transient: connection error")),
            "{r:?}"
        );
    }
    assert!(
        plain.requests().is_empty(),
        "no HTTP request reached the plain server"
    );
    assert_eq!(
        hellos.load(Ordering::SeqCst),
        3,
        "one handshake per attempt"
    );
    assert!(took <= Duration::from_secs(3), "{took:?}");
}

#[tokio::test(start_paused = true)]
async fn a_token_endpoint_that_never_answers_times_out() {
    // The FHIR server would answer; its token endpoint keeps the connection open and says nothing.
    let s = RawSender::start(Arc::new(|request, _, mut sock, _| {
        Box::pin(async move {
            if request == "token" {
                until_closed(&mut sock).await;
            } else {
                answer_fhir(sock, &request).await;
            }
        })
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("client-secret");
    std::fs::write(&secret, "s3cr3t-client\n").unwrap();
    let (out, _) = story(dir.path(), &[one_read(1)], &[]);
    let mut cfg = config(&out);
    cfg.limits.timeout = Dur(5);
    cfg.senders = vec![sender(
        ORG_A,
        &s.base,
        TokenSource::ClientCredentials {
            token_url: format!("{}/token", s.base),
            client_id: "pullrecon-test".into(),
            client_secret: SecretSource {
                env: None,
                file: Some(secret),
            },
            scope: None,
        },
    )];
    let t = Timer::start();
    let sum = tokio::time::timeout(Duration::from_secs(600), replay(&cfg))
        .await
        .expect("the replay waits for ever on a silent token endpoint");
    let took = t.stop();
    assert_eq!(
        (sum.failed, sum.attempts, sum.exit_code()),
        (1, 0, 3),
        "{sum:?}"
    );
    adds_up(&sum, &out);
    let rows = attempt_rows(&out);
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0].class.as_str(),
            rows[0].decision.as_str(),
            rows[0].reason.as_deref()
        ),
        (
            "not-sent",
            "failed",
            Some("no token: token request failed: timeout")
        )
    );
    assert_eq!(s.requests(), ["token"], "nothing sent without a token");
    assert!(took <= Duration::from_secs(6), "{took:?}");
}

#[tokio::test]
async fn a_token_endpoint_answering_a_gigabyte_is_cut_at_its_cap() {
    let s = RawSender::start(Arc::new(|request, _, mut sock, written| {
        Box::pin(async move {
            if request != "token" {
                return answer_fhir(sock, &request).await;
            }
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
            if sock.write_all(head.as_bytes()).await.is_ok() {
                stream_a_gigabyte(&mut sock, &written, true).await;
            }
        })
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("client-secret");
    std::fs::write(&secret, "s3cr3t-client\n").unwrap();
    let (out, _) = story(dir.path(), &[one_read(1)], &[]);
    let mut cfg = config(&out);
    cfg.senders = vec![sender(
        ORG_A,
        &s.base,
        TokenSource::ClientCredentials {
            token_url: format!("{}/token", s.base),
            client_id: "pullrecon-test".into(),
            client_secret: SecretSource {
                env: None,
                file: Some(secret),
            },
            scope: None,
        },
    )];
    let t = Timer::start();
    let sum = replay(&cfg).await;
    t.stop();
    assert_eq!((sum.failed, sum.attempts), (1, 0), "{sum:?}");
    adds_up(&sum, &out);
    let rows = attempt_rows(&out);
    assert_eq!(
        (rows[0].class.as_str(), rows[0].decision.as_str()),
        ("not-sent", "failed")
    );
    assert_eq!(
        rows[0].reason.as_deref(),
        Some("no token: the token endpoint's answer: the body is larger than 65536 bytes")
    );
    assert_eq!(s.requests(), ["token"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while s.closed.load(Ordering::SeqCst) < 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the server is still streaming"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let written = s.written.load(Ordering::SeqCst);
    assert!(written < 64 << 20, "{written} bytes were streamed");
}
