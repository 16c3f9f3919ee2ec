//! The demo's transport records: the hospital's facilities and a few draft requests for its
//! patients; the EMS agencies' units, each agency's first crewed by its demo crew; and a month
//! of the board's history made through the real flow (publish, bids, acceptance, the crews'
//! steps, cancellations) with the clock set to each moment, so that the transport report and
//! its charts have content; then today's board: open requests, and two trips assigned to the
//! demo crew's unit.

use chrono::{DateTime, Duration, DurationRound, Timelike, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

use outpost_domain::audit::Actor;
use outpost_domain::clock::{Clock, ManualClock};
use outpost_domain::record::Record;
use outpost_domain::sync::{Op, OpAction, OpRules, OpStatus, SCHEMA_VERSION};
use outpost_domain::tenant::Tenant;
use outpost_domain::transport::board::{BoardEntry, NewBid};
use outpost_domain::transport::request::TransportRequest;
use outpost_domain::transport::{Level, TripStatus};
use outpost_domain::{Entity, OpId, PatientId, RecordId, Role, UnitId, UserId};
use outpost_store::{RecordQuery, TenantStore, typed};

use crate::error::ApiError;
use crate::flow;
use crate::outbox;
use crate::state::HubState;

fn object(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

/// The hospital's sites and the places it sends patients to.
const FACILITIES: &[(&str, &str, &str)] = &[
    ("St. Mary Emergency Department", "hospital", "Springfield"),
    ("St. Mary Main Campus", "hospital", "Springfield"),
    ("Oak Ridge Rehabilitation", "rehabilitation", "Shelbyville"),
    ("Riverside Nursing Home", "nursing_home", "Capital City"),
    (
        "Shelbyville Regional Medical Center",
        "hospital",
        "Shelbyville",
    ),
];

/// Stores the facilities and one draft request for each of the first `patients` (up to
/// three), with pickup windows from `now` on. Returns how many requests.
pub async fn hospital(
    db: &dyn TenantStore,
    patients: &[PatientId],
    now: DateTime<Utc>,
    actor: &Actor,
) -> Result<usize, ApiError> {
    let facilities: Vec<(RecordId, Map<String, Value>)> = FACILITIES
        .iter()
        .map(|(name, kind, city)| {
            let fields = json!({"name": name, "kind": kind, "city": city});
            (RecordId::generate(), object(fields))
        })
        .collect();
    let ids: Vec<RecordId> = facilities.iter().map(|(id, _)| *id).collect();
    db.create_records(Entity::Facility, facilities, actor)
        .await?;
    let needs = [
        (
            "ALS",
            "urgent",
            vec!["oxygen", "cardiac monitor"],
            "stretcher",
        ),
        ("BLS", "scheduled", vec![], "wheelchair"),
        (
            "CCT",
            "emergent",
            vec!["ventilator", "infusion pumps"],
            "stretcher",
        ),
    ];
    let requests: Vec<(RecordId, Map<String, Value>)> = patients
        .iter()
        .zip(needs)
        .enumerate()
        .map(|(n, (patient, (level, priority, equipment, mobility)))| {
            let from = (now + Duration::hours(2 + 3 * n as i64))
                .format("%Y-%m-%dT%H:00:00Z")
                .to_string();
            let to = (now + Duration::hours(4 + 3 * n as i64))
                .format("%Y-%m-%dT%H:00:00Z")
                .to_string();
            let fields = json!({
                "patient_id": patient, "origin_facility_id": ids[n % 2],
                "destination_facility_id": ids[2 + n], "level": level, "priority": priority,
                "pickup_from": from, "pickup_to": to, "equipment": equipment,
                "mobility": mobility, "reason": "continued care closer to home",
            });
            (RecordId::generate(), object(fields))
        })
        .collect();
    let count = requests.len();
    db.create_records(Entity::TransportRequest, requests, actor)
        .await?;
    Ok(count)
}

/// A unit of a demo agency: call sign, level, capabilities, whether the agency's demo crew rides
/// it, and whether it is out of service.
pub struct UnitSpec {
    pub call_sign: &'static str,
    pub level: &'static str,
    pub capabilities: &'static [&'static str],
    pub crewed: bool,
    pub out_of_service: bool,
}

const fn unit(
    call_sign: &'static str,
    level: &'static str,
    capabilities: &'static [&'static str],
    crewed: bool,
) -> UnitSpec {
    UnitSpec {
        call_sign,
        level,
        capabilities,
        crewed,
        out_of_service: false,
    }
}

