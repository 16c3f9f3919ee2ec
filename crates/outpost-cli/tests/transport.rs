//! Transport on the computers. A crew's laptop offline: the trip's steps taken with the hub
//! stopped and the device's clock hours off, one at a time (a step out of order refused and
//! nothing kept), then synced: the hub keeps the device's time and its own for each step, and
//! orders them by its own. A dispatcher on the command line. And minimum necessary: after an
//! acceptance, only the assigned crew's copy holds the patient.

mod common;

use std::sync::Arc;

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use common::{FakeClock, Hub, PASSWORD, client, no_progress, run};
use outpost_client::{Client, ClientError, ErrorCode};
use outpost_domain::audit::Actor;
use outpost_domain::clock::Clock;
use outpost_domain::tenant::Tenant;
use outpost_domain::transport::TripStatus;
use outpost_domain::transport::board::NewBid;
use outpost_domain::transport::request::TransportRequestFields;
use outpost_domain::transport::shift::{ShiftFields, ShiftStatus};
use outpost_domain::{Entity, RecordId, Role, TenantKind, TripId, UserId};
use outpost_store::Store;

fn object(value: Value) -> serde_json::Map<String, Value> {
    value.as_object().cloned().expect("an object")
}

/// A hospital's patient (MRN `CLI-1`, Ada Byron, born 1950-02-03) and two of its facilities,
/// written straight into its database: the patient, the origin and the destination.
async fn patient_and_facilities(hub: &Hub, hospital: &Tenant) -> (RecordId, RecordId, RecordId) {
    let mut actor = Actor::system(Utc::now());
    actor.tenant_id = Some(hospital.id);
    let db = hub.store().tenant(hospital.id).await.expect("hospital");
    let (patient, origin, destination) = (
        RecordId::generate(),
        RecordId::generate(),
        RecordId::generate(),
    );
    db.create_records(
        Entity::Patient,
        vec![(
            patient,
            object(json!({"mrn": "CLI-1", "given_name": "Ada", "family_name": "Byron", "birth_date": "1950-02-03", "sex": "female"})),
        )],
        &actor,
    )
    .await
    .expect("patient");
    db.create_records(
        Entity::Facility,
        vec![
            (
                origin,
                object(json!({"name": "General ER", "kind": "hospital", "city": "Springfield"})),
            ),
            (
                destination,
                object(
                    json!({"name": "Oak Rehab", "kind": "rehabilitation", "city": "Shelbyville"}),
                ),
            ),
        ],
        &actor,
    )
    .await
    .expect("facilities");
    (patient, origin, destination)
}

/// A user of `tenant` in `role`, signed in on a computer of their own.
async fn signed_in(hub: &Hub, tenant: &Tenant, role: Role) -> (tempfile::TempDir, Client, UserId) {
    let email = hub.user(tenant, role).await;
    let home = tempfile::tempdir().expect("home");
    let mut device = client(home.path(), Arc::new(outpost_domain::clock::SystemClock));
    let profile = device
        .login(&hub.url(), None, &email, PASSWORD)
        .await
        .expect("login");
    (home, device, profile.user_id)
}

/// Every byte of every file under `dir`, as lossy text.
fn files_text(dir: &std::path::Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).expect("dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            text.push_str(&files_text(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    text
}

