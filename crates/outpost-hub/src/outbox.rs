//! The outbox worker: carries out the cross-database steps the board's decisions queue
//! (DESIGN.md, "Transport between tenants"), and brings each running trip's status back to the
//! hospital's request and the board.
//!
//! No step spans two databases in one transaction. Each effect on a tenant database is an op
//! whose id derives from the event (or, for a trip's status, from the trip and the status), so
//! the tenant's op log answers a replay with the stored result and changes nothing: an event
//! carried out twice after a crash, or by two hub instances after a lease ran out, has its
//! effects once. The central decision was taken before the event existed, so the worker only
//! follows it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;
use uuid::Uuid;

use outpost_domain::audit::Actor;
use outpost_domain::patient::Patient;
use outpost_domain::record::Record;
use outpost_domain::sync::{Op, OpAction, OpRules, OpStatus, SCHEMA_VERSION};
use outpost_domain::transport::TripStatus;
use outpost_domain::transport::board::{self, BoardEntry};
use outpost_domain::transport::facility::Facility;
use outpost_domain::transport::request::TransportRequest;
use outpost_domain::transport::trip::{Trip, TripFields, riders};
use outpost_domain::transport::unit::{Unit, UnitStatus};
use outpost_domain::{Entity, OpId, Permission, RecordId, TenantId};
use outpost_store::board::{LeasedEvent, OutboxEvent, Step};
use outpost_store::{Filter, FilterOp, RecordQuery, StoreError, TenantStore, typed};

use crate::state::{AppState, HubState};

/// How long a step that could not reach a database waits before it is tried again.
const RETRY_SECONDS: i64 = 5;
/// Takes of one event before the worker stops retrying it and closes it as refused.
const MAX_ATTEMPTS: i32 = 20;
/// How often the worker looks for work nobody announced (another instance's events, a lease
/// run out, a trip's status synced through another instance).
const POLL: Duration = Duration::from_secs(2);

/// Why a step did not finish.
#[derive(Debug)]
pub enum StepError {
    /// A database could not be reached or answered an error: try again later.
    Retry(String),
    /// The step can never be done (the record it follows is gone or refuses it); the event is
    /// closed with this reason.
    Refused(String),
}

impl From<StoreError> for StepError {
    fn from(err: StoreError) -> Self {
        StepError::Retry(err.to_string())
    }
}

/// The worker's identity and its wake-up call.
pub struct Outbox {
    /// Names this process in event leases (`done_by`).
    pub name: String,
    wake: Notify,
    /// Each agency's change cursor when its trips were last followed.
    followed: std::sync::Mutex<HashMap<TenantId, i64>>,
    /// The agencies with running trips at the last round: a change in one of them may be a
    /// crew's step, for the worker to bring to the hospital and the board at once.
    running: std::sync::Mutex<HashSet<TenantId>>,
}

impl Default for Outbox {
    fn default() -> Self {
        Self {
            name: format!("hub-{}-{}", std::process::id(), Uuid::now_v7().simple()),
            wake: Notify::new(),
            followed: Default::default(),
            running: Default::default(),
        }
    }
}

impl Outbox {
    /// Asks the worker to look for work now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// A tenant's data changed: the worker looks now when the tenant is an agency running
    /// trips (a crew may have taken a step); a clinic's or a hospital's changes leave it to
    /// its next round.
    pub fn changed(&self, tenant: TenantId) {
        if self.running.lock().is_ok_and(|r| r.contains(&tenant)) {
            self.wake();
        }
    }
}

/// An id for the effect `purpose` of `key` (an event, a trip): the same inputs always give the
/// same id, so the tenant's op log recognises a replay.
pub fn derived(key: Uuid, purpose: &str) -> Uuid {
    let digest = Sha256::digest(format!("outpost-outbox\u{0}{key}\u{0}{purpose}"));
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::new_v8(bytes)
}

/// The id of an update of `record` for `key`'s effect `purpose`: keyed by the version it
/// was made on too, so that a replay on the same version is recognised, while one made after
/// the record moved (a conflict answered earlier) is a new op, decided afresh. What a step
/// does is decided from the records' state, so a replay on a newer version finds nothing to do.
fn keyed(key: Uuid, purpose: &str, record: &Record) -> Uuid {
    derived(key, &format!("{purpose}@{}", record.version))
}

