//! The transport board in the central database: what a published request shows EMS agencies
//! (the minimum necessary to bid: never a patient identifier), their bids, and the decisions
//! taken on them. The hospital's request and the agency's trip follow these decisions through
//! the hub's outbox worker; the board itself is the one place a decision is made.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::facility::FacilityFields;
use super::request::TransportRequestFields;
use super::{Level, Priority, TripStatus};
use crate::error::ValidationError;
use crate::ids::{TenantId, TransportRequestId, TripId, UnitId};
use crate::kind::Refusal;
use crate::schedule::{check_line, check_text};

/// The longest ETA a bid may give: a day.
pub const MAX_ETA_MINUTES: u32 = 24 * 60;

/// A board entry: a published request as every EMS agency may see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct BoardEntry {
    #[ts(type = "string")]
    pub id: uuid::Uuid,
    /// The hospital's request it shows (an id, not patient data).
    pub request_id: TransportRequestId,
    pub hospital_tenant_id: TenantId,
    /// The hospital's name.
    pub hospital: String,
    pub level: Level,
    pub priority: Priority,
    pub pickup_from: DateTime<Utc>,
    pub pickup_to: DateTime<Utc>,
    pub origin: String,
    pub origin_city: String,
    pub destination: String,
    pub destination_city: String,
    pub equipment: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<String>,
    /// `published` while open to bids; then the trip's status.
    pub status: TripStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<String>,
    /// The agency whose bid was accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agency_tenant_id: Option<TenantId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agency: Option<String>,
    /// The trip made in the agency's database on acceptance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trip_id: Option<TripId>,
    pub published_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_bid_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_at: Option<DateTime<Utc>>,
    /// When the crew reached the patient (hub time), for on-time pickups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picked_up_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// Where a bid stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BidStatus {
    Submitted,
    Withdrawn,
    Accepted,
    Declined,
}

impl BidStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "submitted",
            Self::Withdrawn => "withdrawn",
            Self::Accepted => "accepted",
            Self::Declined => "declined",
        }
    }
}

impl std::str::FromStr for BidStatus {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        Ok(match s {
            "submitted" => Self::Submitted,
            "withdrawn" => Self::Withdrawn,
            "accepted" => Self::Accepted,
            "declined" => Self::Declined,
            _ => return Err(()),
        })
    }
}