/// Metro EMS: Medic 1 is the demo crew's (its trips are today's); Medic 4 and Critical 1 ran
/// the month's history.
pub const METRO_UNITS: &[UnitSpec] = &[
    unit("Medic 1", "ALS", &["oxygen", "cardiac monitor"], true),
    unit("Medic 2", "BLS", &["oxygen", "stair chair"], false),
    unit("Medic 4", "ALS", &["oxygen", "cardiac monitor"], false),
    unit(
        "Critical 1",
        "CCT",
        &["ventilator", "infusion pumps", "oxygen"],
        false,
    ),
    UnitSpec {
        call_sign: "Medic 3",
        level: "BLS",
        capabilities: &[],
        crewed: false,
        out_of_service: true,
    },
];

/// County EMS, the other bidder.
pub const COUNTY_UNITS: &[UnitSpec] = &[
    unit("County 7", "ALS", &["oxygen", "cardiac monitor"], true),
    unit("County 9", "BLS", &["oxygen"], false),
];

/// Stores an agency's units; the crewed ones carry `crew`. Those in service have 12-hour
/// shifts: a crewed one is on shift now and for a day after, another from tomorrow.
pub async fn units(
    db: &dyn TenantStore,
    specs: &[UnitSpec],
    crew: &[UserId],
    actor: &Actor,
) -> Result<(), ApiError> {
    let hour = actor
        .at
        .duration_trunc(Duration::hours(1))
        .unwrap_or(actor.at);
    let mut units = Vec::new();
    let mut shifts = Vec::new();
    for spec in specs {
        let id = RecordId::generate();
        let mut fields = json!({
            "call_sign": spec.call_sign, "level": spec.level,
            "capabilities": spec.capabilities,
        });
        if spec.crewed {
            fields["crew_user_ids"] = json!(crew);
        }
        if spec.out_of_service {
            fields["status"] = json!("out_of_service");
            fields["notes"] = json!("brakes in the shop");
        }
        units.push((id, object(fields)));
        let starts: &[i64] = match (spec.out_of_service, spec.crewed) {
            (true, _) => &[],
            (false, true) => &[-2, 10, 22],
            (false, false) => &[22],
        };
        for start in starts {
            let start = hour + Duration::hours(*start);
            let shift = json!({
                "unit_id": id, "start": start, "end": start + Duration::hours(12),
            });
            shifts.push((RecordId::generate(), object(shift)));
        }
    }
    db.create_records(Entity::Unit, units, actor).await?;
    db.create_records(Entity::UnitShift, shifts, actor).await?;
    Ok(())
}

/// An agency of the demo as the board's history needs it.
pub struct DemoAgency {
    pub tenant: Tenant,
    pub dispatcher: UserId,
}

/// What the history made, for the demo's summary and its test.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct History {
    pub published: usize,
    pub completed: usize,
    pub cancelled: usize,
    pub open: usize,
    pub running: usize,
}

fn at_hour(day: DateTime<Utc>, hour: u32) -> DateTime<Utc> {
    day.date_naive()
        .and_hms_opt(hour, 0, 0)
        .map_or(day, |t| t.and_utc())
}

async fn all<T: serde::de::DeserializeOwned>(
    db: &dyn TenantStore,
    entity: Entity,
    actor: &Actor,
) -> Result<Vec<T>, ApiError> {
    let page = db
        .list_records(
            entity,
            &RecordQuery {
                q: None,
                filters: Vec::new(),
                limit: 500,
                after: None,
            },
            actor,
        )
        .await?;
    page.items
        .iter()
        .map(|r| typed::<T>(r).map_err(ApiError::from))
        .collect()
}

