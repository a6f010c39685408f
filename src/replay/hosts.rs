//! Concurrency limits and circuit breakers: one global semaphore over all senders, and one shared
//! state per host (origin): its semaphore (the per-host limit) and its breaker, which opens after
//! `threshold` consecutive transient failures, refuses starts while open (the items are deferred),
//! and lets requests through again after a cool-down (a failure then re-opens it at once).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

#[derive(Debug)]
pub struct Host {
    pub origin: String,
    pub permits: Arc<Semaphore>,
    breaker: Mutex<Breaker>,
}

#[derive(Debug, Default)]
struct Breaker {
    consecutive: u32,
    open_until: Option<Instant>,
    opened: u32,
}

impl Host {
    /// Whether the breaker lets a request start now.
    pub fn allows(&self, now: Instant) -> bool {
        let b = self.breaker.lock().unwrap_or_else(|e| e.into_inner());
        b.open_until.is_none_or(|until| now >= until)
    }

    /// Records an answer; returns true when this answer opened the breaker.
    pub fn record(
        &self,
        transient: bool,
        threshold: u32,
        cooldown: Duration,
        now: Instant,
    ) -> bool {
        let mut b = self.breaker.lock().unwrap_or_else(|e| e.into_inner());
        if !transient {
            b.consecutive = 0;
            b.open_until = None;
            return false;
        }
        b.consecutive += 1;
        if threshold > 0 && b.consecutive >= threshold {
            let was_open = b.open_until.is_some_and(|u| now < u);
            b.open_until = Some(now + cooldown);
            if !was_open {
                b.opened += 1;
                return true;
            }
        }
        false
    }

    /// How many times the breaker opened in this run.
    pub fn times_opened(&self) -> u32 {
        self.breaker
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .opened
    }
}

/// The global limit and the hosts, created on first use.
#[derive(Debug)]
pub struct Hosts {
    pub global: Arc<Semaphore>,
    per_host: usize,
    map: Mutex<HashMap<String, Arc<Host>>>,
}

impl Hosts {
    pub fn new(concurrency: usize, per_host: usize) -> Self {
        Hosts {
            global: Arc::new(Semaphore::new(concurrency.max(1))),
            per_host: per_host.max(1),
            map: Mutex::new(HashMap::new()),
        }
    }

    /// The one shared state of a host.
    pub fn get(&self, origin: &str) -> Arc<Host> {
        let mut m = self.map.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(origin.to_owned())
            .or_insert_with(|| {
                Arc::new(Host {
                    origin: origin.to_owned(),
                    permits: Arc::new(Semaphore::new(self.per_host)),
                    breaker: Mutex::new(Breaker::default()),
                })
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_after_threshold_and_cools_down() {
        let hosts = Hosts::new(4, 2);
        let h = hosts.get("http://127.0.0.1:1");
        assert!(Arc::ptr_eq(&h, &hosts.get("http://127.0.0.1:1")));
        let t0 = Instant::now();
        let cool = Duration::from_secs(60);
        assert!(!h.record(true, 3, cool, t0));
        assert!(!h.record(true, 3, cool, t0));
        assert!(h.allows(t0));
        assert!(h.record(true, 3, cool, t0));
        assert!(!h.allows(t0));
        assert!(h.allows(t0 + cool));
        h.record(false, 3, cool, t0 + cool);
        assert!(h.allows(t0 + cool));
        assert_eq!(h.times_opened(), 1);
    }
}
