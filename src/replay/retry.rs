//! The retry decision, apart from the backoff mechanism (`backoff`), after vector's
//! `sinks/util/retries.rs`: a small [`RetryLogic`] says whether an answer may be retried at all;
//! [`RetryPolicy`] adds the limits: attempts in all (then the item is parked, a dead letter),
//! attempts per run, `Retry-After` up to its cap, and the run's time budget (a wait longer than
//! what is left defers the item to the next run).

use super::backoff::Backoff;
use super::classify::Class;
use super::client::Answer;
use std::time::Duration;

/// What to do after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryAction {
    Successful,
    /// May be tried again (after a wait).
    Retry(String),
    /// Get a fresh token and try once more.
    RenewToken(String),
    /// Will not get better by trying again: park the item.
    DontRetry(String),
    /// Refused for safety: nothing more is sent for the item.
    Refuse(String),
}

/// Which answers are retryable.
pub trait RetryLogic: Send + Sync {
    /// Whether an unsuccessful answer may be tried again.
    fn is_retriable(&self, answer: &Answer) -> bool;

    /// The action for an answer.
    fn action(&self, answer: &Answer) -> RetryAction {
        let why = answer.describe();
        match answer.class {
            Class::Success => RetryAction::Successful,
            Class::Auth => RetryAction::RenewToken(why),
            Class::Refused => RetryAction::Refuse(why),
            _ if self.is_retriable(answer) => RetryAction::Retry(why),
            _ => RetryAction::DontRetry(why),
        }
    }
}

/// The FHIR pull policy: transient answers (408, 429, 5xx, timeouts, connection errors) and
/// invalid bodies are retryable; permanent ones (400, 404, 410, other 4xx, too large) are not.
#[derive(Debug, Clone, Copy, Default)]
pub struct FhirRetryLogic;

impl RetryLogic for FhirRetryLogic {
    fn is_retriable(&self, answer: &Answer) -> bool {
        matches!(answer.class, Class::Transient | Class::InvalidBody)
    }
}

/// After a retryable answer: wait, leave the item for the next run, give up for this run, or
/// park it for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Wait(Duration),
    Defer(String),
    GiveUp(String),
    Park(String),
}

/// The limits around retries.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub backoff: Backoff,
    pub retry_after_cap: Duration,
    pub max_attempts: u32,
    pub attempts_per_run: u32,
}

impl RetryPolicy {
    /// `total`: attempts of the item over all runs so far (this one included); `in_run`: in this
    /// run; `remaining`: what is left of the budget.
    pub fn next<R: rand::Rng + ?Sized>(
        &self,
        retry_after: Option<Duration>,
        total: u32,
        in_run: u32,
        remaining: Duration,
        rng: &mut R,
    ) -> Next {
        if total >= self.max_attempts {
            return Next::Park(format!(
                "attempts used up ({total} of {})",
                self.max_attempts
            ));
        }
        if in_run >= self.attempts_per_run {
            return Next::GiveUp(format!("{in_run} attempts in this run"));
        }
        let wait = match retry_after {
            Some(ra) if ra > self.retry_after_cap => {
                return Next::Defer(format!(
                    "Retry-After {}s is beyond the cap of {}s",
                    ra.as_secs(),
                    self.retry_after_cap.as_secs()
                ));
            }
            Some(ra) => ra,
            None => self.backoff.delay(in_run, rng),
        };
        if wait >= remaining {
            return Next::Defer(format!(
                "a wait of {}s does not fit in what is left of the time budget",
                wait.as_secs_f64().ceil() as u64
            ));
        }
        Next::Wait(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            backoff: Backoff::new(Duration::from_secs(1), Duration::from_secs(60)),
            retry_after_cap: Duration::from_secs(300),
            max_attempts: 5,
            attempts_per_run: 3,
        }
    }

    #[test]
    fn limits_in_order() {
        let p = policy();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let big = Duration::from_secs(3600);
        assert!(matches!(p.next(None, 5, 1, big, &mut rng), Next::Park(_)));
        assert!(matches!(p.next(None, 3, 3, big, &mut rng), Next::GiveUp(_)));
        assert_eq!(
            p.next(Some(Duration::from_secs(7)), 1, 1, big, &mut rng),
            Next::Wait(Duration::from_secs(7))
        );
        assert!(matches!(
            p.next(Some(Duration::from_secs(301)), 1, 1, big, &mut rng),
            Next::Defer(_)
        ));
        assert!(matches!(
            p.next(
                Some(Duration::from_secs(20)),
                1,
                1,
                Duration::from_secs(10),
                &mut rng
            ),
            Next::Defer(_)
        ));
        match p.next(None, 2, 2, big, &mut rng) {
            Next::Wait(d) => assert!(d <= Duration::from_secs(2)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn logic_classes() {
        let l = FhirRetryLogic;
        let a = |class| Answer {
            class,
            ..Answer::default()
        };
        assert_eq!(l.action(&a(Class::Success)), RetryAction::Successful);
        assert!(matches!(
            l.action(&a(Class::Transient)),
            RetryAction::Retry(_)
        ));
        assert!(matches!(
            l.action(&a(Class::InvalidBody)),
            RetryAction::Retry(_)
        ));
        assert!(matches!(
            l.action(&a(Class::Permanent)),
            RetryAction::DontRetry(_)
        ));
        assert!(matches!(
            l.action(&a(Class::TooLarge)),
            RetryAction::DontRetry(_)
        ));
        assert!(matches!(
            l.action(&a(Class::Auth)),
            RetryAction::RenewToken(_)
        ));
        assert!(matches!(
            l.action(&a(Class::Refused)),
            RetryAction::Refuse(_)
        ));
    }
}