/// The actor of a demo user at a moment.
fn as_user(
    base: &Actor,
    tenant: &Tenant,
    user: Option<UserId>,
    role: Role,
    at: DateTime<Utc>,
) -> Actor {
    let mut actor = base.clone();
    actor.tenant_id = Some(tenant.id);
    actor.user_id = user;
    actor.role = Some(role.as_str().to_owned());
    actor.at = at;
    actor
}

/// A trip's step taken by the agency's dispatcher at `at` (as a crew's synced step arrives).
async fn step(
    state: &HubState,
    agency: &DemoAgency,
    trip: &Record,
    status: TripStatus,
    reason: Option<&str>,
    actor: &Actor,
) -> Result<Record, ApiError> {
    let db = state.store.tenant(agency.tenant.id).await?;
    let mut fields = json!({"status": status.as_str()});
    if let Some(reason) = reason {
        fields["cancel_reason"] = json!(reason);
    }
    let op = Op {
        op_id: OpId::generate(),
        entity: Entity::Trip,
        record_id: trip.id,
        action: OpAction::Update,
        base_version: Some(trip.version),
        fields: object(fields),
        client_time: actor.at,
        schema_version: SCHEMA_VERSION,
    };
    let rules = OpRules {
        permissions: state.permissions_of(Role::EmsDispatcher),
        user: Some(agency.dispatcher),
        today: actor.at.date_naive(),
    };
    let result = db
        .apply_ops(vec![op], rules, actor)
        .await?
        .pop()
        .ok_or_else(ApiError::internal)?;
    match (result.status, result.record) {
        (OpStatus::Applied | OpStatus::Merged, Some(record)) => Ok(record),
        _ => Err(ApiError::internal()),
    }
}

