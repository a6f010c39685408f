//! One story per finding category and variant, built so its findings are exactly predictable.

use super::*;

/// Writes one fault scenario: exactly one finding of `category`, nothing else.
pub(super) fn fault(category: &str, v: u8, cx: &mut Ctx, out: &mut Out) {
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
pub(super) fn cx_wf_variant(category: &str) -> u8 {
    if category == "pull-failed" { 3 } else { 1 }
}