/// The trip an accepted bid makes: one per board entry, whoever carries the event out.
pub fn trip_id(entry: Uuid) -> outpost_domain::TripId {
    outpost_domain::TripId::from_uuid(derived(entry, "trip"))
}

/// Runs the worker until the hub shuts down (or its state is dropped); serving starts it.
pub fn start(state: &AppState) {
    let weak = Arc::downgrade(state);
    let outbox = state.outbox.clone();
    let mut shutdown = state.shutting_down.subscribe();
    tokio::spawn(async move {
        loop {
            {
                let Some(state) = weak.upgrade() else { return };
                drain(&state, None).await;
                follow_trips(&state).await;
            }
            tokio::select! {
                _ = outbox.wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
                _ = shutdown.changed() => return,
            }
        }
    });
}

/// Carries out every ready event (of `entry` only, if given); a route calls it for its own
/// entry so that it answers with the steps done.
pub async fn drain(state: &HubState, entry: Option<Uuid>) {
    let board = state.store.board();
    loop {
        let now = state.clock.now();
        let leased = match board
            .lease_event(
                &state.outbox.name,
                now,
                chrono::Duration::seconds(state.config.outbox_lease_secs as i64),
                entry,
            )
            .await
        {
            Ok(Some(leased)) => leased,
            Ok(None) => return,
            Err(err) => {
                tracing::warn!(error = %err, "cannot lease an outbox event");
                return;
            }
        };
        run(state, &leased).await;
    }
}

async fn run(state: &HubState, leased: &LeasedEvent) {
    let board = state.store.board();
    let event = &leased.event;
    let outcome = match carry_out(state, event).await {
        Err(StepError::Retry(why)) if leased.attempts >= MAX_ATTEMPTS => Err(StepError::Refused(
            format!("{why} (given up after {MAX_ATTEMPTS} attempts)"),
        )),
        other => other,
    };
    let now = state.clock.now();
    let name = &state.outbox.name;
    let result = match &outcome {
        Ok(()) => board.finish_event(event.id, name, now, None).await,
        Err(StepError::Refused(why)) => {
            tracing::warn!(event = %event.id, kind = event.step.kind(), reason = %why, "outbox event refused");
            if let Err(err) = abandon(state, event).await {
                tracing::warn!(?err, event = %event.id, "cannot withdraw a transport whose step failed");
            }
            board.finish_event(event.id, name, now, Some(why)).await
        }
        Err(StepError::Retry(why)) => {
            tracing::warn!(event = %event.id, kind = event.step.kind(), error = %why, "outbox event will be retried");
            let at = now + chrono::Duration::seconds(RETRY_SECONDS);
            board
                .retry_event(event.id, name, at, why)
                .await
                .map(|()| true)
        }
    };
    match result {
        Ok(true) => crate::metrics::outbox_step(event.step.kind(), outcome.is_ok()),
        Ok(false) => tracing::info!(event = %event.id, "outbox event finished by another worker"),
        Err(err) => tracing::warn!(error = %err, "cannot record an outbox event's end"),
    }
}

/// An acceptance that can never be carried out (the request, its patient, a facility or the
/// unit is gone) takes the transport off the board and cancels the request, so that nobody
/// waits for a trip that will not come.
async fn abandon(state: &HubState, event: &OutboxEvent) -> Result<(), StepError> {
    if !matches!(event.step, Step::Accepted { .. }) {
        return Ok(());
    }
    let entry = entry_of(state, event).await?;
    withdraw(state, entry.id, UNASSIGNABLE).await?;
    let hospital = state.store.tenant(entry.hospital_tenant_id).await?;
    let as_hub = actor(state, entry.hospital_tenant_id, event.id);
    if let Some(request) = hospital
        .record(Entity::TransportRequest, entry.request_id.into(), &as_hub)
        .await?
    {
        cancel_request(state, &entry, event.id, "abandon", &request, UNASSIGNABLE).await?;
    }
    state
        .announce_board(entry.id, entry.hospital_tenant_id)
        .await;
    Ok(())
}

/// Takes an entry off the board as cancelled, showing `why`.
async fn withdraw(state: &HubState, entry: Uuid, why: &str) -> Result<(), StepError> {
    state
        .store
        .board()
        .follow_trip(entry, TripStatus::Cancelled, Some(why), state.clock.now())
        .await?;
    Ok(())
}