// Several threads: the hub serves the `outpost` process the test waits for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crew_takes_its_steps_offline_with_a_wrong_clock_and_the_hub_keeps_both_times() {
    let mut hub = Hub::start().await;
    let agency = hub.tenant("medics", TenantKind::EmsAgency).await;
    let email = hub.user(&agency, Role::EmsCrew).await;
    let home = tempfile::tempdir().expect("home");
    // The laptop's clock is five hours slow.
    let skew = Duration::hours(5);
    let clock = Arc::new(FakeClock::starting_now());
    clock.advance(-skew);
    let mut crew = client(home.path(), clock.clone());
    let profile = crew
        .login(&hub.url(), None, &email, PASSWORD)
        .await
        .expect("login");

    // The unit and the trip the hub makes when the hospital accepts the agency's bid.
    let mut actor = Actor::system(Utc::now());
    actor.tenant_id = Some(agency.id);
    let db = hub.store().tenant(agency.id).await.expect("tenant");
    let unit = RecordId::generate();
    db.create_records(
        Entity::Unit,
        vec![(
            unit,
            object(
                json!({"call_sign": "Medic 4", "level": "ALS", "crew_user_ids": [profile.user_id]}),
            ),
        )],
        &actor,
    )
    .await
    .expect("unit");
    let trip = RecordId::generate();
    db.create_records(
        Entity::Trip,
        vec![(
            trip,
            object(json!({
                "board_entry_id": RecordId::generate(), "hospital": "St Mary's",
                "origin": "St Mary's ED", "origin_city": "Springfield",
                "destination": "Oak Rehab", "destination_city": "Shelbyville",
                "level": "ALS", "priority": "urgent",
                "pickup_from": Utc::now(), "pickup_to": Utc::now() + Duration::hours(2),
                "patient_name": "Ada Byron", "patient_birth_date": "1950-02-03",
                "unit_id": unit, "crew_user_ids": [profile.user_id],
            })),
        )],
        &actor,
    )
    .await
    .expect("trip");
    drop(db);
    crew.sync(&mut no_progress()).await.expect("mirror");
    let trips = crew.trips().expect("trips");
    assert_eq!(trips.len(), 1);
    let id = TripId::from(trip);

    // No signal: two taps, minutes apart on the laptop's clock; a skip is refused here.
    hub.pause().await;
    let mut taken = Vec::new();
    for status in [TripStatus::EnRoute, TripStatus::AtPickup] {
        clock.advance(Duration::minutes(8));
        crew.set_trip_status(id, status, None).expect("a step");
        taken.push(clock.now());
    }
    let skip = crew.set_trip_status(id, TripStatus::Completed, None);
    assert!(
        matches!(&skip, Err(e @ ClientError::Refused { .. }) if e.code() == ErrorCode::InvalidTransition),
        "{skip:?}"
    );
    assert_eq!(
        crew.status().expect("status").pending_ops,
        2,
        "the skip kept nothing"
    );
    let (_, steps) = crew.trip(id).expect("trip");
    assert_eq!(steps.len(), 3, "assigned, then two waiting");
    assert!(steps[1].hub_time.is_none() && steps[1].device_time == Some(taken[0]));

    hub.resume().await;
    let report = crew.sync(&mut no_progress()).await.expect("sync");
    assert_eq!(report.applied, 2);
    let history = hub
        .store()
        .tenant(agency.id)
        .await
        .expect("tenant")
        .record_history(Entity::Trip, trip, &actor)
        .await
        .expect("history")
        .expect("live");
    let statuses: Vec<_> = history
        .iter()
        .map(|h| h.changes["status"].new.clone())
        .collect();
    assert_eq!(
        statuses,
        [json!("assigned"), json!("en_route"), json!("at_pickup")]
    );
    for (entry, device) in history[1..].iter().zip(&taken) {
        assert_eq!(
            entry.client_time,
            Some(*device),
            "the device's time is kept"
        );
        assert!(
            entry.at - *device > Duration::hours(4),
            "and the hub's own, hours later"
        );
    }
    assert!(history[1].at <= history[2].at, "ordered by the hub's clock");

    // The command line shows both times for each synced step.
    let (ok, shown) = run(home.path(), &["trip", "show", &trip.to_string()]);
    assert!(ok, "{shown}");
    let steps = shown["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 3);
    assert!(steps.iter().all(|s| s["hub_time"].is_string()), "{shown}");
    let (ok, refused) = run(
        home.path(),
        &["trip", "status", &trip.to_string(), "at-destination"],
    );
    assert!(!ok);
    assert_eq!(refused["error"]["code"], "invalid_transition", "{refused}");
    let (ok, moved) = run(
        home.path(),
        &["trip", "status", &trip.to_string(), "transporting"],
    );
    assert!(ok, "{moved}");
    assert_eq!(moved["status"], "transporting");
    hub.pause().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispatcher_reads_the_board_and_bids_from_the_command_line() {
    let hub = Hub::start().await;
    let hospital = hub.tenant("general", TenantKind::Hospital).await;
    let agency = hub.tenant("medics", TenantKind::EmsAgency).await;
    let coordinator = hub.user(&hospital, Role::TransportCoordinator).await;
    let dispatcher = hub.user(&agency, Role::EmsDispatcher).await;

    // A hospital's draft and an agency's unit, as their own screens would have written them.
    let (patient, origin, destination) = patient_and_facilities(&hub, &hospital).await;
    let mut actor = Actor::system(Utc::now());
    actor.tenant_id = Some(hospital.id);
    let db = hub.store().tenant(hospital.id).await.expect("hospital");
    let request = RecordId::generate();
    db.create_records(
        Entity::TransportRequest,
        vec![(
            request,
            object(json!({
                "patient_id": patient, "origin_facility_id": origin,
                "destination_facility_id": destination, "level": "ALS", "priority": "urgent",
                "pickup_from": Utc::now() + Duration::hours(2),
                "pickup_to": Utc::now() + Duration::hours(4), "equipment": ["oxygen"],
            })),
        )],
        &actor,
    )
    .await
    .expect("request");
    actor.tenant_id = Some(agency.id);
    hub.store()
        .tenant(agency.id)
        .await
        .expect("agency")
        .create_records(
            Entity::Unit,
            vec![(
                RecordId::generate(),
                object(json!({"call_sign": "Medic 4", "level": "ALS"})),
            )],
            &actor,
        )
        .await
        .expect("unit");

    let hospital_home = tempfile::tempdir().expect("home");
    let mut desk = client(
        hospital_home.path(),
        Arc::new(outpost_domain::clock::SystemClock),
    );
    desk.login(&hub.url(), None, &coordinator, PASSWORD)
        .await
        .expect("login");
    let published = desk.publish(request.into()).await.expect("published");
    let entry = published
        .fields
        .board_entry_id
        .expect("on the board")
        .to_string();

    let home = tempfile::tempdir().expect("home");
    let mut own = client(home.path(), Arc::new(outpost_domain::clock::SystemClock));
    own.login(&hub.url(), None, &dispatcher, PASSWORD)
        .await
        .expect("login");
    drop(own);
    let (ok, board) = run(home.path(), &["trip", "board", "--level", "als", "--open"]);
    assert!(ok, "{board}");
    assert_eq!(board[0]["id"], entry.as_str(), "{board}");
    assert_eq!(board[0]["destination_city"], "Shelbyville");
    let text = board.to_string();
    assert!(!text.contains("Ada") && !text.contains("CLI-1"), "{text}");
    let (ok, none) = run(home.path(), &["trip", "board", "--city", "Ogdenville"]);
    assert!(ok && none.as_array().is_some_and(Vec::is_empty), "{none}");
    // The window: the request's opens in two hours.
    let later = (Utc::now() + Duration::hours(3)).to_rfc3339();
    let (ok, none) = run(home.path(), &["trip", "board", "--from", &later]);
    assert!(ok && none.as_array().is_some_and(Vec::is_empty), "{none}");
    let (ok, within) = run(home.path(), &["trip", "board", "--to", &later]);
    assert!(ok, "{within}");
    assert_eq!(within[0]["id"], entry.as_str(), "{within}");

    let (ok, refused) = run(
        home.path(),
        &["trip", "bid", &entry, "--unit", "Medic 9", "--eta", "20"],
    );
    assert!(!ok, "{refused}");
    let (ok, bid) = run(
        home.path(),
        &[
            "trip",
            "bid",
            &entry,
            "--unit",
            "medic 4",
            "--eta",
            "20",
            "--notes",
            "crew of two",
        ],
    );
    assert!(ok, "{bid}");
    assert_eq!(
        (bid["status"].as_str(), bid["unit"].as_str()),
        (Some("submitted"), Some("Medic 4"))
    );
    let bid_id = bid["id"].as_str().expect("id").to_owned();
    desk.accept_bid(request.into(), bid_id.parse().expect("uuid"))
        .await
        .expect("accepted");
    let (ok, bids) = run(home.path(), &["trip", "bids", &entry]);
    assert!(ok, "{bids}");
    assert_eq!(bids[0]["status"], "accepted", "{bids}");
    let (ok, late) = run(home.path(), &["trip", "withdraw", &entry, &bid_id]);
    assert!(!ok, "an accepted bid stays: {late}");
}

/// Minimum necessary on the computers: once the hospital accepts one agency's bid, the patient
/// is in the assigned crew's encrypted copy and in no other EMS copy (the same agency's other
/// crew and its dispatcher, the declined agency's dispatcher and crew), decrypted or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_assigned_crews_copy_holds_the_patient() {
    let hub = Hub::start().await;
    let hospital = hub.tenant("general", TenantKind::Hospital).await;
    let metro = hub.tenant("metro", TenantKind::EmsAgency).await;
    let county = hub.tenant("county", TenantKind::EmsAgency).await;
    let (patient, origin, destination) = patient_and_facilities(&hub, &hospital).await;

    let (_desk_home, mut desk, _) = signed_in(&hub, &hospital, Role::TransportCoordinator).await;
    let mut ems = Vec::new();
    for (name, tenant, role) in [
        ("assigned crew", &metro, Role::EmsCrew),
        ("other crew", &metro, Role::EmsCrew),
        ("dispatcher", &metro, Role::EmsDispatcher),
        ("declined dispatcher", &county, Role::EmsDispatcher),
        ("declined crew", &county, Role::EmsCrew),
    ] {
        let (home, device, user) = signed_in(&hub, tenant, role).await;
        ems.push((name, home, device, user));
    }
    // Each agency's units, each with its crew, as its dispatcher's screen writes them.
    let mut units = Vec::new();
    for (tenant, call_sign, crew) in [
        (&metro, "Medic 1", ems[0].3),
        (&metro, "Medic 2", ems[1].3),
        (&county, "County 1", ems[4].3),
    ] {
        let mut actor = Actor::system(Utc::now());
        actor.tenant_id = Some(tenant.id);
        let unit = RecordId::generate();
        hub.store()
            .tenant(tenant.id)
            .await
            .expect("agency")
            .create_records(
                Entity::Unit,
                vec![(
                    unit,
                    object(
                        json!({"call_sign": call_sign, "level": "ALS", "crew_user_ids": [crew]}),
                    ),
                )],
                &actor,
            )
            .await
            .expect("unit");
        units.push(unit);
    }

    // The coordinator drafts on the desktop's core (offline-capable), syncs, publishes.
    desk.sync(&mut no_progress()).await.expect("mirror");
    let fields: TransportRequestFields = serde_json::from_value(json!({
        "patient_id": patient, "origin_facility_id": origin,
        "destination_facility_id": destination, "level": "ALS", "priority": "urgent",
        "pickup_from": Utc::now() + Duration::hours(1),
        "pickup_to": Utc::now() + Duration::hours(3), "reason": "rehabilitation",
    }))
    .expect("fields");
    let draft = desk.draft_request(fields).expect("draft");
    let drafts = desk.draft_requests().expect("drafts");
    assert!(drafts.len() == 1 && drafts[0].pending, "not on the hub yet");
    desk.sync(&mut no_progress()).await.expect("push");
    assert!(!desk.draft_requests().expect("drafts")[0].pending);
    let published = desk.publish(draft.id).await.expect("published");
    let entry = published.fields.board_entry_id.expect("on the board");

    let bid = |unit: RecordId| NewBid {
        unit_id: unit.into(),
        eta_minutes: 15,
        notes: None,
    };
    let winning = ems[2]
        .2
        .bid(entry, &bid(units[0]))
        .await
        .expect("metro bids");
    ems[3]
        .2
        .bid(entry, &bid(units[2]))
        .await
        .expect("county bids");
    desk.accept_bid(draft.id, winning.id)
        .await
        .expect("accepted");

    for (name, _, device, _) in &mut ems {
        device
            .sync(&mut no_progress())
            .await
            .unwrap_or_else(|e| panic!("{name} syncs: {e}"));
    }
    let assigned = ems[0].2.trips().expect("trips");
    assert_eq!(assigned.len(), 1, "the assigned crew has its trip");
    assert_eq!(
        assigned[0].trip.fields.patient_name.as_deref(),
        Some("Ada Byron")
    );
    let planned = ems[2].2.trips().expect("trips");
    assert_eq!(planned.len(), 1, "the dispatcher has the trip to follow");
    assert_eq!(
        planned[0].trip.fields.patient_name, None,
        "without its patient"
    );
    assert_eq!(ems[1].2.trips().expect("trips").len(), 0);
    assert_eq!(ems[4].2.trips().expect("trips").len(), 0);

    let patient_data = ["Byron", "1950-02-03", "CLI-1", &patient.to_string()];
    for (name, home, device, _) in &mut ems {
        let decrypted = device.cache_text().expect("cache");
        let on_disk = files_text(home.path());
        if *name == "assigned crew" {
            // The scan sees what is there: the crew's copy holds the name and birth date.
            assert!(decrypted.contains("Byron") && decrypted.contains("1950-02-03"));
        } else {
            for value in patient_data {
                assert!(!decrypted.contains(value), "{value} in the {name}'s copy");
            }
        }
        for value in patient_data {
            assert!(
                !on_disk.contains(value),
                "{value} in plaintext on the {name}'s disk"
            );
        }
    }
}

