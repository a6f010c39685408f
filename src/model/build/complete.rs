//! Completing the model once every event is in (`Builder::finish`): cancellations, send times
//! and bases, each notification's expected requests and pulls (in parallel, `finish_slot`),
//! stray pulls, group order, the shard's subjects, and the read-only `Model`.

use super::super::finish_slot::{BlockOut, FinishCtx, Normaliser, finish_slot, tries_of};
use super::super::{
    Attempt, Core, HAS_BASE, Malformed, Model, Params, Push, Slot, StrayCancel, StrayPull, Ts,
    Unkeyed, is_2xx, st, unst,
};
use super::{Builder, NONE, shard_of};
use crate::fhir::request::key as request_key;
use crate::ingest::intern::{Interner, Sym, SymMap};
use crate::ingest::task::PROBLEMS;
use crate::ingest::{Origin, Side};
use rayon::prelude::*;
use std::collections::{HashMap, HashSet};

impl Builder {
    /// Completes the model: cancellations, send times, bases, expected requests and their pulls,
    /// Workflow Task requests, group order; then keeps only shard `i` of `n` when asked.
    pub fn finish(
        mut self,
        interner: Interner,
        params: &Params,
        shard: Option<(u32, u32)>,
        files: Vec<(std::path::PathBuf, crate::ingest::Format)>,
    ) -> Model {
        let t0 = std::time::Instant::now();
        let lap = |step: &str| tracing::trace!(step, ms = t0.elapsed().as_millis() as u64, "model");
        // Cancellations, in time order.
        let mut cancels = std::mem::take(&mut self.cancels);
        cancels.sort_by_key(|c| (c.ts, c.ord));
        let mut stray_cancels = Vec::new();
        for c in cancels {
            let slot =
                c.id.opt()
                    .and_then(|id| self.by_sym.get(id.index()).copied())
                    .filter(|&s| s != NONE && self.slots[s as usize].has_notify());
            match slot {
                Some(s) => {
                    self.slots[s as usize].cancelled_at.min_with(c.ts);
                    let info = self.cancel_info.entry(s).or_insert((Ts::NONE, false));
                    match c.side {
                        Side::Sent => info.0.min_with(c.ts),
                        Side::Received => {
                            if c.status.is_none() || is_2xx(st(c.status)) {
                                info.1 = true;
                            }
                        }
                    }
                }
                None => stray_cancels.push(c),
            }
        }
        // Identifiers are matched: the map from symbols to notifications is no longer needed.
        drop(std::mem::take(&mut self.by_sym));

        // Bases from the run's parameters, interned once per organisation.
        let sender_bases: HashMap<Sym, Sym> = params
            .senders
            .iter()
            .filter_map(|(org, base)| interner.lookup(org).map(|o| (o, interner.intern(base))))
            .collect();
        let base_texts: HashMap<Sym, String> = {
            let mut set: HashSet<Sym> = self.slots.iter().map(|n| n.base).collect();
            set.extend(self.pull_bases.values().copied());
            set.extend(sender_bases.values().copied());
            set.remove(&Sym::NONE);
            set.into_iter()
                .map(|b| (b, interner.with_str(b, str::to_owned)))
                .collect()
        };
        let task_ref_code = interner.intern("get-workflow-task");

        lap("cancellations and bases");
        // A shard completes only its own notifications: a group never splits, and a notification
        // no notify carries goes by its identifier (as its stray pulls do below). Nothing after
        // this reads another's completed parts, so the shard's tables stay exactly the rows an
        // unsharded run gives them, for a quarter of the work at four shards.
        let mine: Option<Vec<bool>> = match shard {
            Some((i, n)) if n > 1 => Some(
                self.slots
                    .par_iter()
                    .map(|s| {
                        let subject = if s.has_notify() { s.group_key() } else { s.id };
                        interner.with_str(subject, |t| shard_of(t, n) == i)
                    })
                    .collect(),
            ),
            _ => None,
        };
        let is_mine = |slot: usize| mine.as_ref().is_none_or(|m| m[slot]);
        // Per notification, in parallel: send time, base, expected requests, pulls, BSNs.
        let norm = Normaliser {
            interner: &interner,
            bases: &base_texts,
        };
        let ctx = FinishCtx {
            norm: &norm,
            sender_bases: &sender_bases,
            task_ref_code,
            task_reqs: &self.task_reqs,
            pulls: &self.pulls,
            tries: &self.tries,
            tries_of: &self.tries_of,
            pull_bases: &self.pull_bases,
            bsns: &self.bsns,
            workflows: &self.workflows,
        };
        // Blocks of 32k notifications: each block's outputs are then blocks of their own from
        // the kernel, handed back whole as they are merged below (at 4k, their outgrown and
        // merged vectors stayed as holes in the heap: 80 MiB more at the peak at 2M).
        const BLOCK: usize = 32_768;
        const AHEAD: usize = 4;
        let blocks: Vec<BlockOut> = self
            .slots
            .par_chunks_mut(BLOCK)
            .enumerate()
            // One memo of request keys per worker, kept across its blocks.
            .map_init(SymMap::<u64, Sym>::default, |memo, (b, chunk)| {
                let mut out = BlockOut::default();
                for k in 0..chunk.len() {
                    if !is_mine(b * BLOCK + k) {
                        leave_unfinished(&mut chunk[k], &out);
                        continue;
                    }
                    // The first pull, BSN and input of a notification a few on: at millions of
                    // notifications each is a miss that would otherwise be waited for in turn.
                    if let Some(a) = chunk.get(k + AHEAD) {
                        ctx.prefetch(a);
                    }
                    finish_slot(&mut chunk[k], &ctx, memo, &mut out);
                }
                out
            })
            .collect();
        let (n_exps, n_order, n_bsns) = blocks.iter().fold((0, 0, 0), |a, b| {
            (a.0 + b.exps.len(), a.1 + b.order.len(), a.2 + b.bsns.len())
        });
        lap("notifications completed");
        let mut exps = Vec::with_capacity(n_exps);
        let mut pull_order = Vec::with_capacity(n_order);
        let mut bsn_list = Vec::with_capacity(n_bsns);
        let mut stray_raw: Vec<(Sym, u32)> = Vec::new();
        for (b, block) in blocks.into_iter().enumerate() {
            let (e0, p0, b0) = (
                exps.len() as u32,
                pull_order.len() as u32,
                bsn_list.len() as u32,
            );
            let end = ((b + 1) * BLOCK).min(self.slots.len());
            for n in &mut self.slots[b * BLOCK..end] {
                n.exp.0 += e0;
                n.pulls.0 += p0;
                n.bsns.0 += b0;
            }
            exps.extend(block.exps);
            bsn_list.extend(block.bsns);
            pull_order.extend(block.order);
            for (e, r) in block.requests {
                self.pulls[e as usize].request = r;
            }
            for (e, agg, tries) in block.merges {
                self.pulls[e as usize] = agg;
                match self.tries_of.get(&e) {
                    Some(&t) => self.tries[t as usize] = tries,
                    None => {
                        self.tries.push(tries);
                        self.tries_of.insert(e, self.tries.len() as u32 - 1);
                    }
                }
            }
            for e in block.dead {
                self.pulls[e as usize].attempts = 0;
                if let Some(t) = self.tries_of.remove(&e) {
                    self.tries[t as usize] = Vec::new();
                }
            }
            stray_raw.extend(block.stray);
        }
        drop(std::mem::take(&mut self.bsns));
        crate::process::release_free_memory();

        lap("blocks merged");
        // Stray pulls: every attempt of pulls for identifiers no notify carries.
        let mut stray_pulls: Vec<(i64, u32, StrayPull)> = Vec::new();
        for (id, e) in stray_raw {
            let p = self.pulls[e as usize];
            let notification = interner.with_str(id, str::to_owned);
            let base = if p.flags & HAS_BASE != 0 {
                self.pull_bases.get(&e).and_then(|b| base_texts.get(b))
            } else {
                None
            };
            let request =
                interner.with_str(p.request, |raw| request_key(raw, base.map(String::as_str)));
            for t in tries_of(&p, e, &self.tries, &self.tries_of) {
                stray_pulls.push((
                    t.ts,
                    t.ord,
                    StrayPull {
                        notification: notification.clone(),
                        request: request.clone(),
                        attempt: Attempt {
                            ts: t.ts,
                            status: unst(t.status),
                            side: Side::Received,
                            origin: Origin { file: 0, line: 0 },
                        },
                    },
                ));
            }
        }
        stray_pulls.sort_by(|a, b| {
            (a.0, a.1, &a.2.notification, &a.2.request).cmp(&(
                b.0,
                b.1,
                &b.2.notification,
                &b.2.request,
            ))
        });
        drop(std::mem::take(&mut self.pull_bases));

        lap("stray pulls");
        // Group order: by group, then (authoredOn, send time, identifier).
        let strings = interner.freeze();
        crate::process::release_free_memory();
        // Sort compact keys, not slot numbers: a comparison then reads no slot (at millions of
        // notifications, chasing slots is what a sort would spend its time on).
        let mut keys: Vec<(Sym, i64, i64, u32)> = self
            .slots
            .iter()
            .enumerate()
            .filter(|&(i, n)| n.has_notify() && is_mine(i))
            .map(|(i, n)| {
                (
                    n.group_key(),
                    n.task.authored_on.get().unwrap_or(i64::MIN),
                    n.send_time(),
                    i as u32,
                )
            })
            .collect();
        {
            let slots = &self.slots;
            keys.par_sort_unstable_by(|x, y| {
                (x.0, x.1, x.2).cmp(&(y.0, y.1, y.2)).then_with(|| {
                    strings
                        .get(slots[x.3 as usize].id)
                        .cmp(&strings.get(slots[y.3 as usize].id))
                })
            });
        }
        let members: Vec<u32> = keys.iter().map(|k| k.3).collect();
        drop(keys);
        let mut g = 0;
        while g < members.len() {
            let key = self.slots[members[g] as usize].group_key();
            let mut end = g;
            while end < members.len() && self.slots[members[end] as usize].group_key() == key {
                end += 1;
            }
            let size = (end - g) as u32;
            for (pos, &m) in members[g..end].iter().enumerate() {
                let n = &mut self.slots[m as usize];
                n.group_position = pos as u32;
                n.group_size = size;
                n.first_in_group = pos == 0;
                n.current = pos as u32 + 1 == size;
            }
            g = end;
        }
        drop(members);

        lap("group order");
        // Shards: a group never splits (see `mine`); other subjects go by their own identifier.
        let in_shard = |text: &str| match shard {
            Some((i, n)) if n > 1 => shard_of(text, n) == i,
            _ => true,
        };

        // The notifications, in the order they were first notified.
        let mut order: Vec<u32> = (0..self.slots.len() as u32)
            .filter(|&i| self.slots[i as usize].has_notify() && is_mine(i as usize))
            .collect();
        {
            let first = |n: &Slot| match (n.sent_min.get(), n.recv_first.get()) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => a.or(b).unwrap_or(i64::MIN),
            };
            let mut keyed: Vec<(i64, u32)> = order
                .iter()
                .map(|&i| (first(&self.slots[i as usize]), i))
                .collect();
            keyed.par_sort_unstable();
            order = keyed.into_iter().map(|(_, i)| i).collect();
        }
        let mut core = Core {
            strings,
            files,
            ..Core::default()
        };
        let text = |s: Sym| core.strings.opt(s);
        let stray_cancels = stray_cancels
            .into_iter()
            .filter(|c| match c.id.opt() {
                Some(id) => in_shard(&core.s(id)),
                None => in_shard(&format!(
                    "{}:{}:{}",
                    c.side.as_str(),
                    c.origin.file,
                    c.origin.line
                )),
            })
            .map(|c| StrayCancel {
                notification: text(c.id),
                attempt: Attempt {
                    ts: c.ts,
                    status: c.status,
                    side: c.side,
                    origin: c.origin,
                },
                sender: text(c.sender),
                receiver: text(c.receiver),
            })
            .collect();
        let stray_pulls = stray_pulls
            .into_iter()
            .map(|(_, _, p)| p)
            .filter(|p| in_shard(&p.notification))
            .collect();
        let unkeyed = std::mem::take(&mut self.unkeyed)
            .into_iter()
            .filter(|(origin, side, t, _)| match t.group.opt() {
                Some(g) => in_shard(&core.s(g)),
                None => in_shard(&format!(
                    "{}:{}:{}",
                    side.as_str(),
                    origin.file,
                    origin.line
                )),
            })
            .map(|(origin, side, t, reqs)| Unkeyed {
                origin,
                side,
                task: core.task(&t, &reqs, None, false),
            })
            .collect();
        let pushes = self
            .pushes
            .iter()
            .filter(|p| in_shard(&core.s(p.message)))
            .map(|p| Push {
                message: core.s(p.message).into_owned(),
                sent_count: p.sent_count as usize,
                sent_first: p.sent_first.get(),
                sent_last_status: unst(p.sent_last_status),
                received_count: p.recv_count as usize,
                received_first: p.recv_first.get(),
                processed_first: p.processed_first.get(),
                sender: text(p.sender),
                receiver: text(p.receiver),
            })
            .collect();
        let covered = self
            .covered
            .iter()
            .map(|s| core.s(*s).into_owned())
            .collect();