/// An agency's offer to run a board entry's transport with one of its units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct Bid {
    #[ts(type = "string")]
    pub id: uuid::Uuid,
    #[ts(type = "string")]
    pub entry_id: uuid::Uuid,
    pub agency_tenant_id: TenantId,
    /// The agency's name.
    pub agency: String,
    pub unit_id: UnitId,
    /// The unit's call sign when the bid was made.
    pub unit: String,
    pub unit_level: Level,
    pub eta_minutes: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    pub status: BidStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /v1/board/{entry_id}/bids`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBid {
    pub unit_id: UnitId,
    pub eta_minutes: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

impl NewBid {
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.eta_minutes == 0 || self.eta_minutes > MAX_ETA_MINUTES {
            return Err(ValidationError::new(
                "eta_minutes",
                format!("must be 1 to {MAX_ETA_MINUTES}"),
            ));
        }
        if let Some(notes) = &self.notes {
            check_text("notes", notes, 500)?;
        }
        Ok(())
    }
}

/// `POST /v1/transport-requests/{id}/cancel`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    pub reason: String,
}

impl CancelRequest {
    pub fn validate(&self) -> Result<(), ValidationError> {
        check_line("reason", self.reason.trim(), 200)?;
        if self.reason.trim().is_empty() {
            return Err(ValidationError::new("reason", "must not be empty"));
        }
        Ok(())
    }
}

fn refusal(code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: message.into(),
    }
}

/// Whether an agency may bid `unit_level` on `entry`, having `own` bids on it already.
pub fn may_bid(entry: &BoardEntry, unit_level: Level, own: &[Bid]) -> Result<(), Refusal> {
    if entry.status != TripStatus::Published {
        return Err(refusal(
            "invalid_transition",
            "this transport is no longer open to bids",
        ));
    }
    if !unit_level.covers(entry.level) {
        return Err(refusal(
            "level_too_low",
            "the unit's level of care is below the one requested",
        ));
    }
    if own.iter().any(|b| b.status == BidStatus::Submitted) {
        return Err(refusal(
            "bid_exists",
            "your agency already has a bid on this transport; withdraw it to bid again",
        ));
    }
    Ok(())
}

impl BoardEntry {
    /// The entry a hospital's request shows on the board: where, when, what level and
    /// equipment, and whose request it is; never the patient.
    #[allow(clippy::too_many_arguments)]
    pub fn published(
        id: uuid::Uuid,
        request_id: TransportRequestId,
        request: &TransportRequestFields,
        hospital_tenant_id: TenantId,
        hospital: &str,
        origin: &FacilityFields,
        destination: &FacilityFields,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            request_id,
            hospital_tenant_id,
            hospital: hospital.to_owned(),
            level: request.level,
            priority: request.priority,
            pickup_from: request.pickup_from,
            pickup_to: request.pickup_to,
            origin: origin.name.clone(),
            origin_city: origin.city.clone(),
            destination: destination.name.clone(),
            destination_city: destination.city.clone(),
            equipment: request.equipment.clone(),
            isolation: request.isolation.clone(),
            status: TripStatus::Published,
            cancel_reason: None,
            agency_tenant_id: None,
            agency: None,
            trip_id: None,
            published_at: at,
            first_bid_at: None,
            accepted_at: None,
            picked_up_at: None,
            updated_at: at,
        }
    }
}

/// Whether a bid may be withdrawn: only while submitted and the entry is open.
pub fn may_withdraw(entry: &BoardEntry, bid: &Bid) -> Result<(), Refusal> {
    if bid.status != BidStatus::Submitted || entry.status != TripStatus::Published {
        return Err(refusal(
            "invalid_transition",
            format!("a bid that is {} cannot be withdrawn", bid.status.as_str()),
        ));
    }
    Ok(())
}

/// What accepting `bid` does to every bid of the entry: the bid becomes accepted, the other
/// submitted ones declined. Refused unless the entry is open and the bid submitted.
pub fn accepted(
    entry: &BoardEntry,
    bids: &[Bid],
    bid: uuid::Uuid,
) -> Result<Vec<(uuid::Uuid, BidStatus)>, Refusal> {
    if entry.status != TripStatus::Published {
        return Err(refusal(
            "invalid_transition",
            format!(
                "a transport that is {} cannot accept a bid",
                entry.status.as_str()
            ),
        ));
    }
    let chosen = bids
        .iter()
        .find(|b| b.id == bid)
        .ok_or_else(|| refusal("not_found", "no such bid on this transport"))?;
    if chosen.status != BidStatus::Submitted {
        return Err(refusal(
            "invalid_transition",
            format!(
                "a bid that is {} cannot be accepted",
                chosen.status.as_str()
            ),
        ));
    }
    Ok(bids
        .iter()
        .filter(|b| b.status == BidStatus::Submitted)
        .map(|b| {
            let status = if b.id == bid {
                BidStatus::Accepted
            } else {
                BidStatus::Declined
            };
            (b.id, status)
        })
        .collect())
}

/// What cancelling an entry does to its bids: every submitted one is declined.
pub fn cancelled(
    entry: &BoardEntry,
    bids: &[Bid],
) -> Result<Vec<(uuid::Uuid, BidStatus)>, Refusal> {
    if entry.status.is_final() {
        return Err(refusal(
            "invalid_transition",
            format!(
                "a transport that is {} cannot be cancelled",
                entry.status.as_str()
            ),
        ));
    }
    Ok(bids
        .iter()
        .filter(|b| b.status == BidStatus::Submitted)
        .map(|b| (b.id, BidStatus::Declined))
        .collect())
}

/// The status the board shows once the trip reports `trip`: the trip's when it is further
/// along the line (statuses never go back; a cancellation ends it).
pub fn followed(board: TripStatus, trip: TripStatus) -> Option<TripStatus> {
    if board.is_final() || board == trip {
        return None;
    }
    if trip == TripStatus::Cancelled {
        return Some(trip);
    }
    let mut at = board;
    while let Some(next) = at.next() {
        if next == trip {
            return Some(trip);
        }
        at = next;
    }
    None
}

/// Whether a transport at `status` has reached its patient (a crew's steps synced together may
/// pass over `at_pickup`): when the board notes the pickup time.
pub fn reached_patient(status: TripStatus) -> bool {
    matches!(
        status,
        TripStatus::AtPickup
            | TripStatus::Transporting
            | TripStatus::AtDestination
            | TripStatus::Completed
    )
}

/// The steps from `from` to `to` one at a time (excluding `from`), as the hospital's request
/// must take them; a cancellation is one step.
pub fn steps_between(from: TripStatus, to: TripStatus) -> Vec<TripStatus> {
    if to == TripStatus::Cancelled {
        return if from.is_final() { vec![] } else { vec![to] };
    }
    let mut steps = Vec::new();
    let mut at = from;
    while at != to {
        match at.next() {
            Some(next) => {
                steps.push(next);
                at = next;
            }
            None => return vec![],
        }
    }
    steps
}

/// Filters of the board (`GET /v1/board`): what the hub selects by, and what the clients
/// send (the command line's and the app's).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct BoardFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<Level>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    /// Origin or destination city, compared case-insensitively.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<TripStatus>,
    /// Pickup windows opening at or after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<DateTime<Utc>>,
    /// Pickup windows opening before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<DateTime<Utc>>,
}

/// Which entries a reader may see on the board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoardScope {
    /// The transport center: every entry.
    All,
    /// A hospital: its own entries.
    Hospital(TenantId),
    /// An EMS agency: open entries and those it bid on.
    Agency(TenantId),
}

#[cfg(test)]
mod tests {
    use super::*;
    use TripStatus::*;

    fn entry(status: TripStatus) -> BoardEntry {
        let now = Utc::now();
        BoardEntry {
            id: uuid::Uuid::now_v7(),
            request_id: TransportRequestId::generate(),
            hospital_tenant_id: TenantId::generate(),
            hospital: "General".into(),
            level: Level::Als,
            priority: Priority::Urgent,
            pickup_from: now,
            pickup_to: now,
            origin: "ER".into(),
            origin_city: "Springfield".into(),
            destination: "Rehab".into(),
            destination_city: "Shelbyville".into(),
            equipment: vec![],
            isolation: None,
            status,
            cancel_reason: None,
            agency_tenant_id: None,
            agency: None,
            trip_id: None,
            published_at: now,
            first_bid_at: None,
            accepted_at: None,
            picked_up_at: None,
            updated_at: now,
        }
    }

    fn bid(status: BidStatus) -> Bid {
        let now = Utc::now();
        Bid {
            id: uuid::Uuid::now_v7(),
            entry_id: uuid::Uuid::now_v7(),
            agency_tenant_id: TenantId::generate(),
            agency: "Metro EMS".into(),
            unit_id: UnitId::generate(),
            unit: "Medic 1".into(),
            unit_level: Level::Als,
            eta_minutes: 20,
            notes: None,
            status,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn accepting_one_bid_declines_the_other_submitted_ones_only() {
        let bids = [
            bid(BidStatus::Submitted),
            bid(BidStatus::Submitted),
            bid(BidStatus::Withdrawn),
        ];
        let changes = accepted(&entry(Published), &bids, bids[1].id).expect("allowed");
        assert_eq!(
            changes,
            vec![
                (bids[0].id, BidStatus::Declined),
                (bids[1].id, BidStatus::Accepted)
            ]
        );
        let refused = accepted(&entry(Published), &bids, bids[2].id).expect_err("refused");
        assert_eq!(refused.code, "invalid_transition");
        let refused = accepted(&entry(Assigned), &bids, bids[0].id).expect_err("refused");
        assert_eq!(refused.code, "invalid_transition");
        let refused =
            accepted(&entry(Published), &bids, uuid::Uuid::now_v7()).expect_err("refused");
        assert_eq!(refused.code, "not_found");
    }

    #[test]
    fn bids_need_an_open_entry_a_unit_of_the_level_and_no_other_live_bid() {
        let open = entry(Published);
        assert!(may_bid(&open, Level::Cct, &[]).is_ok());
        assert_eq!(
            may_bid(&open, Level::Bls, &[]).expect_err("refused").code,
            "level_too_low"
        );
        let own = [bid(BidStatus::Submitted)];
        assert_eq!(
            may_bid(&open, Level::Als, &own).expect_err("refused").code,
            "bid_exists"
        );
        let own = [bid(BidStatus::Withdrawn)];
        assert!(may_bid(&open, Level::Als, &own).is_ok());
        assert_eq!(
            may_bid(&entry(Cancelled), Level::Als, &[])
                .expect_err("refused")
                .code,
            "invalid_transition"
        );
        assert!(may_withdraw(&open, &bid(BidStatus::Submitted)).is_ok());
        assert!(may_withdraw(&open, &bid(BidStatus::Declined)).is_err());
    }

    #[test]
    fn the_board_follows_a_trip_forward_only() {
        assert_eq!(followed(Assigned, AtPickup), Some(AtPickup));
        assert_eq!(followed(AtPickup, EnRoute), None);
        assert_eq!(followed(AtPickup, AtPickup), None);
        assert_eq!(followed(Transporting, Cancelled), Some(Cancelled));
        assert_eq!(followed(Completed, Cancelled), None);
        assert_eq!(
            steps_between(Assigned, Transporting),
            vec![EnRoute, AtPickup, Transporting]
        );
        assert_eq!(steps_between(AtPickup, EnRoute), vec![]);
        assert_eq!(steps_between(EnRoute, Cancelled), vec![Cancelled]);
        assert!(reached_patient(Transporting) && !reached_patient(EnRoute));
        assert!(!reached_patient(Cancelled));
        let open = entry(Published);
        let bids = [bid(BidStatus::Submitted), bid(BidStatus::Accepted)];
        assert_eq!(
            cancelled(&open, &bids).expect("allowed"),
            vec![(bids[0].id, BidStatus::Declined)]
        );
        assert!(cancelled(&entry(Completed), &bids).is_err());
    }
}