/// A dispatcher plans a unit's shifts on the computer with the hub away: one overlapping
/// another is refused there and nothing is kept; the roster shows each unit's shifts to come;
/// a cancelled shift leaves it. The sync takes them to the hub. A computer whose copy a build
/// from before shifts made catches up once, after its update, from the feed's start: the
/// shifts it lacked arrive, and the trip patient's name that build kept is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispatcher_plans_shifts_offline_and_an_updated_computer_catches_up() {
    let mut hub = Hub::start().await;
    let agency = hub.tenant("shift-medics", TenantKind::EmsAgency).await;
    let mut actor = Actor::system(Utc::now());
    actor.tenant_id = Some(agency.id);
    let db = hub.store().tenant(agency.id).await.expect("tenant");
    let unit = RecordId::generate();
    db.create_records(
        Entity::Unit,
        vec![(
            unit,
            object(json!({"call_sign": "Medic 5", "level": "BLS"})),
        )],
        &actor,
    )
    .await
    .expect("unit");
    // A trip of the agency (its crew elsewhere): a dispatcher's copy never holds its patient.
    let trip = RecordId::generate();
    db.create_records(
        Entity::Trip,
        vec![(
            trip,
            object(json!({
                "board_entry_id": RecordId::generate(), "hospital": "St Mary's",
                "origin": "St Mary's ED", "origin_city": "Springfield",
                "destination": "Oak Rehab", "destination_city": "Shelbyville",
                "level": "BLS", "priority": "scheduled",
                "pickup_from": Utc::now(), "pickup_to": Utc::now() + Duration::hours(2),
                "patient_name": "Grace Hopper", "patient_birth_date": "1906-12-09",
                "unit_id": unit,
            })),
        )],
        &actor,
    )
    .await
    .expect("trip");
    let (_home, mut dispatcher, _) = signed_in(&hub, &agency, Role::EmsDispatcher).await;
    let (_other_home, mut other, _) = signed_in(&hub, &agency, Role::EmsDispatcher).await;
    dispatcher.sync(&mut no_progress()).await.expect("mirror");
    other.sync(&mut no_progress()).await.expect("mirror");

    hub.pause().await;
    let hour = |h: i64| {
        let today = Utc::now()
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .expect("midnight");
        today.and_utc() + Duration::days(1) + Duration::hours(h)
    };
    let shift = |start: i64, end: i64| ShiftFields {
        unit_id: unit.into(),
        start: hour(start),
        end: hour(end),
        status: ShiftStatus::Planned,
        notes: None,
    };
    let day = dispatcher.plan_shift(shift(7, 19)).expect("day shift");
    let clash = dispatcher.plan_shift(shift(18, 26));
    assert!(
        matches!(&clash, Err(ClientError::SlotTaken(taken)) if *taken == day.id.to_string()),
        "{clash:?}"
    );
    // A 24-hour shift: one starting near its end still finds it.
    let night = dispatcher
        .plan_shift(shift(19, 43))
        .expect("a 24-hour shift");
    let late = dispatcher.plan_shift(shift(40, 44));
    assert!(
        matches!(&late, Err(ClientError::SlotTaken(taken)) if *taken == night.id.to_string()),
        "{late:?}"
    );
    let spare = dispatcher.plan_shift(shift(43, 50)).expect("spare");
    dispatcher.cancel_shift(spare.id).expect("cancelled");
    let roster = dispatcher.roster().expect("roster");
    let planned: Vec<_> = roster[0].shifts.iter().map(|s| s.shift.id).collect();
    assert_eq!(
        planned,
        [day.id, night.id],
        "in order, the cancelled one gone"
    );
    assert!(roster[0].shifts.iter().all(|s| s.pending));
    assert_eq!(dispatcher.status().expect("status").pending_ops, 4);

    hub.resume().await;
    let report = dispatcher.sync(&mut no_progress()).await.expect("sync");
    assert_eq!(report.applied, 4);
    let roster = dispatcher.roster().expect("roster");
    assert!(roster[0].shifts.iter().all(|s| !s.pending));

    // The other computer synced them; then its copy is made as a build from before shifts
    // would have left it (its cursor past them, none kept): the next sync of this build
    // brings them.
    other.sync(&mut no_progress()).await.expect("sync");
    assert_eq!(other.roster().expect("roster")[0].shifts.len(), 2);
    other.as_left_by_schema(3).expect("an older copy");
    other
        .plant_field(Entity::Trip, trip, "patient_name", "Grace Hopper")
        .expect("as that build kept it");
    assert!(other.roster().expect("roster")[0].shifts.is_empty());
    assert!(other.cache_text().expect("cache").contains("Grace Hopper"));
    other.sync(&mut no_progress()).await.expect("catch up");
    let theirs: Vec<_> = other.roster().expect("roster")[0]
        .shifts
        .iter()
        .map(|s| s.shift.id)
        .collect();
    assert_eq!(theirs, [day.id, night.id]);
    let text = other.cache_text().expect("cache");
    assert!(text.contains("Oak Rehab"), "the trip itself stays");
    assert!(!text.contains("Grace Hopper"), "its patient is gone");
    let again = other.sync(&mut no_progress()).await.expect("sync");
    assert_eq!(again.pulled, 0, "caught up once");
}