/// Builds the month of history and today's board, moving `clock` to each moment (it ends at
/// `now`). Requests go from the hospital's facilities, for its patients in turn.
pub async fn board(
    state: &HubState,
    clock: &ManualClock,
    base: &Actor,
    hospital: &Tenant,
    coordinator: UserId,
    agencies: &[DemoAgency; 2],
    now: DateTime<Utc>,
) -> Result<History, ApiError> {
    let mut rng = StdRng::seed_from_u64(21);
    let coordinating = |at| {
        as_user(
            base,
            hospital,
            Some(coordinator),
            Role::TransportCoordinator,
            at,
        )
    };
    let db = state.store.tenant(hospital.id).await?;
    let reader = coordinating(now);
    let facilities: Vec<RecordId> = all::<outpost_domain::transport::facility::Facility>(
        db.as_ref(),
        Entity::Facility,
        &reader,
    )
    .await?
    .into_iter()
    .map(|f| f.id.into())
    .collect();
    let patients: Vec<RecordId> =
        all::<outpost_domain::patient::Patient>(db.as_ref(), Entity::Patient, &reader)
            .await?
            .into_iter()
            .map(|p| p.id.into())
            .collect();
    if facilities.len() < 3 || patients.is_empty() {
        return Ok(History::default());
    }
    let mut units: Vec<Vec<(UnitId, Level, bool)>> = Vec::new();
    for agency in agencies {
        let agency_db = state.store.tenant(agency.tenant.id).await?;
        let actor = as_user(
            base,
            &agency.tenant,
            Some(agency.dispatcher),
            Role::EmsDispatcher,
            now,
        );
        units.push(
            all::<outpost_domain::transport::unit::Unit>(agency_db.as_ref(), Entity::Unit, &actor)
                .await?
                .into_iter()
                .filter(|u| {
                    u.fields.status != outpost_domain::transport::unit::UnitStatus::OutOfService
                })
                .map(|u| (u.id, u.fields.level, !u.fields.crew_user_ids.is_empty()))
                .collect(),
        );
    }
    let levels = ["BLS", "BLS", "ALS", "ALS", "ALS", "CCT"];
    let priorities = ["scheduled", "scheduled", "urgent", "urgent", "emergent"];
    let mut history = History::default();
    let mut n = 0usize;
    // A month of two or three transports a day, then today's: two for the demo crew, three open.
    // (published, pickup window opens, outcome)
    let mut plan: Vec<(DateTime<Utc>, DateTime<Utc>, Outcome)> = Vec::new();
    for days_ago in (1..=30).rev() {
        let day = now - Duration::days(days_ago);
        for slot in 0..rng.gen_range(2..=3) {
            let outcome = match rng.gen_range(0..20) {
                0 => Outcome::CancelledOpen,
                1 => Outcome::CancelledRunning,
                _ => Outcome::Completed,
            };
            let published = at_hour(day, 7 + 4 * slot);
            plan.push((published, published + Duration::hours(2), outcome));
        }
    }
    let next_hour = at_hour(now, 0) + Duration::hours(i64::from(now.hour()) + 1);
    for (k, hours) in [1, 4].into_iter().enumerate() {
        let published = now - Duration::minutes(60 - 20 * k as i64);
        plan.push((published, next_hour + Duration::hours(hours), Outcome::Crew));
    }
    for (k, minutes) in [50, 30, 10].into_iter().enumerate() {
        plan.push((
            now - Duration::minutes(minutes),
            next_hour + Duration::hours(2 + k as i64),
            Outcome::Open,
        ));
    }
    for (published, pickup_from, outcome) in plan {
        let patient = patients[n % patients.len()];
        let (origin, destination) = (
            facilities[n % 2],
            facilities[2 + n % (facilities.len() - 2)],
        );
        let level = match outcome {
            Outcome::Crew => "ALS",
            _ => levels[rng.gen_range(0..levels.len())],
        };
        let priority = priorities[rng.gen_range(0..priorities.len())];
        n += 1;
        let pickup_to = pickup_from + Duration::hours(2);
        clock.set(published - Duration::minutes(20));
        let drafting = coordinating(clock.now());
        let fields = json!({
            "patient_id": patient, "origin_facility_id": origin,
            "destination_facility_id": destination, "level": level, "priority": priority,
            "pickup_from": pickup_from, "pickup_to": pickup_to,
            "equipment": if level == "CCT" { json!(["ventilator"]) } else { json!(["oxygen"]) },
            "mobility": "stretcher", "weight_class": "under 100 kg",
            "reason": "continued care closer to home",
        });
        let mut created = db
            .create_records(
                Entity::TransportRequest,
                vec![(RecordId::generate(), object(fields))],
                &drafting,
            )
            .await?;
        let request: TransportRequest = typed(&created.pop().ok_or_else(ApiError::internal)?)?;
        clock.set(published);
        let entry = flow::publish(state, &coordinating(published), hospital, &request).await?;
        history.published += 1;
        // Bids: each agency with a unit of the level (the demo crew's unit only today).
        let mut offers = Vec::new();
        for (a, agency) in agencies.iter().enumerate() {
            let today = matches!(outcome, Outcome::Crew);
            let Some((unit, _, _)) = units[a].iter().find(|(_, l, crewed)| {
                l.covers(entry.level) && (*crewed == (today && a == 0)) && (!today || a == 0)
            }) else {
                continue;
            };
            if matches!(outcome, Outcome::Open) && rng.gen_range(0..3) == 0 {
                continue;
            }
            let at = published + Duration::minutes(rng.gen_range(4..45));
            clock.set(at);
            let actor = as_user(
                base,
                &agency.tenant,
                Some(agency.dispatcher),
                Role::EmsDispatcher,
                at,
            );
            let bid = flow::bid(
                state,
                &actor,
                &agency.tenant,
                &entry,
                &NewBid {
                    unit_id: *unit,
                    eta_minutes: rng.gen_range(8..60),
                    notes: None,
                },
            )
            .await?;
            offers.push((a, bid, at));
        }
        match outcome {
            Outcome::Open => {
                history.open += 1;
                continue;
            }
            Outcome::CancelledOpen => {
                clock.set(published + Duration::hours(1));
                flow::cancel(
                    state,
                    &coordinating(published + Duration::hours(1)),
                    hospital,
                    &request,
                    "the patient was discharged home",
                )
                .await?;
                history.cancelled += 1;
                continue;
            }
            _ => {}
        }
        let Some((a, bid, bid_at)) = offers.iter().min_by_key(|(_, b, _)| b.eta_minutes).cloned()
        else {
            clock.set(published + Duration::hours(1));
            flow::cancel(
                state,
                &coordinating(published + Duration::hours(1)),
                hospital,
                &request,
                "no unit of the level was available",
            )
            .await?;
            history.cancelled += 1;
            continue;
        };
        let accepted_at = bid_at + Duration::minutes(rng.gen_range(3..40));
        clock.set(accepted_at);
        let assigned = flow::accept(
            state,
            &coordinating(accepted_at),
            hospital,
            request.id,
            bid.id,
        )
        .await?;
        if matches!(outcome, Outcome::Crew) {
            history.running += 1;
            continue;
        }
        let agency = &agencies[a];
        let agency_db = state.store.tenant(agency.tenant.id).await?;
        let trip_id = assigned.trip_id.ok_or_else(ApiError::internal)?;
        let mut trip = agency_db
            .record(
                Entity::Trip,
                trip_id.into(),
                &as_user(
                    base,
                    &agency.tenant,
                    Some(agency.dispatcher),
                    Role::EmsDispatcher,
                    accepted_at,
                ),
            )
            .await?
            .ok_or_else(ApiError::internal)?;
        // One pickup in six is late; the rest reach the patient inside the window.
        let reached = if rng.gen_range(0..6) == 0 {
            pickup_to + Duration::minutes(rng.gen_range(5..40))
        } else {
            pickup_from + Duration::minutes(rng.gen_range(0..90))
        };
        let steps = [
            (
                TripStatus::EnRoute,
                reached - Duration::minutes(rng.gen_range(10..30)),
            ),
            (TripStatus::AtPickup, reached),
            (
                TripStatus::Transporting,
                reached + Duration::minutes(rng.gen_range(10..25)),
            ),
            (
                TripStatus::AtDestination,
                reached + Duration::minutes(rng.gen_range(35..70)),
            ),
            (
                TripStatus::Completed,
                reached + Duration::minutes(rng.gen_range(75..95)),
            ),
        ];
        let cancel_midway = matches!(outcome, Outcome::CancelledRunning);
        for (status, at) in steps {
            if cancel_midway && status == TripStatus::Transporting {
                clock.set(at);
                let actor = as_user(
                    base,
                    &agency.tenant,
                    Some(agency.dispatcher),
                    Role::EmsDispatcher,
                    at,
                );
                step(
                    state,
                    agency,
                    &trip,
                    TripStatus::Cancelled,
                    Some("the patient refused transport"),
                    &actor,
                )
                .await?;
                break;
            }
            clock.set(at.max(accepted_at));
            let actor = as_user(
                base,
                &agency.tenant,
                Some(agency.dispatcher),
                Role::EmsDispatcher,
                clock.now(),
            );
            trip = step(state, agency, &trip, status, None, &actor).await?;
            let entry = state
                .store
                .board()
                .entry(entry.id)
                .await?
                .ok_or_else(ApiError::internal)?;
            outbox::follow(state, &entry)
                .await
                .map_err(|_| ApiError::internal())?;
        }
        if cancel_midway {
            let entry: BoardEntry = state
                .store
                .board()
                .entry(entry.id)
                .await?
                .ok_or_else(ApiError::internal)?;
            outbox::follow(state, &entry)
                .await
                .map_err(|_| ApiError::internal())?;
            history.cancelled += 1;
        } else {
            history.completed += 1;
        }
    }
    clock.set(now);
    Ok(history)
}

/// How a demo transport ends.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    Completed,
    CancelledOpen,
    CancelledRunning,
    /// Today's, assigned to the demo crew's unit.
    Crew,
    /// Today's, still on the board.
    Open,
}