/// Cancels a hospital's request not over yet with `reason`, as the effect `purpose` of `key`.
async fn cancel_request(
    state: &HubState,
    entry: &BoardEntry,
    key: Uuid,
    purpose: &str,
    request: &Record,
    reason: &str,
) -> Result<(), StepError> {
    if fields::<TransportRequest>(request)?
        .fields
        .status
        .is_final()
    {
        return Ok(());
    }
    let hospital = state.store.tenant(entry.hospital_tenant_id).await?;
    let as_hub = actor(state, entry.hospital_tenant_id, key);
    let op = update(
        keyed(key, purpose, request),
        Entity::TransportRequest,
        request,
        json!({"status": "cancelled", "cancel_reason": reason}),
        state.clock.now(),
    );
    apply(state, &*hospital, &as_hub, op).await?;
    state.announce_changes(entry.hospital_tenant_id).await;
    Ok(())
}

/// Frees the unit of `trip` once the trip is over, unless another of its trips still runs
/// (keyed by the trip, so a replay changes nothing). A unit the dispatcher changed meanwhile
/// stays as they left it.
async fn free_unit(
    state: &HubState,
    db: &dyn TenantStore,
    as_hub: &Actor,
    trip: &Record,
) -> Result<(), StepError> {
    let ended = fields::<Trip>(trip)?.fields;
    if !ended.status.is_final() {
        return Ok(());
    }
    let Some(unit) = db
        .record(Entity::Unit, ended.unit_id.into(), as_hub)
        .await?
    else {
        return Ok(());
    };
    let status = fields::<Unit>(&unit)?.fields.status;
    // Freed only from `assigned`: otherwise the other trips need not be looked for.
    if status.after_trip(false).is_none() {
        return Ok(());
    }
    let equal = |field, value: String| Filter {
        field,
        op: FilterOp::Equals,
        value: Value::String(value),
    };
    let mut others_running = false;
    for running in TripStatus::RUNNING {
        let query = RecordQuery {
            filters: vec![
                equal("unit_id", ended.unit_id.to_string()),
                equal("status", running.as_str().to_owned()),
            ],
            limit: 2,
            ..RecordQuery::default()
        };
        let page = db.list_records(Entity::Trip, &query, as_hub).await?;
        if page.items.iter().any(|other| other.id != trip.id) {
            others_running = true;
            break;
        }
    }
    let Some(next) = status.after_trip(others_running) else {
        return Ok(());
    };
    let op = update(
        keyed(trip.id.as_uuid(), "free the unit", &unit),
        Entity::Unit,
        &unit,
        json!({ "status": next }),
        state.clock.now(),
    );
    match apply(state, db, as_hub, op).await {
        // The unit's availability is the dispatcher's to keep; the trip's end stands.
        Err(StepError::Refused(why)) => {
            tracing::info!(%why, "the unit was not freed");
            Ok(())
        }
        other => other.map(drop),
    }
}

/// Why a transport was withdrawn when its acceptance could not be carried out.
const UNASSIGNABLE: &str = "the accepted bid could not be turned into a trip";
/// What the board shows of a cancellation (the reason itself stays with the hospital and the
/// agency: free text may name the patient).
pub const CANCELLED_BY_CREW: &str = "cancelled by the crew";

/// The hub acting on a tenant's database for an event.
fn actor(state: &HubState, tenant: TenantId, key: Uuid) -> Actor {
    let mut actor = Actor::system(state.clock.now());
    actor.role = Some("outbox".into());
    actor.tenant_id = Some(tenant);
    actor.request_id = Some(format!("outbox-{key}"));
    actor
}

/// The hub's own rules: every permission, no user (it sees every record), the hub's fields.
fn rules(state: &HubState) -> OpRules {
    OpRules {
        permissions: Permission::ALL.iter().copied().collect(),
        user: None,
        today: state.clock.now().date_naive(),
    }
}

