//! Transport between tenants (DESIGN.md, "Transport between tenants"): in a hospital's
//! database its facilities and transport requests; in an EMS agency's its units, their shifts
//! and trips. A request and the trip made from it share one status machine ([`TripStatus`]),
//! one step at a time, in the words EMS crews use (NEMSIS v3.5 times: unit notified, en route,
//! at patient, left scene, at destination, transfer of care).

pub mod board;
pub mod facility;
pub mod report;
pub mod request;
pub mod shift;
pub mod trip;
pub mod unit;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use ts_rs::TS;

use crate::error::ValidationError;
use crate::kind::Refusal;

/// The level of care a transport needs, and a unit gives.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, TS, utoipa::ToSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    /// Basic life support.
    Bls,
    /// Advanced life support.
    Als,
    /// Critical care transport.
    Cct,
}

impl Level {
    /// Whether a unit of this level may run a transport needing `needed`.
    pub fn covers(self, needed: Level) -> bool {
        self >= needed
    }
}

/// How soon a transport must happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Emergent,
    Urgent,
    Scheduled,
}

/// How the patient moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mobility {
    Ambulatory,
    Wheelchair,
    Stretcher,
    Bariatric,
}

/// Where a transport request, and the trip made from it, stands.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, TS, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TripStatus {
    /// Being written by the hospital; nobody else sees it.
    #[default]
    Draft,
    /// On the board, open to bids.
    Published,
    /// A bid was accepted: the unit is notified.
    Assigned,
    EnRoute,
    /// At the patient.
    AtPickup,
    /// Left the scene with the patient.
    Transporting,
    AtDestination,
    /// Transfer of care done.
    Completed,
    Cancelled,
}

impl TripStatus {
    /// The order of the steps; `Cancelled` is off the line.
    const LINE: [TripStatus; 8] = [
        TripStatus::Draft,
        TripStatus::Published,
        TripStatus::Assigned,
        TripStatus::EnRoute,
        TripStatus::AtPickup,
        TripStatus::Transporting,
        TripStatus::AtDestination,
        TripStatus::Completed,
    ];

    /// The statuses of a trip still running: made, not over yet.
    pub const RUNNING: [TripStatus; 5] = [
        TripStatus::Assigned,
        TripStatus::EnRoute,
        TripStatus::AtPickup,
        TripStatus::Transporting,
        TripStatus::AtDestination,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Published => "published",
            Self::Assigned => "assigned",
            Self::EnRoute => "en_route",
            Self::AtPickup => "at_pickup",
            Self::Transporting => "transporting",
            Self::AtDestination => "at_destination",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
        }
    }

    /// The step as a crew names it (NEMSIS v3.5 times).
    pub fn crew_label(self) -> &'static str {
        match self {
            Self::Draft => "Draft",
            Self::Published => "On the board",
            Self::Assigned => "Unit notified",
            Self::EnRoute => "En route",
            Self::AtPickup => "At patient",
            Self::Transporting => "Left scene",
            Self::AtDestination => "At destination",
            Self::Completed => "Transfer of care",
            Self::Cancelled => "Cancelled",
        }
    }

    /// Whether the transport is over.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Cancelled)
    }

    /// The step after this one, if any.
    pub fn next(self) -> Option<TripStatus> {
        let at = Self::LINE.iter().position(|s| *s == self)?;
        Self::LINE.get(at + 1).copied()
    }

    /// Whether `self → next` is allowed: the same status, the next step (never a skip or a
    /// step back: a crew's "at destination" before "en route" is refused), or a cancellation
    /// of a transport not over.
    pub fn may_become(self, next: TripStatus) -> bool {
        self == next
            || self.next() == Some(next)
            || (next == TripStatus::Cancelled && !self.is_final())
    }
}

/// The transport status of a record's fields (its default when absent).
pub(crate) fn status_of(fields: &Map<String, Value>) -> TripStatus {
    crate::record::status_of(fields)
}

/// The status step from `before` to `after`, refused with `invalid_transition` when not a
/// step of the machine.
pub(crate) fn check_step(
    what: &str,
    before: &Map<String, Value>,
    after: &Map<String, Value>,
) -> Result<(), Refusal> {
    let (current, next) = (status_of(before), status_of(after));
    if current.may_become(next) {
        Ok(())
    } else {
        Err(Refusal {
            code: "invalid_transition",
            message: format!(
                "a {what} that is {} cannot become {}",
                current.as_str(),
                next.as_str()
            ),
        })
    }
}

/// A cancellation's reason: required for, and only for, a cancelled transport.
pub(crate) fn check_cancel_reason(
    status: TripStatus,
    reason: Option<&str>,
) -> Result<(), ValidationError> {
    match (reason, status) {
        (Some(reason), TripStatus::Cancelled) => {
            crate::schedule::check_line("cancel_reason", reason, 200)
        }
        (None, TripStatus::Cancelled) => Err(ValidationError::new(
            "cancel_reason",
            "is required to cancel a transport",
        )),
        (Some(_), _) => Err(ValidationError::new(
            "cancel_reason",
            "belongs only to a cancelled transport",
        )),
        (None, _) => Ok(()),
    }
}

/// A list of short labels (equipment, capabilities): each one line, at most 20 of them.
pub(crate) fn check_labels(field: &str, labels: &[String]) -> Result<(), ValidationError> {
    if labels.len() > 20 {
        return Err(ValidationError::new(field, "holds at most 20 items"));
    }
    for label in labels {
        crate::schedule::check_line(field, label, 60)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transport_moves_one_step_at_a_time_and_is_cancelled_until_it_is_over() {
        use TripStatus::*;
        assert!(Draft.may_become(Published));
        assert!(Assigned.may_become(EnRoute));
        assert!(AtDestination.may_become(Completed));
        assert!(
            EnRoute.may_become(EnRoute),
            "a repeated tap changes nothing"
        );
        assert!(!Assigned.may_become(AtDestination), "no skipping");
        assert!(!Transporting.may_become(EnRoute), "no step back");
        assert!(
            !Draft.may_become(Assigned),
            "only the board's acceptance assigns"
        );
        assert!(AtPickup.may_become(Cancelled));
        assert!(!Completed.may_become(Cancelled));
        assert!(!Cancelled.may_become(Draft));
        assert_eq!(Completed.next(), None);
        assert_eq!(Cancelled.next(), None);
    }

    #[test]
    fn a_unit_covers_its_level_and_those_below() {
        assert!(Level::Als.covers(Level::Bls));
        assert!(Level::Cct.covers(Level::Cct));
        assert!(!Level::Bls.covers(Level::Als));
        assert_eq!(serde_json::to_value(Level::Cct).expect("json"), "CCT");
    }
}
