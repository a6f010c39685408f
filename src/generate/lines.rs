//! Writing a story's log lines: the sender's notifies, the receiver's receipts, pulls, pushes.

use super::*;

/// Emits the sender's notify attempts.
pub(super) fn send(out: &mut Out, note: &Note, json: &str, attempts: &[(i64, Option<u16>)]) {
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

pub(super) fn receive(out: &mut Out, json: &str, ts: i64) {
    out.put(
        File::RecvNp,
        ts,
        bodies::received_notify(ts, Some(201), json),
    );
}

/// Pulls `reqs` one after another from `ts` with status 200, except the index `skip` (left out)
/// and `fail` (answered with the given statuses, a few minutes apart). Returns the last pull time.
pub(super) fn pull_all(
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
pub(super) fn pull_referral(
    cx: &mut Ctx,
    out: &mut Out,
    key: &str,
    wf: &WorkflowTask,
    mut ts: i64,
) -> i64 {
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
pub(super) fn healthy(cx: &mut Ctx, out: &mut Out, note: &Note, t: i64) -> i64 {
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

pub(super) fn push_lines(
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
