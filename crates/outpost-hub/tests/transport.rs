//! Transport records over HTTP, on either backend (`OUTPOST_TEST_BACKEND`): a hospital's
//! facilities and requests, an EMS agency's units and trips; who may do what; the status
//! machine's refusals with their codes; a crew moving its trip through sync, one step at a
//! time.

mod common;

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use common::{TestHub, demographics_body};
use outpost_domain::{Entity, Role, TenantKind};

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

fn facility(name: &str) -> Value {
    json!({"name": name, "kind": "hospital", "city": "Springfield", "address": "1 Main St"})
}

fn request(patient: &str, origin: &str, destination: &str) -> Value {
    json!({
        "patient_id": patient, "origin_facility_id": origin,
        "destination_facility_id": destination, "level": "ALS", "priority": "urgent",
        "pickup_from": "2026-12-07T14:00:00Z", "pickup_to": "2026-12-07T16:00:00Z",
        "equipment": ["oxygen", "cardiac monitor"], "mobility": "stretcher",
        "reason": "transfer for rehabilitation"
    })
}

#[tokio::test]
async fn a_coordinator_drafts_requests_and_each_refusal_has_its_code() {
    let hub = TestHub::start().await;
    let hospital = hub.tenant("hospital", TenantKind::Hospital).await;
    let coordinator = hub
        .signed_in(Some(&hospital), Role::TransportCoordinator)
        .await;
    let nurse = hub.signed_in(Some(&hospital), Role::Nurse).await;
    let (_, patient) = hub
        .post(
            "/v1/patients",
            &nurse,
            demographics_body("T-1", "Ada", "Byron"),
        )
        .await;
    let patient = patient["id"].as_str().expect("patient").to_owned();
    let mut facilities = Vec::new();
    for name in ["St Mary's", "Oak Rehab"] {
        let (status, created) = hub
            .post("/v1/facilities", &coordinator, facility(name))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        facilities.push(created["id"].as_str().expect("id").to_owned());
    }
    let (_, listed) = hub.get("/v1/facilities?q=oak", &coordinator).await;
    assert_eq!(listed["items"].as_array().expect("items").len(), 1);

    let (status, draft) = hub
        .post(
            "/v1/transport-requests",
            &coordinator,
            request(&patient, &facilities[0], &facilities[1]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{draft}");
    assert_eq!(draft["status"], "draft");
    let path = format!(
        "/v1/transport-requests/{}",
        draft["id"].as_str().expect("id")
    );
    let (status, edited) = hub
        .patch(
            &path,
            &coordinator,
            json!({"version": 1, "notes": "call the ward first"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");

    let mut born_assigned = request(&patient, &facilities[0], &facilities[1]);
    born_assigned["status"] = json!("assigned");
    let refusals = [
        (
            request(&Uuid::now_v7().to_string(), &facilities[0], &facilities[1]),
            "validation_failed",
        ),
        (
            request(&patient, &facilities[0], &facilities[0]),
            "validation_failed",
        ),
    ];
    for (body, expected) in refusals {
        let (status, answer) = hub.post("/v1/transport-requests", &coordinator, body).await;
        assert_eq!(
            (status, code(&answer)),
            (StatusCode::UNPROCESSABLE_ENTITY, expected),
            "{answer}"
        );
    }
    // The status and what follows publishing are the hub's to set, through its own steps.
    let (status, answer) = hub
        .post("/v1/transport-requests", &coordinator, born_assigned)
        .await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::FORBIDDEN, "forbidden"),
        "{answer}"
    );
    let (status, skipped) = hub
        .patch(
            &path,
            &coordinator,
            json!({"version": 2, "status": "assigned"}),
        )
        .await;
    assert_eq!(
        (status, code(&skipped)),
        (StatusCode::FORBIDDEN, "forbidden"),
        "{skipped}"
    );
    let (_, all) = hub.get("/v1/transport-requests", &coordinator).await;
    assert_eq!(
        all["items"].as_array().expect("items").len(),
        1,
        "nothing else written"
    );

    // Others of the hospital read or are refused by their permissions.
    let desk = hub.signed_in(Some(&hospital), Role::FrontDesk).await;
    let (status, _) = hub
        .post(
            "/v1/transport-requests",
            &desk,
            request(&patient, &facilities[0], &facilities[1]),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = hub.get("/v1/transport-requests", &desk).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    hub.stop().await;
}

#[tokio::test]
async fn a_crew_moves_its_trip_one_step_at_a_time_through_sync() {
    let hub = TestHub::start().await;
    let agency = hub.tenant("medics", TenantKind::EmsAgency).await;
    let dispatcher = hub.signed_in(Some(&agency), Role::EmsDispatcher).await;
    let crew = hub.signed_in(Some(&agency), Role::EmsCrew).await;
    let other_crew = hub.signed_in(Some(&agency), Role::EmsCrew).await;
    let (_, me) = hub.get("/v1/me", &crew).await;
    let crew_id = me["user"]["id"].as_str().expect("id").to_owned();

    let (status, unit) = hub
        .post(
            "/v1/units",
            &dispatcher,
            json!({"call_sign": "Medic 7", "level": "ALS", "capabilities": ["oxygen"], "crew_user_ids": [crew_id]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{unit}");
    let unit = unit["id"].as_str().expect("id").to_owned();
    let (status, again) = hub
        .post(
            "/v1/units",
            &dispatcher,
            json!({"call_sign": "medic 7", "level": "BLS"}),
        )
        .await;
    assert_eq!(
        (status, code(&again)),
        (StatusCode::CONFLICT, "already_exists")
    );
    let (status, _) = hub
        .post(
            "/v1/units",
            &crew,
            json!({"call_sign": "Medic 8", "level": "BLS"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "crews do not manage units");

    // The trip the hub makes when a bid is accepted (written here as its worker will).
    let trip = outpost_domain::RecordId::generate();
    let fields = json!({
        "board_entry_id": Uuid::now_v7(), "hospital": "St Mary's",
        "origin": "St Mary's", "origin_city": "Springfield",
        "destination": "Oak Rehab", "destination_city": "Springfield",
        "level": "ALS", "priority": "urgent",
        "pickup_from": "2026-12-07T14:00:00Z", "pickup_to": "2026-12-07T16:00:00Z",
        "patient_name": "Ada Byron", "patient_birth_date": "1950-02-03", "unit_id": unit,
        "crew_user_ids": [crew_id],
    });
    let mut actor = hub.actor();
    actor.tenant_id = Some(agency.id);
    outpost_store::Store::tenant(hub.store.as_ref(), agency.id)
        .await
        .expect("store")
        .create_records(
            Entity::Trip,
            vec![(trip, fields.as_object().expect("object").clone())],
            &actor,
        )
        .await
        .expect("trip");
    // Other crews' trips earlier in pickup order do not push the crew's own off its first page.
    let (_, others) = hub.get("/v1/me", &other_crew).await;
    let mut earlier = fields.clone();
    earlier["pickup_from"] = json!("2026-12-07T08:00:00Z");
    earlier["pickup_to"] = json!("2026-12-07T09:00:00Z");
    earlier["crew_user_ids"] = json!([others["user"]["id"]]);
    earlier["patient_name"] = json!("Other Person");
    outpost_store::Store::tenant(hub.store.as_ref(), agency.id)
        .await
        .expect("store")
        .create_records(
            Entity::Trip,
            (0..3)
                .map(|_| {
                    let mut fields = earlier.as_object().expect("object").clone();
                    fields.insert("board_entry_id".into(), json!(Uuid::now_v7()));
                    (outpost_domain::RecordId::generate(), fields)
                })
                .collect(),
            &actor,
        )
        .await
        .expect("trips");
    let (_, first_page) = hub.get("/v1/trips?limit=1", &crew).await;
    assert_eq!(first_page["items"][0]["id"], json!(trip), "{first_page}");
    let (status, trips) = hub.get(&format!("/v1/trips?unit_id={unit}"), &crew).await;
    assert_eq!(status, StatusCode::OK, "{trips}");
    assert_eq!(trips["items"][0]["status"], "assigned");
    let (status, created) = hub
        .post(
            "/v1/units",
            &crew,
            json!({"call_sign": "Medic 9", "level": "BLS"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{created}");

    // Another crew of the agency never sees it: not listed, not found, not pulled, not in a
    // snapshot, and its ops on it find nothing.
    let (_, theirs) = hub.get("/v1/trips", &other_crew).await;
    let theirs = theirs["items"].as_array().expect("items");
    assert_eq!(theirs.len(), 3, "their own three");
    assert!(theirs.iter().all(|t| t["id"] != json!(trip)));
    for path in [
        format!("/v1/trips/{trip}"),
        format!("/v1/trips/{trip}/history"),
    ] {
        let (status, _) = hub.get(&path, &other_crew).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let (_, pulled) = hub.get("/v1/sync/pull?cursor=0", &other_crew).await;
    let about_trip: Vec<&Value> = pulled["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["entity"] == "trip" && c["record_id"] == json!(trip))
        .collect();
    assert_eq!(about_trip.len(), 1, "{pulled}");
    assert!(
        about_trip
            .iter()
            .all(|c| c["record"].is_null() && c["history"].is_null()),
        "{pulled}"
    );
    let (_, snapshot) = hub.get("/v1/sync/snapshot", &other_crew).await;
    let snapshot = snapshot.as_str().expect("lines of JSON").to_owned();
    assert!(
        snapshot.contains("Medic 7"),
        "the units are the agency's: {snapshot}"
    );
    assert!(
        !snapshot.contains("Ada Byron") && !snapshot.contains(&trip.to_string()),
        "{snapshot}"
    );
    let (_, dispatched) = hub.get("/v1/trips", &dispatcher).await;
    assert_eq!(
        dispatched["items"].as_array().expect("items").len(),
        4,
        "the dispatcher sees every trip"
    );
    // ... and none of their patients, which only the crews read: not in a list, a record, a
    // history, a pull or a snapshot.
    assert_eq!(first_page["items"][0]["patient_name"], "Ada Byron");
    let (_, one) = hub.get(&format!("/v1/trips/{trip}"), &dispatcher).await;
    let (_, history) = hub
        .get(&format!("/v1/trips/{trip}/history"), &dispatcher)
        .await;
    let (_, pulled) = hub.get("/v1/sync/pull?cursor=0", &dispatcher).await;
    let (_, snapshot) = hub.get("/v1/sync/snapshot", &dispatcher).await;
    assert_eq!(one["origin"], "St Mary's", "{one}");
    for seen in [&dispatched, &one, &history, &pulled, &snapshot] {
        let text = seen.to_string();
        for patient in ["Ada Byron", "Other Person", "1950-02-03", "patient_name"] {
            assert!(!text.contains(patient), "{patient} in {text}");
        }
    }

    // Steps recorded offline arrive in one push: in order they apply; a skip is refused with
    // its code and writes nothing.
    let step = |base: i64, status: &str| {
        json!({
            "op_id": Uuid::now_v7(), "entity": "trip", "record_id": trip, "action": "update",
            "base_version": base, "fields": {"status": status},
            "client_time": Utc::now() - chrono::Duration::hours(3), "schema_version": 3
        })
    };
    let (status, answer) = hub
        .post(
            "/v1/sync/push",
            &crew,
            json!({"schema_version": 3, "ops": [step(1, "en_route"), step(2, "at_pickup")]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let results: Vec<&str> = answer["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["status"].as_str().expect("status"))
        .collect();
    assert_eq!(results, ["applied", "applied"], "{answer}");
    let (_, answer) = hub
        .post(
            "/v1/sync/push",
            &other_crew,
            json!({"schema_version": 3, "ops": [step(3, "transporting")]}),
        )
        .await;
    assert_eq!(
        answer["results"][0]["error"]["code"], "not_found",
        "{answer}"
    );
    // Who rides a trip is the hub's to set, never the crew's.
    let mut reassign = step(3, "transporting");
    reassign["fields"] = json!({"crew_user_ids": [crew_id, Uuid::now_v7()]});
    let (_, answer) = hub
        .post(
            "/v1/sync/push",
            &crew,
            json!({"schema_version": 3, "ops": [reassign]}),
        )
        .await;
    assert_eq!(
        answer["results"][0]["error"]["code"], "forbidden",
        "{answer}"
    );
    let (_, answer) = hub
        .post(
            "/v1/sync/push",
            &crew,
            json!({"schema_version": 3, "ops": [step(3, "completed")]}),
        )
        .await;
    assert_eq!(answer["results"][0]["status"], "rejected", "{answer}");
    assert_eq!(answer["results"][0]["error"]["code"], "invalid_transition");
    let (_, read) = hub.get(&format!("/v1/trips/{trip}"), &crew).await;
    assert_eq!(
        (read["status"].as_str(), read["version"].as_i64()),
        (Some("at_pickup"), Some(3))
    );
    // The history keeps each step's device time and the hub's.
    let (_, history) = hub.get(&format!("/v1/trips/{trip}/history"), &crew).await;
    let steps = history["items"].as_array().expect("items");
    assert_eq!(steps.len(), 3);
    assert!(
        steps[1]["client_time"].is_string() && steps[1]["at"].is_string(),
        "{history}"
    );
    hub.stop().await;
}

/// A dispatcher plans a unit's shifts over HTTP; an overlap is 409 `slot_taken`, a cancelled
/// shift frees its time and stays cancelled; crews read them and write none. A client that
/// does not name its schema (3, before shifts) is never sent them; one of schema 4 is, and
/// one catching up after an update gets them alone from the start of the feed.
#[tokio::test]
async fn a_dispatcher_plans_shifts_and_only_clients_that_know_them_are_sent_them() {
    let hub = TestHub::start().await;
    let agency = hub.tenant("shift-medics", TenantKind::EmsAgency).await;
    let dispatcher = hub.signed_in(Some(&agency), Role::EmsDispatcher).await;
    let crew = hub.signed_in(Some(&agency), Role::EmsCrew).await;
    let (_, unit) = hub
        .post(
            "/v1/units",
            &dispatcher,
            json!({"call_sign": "Medic 3", "level": "BLS"}),
        )
        .await;
    let unit = unit["id"].as_str().expect("unit").to_owned();
    let shift = |start: &str, end: &str| json!({"unit_id": unit, "start": start, "end": end});
    let (status, day) = hub
        .post(
            "/v1/unit-shifts",
            &dispatcher,
            shift("2026-12-07T07:00:00Z", "2026-12-07T19:00:00Z"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{day}");
    assert_eq!(day["status"], "planned");
    let day_path = format!("/v1/unit-shifts/{}", day["id"].as_str().expect("id"));
    let (status, clash) = hub
        .post(
            "/v1/unit-shifts",
            &dispatcher,
            shift("2026-12-07T18:00:00Z", "2026-12-08T02:00:00Z"),
        )
        .await;
    assert_eq!((status, code(&clash)), (StatusCode::CONFLICT, "slot_taken"));
    for (body, why) in [
        (
            shift("2026-12-07T19:00:00Z", "2026-12-07T07:00:00Z"),
            "ends before it starts",
        ),
        (
            shift("2026-12-07T07:00:00Z", "2026-12-09T07:00:00Z"),
            "two days",
        ),
        (
            json!({"unit_id": Uuid::now_v7(), "start": "2026-12-08T07:00:00Z", "end": "2026-12-08T19:00:00Z"}),
            "no such unit",
        ),
    ] {
        let (status, refused) = hub.post("/v1/unit-shifts", &dispatcher, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{why}: {refused}");
    }
    let (status, _) = hub
        .post(
            "/v1/unit-shifts",
            &crew,
            shift("2026-12-08T07:00:00Z", "2026-12-08T19:00:00Z"),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "crews do not plan shifts");
    let (status, listed) = hub
        .get(
            &format!("/v1/unit-shifts?unit_id={unit}&from=2026-12-07T12:00:00Z"),
            &crew,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed["items"].as_array().expect("items").len(), 1);
    let (status, cancelled) = hub
        .patch(
            &day_path,
            &dispatcher,
            json!({"version": 1, "status": "cancelled"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    let (status, again) = hub
        .patch(
            &day_path,
            &dispatcher,
            json!({"version": 2, "status": "planned"}),
        )
        .await;
    assert_eq!(
        (status, code(&again)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_transition")
    );
    let (status, _) = hub
        .post(
            "/v1/unit-shifts",
            &dispatcher,
            shift("2026-12-07T18:00:00Z", "2026-12-08T02:00:00Z"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "in the freed time");

    let kinds = |page: &Value| -> Vec<String> {
        let mut kinds: Vec<String> = page["changes"]
            .as_array()
            .expect("changes")
            .iter()
            .map(|c| c["entity"].as_str().expect("entity").to_owned())
            .collect();
        kinds.dedup();
        kinds
    };
    let (_, unsaid) = hub.get("/v1/sync/pull?cursor=0", &crew).await;
    assert_eq!(
        kinds(&unsaid),
        ["unit"],
        "an older client is not sent shifts"
    );
    let (_, knows) = hub.get("/v1/sync/pull?cursor=0&schema=4", &crew).await;
    assert_eq!(kinds(&knows), ["unit", "unit_shift"]);
    let (_, catching_up) = hub
        .get("/v1/sync/pull?cursor=0&schema=4&learned_after=3", &crew)
        .await;
    assert_eq!(kinds(&catching_up), ["unit_shift"]);
    for path in [
        "/v1/sync/pull?cursor=0&schema=99",
        "/v1/sync/pull?cursor=0&schema=4&learned_after=4",
        "/v1/sync/snapshot?schema=99",
    ] {
        let (status, refused) = hub.get(path, &crew).await;
        assert_eq!(
            (status, code(&refused)),
            (StatusCode::UNPROCESSABLE_ENTITY, "unsupported_schema"),
            "{path}: {refused}"
        );
    }
    // The snapshot likewise: an older client's holds no shift.
    let snapshot_kinds = |query: &'static str| {
        let request = hub
            .http
            .get(format!("{}/v1/sync/snapshot{query}", hub.url))
            .bearer_auth(&crew);
        async move {
            let text = request
                .send()
                .await
                .expect("snapshot")
                .text()
                .await
                .expect("body");
            let mut kinds: Vec<String> = text
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).expect("json line"))
                .filter(|l| l["type"] == "record")
                .map(|l| l["entity"].as_str().expect("entity").to_owned())
                .collect();
            kinds.dedup();
            kinds
        }
    };
    assert_eq!(snapshot_kinds("").await, ["unit"]);
    assert_eq!(snapshot_kinds("?schema=4").await, ["unit", "unit_shift"]);
}
