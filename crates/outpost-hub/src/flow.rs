//! The transport flow's decisions (DESIGN.md, "Transport between tenants") as the routes and
//! the demo take them: publish, cancel, bid, accept. Each is one central transaction that
//! queues its outbox event; the steps in the other databases are carried out right after (the
//! worker does whatever a crash leaves). Callers check permissions and the tenant's kind.

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use outpost_domain::audit::{Actor, Outcome};
use outpost_domain::tenant::Tenant;
use outpost_domain::transport::TripStatus;
use outpost_domain::transport::board::{Bid, BidStatus, BoardEntry, NewBid};
use outpost_domain::transport::facility::Facility;
use outpost_domain::transport::request::TransportRequest;
use outpost_domain::transport::unit::{Unit, UnitStatus};
use outpost_domain::{Entity, ErrorCode, TransportRequestId};
use outpost_store::board::{OutboxEvent, Step};
use outpost_store::{StoreError, WriteOutcome, typed};

use crate::error::{ApiError, ApiResult};
use crate::outbox;
use crate::state::HubState;

fn event(entry: Uuid, step: Step, at: DateTime<Utc>) -> OutboxEvent {
    OutboxEvent {
        id: Uuid::now_v7(),
        entry_id: entry,
        step,
        created_at: at,
    }
}

/// Carries out an entry's queued steps now, and tells the worker and the board's readers.
pub async fn follow_up(state: &HubState, entry: &BoardEntry) {
    outbox::drain(state, Some(entry.id)).await;
    state.outbox.wake();
    state
        .announce_board(entry.id, entry.hospital_tenant_id)
        .await;
}

/// The board entry of one of `hospital`'s requests.
pub async fn entry_of(
    state: &HubState,
    hospital: &Tenant,
    id: TransportRequestId,
) -> ApiResult<Option<BoardEntry>> {
    Ok(state
        .store
        .board()
        .entry_of_request(id)
        .await?
        .filter(|e| e.hospital_tenant_id == hospital.id))
}

/// What the board shows of a hospital's cancellation: the reason itself goes to the request
/// and the trip only (free text may name the patient; the board is read by every agency).
pub const CANCELLED_BY_HOSPITAL: &str = "cancelled by the hospital";

fn transition(message: String) -> ApiError {
    ApiError::new(ErrorCode::InvalidTransition, message)
}

/// Puts a draft request on the board (read by `actor`, its facilities too).
pub async fn publish(
    state: &HubState,
    actor: &Actor,
    hospital: &Tenant,
    request: &TransportRequest,
) -> ApiResult<BoardEntry> {
    if request.fields.status != TripStatus::Draft {
        return Err(transition(format!(
            "a transport request that is {} cannot be published",
            request.fields.status.as_str()
        )));
    }
    let store = state.store.tenant(hospital.id).await?;
    let mut facilities = Vec::new();
    for facility in [
        request.fields.origin_facility_id,
        request.fields.destination_facility_id,
    ] {
        let record = store
            .record(Entity::Facility, facility.into(), actor)
            .await?
            .ok_or_else(|| ApiError::invalid("a facility of the request is gone"))?;
        facilities.push(typed::<Facility>(&record)?.fields);
    }
    let entry = BoardEntry::published(
        Uuid::now_v7(),
        request.id,
        &request.fields,
        hospital.id,
        &hospital.name,
        &facilities[0],
        &facilities[1],
        actor.at,
    );
    let audit = actor
        .event("board.publish", Outcome::Success)
        .entity("board_entry", entry.id);
    state
        .store
        .board()
        .publish(&entry, &event(entry.id, Step::Published, actor.at), audit)
        .await
        .map_err(|err| match err {
            StoreError::AlreadyExists(_) => {
                transition("this transport request was published already".into())
            }
            other => other.into(),
        })?;
    follow_up(state, &entry).await;
    Ok(entry)
}

/// Cancels a request not over: a draft in place; a published one leaves the board (its bids
/// declined) and its trip, if any, is cancelled with it.
pub async fn cancel(
    state: &HubState,
    actor: &Actor,
    hospital: &Tenant,
    request: &TransportRequest,
    reason: &str,
) -> ApiResult<()> {
    if request.fields.status.is_final() {
        return Err(transition(format!(
            "a transport request that is {} cannot be cancelled",
            request.fields.status.as_str()
        )));
    }
    match entry_of(state, hospital, request.id).await? {
        None => {
            let store = state.store.tenant(hospital.id).await?;
            let changes = json!({"status": "cancelled", "cancel_reason": reason});
            let outcome = store
                .update_record(
                    Entity::TransportRequest,
                    request.id.into(),
                    request.version,
                    changes.as_object().ok_or_else(ApiError::internal)?,
                    actor.at.date_naive(),
                    actor,
                )
                .await?;
            if let WriteOutcome::Stale(_) = outcome {
                return Err(ApiError::new(
                    ErrorCode::VersionConflict,
                    "the request changed meanwhile; try again",
                ));
            }
            state.announce_changes(hospital.id).await;
        }
        Some(entry) => {
            let audit = actor
                .event("board.cancel", Outcome::Success)
                .entity("board_entry", entry.id);
            let step = Step::Cancelled {
                reason: reason.to_owned(),
            };
            state
                .store
                .board()
                .cancel_entry(
                    entry.id,
                    CANCELLED_BY_HOSPITAL,
                    &event(entry.id, step, actor.at),
                    audit,
                )
                .await?;
            follow_up(state, &entry).await;
        }
    }
    Ok(())
}

/// Accepts a bid on one of `hospital`'s published requests.
pub async fn accept(
    state: &HubState,
    actor: &Actor,
    hospital: &Tenant,
    request: TransportRequestId,
    bid: Uuid,
) -> ApiResult<BoardEntry> {
    let entry = entry_of(state, hospital, request)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let audit = actor
        .event("board.accept", Outcome::Success)
        .entity("trip_bid", bid);
    let after = state
        .store
        .board()
        .accept_bid(
            entry.id,
            bid,
            outbox::trip_id(entry.id),
            &event(entry.id, Step::Accepted { bid }, actor.at),
            audit,
        )
        .await?;
    follow_up(state, &entry).await;
    Ok(after)
}

/// An agency's bid on an entry with one of its units in service.
pub async fn bid(
    state: &HubState,
    actor: &Actor,
    agency: &Tenant,
    entry: &BoardEntry,
    body: &NewBid,
) -> ApiResult<Bid> {
    body.validate()?;
    let store = state.store.tenant(agency.id).await?;
    let unit: Unit = store
        .record(Entity::Unit, body.unit_id.into(), actor)
        .await?
        .map(|r| typed(&r))
        .transpose()?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::ValidationFailed,
                "unit_id: no such unit in your agency",
            )
        })?;
    if unit.fields.status == UnitStatus::OutOfService {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            "unit_id: the unit is out of service",
        ));
    }
    let bid = Bid {
        id: Uuid::now_v7(),
        entry_id: entry.id,
        agency_tenant_id: agency.id,
        agency: agency.name.clone(),
        unit_id: unit.id,
        unit: unit.fields.call_sign.clone(),
        unit_level: unit.fields.level,
        eta_minutes: body.eta_minutes,
        notes: body.notes.clone(),
        status: BidStatus::Submitted,
        created_at: actor.at,
        updated_at: actor.at,
    };
    let audit = actor
        .event("board.bid", Outcome::Success)
        .entity("trip_bid", bid.id);
    state.store.board().submit_bid(&bid, audit).await?;
    state
        .announce_board(entry.id, entry.hospital_tenant_id)
        .await;
    Ok(bid)
}