/// Applies one op of the hub's; a conflict or refusal is a [`StepError`].
async fn apply(
    state: &HubState,
    db: &dyn TenantStore,
    actor: &Actor,
    op: Op,
) -> Result<Option<Record>, StepError> {
    let result = db
        .apply_ops(vec![op], rules(state), actor)
        .await?
        .pop()
        .ok_or_else(|| StepError::Retry("no answer to an op".into()))?;
    match result.status {
        OpStatus::Applied | OpStatus::Merged => Ok(result.record),
        OpStatus::Conflict => Err(StepError::Retry(
            "the record changed meanwhile; reading it again".into(),
        )),
        OpStatus::Rejected => Err(StepError::Refused(result.error.map_or_else(
            || "refused".into(),
            |e| format!("{}: {}", e.code, e.message),
        ))),
    }
}

fn update(op_id: Uuid, entity: Entity, record: &Record, fields: Value, at: DateTime<Utc>) -> Op {
    Op {
        op_id: OpId::from_uuid(op_id),
        entity,
        record_id: record.id,
        action: OpAction::Update,
        base_version: Some(record.version),
        fields: fields.as_object().cloned().unwrap_or_default(),
        client_time: at,
        schema_version: SCHEMA_VERSION,
    }
}

async fn read(
    db: &dyn TenantStore,
    entity: Entity,
    id: RecordId,
    actor: &Actor,
) -> Result<Record, StepError> {
    db.record(entity, id, actor)
        .await?
        .ok_or_else(|| StepError::Refused(format!("the {} is gone", entity.as_str())))
}

fn fields<T: serde::de::DeserializeOwned>(record: &Record) -> Result<T, StepError> {
    // A fixed sentence: a parser's message may quote the value, which may be PHI.
    typed(record).map_err(|_| StepError::Refused("a stored record does not read".into()))
}

async fn entry_of(state: &HubState, event: &OutboxEvent) -> Result<BoardEntry, StepError> {
    state
        .store
        .board()
        .entry(event.entry_id)
        .await?
        .ok_or_else(|| StepError::Refused("the board entry is gone".into()))
}

/// One event's effects, each keyed by the event.
pub async fn carry_out(state: &HubState, event: &OutboxEvent) -> Result<(), StepError> {
    let entry = entry_of(state, event).await?;
    let hospital = state.store.tenant(entry.hospital_tenant_id).await?;
    let as_hub = actor(state, entry.hospital_tenant_id, event.id);
    let request = read(
        &*hospital,
        Entity::TransportRequest,
        entry.request_id.into(),
        &as_hub,
    )
    .await?;
    let current = fields::<TransportRequest>(&request)?.fields;
    match &event.step {
        Step::Published => {
            if current.status != TripStatus::Draft {
                // Cancelled or published elsewhere before this step ran: replayed, or the
                // board entry has nothing left to show.
                if current.board_entry_id != Some(entry.id) {
                    withdraw(
                        state,
                        entry.id,
                        "the request changed before it was published",
                    )
                    .await?;
                }
                return Ok(());
            }
            let op = update(
                keyed(event.id, "request", &request),
                Entity::TransportRequest,
                &request,
                json!({"status": "published", "board_entry_id": entry.id}),
                state.clock.now(),
            );
            apply(state, &*hospital, &as_hub, op).await?;
            state.announce_changes(entry.hospital_tenant_id).await;
        }
        Step::Accepted { bid } => accepted(state, event, &entry, &request, *bid).await?,
        Step::Cancelled { reason } => {
            cancel_request(state, &entry, event.id, "request", &request, reason).await?;
            if let (Some(agency), Some(trip)) = (entry.agency_tenant_id, entry.trip_id) {
                let db = state.store.tenant(agency).await?;
                let as_hub = actor(state, agency, event.id);
                if let Some(record) = db.record(Entity::Trip, trip.into(), &as_hub).await? {
                    let now = fields::<Trip>(&record)?.fields;
                    if !now.status.is_final() {
                        let op = update(
                            keyed(event.id, "trip", &record),
                            Entity::Trip,
                            &record,
                            json!({"status": "cancelled", "cancel_reason": reason}),
                            state.clock.now(),
                        );
                        if let Some(cancelled) = apply(state, &*db, &as_hub, op).await? {
                            free_unit(state, &*db, &as_hub, &cancelled).await?;
                        }
                        state.announce_changes(agency).await;
                    }
                }
            }
        }
    }
    Ok(())
}

