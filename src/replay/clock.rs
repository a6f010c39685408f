//! The replay's clock: a wall-clock start plus tokio's monotonic time since then, so that expiry
//! checks and event times follow the real clock in production and tokio's paused clock in tests.

use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    wall0: i64,
    mono0: Instant,
}

impl Clock {
    /// Starts now (or at `start`, UTC microseconds: tests only).
    pub fn start(start: Option<i64>) -> Self {
        Clock {
            wall0: start.unwrap_or_else(crate::reconcile::now_micros),
            mono0: Instant::now(),
        }
    }

    /// UTC microseconds now.
    pub fn now(&self) -> i64 {
        self.wall0 + self.mono0.elapsed().as_micros() as i64
    }

    /// The monotonic instant of the start (for the budget).
    pub fn started(&self) -> Instant {
        self.mono0
    }
}
