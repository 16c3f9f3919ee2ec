//! The transport flow between tenants over HTTP, on either backend (`OUTPOST_TEST_BACKEND`):
//! a hospital publishes, two agencies bid, the hospital accepts one, the trip reaches the
//! assigned unit's crew only, the crew's steps come back to the hospital, the board and the
//! transport center; the declined agency and the center never read the patient. The outbox's
//! events are each done once, and a replay changes nothing.

mod common;

use std::time::Duration;

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use common::{TestHub, demographics_body};
use outpost_domain::{Role, TenantKind};

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

fn id(body: &Value) -> String {
    body["id"].as_str().expect("id").to_owned()
}

/// The patient's identifiers, none of which may reach the board or another agency.
const PATIENT: [&str; 4] = ["Ada", "Byron", "MRN-4471", "1982-07-01"];

fn assert_no_patient(what: &str, body: &Value) {
    let text = body.to_string();
    for word in PATIENT {
        assert!(!text.contains(word), "{what} shows {word}: {text}");
    }
}

struct Hospital {
    coordinator: String,
    patient: String,
    facilities: Vec<String>,
}

async fn hospital(hub: &TestHub) -> Hospital {
    let tenant = hub.tenant("general", TenantKind::Hospital).await;
    let coordinator = hub
        .signed_in(Some(&tenant), Role::TransportCoordinator)
        .await;
    let nurse = hub.signed_in(Some(&tenant), Role::Nurse).await;
    let (status, patient) = hub
        .post(
            "/v1/patients",
            &nurse,
            demographics_body(PATIENT[2], PATIENT[0], PATIENT[1]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{patient}");
    let mut facilities = Vec::new();
    for (name, city) in [("General ER", "Springfield"), ("Oak Rehab", "Évry")] {
        let (status, created) = hub
            .post(
                "/v1/facilities",
                &coordinator,
                json!({"name": name, "kind": "hospital", "city": city, "address": "1 Main St"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        facilities.push(id(&created));
    }
    Hospital {
        coordinator,
        patient: id(&patient),
        facilities,
    }
}

async fn draft(hub: &TestHub, h: &Hospital) -> String {
    let (status, created) = hub
        .post(
            "/v1/transport-requests",
            &h.coordinator,
            json!({
                "patient_id": h.patient, "origin_facility_id": h.facilities[0],
                "destination_facility_id": h.facilities[1], "level": "ALS",
                "priority": "urgent", "pickup_from": "2026-12-07T14:00:00Z",
                "pickup_to": "2026-12-07T16:00:00Z", "equipment": ["oxygen"],
                "isolation": "contact", "mobility": "stretcher", "weight_class": "under 100 kg",
                "reason": "transfer for rehabilitation"
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    id(&created)
}

struct Agency {
    dispatcher: String,
    crew: String,
    units: Vec<String>,
}

/// An agency with an ALS unit crewed by `crew` and a BLS unit.
async fn agency(hub: &TestHub, slug: &str) -> Agency {
    let tenant = hub.tenant(slug, TenantKind::EmsAgency).await;
    let dispatcher = hub.signed_in(Some(&tenant), Role::EmsDispatcher).await;
    let crew = hub.signed_in(Some(&tenant), Role::EmsCrew).await;
    let (_, me) = hub.get("/v1/me", &crew).await;
    let crew_id = me["user"]["id"].clone();
    let mut units = Vec::new();
    for (call_sign, level) in [("Medic 1", "ALS"), ("Basic 2", "BLS")] {
        let (status, unit) = hub
            .post(
                "/v1/units",
                &dispatcher,
                json!({"call_sign": call_sign, "level": level, "crew_user_ids": [crew_id]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{unit}");
        units.push(id(&unit));
    }
    Agency {
        dispatcher,
        crew,
        units,
    }
}

/// Waits until `path` answers with `field` equal to `want` (the outbox worker follows trips).
async fn wait_for(hub: &TestHub, path: &str, token: &str, field: &str, want: &str) -> Value {
    for _ in 0..200 {
        let (_, body) = hub.get(path, token).await;
        if body[field] == want {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{path} never had {field} = {want}");
}

/// Opens `GET /v1/events` as `token`.
async fn listen(hub: &TestHub, token: &str) -> reqwest::Response {
    let events = hub
        .http
        .get(format!("{}/v1/events", hub.url))
        .bearer_auth(token)
        .send()
        .await
        .expect("events");
    assert_eq!(events.status(), StatusCode::OK);
    events
}

/// Reads the stream until an event named `name` about `about` arrives.
async fn heard(events: &mut reqwest::Response, name: &str, about: &str) {
    let mut text = String::new();
    let found = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(Some(chunk)) = events.chunk().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
            if text.contains(&format!("event: {name}")) && text.contains(about) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "no {name} event about {about}: {text}");
}

fn step(trip: &str, base: i64, status: &str) -> Value {
    json!({
        "op_id": Uuid::now_v7(), "entity": "trip", "record_id": trip, "action": "update",
        "base_version": base, "fields": {"status": status},
        "client_time": Utc::now() - chrono::Duration::hours(4), "schema_version": 3
    })
}

#[tokio::test]
async fn hospitals_publish_agencies_bid_one_wins_and_its_crew_runs_the_trip() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let hub = TestHub::start().await;
    let h = hospital(&hub).await;
    let a = agency(&hub, "metro-ems").await;
    let b = agency(&hub, "county-ems").await;
    let center = hub.tenant("center", TenantKind::TransportCenter).await;
    let watcher = hub
        .signed_in(Some(&center), Role::TransportCoordinator)
        .await;
    let request = draft(&hub, &h).await;
    let path = format!("/v1/transport-requests/{request}");

    // Not on the board until published; a crew may not read the board.
    let (_, board) = hub.get("/v1/board", &a.dispatcher).await;
    assert_eq!(board["items"].as_array().expect("items").len(), 0);
    let (status, _) = hub.get("/v1/board", &a.crew).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, published) = hub
        .post(&format!("{path}/publish"), &h.coordinator, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{published}");
    assert_eq!(published["status"], "published");
    let entry = published["board_entry_id"]
        .as_str()
        .expect("entry")
        .to_owned();
    let (status, again) = hub
        .post(&format!("{path}/publish"), &h.coordinator, json!({}))
        .await;
    assert_eq!(
        (status, code(&again)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_transition")
    );

    // The board shows the minimum necessary, filtered.
    let (status, board) = hub
        .get("/v1/board?city=springfield&level=ALS", &a.dispatcher)
        .await;
    assert_eq!(status, StatusCode::OK, "{board}");
    let shown = &board["items"][0];
    assert_eq!(
        (
            shown["id"].as_str(),
            shown["hospital"].as_str(),
            shown["destination_city"].as_str()
        ),
        (Some(entry.as_str()), Some("general name"), Some("Évry")),
        "{board}"
    );
    assert_eq!(shown["isolation"], "contact");
    assert_no_patient("the board", &board);
    // A city is found whatever its case, letters beyond ASCII too, on both backends.
    let (_, accented) = hub.get("/v1/board?city=%C3%89VRY", &a.dispatcher).await;
    assert_eq!(
        accented["items"][0]["id"].as_str(),
        Some(entry.as_str()),
        "{accented}"
    );
    for filter in [
        "level=BLS",
        "city=Ogdenville",
        "priority=emergent",
        "status=assigned",
    ] {
        let (_, none) = hub.get(&format!("/v1/board?{filter}"), &a.dispatcher).await;
        assert_eq!(
            none["items"].as_array().expect("items").len(),
            0,
            "{filter}"
        );
    }

    // Two agencies bid; a unit below the level, a second live bid, another's unit are refused.
    let bids = format!("/v1/board/{entry}/bids");
    let (status, low) = hub
        .post(
            &bids,
            &b.dispatcher,
            json!({"unit_id": b.units[1], "eta_minutes": 5}),
        )
        .await;
    assert_eq!(
        (status, code(&low)),
        (StatusCode::UNPROCESSABLE_ENTITY, "level_too_low")
    );
    let (status, foreign) = hub
        .post(
            &bids,
            &b.dispatcher,
            json!({"unit_id": a.units[0], "eta_minutes": 5}),
        )
        .await;
    assert_eq!(
        (status, code(&foreign)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    let (status, bid_a) = hub
        .post(
            &bids,
            &a.dispatcher,
            json!({"unit_id": a.units[0], "eta_minutes": 20, "notes": "crew of two"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{bid_a}");
    let (status, bid_b) = hub
        .post(
            &bids,
            &b.dispatcher,
            json!({"unit_id": b.units[0], "eta_minutes": 15}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{bid_b}");
    let (status, twice) = hub
        .post(
            &bids,
            &b.dispatcher,
            json!({"unit_id": b.units[0], "eta_minutes": 12}),
        )
        .await;
    assert_eq!((status, code(&twice)), (StatusCode::CONFLICT, "bid_exists"));
    let (_, own) = hub.get(&bids, &b.dispatcher).await;
    assert_eq!(
        own["items"].as_array().expect("items").len(),
        1,
        "an agency sees its own bids"
    );

    // The hospital sees both side by side and accepts A's.
    let (_, offered) = hub.get(&format!("{path}/bids"), &h.coordinator).await;
    assert_eq!(
        offered["items"].as_array().expect("items").len(),
        2,
        "{offered}"
    );
    let mut crew_events = listen(&hub, &a.crew).await;
    heard(&mut crew_events, "changes", "cursor").await;
    let (status, by_agency) = hub
        .post(
            &format!("{path}/bids/{}/accept", id(&bid_a)),
            &a.dispatcher,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{by_agency}");
    let (status, assigned) = hub
        .post(
            &format!("{path}/bids/{}/accept", id(&bid_a)),
            &h.coordinator,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{assigned}");
    assert_eq!(
        (
            assigned["status"].as_str(),
            assigned["assigned_agency"].as_str(),
            assigned["assigned_unit"].as_str()
        ),
        (Some("assigned"), Some("metro-ems name"), Some("Medic 1"))
    );
    let (status, late) = hub
        .post(
            &format!("{path}/bids/{}/accept", id(&bid_b)),
            &h.coordinator,
            json!({}),
        )
        .await;
    assert_eq!(
        (status, code(&late)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_transition")
    );

    // The declined agency sees its bid declined, the entry assigned, and never the patient.
    let (_, theirs) = hub.get(&bids, &b.dispatcher).await;
    assert_eq!(theirs["items"][0]["status"], "declined", "{theirs}");
    let (_, seen) = hub.get(&format!("/v1/board/{entry}"), &b.dispatcher).await;
    assert_eq!(seen["status"], "assigned");
    for (what, body) in [("B's bids", &theirs), ("B's entry", &seen)] {
        assert_no_patient(what, body);
    }
    let (_, b_trips) = hub.get("/v1/trips", &b.crew).await;
    assert_eq!(b_trips["items"].as_array().expect("items").len(), 0);
    let (_, b_dispatched) = hub.get("/v1/trips", &b.dispatcher).await;
    assert_eq!(b_dispatched["items"].as_array().expect("items").len(), 0);

    // The crew hears of its new trip (a change in its agency's records) and finds it there,
    // with the minimum patient data.
    heard(&mut crew_events, "changes", "cursor").await;
    let (_, trips) = hub.get("/v1/trips", &a.crew).await;
    let trip = &trips["items"][0];
    assert_eq!(
        (
            trip["patient_name"].as_str(),
            trip["patient_birth_date"].as_str(),
            trip["unit_id"].as_str()
        ),
        (
            Some("Ada Byron"),
            Some("1982-07-01"),
            Some(a.units[0].as_str())
        ),
        "{trips}"
    );
    assert!(
        !trips.to_string().contains(PATIENT[2]),
        "no MRN on the trip"
    );
    let trip_id = id(trip);
    let (_, unit) = hub
        .get(&format!("/v1/units/{}", a.units[0]), &a.dispatcher)
        .await;
    assert_eq!(unit["status"], "assigned");

    // The crew's offline steps arrive with a slow clock; the hospital, the board and the
    // center follow; a skip is refused and writes nothing.
    let (_, pushed) = hub
        .post(
            "/v1/sync/push",
            &a.crew,
            json!({"schema_version": 3, "ops": [step(&trip_id, 1, "en_route"), step(&trip_id, 2, "at_pickup")]}),
        )
        .await;
    assert_eq!(pushed["results"][1]["status"], "applied", "{pushed}");
    let (_, skipped) = hub
        .post(
            "/v1/sync/push",
            &a.crew,
            json!({"schema_version": 3, "ops": [step(&trip_id, 3, "completed")]}),
        )
        .await;
    assert_eq!(skipped["results"][0]["error"]["code"], "invalid_transition");
    wait_for(&hub, &path, &h.coordinator, "status", "at_pickup").await;
    let followed = wait_for(
        &hub,
        &format!("/v1/board/{entry}"),
        &watcher,
        "status",
        "at_pickup",
    )
    .await;
    assert!(followed["picked_up_at"].is_string(), "{followed}");
    let (_, history) = hub.get(&format!("{path}/history"), &h.coordinator).await;
    let statuses: Vec<&str> = history["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|v| v["changes"]["status"]["new"].as_str())
        .collect();
    assert_eq!(
        statuses,
        ["draft", "published", "assigned", "en_route", "at_pickup"],
        "{history}"
    );

    // The transport center reads the whole board and every bid, never the patient.
    let (_, everything) = hub.get("/v1/board", &watcher).await;
    assert_eq!(everything["items"].as_array().expect("items").len(), 1);
    let (_, all_bids) = hub.get(&bids, &watcher).await;
    assert_eq!(all_bids["items"].as_array().expect("items").len(), 2);
    for (what, body) in [
        ("the center's board", &everything),
        ("the center's bids", &all_bids),
    ] {
        assert_no_patient(what, body);
    }
    let (status, _) = hub.get(&path, &watcher).await;
    assert!(status == StatusCode::NOT_FOUND || status == StatusCode::FORBIDDEN);

    // The center's report over the period; an agency's report shows its own part only.
    let (status, report) = hub.get("/v1/reports/transport", &watcher).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(
        (
            report["requests"].as_u64(),
            report["by_status"]["at_pickup"].as_u64()
        ),
        (Some(1), Some(1)),
        "{report}"
    );
    assert_eq!(
        (
            report["to_first_bid"]["count"].as_u64(),
            report["on_time"].as_u64()
        ),
        (Some(1), Some(1))
    );
    let agencies: Vec<(&str, u64)> = report["agencies"]
        .as_array()
        .expect("agencies")
        .iter()
        .map(|a| {
            (
                a["agency"].as_str().expect("name"),
                a["won"].as_u64().expect("won"),
            )
        })
        .collect();
    assert_eq!(agencies.len(), 2, "{report}");
    assert!(
        agencies.contains(&("metro-ems name", 1)) && agencies.contains(&("county-ems name", 0))
    );
    assert_no_patient("the report", &report);
    let (_, theirs) = hub.get("/v1/reports/transport", &b.dispatcher).await;
    assert_eq!(
        theirs["agencies"].as_array().expect("agencies").len(),
        1,
        "{theirs}"
    );
    let (status, _) = hub
        .get(
            "/v1/reports/transport?from=2026-12-07T00:00:00Z&to=2026-12-01T00:00:00Z",
            &watcher,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The central database, read straight, holds nothing of the patient: not the board, the
    // bids, the outbox, the audit chain, nor any other table.
    let central = hub.raw_central_dump().await;
    assert!(central.contains("Évry"), "the dump reads the board");
    for word in PATIENT.iter().copied().chain([h.patient.as_str()]) {
        assert!(!central.contains(word), "the central database holds {word}");
    }

    // Every event was done once; doing the acceptance again changes nothing.
    let log = hub.store.board().event_log().await.expect("log");
    assert_eq!(
        log.iter()
            .map(|e| (e.kind.as_str(), e.attempts, e.last_error.is_none()))
            .collect::<Vec<_>>(),
        [("published", 1, true), ("accepted", 1, true)],
        "{log:?}"
    );
    let (_, before) = hub.get(&path, &h.coordinator).await;
    let accepted = outpost_store::board::OutboxEvent {
        id: log[1].id,
        entry_id: log[1].entry_id,
        step: outpost_store::board::Step::Accepted {
            bid: Uuid::parse_str(&id(&bid_a)).expect("bid"),
        },
        created_at: Utc::now(),
    };
    outpost_hub::outbox::carry_out(&hub.state, &accepted)
        .await
        .expect("a replay");
    let (_, after) = hub.get(&path, &h.coordinator).await;
    assert_eq!(before["version"], after["version"]);
    let (_, trips) = hub.get("/v1/trips", &a.dispatcher).await;
    assert_eq!(
        trips["items"].as_array().expect("items").len(),
        1,
        "one trip"
    );

    // The crew finishes: the request and the board follow, and the unit is free again.
    let (_, pushed) = hub
        .post(
            "/v1/sync/push",
            &a.crew,
            json!({"schema_version": 4, "ops": [
                step(&trip_id, 3, "transporting"),
                step(&trip_id, 4, "at_destination"),
                step(&trip_id, 5, "completed"),
            ]}),
        )
        .await;
    assert_eq!(pushed["results"][2]["status"], "applied", "{pushed}");
    wait_for(&hub, &path, &h.coordinator, "status", "completed").await;
    let unit_path = format!("/v1/units/{}", a.units[0]);
    let unit = wait_for(&hub, &unit_path, &a.dispatcher, "status", "available").await;
    assert_eq!(unit["version"], 3, "created, assigned, freed: once");
    hub.stop().await;
}

#[tokio::test]
async fn a_cancelled_request_leaves_the_board_declines_its_bids_and_cancels_its_trip() {
    let hub = TestHub::start().await;
    let h = hospital(&hub).await;
    let a = agency(&hub, "metro-ems").await;

    // A draft is cancelled in place; a reason is required.
    let first = draft(&hub, &h).await;
    let (status, empty) = hub
        .post(
            &format!("/v1/transport-requests/{first}/cancel"),
            &h.coordinator,
            json!({"reason": " "}),
        )
        .await;
    assert_eq!(
        (status, code(&empty)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    let (status, cancelled) = hub
        .post(
            &format!("/v1/transport-requests/{first}/cancel"),
            &h.coordinator,
            json!({"reason": "patient discharged home"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    let (status, _) = hub
        .post(
            &format!("/v1/transport-requests/{first}/publish"),
            &h.coordinator,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Published with a bid, then cancelled: the bid is declined, the entry leaves the open board.
    let second = draft(&hub, &h).await;
    let (_, published) = hub
        .post(
            &format!("/v1/transport-requests/{second}/publish"),
            &h.coordinator,
            json!({}),
        )
        .await;
    let entry = published["board_entry_id"]
        .as_str()
        .expect("entry")
        .to_owned();
    let (status, bid) = hub
        .post(
            &format!("/v1/board/{entry}/bids"),
            &a.dispatcher,
            json!({"unit_id": a.units[0], "eta_minutes": 30}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{bid}");
    let (status, withdrawn) = hub
        .delete(
            &format!("/v1/board/{entry}/bids/{}", id(&bid)),
            &a.dispatcher,
        )
        .await;
    assert_eq!(
        (status, withdrawn["status"].as_str()),
        (StatusCode::OK, Some("withdrawn"))
    );
    let (_, bid) = hub
        .post(
            &format!("/v1/board/{entry}/bids"),
            &a.dispatcher,
            json!({"unit_id": a.units[0], "eta_minutes": 25}),
        )
        .await;
    let (_, accepted) = hub
        .post(
            &format!("/v1/transport-requests/{second}/bids/{}/accept", id(&bid)),
            &h.coordinator,
            json!({}),
        )
        .await;
    assert_eq!(accepted["status"], "assigned", "{accepted}");
    // A request on the board is cancelled, never deleted: the board and the trip refer to it.
    let (status, kept) = hub
        .delete(&format!("/v1/transport-requests/{second}"), &h.coordinator)
        .await;
    assert_eq!(
        (status, code(&kept)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_transition"),
        "{kept}"
    );
    let (status, cancelled) = hub
        .post(
            &format!("/v1/transport-requests/{second}/cancel"),
            &h.coordinator,
            json!({"reason": "bed no longer available"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    let (_, trips) = hub.get("/v1/trips", &a.crew).await;
    assert_eq!(
        (
            trips["items"][0]["status"].as_str(),
            trips["items"][0]["cancel_reason"].as_str()
        ),
        (Some("cancelled"), Some("bed no longer available")),
        "{trips}"
    );
    let (_, unit) = hub
        .get(&format!("/v1/units/{}", a.units[0]), &a.dispatcher)
        .await;
    assert_eq!(unit["status"], "available", "its only trip is over");
    let (_, open) = hub.get("/v1/board?status=published", &a.dispatcher).await;
    assert_eq!(open["items"].as_array().expect("items").len(), 0);
    let (_, mine) = hub.get("/v1/board", &a.dispatcher).await;
    assert_eq!(
        mine["items"][0]["status"], "cancelled",
        "the agency still sees what it bid on"
    );
    assert_eq!(
        mine["items"][0]["cancel_reason"],
        "cancelled by the hospital"
    );
    let log = hub.store.board().event_log().await.expect("log");
    assert!(
        log.iter()
            .all(|e| e.attempts == 1 && e.last_error.is_none()),
        "{log:?}"
    );
    // The reasons, free text, stay with the hospital and the agency.
    let central = hub.raw_central_dump().await;
    for reason in ["bed no longer available", "patient discharged home"] {
        assert!(
            !central.contains(reason),
            "the central database holds {reason:?}"
        );
    }
    hub.stop().await;
}
