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
