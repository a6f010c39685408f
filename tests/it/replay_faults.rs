//! Replay under faults, on tokio's paused clock against a scripted sender on loopback: capped
//! exponential backoff with full jitter, Retry-After (seconds and HTTP date, capped), the time
//! budget, attempts over runs and parking, permanent answers, the circuit breaker, and the global
//! and per-host concurrency limits counted at the server.

use crate::common::*;
use crate::replay::*;
use pullrecon::job::Dur;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

fn one_read(n: usize) -> Notice {
    Notice::new(n).inputs(vec![read_input(&format!("DocumentReference/doc-{n}"))])
}

fn gaps_ms(s: &TestSender) -> Vec<u128> {
    let seen = s.seen();
    seen.windows(2)
        .map(|w| (w[1].at - w[0].at).as_millis())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn transient_answers_back_off_exponentially_with_full_jitter() {
    let s = TestSender::start(Arc::new(|seen: &Seen, nth| {
        if nth < 3 {
            Reply::status(503)
        } else {
            Reply::fhir(&seen.request)
        }
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (out, _) = story(dir.path(), &[one_read(1)], &[(ORG_A, &s.base)]);
    let mut cfg = config(&out);
    cfg.limits.attempts_per_run = 5;
    cfg.limits.backoff_base = Dur(1);
    cfg.limits.backoff_cap = Dur(3);
    let sum = replay(&cfg).await;
    assert_eq!((sum.succeeded, sum.attempts), (1, 4), "{sum:?}");
    let rows = attempt_rows(&out);
    let decisions: Vec<&str> = rows.iter().map(|r| r.decision.as_str()).collect();
    assert_eq!(decisions, ["retry", "retry", "retry", "succeeded"]);
    // The waits the server saw are the waits recorded, each within min(cap, base·2^(n−1)).
    let gaps = gaps_ms(&s);
    for (k, (gap, row)) in gaps.iter().zip(&rows).enumerate() {
        let wait = row.wait_ms.unwrap() as u128;
        assert!(gap.abs_diff(wait) <= 5, "gap {gap} ms, wait {wait} ms");
        let ceiling = [1000, 2000, 3000][k];
        assert!(
            wait <= ceiling,
            "retry {} waited {wait} ms > {ceiling}",
            k + 1
        );
    }
    assert_eq!(rows[0].attempt, Some(1));
    assert_eq!(rows[3].attempt, Some(4));
    // The W3C traceparent recorded is the one the server got, new for each attempt.
    let sent: Vec<Option<String>> = s.seen().into_iter().map(|x| x.traceparent).collect();
    let recorded: Vec<Option<String>> = rows.iter().map(|r| r.traceparent.clone()).collect();
    assert_eq!(sent, recorded);
    assert_eq!(
        recorded
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len(),
        4
    );
    assert_eq!(rows[0].status, Some(503));
    assert_eq!(rows[0].class, "transient");
}

#[tokio::test(start_paused = true)]
async fn the_jitter_spreads_the_retries_of_many_items() {
    let s = TestSender::start(Arc::new(|seen: &Seen, nth| {
        if nth == 0 {
            Reply::status(502)
        } else {
            Reply::fhir(&seen.request)
        }
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let notices: Vec<Notice> = (0..24).map(one_read).collect();
    let (out, _) = story(dir.path(), &notices, &[(ORG_A, &s.base)]);
    let mut cfg = config(&out);
    cfg.limits.backoff_base = Dur(4);
    cfg.limits.breaker_threshold = 0;
    let sum = replay(&cfg).await;
    assert_eq!(sum.succeeded, 24, "{sum:?}");
    let waits: Vec<i64> = attempt_rows(&out)
        .iter()
        .filter(|r| r.decision == "retry")
        .map(|r| r.wait_ms.unwrap())
        .collect();
    assert_eq!(waits.len(), 24);
    assert!(waits.iter().all(|w| (0..=4000).contains(w)), "{waits:?}");
    let mut distinct = waits.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(distinct.len() > 12, "{waits:?}");
    assert!(waits.iter().any(|w| *w < 2000) && waits.iter().any(|w| *w > 2000));
}

#[tokio::test(start_paused = true)]
async fn retry_after_seconds_and_http_date_are_honoured() {
    let date = httpdate::fmt_http_date(
        std::time::UNIX_EPOCH + Duration::from_micros(test_clock() as u64 + 30_000_000),
    );
    let s = TestSender::start(Arc::new(move |seen: &Seen, nth| {
        match (seen.request.as_str(), nth) {
            ("DocumentReference/doc-1", 0) => Reply::status(429).header("retry-after", "7"),
            ("DocumentReference/doc-2", 0) => {
                Reply::status(503).header("retry-after", date.clone())
            }
            _ => Reply::fhir(&seen.request),
        }
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (out, _) = story(dir.path(), &[one_read(1), one_read(2)], &[(ORG_A, &s.base)]);
    let sum = replay(&config(&out)).await;
    assert_eq!(sum.succeeded, 2, "{sum:?}");
    let seen = s.seen();
    let at = |r: &str| -> Vec<tokio::time::Instant> {
        seen.iter()
            .filter(|x| x.request == r)
            .map(|x| x.at)
            .collect()
    };
    let one = at("DocumentReference/doc-1");
    let gap = (one[1] - one[0]).as_millis();
    assert!(
        (7000..7050).contains(&gap),
        "Retry-After 7 s: waited {gap} ms"
    );
    let two = at("DocumentReference/doc-2");
    let gap = (two[1] - two[0]).as_millis();
    assert!(
        (29_000..=30_050).contains(&gap),
        "Retry-After date +30 s: waited {gap} ms"
    );
    let rows = attempt_rows(&out);
    let r1 = rows_of(&rows, "DocumentReference/doc-1");
    assert_eq!((r1[0].retry_after_s, r1[0].wait_ms), (Some(7), Some(7000)));
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_beyond_the_cap_or_the_budget_defers_to_the_next_run() {
    let s = TestSender::start(Arc::new(|seen: &Seen, _| match seen.request.as_str() {
        "DocumentReference/doc-1" => Reply::status(503).header("retry-after", "600"),
        _ => Reply::status(429).header("retry-after", "15"),
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (out, _) = story(dir.path(), &[one_read(1), one_read(2)], &[(ORG_A, &s.base)]);
    let mut cfg = config(&out);
    cfg.limits.budget = Dur(20);
    cfg.limits.retry_after_cap = Dur(300);
    let start = tokio::time::Instant::now();
    let sum = replay(&cfg).await;
    assert_eq!((sum.deferred, sum.failed, sum.parked), (2, 0, 0), "{sum:?}");
    assert_eq!(sum.exit_code(), 0);
    assert!(start.elapsed() < Duration::from_secs(20));
    let rows = attempt_rows(&out);
    let r1 = rows_of(&rows, "DocumentReference/doc-1");
    assert_eq!(r1.len(), 1);
    assert_eq!(r1[0].decision, "deferred");
    assert!(
        r1[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("Retry-After 600s is beyond the cap of 300s")
    );
    let r2 = rows_of(&rows, "DocumentReference/doc-2");
    let d: Vec<&str> = r2.iter().map(|r| r.decision.as_str()).collect();
    assert_eq!(
        d,
        ["retry", "deferred"],
        "15 s fits in 20 s once, not twice"
    );
    assert!(
        r2[1].reason.as_deref().unwrap().contains("time budget"),
        "{r2:?}"
    );
    assert_eq!(s.requests().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn attempts_count_over_runs_and_then_the_item_is_parked_for_good() {
    let s = TestSender::start(Arc::new(|_: &Seen, _| Reply::status(503))).await;
    let dir = tempfile::tempdir().unwrap();
    let (out, _) = story(dir.path(), &[one_read(1)], &[(ORG_A, &s.base)]);
    let mut cfg = config(&out);
    cfg.limits.max_attempts = 2;
    cfg.limits.attempts_per_run = 1;
    let first = replay(&cfg).await;
    assert_eq!((first.failed, first.exit_code()), (1, 3), "{first:?}");
    // Each run a little later (run ids, and so the files, sort by their start).
    cfg.clock_start = Some(test_clock() + 600_000_000);
    let second = replay(&cfg).await;
    assert_eq!(second.parked, 1, "{second:?}");
    cfg.clock_start = Some(test_clock() + 1_200_000_000);
    let third = replay(&cfg).await;
    assert_eq!((third.parked, third.attempts), (1, 0), "{third:?}");
    assert_eq!(
        s.requests().len(),
        2,
        "never retried automatically after parking"
    );
    let rows = attempt_rows(&out);
    let shape: Vec<(Option<i64>, &str)> = rows
        .iter()
        .map(|r| (r.attempt, r.decision.as_str()))
        .collect();
    assert_eq!(
        shape,
        [(Some(1), "failed"), (Some(2), "parked"), (None, "parked")]
    );
    assert!(
        rows[1]
            .reason
            .as_deref()
            .unwrap()
            .contains("attempts used up (2 of 2)")
    );
    assert!(
        rows[2]
            .reason
            .as_deref()
            .unwrap()
            .starts_with("parked earlier")
    );
    assert_eq!(
        parquet_files(&out.join("replay_attempts")).len(),
        3,
        "one file per run"
    );
}

#[tokio::test(start_paused = true)]
async fn permanent_answers_park_at_once_and_invalid_bodies_are_retried() {
    let s = TestSender::start(Arc::new(|seen: &Seen, nth| match seen.request.as_str() {
        "DocumentReference/doc-1" => Reply::status(404),
        "DocumentReference/doc-2" => Reply::status(410),
        "DocumentReference/doc-3" if nth == 0 => Reply {
            body: "<html>maintenance</html>".into(),
            ..Reply::status(200)
        },
        "DocumentReference/doc-4" => {
            Reply::json(serde_json::json!({"resourceType": "Patient", "id": "p"}))
        }
        r => Reply::fhir(r),
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let notices: Vec<Notice> = (1..=4).map(one_read).collect();
    let (out, _) = story(dir.path(), &notices, &[(ORG_A, &s.base)]);
    let sum = replay(&config(&out)).await;
    assert_eq!(
        (sum.parked, sum.succeeded, sum.failed),
        (2, 1, 1),
        "{sum:?}"
    );
    let rows = attempt_rows(&out);
    for (r, status) in [
        ("DocumentReference/doc-1", 404),
        ("DocumentReference/doc-2", 410),
    ] {
        let x = rows_of(&rows, r);
        assert_eq!(x.len(), 1);
        assert_eq!(
            (x[0].status, x[0].class.as_str(), x[0].decision.as_str()),
            (Some(status), "permanent", "parked")
        );
    }
    let x = rows_of(&rows, "DocumentReference/doc-3");
    assert_eq!(
        x.iter().map(|r| r.class.as_str()).collect::<Vec<_>>(),
        ["invalid-body", "success"]
    );
    let x = rows_of(&rows, "DocumentReference/doc-4");
    assert_eq!(
        x.len(),
        3,
        "a wrong resource type is an invalid body, retried within the run"
    );
    assert!(
        x[0].reason
            .as_deref()
            .unwrap()
            .contains("expected a DocumentReference, got a Patient")
    );
}

#[tokio::test(start_paused = true)]
async fn the_circuit_breaker_opens_after_consecutive_transient_failures() {
    let s = TestSender::start(Arc::new(|_: &Seen, _| Reply::status(503))).await;
    let dir = tempfile::tempdir().unwrap();
    let notices: Vec<Notice> = (1..=6).map(one_read).collect();
    let (out, _) = story(dir.path(), &notices, &[(ORG_A, &s.base)]);
    let mut cfg = config(&out);
    cfg.limits.breaker_threshold = 3;
    cfg.limits.per_host = 1;
    cfg.limits.concurrency = 1;
    cfg.limits.attempts_per_run = 1;
    let sum = replay(&cfg).await;
    assert_eq!((sum.failed, sum.deferred), (3, 3), "{sum:?}");
    assert_eq!(s.requests().len(), 3);
    let rows = attempt_rows(&out);
    let deferred: Vec<_> = rows.iter().filter(|r| r.decision == "deferred").collect();
    assert_eq!(deferred.len(), 3);
    for r in deferred {
        assert_eq!(
            r.reason.as_deref(),
            Some(format!("the circuit breaker of {} is open", s.origin).as_str())
        );
    }
}

#[tokio::test(start_paused = true)]
async fn concurrency_never_exceeds_the_per_host_and_global_limits() {
    let all = Arc::new(AtomicUsize::new(0));
    let all_max = Arc::new(AtomicUsize::new(0));
    let slow: Script =
        Arc::new(|seen: &Seen, _| Reply::fhir(&seen.request).after(Duration::from_millis(100)));
    let (a, _) = TestSender::start_shared(slow.clone(), all.clone(), all_max.clone()).await;
    let (b, _) = TestSender::start_shared(slow, all.clone(), all_max.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut notices: Vec<Notice> = (0..20).map(Notice::new).collect();
    notices.extend((20..40).map(|n| Notice {
        org: ORG_B,
        ..Notice::new(n)
    }));
    let (out, _) = story(dir.path(), &notices, &[(ORG_A, &a.base), (ORG_B, &b.base)]);
    let mut cfg = config(&out);
    cfg.limits.per_host = 3;
    cfg.limits.concurrency = 5;
    let sum = replay(&cfg).await;
    assert_eq!(sum.succeeded, 80, "{sum:?}");
    assert_eq!((a.requests().len(), b.requests().len()), (40, 40));
    let (ma, mb) = (
        a.max_in_flight.load(Ordering::SeqCst),
        b.max_in_flight.load(Ordering::SeqCst),
    );
    assert!(ma <= 3 && mb <= 3, "per host: {ma} and {mb} in flight");
    assert!(
        ma == 3 || mb == 3,
        "the per-host limit is reached: {ma}, {mb}"
    );
    let total = all_max.load(Ordering::SeqCst);
    assert!((4..=5).contains(&total), "global: {total} in flight");
}
