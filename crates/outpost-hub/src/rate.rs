//! Per-address rate limits on the two routes anyone can call without a token: sign-in and
//! refresh. They come on top of the per-account lockout, which a guesser spreading attempts
//! over many accounts (or unknown addresses) never trips. Past the limit the answer is 429
//! `rate_limited` with `Retry-After`; other addresses are unaffected.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use outpost_domain::ErrorCode;

use crate::config::HubConfig;
use crate::error::ApiError;

/// Addresses remembered before the limiter forgets those whose allowance has refilled.
const FORGET_AFTER: usize = 4096;

/// One limit: `per_minute` requests from an address, as a burst or spread out.
struct Limit {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    what: &'static str,
}

impl Limit {
    fn new(per_minute: u32, what: &'static str) -> Option<Self> {
        let per_minute = NonZeroU32::new(per_minute)?;
        Some(Self {
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
            what,
        })
    }

    fn check(&self, address: IpAddr) -> Result<(), ApiError> {
        if self.limiter.len() > FORGET_AFTER {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(&address).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiError::new(
                ErrorCode::RateLimited,
                format!(
                    "too many {} from this address; try again shortly",
                    self.what
                ),
            )
            .retry_after(wait.as_secs().max(1))
        })
    }
}

/// The hub's per-address limits.
pub struct AddressLimits {
    sign_in: Option<Limit>,
    refresh: Option<Limit>,
}

impl AddressLimits {
    /// From `sign_in_per_minute` and `refresh_per_minute` (0 turns a limit off).
    pub fn new(config: &HubConfig) -> Self {
        Self {
            sign_in: Limit::new(config.sign_in_per_minute, "sign-ins"),
            refresh: Limit::new(config.refresh_per_minute, "token refreshes"),
        }
    }

    /// Counts a sign-in from `address`; refused past the limit.
    pub fn sign_in(&self, address: Option<IpAddr>) -> Result<(), ApiError> {
        Self::count(self.sign_in.as_ref(), address)
    }

    /// Counts a refresh from `address`; refused past the limit.
    pub fn refresh(&self, address: Option<IpAddr>) -> Result<(), ApiError> {
        Self::count(self.refresh.as_ref(), address)
    }

    fn count(limit: Option<&Limit>, address: Option<IpAddr>) -> Result<(), ApiError> {
        match (limit, address) {
            (Some(limit), Some(address)) => limit.check(address),
            _ => Ok(()),
        }
    }
}
