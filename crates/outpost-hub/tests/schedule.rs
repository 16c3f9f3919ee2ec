//! The clinic's schedule over HTTP, on either backend (`OUTPOST_TEST_BACKEND`): who may do
//! what, the booking rules with their codes, and one appointment per slot under concurrency.

mod common;

use reqwest::StatusCode;
use serde_json::{Value, json};

use common::{TestHub, demographics_body};
use outpost_domain::{Role, TenantKind};

/// Weekdays 08:00–17:00 in UTC, so that the slots below read plainly.
fn practitioner_body(name: &str) -> Value {
    let hours: Vec<Value> = ["mon", "tue", "wed", "thu", "fri"]
        .iter()
        .map(|day| json!({"day": day, "start": "08:00", "end": "17:00"}))
        .collect();
    json!({"name": name, "specialty": "General practice", "time_zone": "UTC", "working_hours": hours})
}

/// 2026-12-07 is a Monday.
fn booking(patient: &str, practitioner: &str, start: &str, end: &str) -> Value {
    json!({"patient_id": patient, "practitioner_id": practitioner, "start": start, "end": end, "reason": "check-up"})
}

/// A listing cursor as the API encodes them (URL-safe base64 of its JSON).
fn base64_cursor(value: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn the_front_desk_books_moves_checks_in_and_cancels_and_every_refusal_has_its_code() {
    let hub = TestHub::start().await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    let desk = hub.signed_in(Some(&clinic), Role::FrontDesk).await;
    let doctor = hub.signed_in(Some(&clinic), Role::Doctor).await;

    let (status, practitioner) = hub
        .post(
            "/v1/practitioners",
            &desk,
            practitioner_body("Dr Grace Hopper"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{practitioner}");
    let practitioner = practitioner["id"].as_str().expect("id").to_owned();
    let (_, patient) = hub
        .post(
            "/v1/patients",
            &desk,
            demographics_body("S-1", "Ada", "Byron"),
        )
        .await;
    let patient = patient["id"].as_str().expect("id").to_owned();

    let (status, booked) = hub
        .post(
            "/v1/appointments",
            &desk,
            booking(
                &patient,
                &practitioner,
                "2026-12-07T09:00:00Z",
                "2026-12-07T09:15:00Z",
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{booked}");
    assert_eq!(booked["status"], "booked");
    let id = booked["id"].as_str().expect("id").to_owned();
    let path = format!("/v1/appointments/{id}");

    // Each refused booking gets its code, and nothing is written.
    let refusals = [
        (
            ("2026-12-07T09:10:00Z", "2026-12-07T09:25:00Z"),
            StatusCode::CONFLICT,
            "slot_taken",
        ),
        (
            ("2026-12-07T07:00:00Z", "2026-12-07T07:15:00Z"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "outside_working_hours",
        ),
        (
            ("2026-12-08T09:00:00Z", "2026-12-08T09:00:00Z"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
    ];
    for ((start, end), expected, expected_code) in refusals {
        let (status, body) = hub
            .post(
                "/v1/appointments",
                &desk,
                booking(&patient, &practitioner, start, end),
            )
            .await;
        assert_eq!(
            (status, code(&body)),
            (expected, expected_code),
            "{start}: {body}"
        );
    }
    let (_, holiday) = hub
        .post(
            "/v1/calendar",
            &desk,
            json!({"kind": "holiday", "title": "Founders' day", "date": "2026-12-08"}),
        )
        .await;
    assert_eq!(holiday["kind"], "holiday", "{holiday}");
    let (status, body) = hub
        .post(
            "/v1/appointments",
            &desk,
            booking(
                &patient,
                &practitioner,
                "2026-12-08T09:00:00Z",
                "2026-12-08T09:15:00Z",
            ),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "clinic_closed")
    );
    let (_, listed) = hub
        .get(
            &format!("/v1/appointments?practitioner_id={practitioner}"),
            &desk,
        )
        .await;
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );

    // Moving is a PATCH of start and end; a stale version is a 409 with the current record.
    let (status, moved) = hub
        .patch(
            &path,
            &desk,
            json!({"version": 1, "start": "2026-12-07T10:00:00Z", "end": "2026-12-07T10:20:00Z"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["version"], 2);
    let (status, stale) = hub
        .patch(&path, &desk, json!({"version": 1, "status": "arrived"}))
        .await;
    assert_eq!(
        (status, code(&stale)),
        (StatusCode::CONFLICT, "version_conflict")
    );
    assert_eq!(stale["current"]["version"], 2);

    // The status machine: check-in, then no way back; cancelling needs a reason.
    let (status, arrived) = hub
        .patch(&path, &desk, json!({"version": 2, "status": "arrived"}))
        .await;
    assert_eq!(
        (status, arrived["status"].as_str()),
        (StatusCode::OK, Some("arrived"))
    );
    let (status, body) = hub
        .patch(&path, &desk, json!({"version": 3, "status": "booked"}))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_transition")
    );
    let (status, body) = hub
        .patch(
            &path,
            &desk,
            json!({"version": 3, "start": "2026-12-07T11:00:00Z", "end": "2026-12-07T11:15:00Z"}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_transition"),
        "an arrived patient is not moved"
    );
    let (status, body) = hub
        .patch(&path, &desk, json!({"version": 3, "status": "cancelled"}))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    let (status, cancelled) = hub
        .patch(
            &path,
            &desk,
            json!({"version": 3, "status": "cancelled", "cancel_reason": "patient felt better"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");

    // A search of a kind without words to search, and a cursor made up: 400, not a failure.
    let (status, body) = hub.get("/v1/calendar?q=founders", &desk).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_input"),
        "{body}"
    );
    let made_up = base64_cursor(&serde_json::json!({"keys": [42], "id": practitioner}));
    let (status, body) = hub
        .get(&format!("/v1/appointments?cursor={made_up}"), &desk)
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_input"),
        "{body}"
    );

    // The doctor reads the day and the history; nothing was written by the refusals.
    let (status, day) = hub
        .get(
            "/v1/appointments?from=2026-12-07T00:00:00Z&to=2026-12-08T00:00:00Z",
            &doctor,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{day}");
    assert_eq!(day["items"][0]["status"], "cancelled");
    let (_, history) = hub.get(&format!("{path}/history"), &doctor).await;
    let actions: Vec<&str> = history["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|h| h["action"].as_str())
        .collect();
    assert_eq!(actions, ["create", "update", "update", "update"]);
    hub.stop().await;
}

#[tokio::test]
async fn ems_roles_are_refused_the_schedule_and_the_front_desk_cannot_delete_bookings_it_may_not() {
    let hub = TestHub::start().await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    let agency = hub.tenant("agency", TenantKind::EmsAgency).await;
    let crew = hub.signed_in(Some(&agency), Role::EmsCrew).await;
    let dispatcher = hub.signed_in(Some(&agency), Role::EmsDispatcher).await;
    let auditor = hub.signed_in(Some(&clinic), Role::Auditor).await;
    for token in [&crew, &dispatcher] {
        for path in ["/v1/practitioners", "/v1/appointments", "/v1/calendar"] {
            let (status, body) = hub.get(path, token).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        }
        let (status, _) = hub
            .post("/v1/practitioners", token, practitioner_body("Dr Nobody"))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let (status, _) = hub
        .post(
            "/v1/practitioners",
            &auditor,
            practitioner_body("Dr Nobody"),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the auditor changes nothing");
    hub.stop().await;
}

#[tokio::test]
async fn twenty_bookings_of_one_slot_at_once_make_one_appointment() {
    let hub = TestHub::start().await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    let desk = hub.signed_in(Some(&clinic), Role::FrontDesk).await;
    let (_, practitioner) = hub
        .post(
            "/v1/practitioners",
            &desk,
            practitioner_body("Dr Barbara Liskov"),
        )
        .await;
    let practitioner = practitioner["id"].as_str().expect("id").to_owned();
    let mut patients = Vec::new();
    for n in 0..20 {
        let (_, patient) = hub
            .post(
                "/v1/patients",
                &desk,
                demographics_body(&format!("C-{n}"), "Ada", "Byron"),
            )
            .await;
        patients.push(patient["id"].as_str().expect("id").to_owned());
    }
    let hub = std::sync::Arc::new(hub);
    let attempts = patients.iter().enumerate().map(|(n, patient)| {
        let (hub, desk, practitioner, patient) = (
            hub.clone(),
            desk.clone(),
            practitioner.clone(),
            patient.clone(),
        );
        // Every slot overlaps every other: starts 09:00..09:19, each 30 minutes long.
        let start = format!("2026-12-07T09:{n:02}:00Z");
        let end = format!("2026-12-07T09:{:02}:00Z", n + 30);
        tokio::spawn(async move {
            hub.post(
                "/v1/appointments",
                &desk,
                booking(&patient, &practitioner, &start, &end),
            )
            .await
        })
    });
    let mut created = 0;
    let mut taken = 0;
    for attempt in attempts.collect::<Vec<_>>() {
        let (status, body) = attempt.await.expect("join");
        match (status, code(&body)) {
            (StatusCode::CREATED, _) => created += 1,
            (StatusCode::CONFLICT, "slot_taken") => taken += 1,
            other => panic!("unexpected answer {other:?}: {body}"),
        }
    }
    assert_eq!((created, taken), (1, 19));
    let (_, listed) = hub
        .get(
            &format!("/v1/appointments?practitioner_id={practitioner}"),
            &desk,
        )
        .await;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));
    if let Ok(hub) = std::sync::Arc::try_unwrap(hub) {
        hub.stop().await;
    }
}
