//! The story of each plan kind: healthy exchanges here, the fault stories in `faults`.

use super::*;

/// Writes the events of one scenario.
pub(super) fn emit(kind: Kind, cx: &mut Ctx, out: &mut Out) {
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
