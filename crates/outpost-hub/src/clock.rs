//! The hub's clock: the domain's, re-exported so that `outpost_hub::Clock` keeps working.

pub use outpost_domain::clock::{Clock, SystemClock};
