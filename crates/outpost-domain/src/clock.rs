//! The source of time, injected into the hub and the client so that token expiry, session
//! timeouts, lockout, offline grants and idle locking are testable without sleeping.

use chrono::{DateTime, SubsecRound, Utc};

/// Tells the time.
pub trait Clock: Send + Sync + 'static {
    /// Now, to the microsecond (the precision every store keeps).
    fn now(&self) -> DateTime<Utc>;
}

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }
}

/// A clock that moves only when told to: for tests of expiry, lockout, grants and idle locks
/// (the one fake the project allows).
#[derive(Debug, Clone)]
pub struct ManualClock(std::sync::Arc<std::sync::Mutex<DateTime<Utc>>>);

impl ManualClock {
    /// Starts at the system time.
    pub fn starting_now() -> Self {
        Self(std::sync::Arc::new(std::sync::Mutex::new(
            Utc::now().trunc_subsecs(6),
        )))
    }

    /// Sets the clock to `at` (a demo writing its history moment by moment).
    pub fn set(&self, at: DateTime<Utc>) {
        if let Ok(mut now) = self.0.lock() {
            *now = at.trunc_subsecs(6);
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: chrono::Duration) {
        if let Ok(mut now) = self.0.lock() {
            *now += by;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.lock().map_or_else(|e| *e.into_inner(), |now| *now)
    }
}