/// An accepted bid: the trip in the agency's database (with the minimum patient data, read
/// from the hospital's now and never kept centrally), the unit assigned, and the request
/// showing who runs it.
async fn accepted(
    state: &HubState,
    event: &OutboxEvent,
    entry: &BoardEntry,
    request: &Record,
    bid: Uuid,
) -> Result<(), StepError> {
    let board = state.store.board();
    let bid = board
        .bids(entry.id, None)
        .await?
        .into_iter()
        .find(|b| b.id == bid)
        .ok_or_else(|| StepError::Refused("the accepted bid is gone".into()))?;
    let (Some(agency), Some(trip)) = (entry.agency_tenant_id, entry.trip_id) else {
        return Err(StepError::Refused("the entry was not assigned".into()));
    };
    let hospital = state.store.tenant(entry.hospital_tenant_id).await?;
    let as_hospital = actor(state, entry.hospital_tenant_id, event.id);
    let wanted = fields::<TransportRequest>(request)?.fields;
    let origin = fields::<Facility>(
        &read(
            &*hospital,
            Entity::Facility,
            wanted.origin_facility_id.into(),
            &as_hospital,
        )
        .await?,
    )?
    .fields;
    let destination = fields::<Facility>(
        &read(
            &*hospital,
            Entity::Facility,
            wanted.destination_facility_id.into(),
            &as_hospital,
        )
        .await?,
    )?
    .fields;
    let db = state.store.tenant(agency).await?;
    let as_agency = actor(state, agency, event.id);
    if entry.status == TripStatus::Cancelled || wanted.status.is_final() {
        // Withdrawn before the step ran: no patient data goes anywhere.
        return Ok(());
    }
    let unit = read(&*db, Entity::Unit, bid.unit_id.into(), &as_agency).await?;
    if db
        .record(Entity::Trip, trip.into(), &as_agency)
        .await?
        .is_none()
    {
        let patient = fields::<Patient>(
            &read(
                &*hospital,
                Entity::Patient,
                wanted.patient_id.into(),
                &as_hospital,
            )
            .await?,
        )?
        .fields;
        let members = state.store.central().members(Some(agency)).await?;
        let crew = riders(&fields::<Unit>(&unit)?.fields.crew_user_ids, &members);
        let made = TripFields::accepted(
            entry,
            &wanted,
            &origin,
            &destination,
            &patient,
            bid.unit_id,
            crew,
        );
        let op = Op {
            op_id: OpId::from_uuid(derived(event.id, "trip")),
            entity: Entity::Trip,
            record_id: trip.into(),
            action: OpAction::Create,
            base_version: None,
            fields: outpost_domain::record::to_map(&made),
            client_time: state.clock.now(),
            schema_version: SCHEMA_VERSION,
        };
        apply(state, &*db, &as_agency, op).await?;
        state.announce_changes(agency).await;
    }
    if fields::<Unit>(&unit)?.fields.status == UnitStatus::Available {
        let op = update(
            keyed(event.id, "unit", &unit),
            Entity::Unit,
            &unit,
            json!({"status": "assigned"}),
            state.clock.now(),
        );
        if let Err(err) = apply(state, &*db, &as_agency, op).await {
            // The unit's availability is the dispatcher's to keep; the trip stands.
            tracing::info!(?err, "the assigned unit's status was not changed");
        }
    }
    // Who runs it, whether or not the crew's first steps reached the request first.
    if wanted.assigned_agency.is_none() {
        let mut change = json!({"assigned_agency": bid.agency, "assigned_unit": bid.unit});
        if wanted.status == TripStatus::Published {
            change["status"] = json!("assigned");
        }
        let op = update(
            keyed(event.id, "request", request),
            Entity::TransportRequest,
            request,
            change,
            state.clock.now(),
        );
        apply(state, &*hospital, &as_hospital, op).await?;
        state.announce_changes(entry.hospital_tenant_id).await;
    }
    Ok(())
}

