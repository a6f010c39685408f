//! The backoff mechanism, apart from the decision to retry (`retry`): capped exponential delays
//! with full jitter (a random wait between zero and `min(cap, base · 2^n)`), and the parsing of
//! `Retry-After` (delay-seconds or an HTTP date).

use rand::Rng;
use std::time::Duration;

/// Capped exponential backoff with full jitter.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration) -> Self {
        Backoff { base, cap }
    }

    /// The ceiling of the wait before retry number `retry` (1 for the first retry):
    /// `min(cap, base · 2^(retry−1))`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32
            .checked_shl(retry.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.base
            .checked_mul(factor)
            .map_or(self.cap, |d| d.min(self.cap))
    }

    /// The wait before retry number `retry`: uniform in `[0, ceiling(retry)]`.
    pub fn delay<R: Rng + ?Sized>(&self, retry: u32, rng: &mut R) -> Duration {
        let ceiling = self.ceiling(retry).as_millis() as u64;
        Duration::from_millis(rng.random_range(0..=ceiling))
    }
}

/// Reads a `Retry-After` value: delay-seconds, or an HTTP date (then relative to `now`, UTC
/// microseconds; a date in the past means no wait).
pub fn parse_retry_after(value: &str, now: i64) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    let at = at.duration_since(std::time::UNIX_EPOCH).ok()?.as_micros() as i64;
    Some(Duration::from_micros(at.saturating_sub(now).max(0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn ceilings_double_up_to_the_cap() {
        let b = Backoff::new(Duration::from_secs(1), Duration::from_secs(10));
        let c: Vec<u64> = (1..=6).map(|n| b.ceiling(n).as_secs()).collect();
        assert_eq!(c, vec![1, 2, 4, 8, 10, 10]);
        assert_eq!(b.ceiling(200), Duration::from_secs(10));
    }

    #[test]
    fn full_jitter_stays_within_the_ceiling_and_varies() {
        let b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let d: Vec<Duration> = (0..50).map(|_| b.delay(4, &mut rng)).collect();
        assert!(d.iter().all(|x| *x <= Duration::from_secs(8)));
        assert!(d.iter().any(|x| *x < Duration::from_secs(4)));
        assert!(d.iter().any(|x| *x > Duration::from_secs(4)));
    }

    #[test]
    fn retry_after_forms() {
        let now = 1_700_000_000_000_000;
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        let date = httpdate::fmt_http_date(
            std::time::UNIX_EPOCH + Duration::from_micros(now as u64) + Duration::from_secs(30),
        );
        assert_eq!(parse_retry_after(&date, now), Some(Duration::from_secs(30)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