        lap("order and strays");
        let mut malformed = HashMap::new();
        for (i, m) in std::mem::take(&mut self.malformed) {
            let mut seen: Vec<(i64, u64, usize)> = m
                .first
                .iter()
                .enumerate()
                .filter_map(|(b, f)| f.map(|(t, o)| (t, o, b)))
                .collect();
            seen.sort_unstable();
            malformed.insert(
                i,
                Malformed {
                    problems: seen.into_iter().map(|(_, _, b)| PROBLEMS[b]).collect(),
                    origin: m.origin.map(|(_, _, o)| o),
                },
            );
        }
        core.nonstandard = std::mem::take(&mut self.nonstandard)
            .into_iter()
            .map(|(i, (_, s))| (i, s))
            .collect();
        core.malformed = malformed;
        core.recv_second = std::mem::take(&mut self.recv_second);
        core.cancels = std::mem::take(&mut self.cancel_info);
        core.slots = std::mem::take(&mut self.slots);
        core.order = order;
        core.task_reqs = std::mem::take(&mut self.task_reqs);
        core.exps = exps;
        core.bsns = bsn_list;
        core.workflows = std::mem::take(&mut self.workflows);
        core.pulls = std::mem::take(&mut self.pulls);
        core.tries = std::mem::take(&mut self.tries);
        core.tries_of = std::mem::take(&mut self.tries_of);
        // Each notification's pulls listed by request text, as a map by text would.
        {
            let strings = &core.strings;
            let pulls = &core.pulls;
            let mut ranges: Vec<(usize, usize)> = core
                .slots
                .iter()
                .filter(|n| n.pulls.1 > 1)
                .map(|n| (n.pulls.0 as usize, n.pulls.1 as usize))
                .collect();
            ranges.sort_unstable();
            let mut rest: &mut [u32] = &mut pull_order;
            let mut at = 0;
            let mut parts: Vec<&mut [u32]> = Vec::with_capacity(ranges.len());
            for (start, len) in ranges {
                let (_, tail) = rest.split_at_mut(start - at);
                let (part, tail) = tail.split_at_mut(len);
                parts.push(part);
                rest = tail;
                at = start + len;
            }
            parts.par_iter_mut().for_each(|part| {
                part.sort_by(|a, b| {
                    strings
                        .get(pulls[*a as usize].request)
                        .cmp(&strings.get(pulls[*b as usize].request))
                });
            });
        }
        core.pull_order = pull_order;
        lap("pulls ordered");
        let (core, notifications, index) = Model::from_core(core);
        lap("model views");
        Model {
            notifications,
            index,
            unkeyed,
            stray_cancels,
            stray_pulls,
            pushes,
            covered,
            sent_log_pulls: self.sent_log_pulls,
            core,
        }
    }
}

/// A notification of another shard: no expected requests, pulls or BSNs (empty ranges where its
/// block's would start), as it is never read.
fn leave_unfinished(n: &mut Slot, out: &BlockOut) {
    n.exp = (out.exps.len() as u32, 0);
    n.pulls = (out.order.len() as u32, 0);
    n.bsns = (out.bsns.len() as u32, 0);
}