/// Brings every running trip whose agency changed since the last look back to its request
/// and board entry.
pub async fn follow_trips(state: &HubState) {
    let running = match state.store.board().running().await {
        Ok(running) => running,
        Err(err) => {
            tracing::warn!(error = %err, "cannot read the running trips");
            return;
        }
    };
    if let Ok(mut agencies) = state.outbox.running.lock() {
        *agencies = running.iter().filter_map(|e| e.agency_tenant_id).collect();
    }
    let mut cursors: HashMap<TenantId, i64> = HashMap::new();
    for entry in running {
        let Some(agency) = entry.agency_tenant_id else {
            continue;
        };
        let cursor = match cursors.get(&agency) {
            Some(cursor) => *cursor,
            None => {
                let Ok(db) = state.store.tenant(agency).await else {
                    continue;
                };
                let Ok(cursor) = db.cursor().await else {
                    continue;
                };
                cursors.insert(agency, cursor);
                cursor
            }
        };
        let seen = state
            .outbox
            .followed
            .lock()
            .ok()
            .and_then(|f| f.get(&agency).copied());
        if seen == Some(cursor) {
            continue;
        }
        if let Err(err) = follow(state, &entry).await {
            tracing::warn!(?err, entry = %entry.id, "cannot follow a trip");
            cursors.insert(agency, -1);
        }
    }
    if let Ok(mut followed) = state.outbox.followed.lock() {
        for (agency, cursor) in cursors {
            if cursor >= 0 {
                followed.insert(agency, cursor);
            } else {
                followed.remove(&agency);
            }
        }
    }
}

/// One trip's status to its request (step by step, each op keyed by the trip and the step)
/// and to its board entry.
pub async fn follow(state: &HubState, entry: &BoardEntry) -> Result<(), StepError> {
    let (Some(agency), Some(trip)) = (entry.agency_tenant_id, entry.trip_id) else {
        return Ok(());
    };
    let db = state.store.tenant(agency).await?;
    let key = trip.as_uuid();
    let Some(record) = db
        .record(Entity::Trip, trip.into(), &actor(state, agency, key))
        .await?
    else {
        return Ok(());
    };
    let now = fields::<Trip>(&record)?.fields;
    if board::followed(entry.status, now.status).is_none() {
        return Ok(());
    }
    let hospital = state.store.tenant(entry.hospital_tenant_id).await?;
    let as_hub = actor(state, entry.hospital_tenant_id, key);
    let mut request = read(
        &*hospital,
        Entity::TransportRequest,
        entry.request_id.into(),
        &as_hub,
    )
    .await?;
    let wanted = fields::<TransportRequest>(&request)?.fields;
    for step in board::steps_between(wanted.status, now.status) {
        let mut change = json!({"status": step.as_str()});
        if step == TripStatus::Cancelled {
            change["cancel_reason"] = json!(
                now.cancel_reason
                    .as_deref()
                    .unwrap_or("cancelled by the crew")
            );
        }
        let op = update(
            keyed(key, step.as_str(), &request),
            Entity::TransportRequest,
            &request,
            change,
            state.clock.now(),
        );
        match apply(state, &*hospital, &as_hub, op).await? {
            Some(after) => request = after,
            None => break,
        }
    }
    state.announce_changes(entry.hospital_tenant_id).await;
    // Before the board moves: a board entry that is over is followed no more.
    free_unit(state, &*db, &actor(state, agency, key), &record).await?;
    let moved = state
        .store
        .board()
        .follow_trip(
            entry.id,
            now.status,
            (now.status == TripStatus::Cancelled).then_some(CANCELLED_BY_CREW),
            state.clock.now(),
        )
        .await?;
    if moved {
        state
            .announce_board(entry.id, entry.hospital_tenant_id)
            .await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_and_distinct_per_purpose() {
        let event = Uuid::now_v7();
        assert_eq!(derived(event, "trip"), derived(event, "trip"));
        assert_ne!(derived(event, "trip"), derived(event, "request"));
        assert_ne!(derived(event, "trip"), derived(Uuid::now_v7(), "trip"));
    }

    #[tokio::test]
    async fn only_changes_in_agencies_running_trips_wake_the_worker() {
        let outbox = Outbox::default();
        let (agency, clinic) = (TenantId::generate(), TenantId::generate());
        outbox.running.lock().expect("lock").insert(agency);
        let woken =
            || tokio::time::timeout(std::time::Duration::from_millis(50), outbox.wake.notified());
        outbox.changed(clinic);
        assert!(
            woken().await.is_err(),
            "a clinic's change waits for the round"
        );
        outbox.changed(agency);
        assert!(woken().await.is_ok(), "an agency's may be a crew's step");
    }
}
