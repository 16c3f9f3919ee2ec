//! A crew's laptop offline: the trip's steps taken with the hub stopped and the device's clock
//! hours off, one at a time (a step out of order refused and nothing kept), then synced: the
//! hub keeps the device's time and its own for each step, and orders them by its own.

mod common;

use std::sync::Arc;

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use common::{FakeClock, Hub, PASSWORD, client, no_progress, run};
use outpost_client::{ClientError, ErrorCode};
use outpost_domain::audit::Actor;
use outpost_domain::clock::Clock;
use outpost_domain::transport::TripStatus;
use outpost_domain::{Entity, RecordId, Role, TenantKind, TripId};
use outpost_store::Store;

fn object(value: Value) -> serde_json::Map<String, Value> {
    value.as_object().cloned().expect("an object")
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
    let mut actor = Actor::system(Utc::now());
    actor.tenant_id = Some(hospital.id);
    let db = hub.store().tenant(hospital.id).await.expect("hospital");
    let (patient, origin, destination, request) = (
        RecordId::generate(),
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
