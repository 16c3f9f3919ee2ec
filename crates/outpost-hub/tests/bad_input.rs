//! Bad input gets a 4xx in the API's error shape, and nothing is written.

mod common;

use reqwest::{Method, StatusCode};
use serde_json::json;

use common::{PASSWORD, TestHub, patient_body};
use outpost_domain::{LocalEventId, Role, TenantKind};
use outpost_hub::HubConfig;

#[tokio::test]
async fn bad_patient_requests_are_refused_and_write_nothing() {
    let hub = TestHub::start_with(HubConfig {
        body_limit_bytes: 64 * 1024,
        ..HubConfig::default()
    })
    .await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    let doctor = hub.signed_in(Some(&clinic), Role::Doctor).await;
    let (_, created) = hub
        .post("/v1/patients", &doctor, patient_body("OK-1", "Val", "Id"))
        .await;
    let id = created["id"].as_str().expect("id").to_owned();
    let patients_before = hub.patient_count(&clinic).await;
    let events_before = hub.audit_events(&clinic).await;

    let with = |key: &str, value: serde_json::Value| {
        let mut body = patient_body("BAD-1", "Bad", "Input");
        body[key] = value;
        body
    };
    let cases: Vec<(&str, serde_json::Value, u16)> = vec![
        (
            "unknown field",
            with("favourite_colour", json!("blue")),
            400,
        ),
        ("wrong type", with("bmi", json!("heavy")), 400),
        ("bool as string", with("stroke", json!("yes")), 400),
        ("invalid date", with("birth_date", json!("1990-02-30")), 400),
        (
            "date in another format",
            with("birth_date", json!("01/02/1990")),
            400,
        ),
        ("unknown enum", with("sex", json!("robot")), 400),
        (
            "missing field",
            json!({"mrn": "X-1", "given_name": "No"}),
            400,
        ),
        (
            "over-long name",
            with("given_name", json!("a".repeat(101))),
            422,
        ),
        (
            "future birth date",
            with("birth_date", json!("2999-01-01")),
            422,
        ),
        ("bad email", with("email", json!("not-an-address")), 422),
        ("implausible bmi", with("bmi", json!(900.0)), 422),
        // One rule for text on both backends: characters no field can hold are malformed
        // input (400), not a broken rule (422).
        (
            "control characters",
            with("family_name", json!("In\u{0}put")),
            400,
        ),
        ("array body", json!([1, 2]), 400),
    ];
    for (what, body, expected) in cases {
        let (status, answer) = hub.post("/v1/patients", &doctor, body).await;
        assert_eq!(status.as_u16(), expected, "{what}: {answer}");
        assert!(
            answer["error"]["code"].is_string() && answer["error"]["message"].is_string(),
            "{what}: {answer}"
        );
        assert!(
            !answer.to_string().contains("heavy") && !answer.to_string().contains("not-an-address"),
            "{what} echoes the value"
        );
    }

    let raw = |body: &'static str, content_type: &'static str| {
        hub.http
            .post(format!("{}/v1/patients", hub.url))
            .bearer_auth(&doctor)
            .header("content-type", content_type)
            .body(body)
    };
    for (what, req, expected) in [
        ("malformed JSON", raw("{\"mrn\": ", "application/json"), 400),
        ("trailing garbage", raw("{} {}", "application/json"), 400),
        (
            "not JSON at all",
            raw("mrn=1", "application/x-www-form-urlencoded"),
            415,
        ),
    ] {
        let resp = req.send().await.expect("send");
        assert_eq!(resp.status().as_u16(), expected, "{what}");
        let answer: serde_json::Value = resp.json().await.expect("json error");
        assert!(answer["error"]["code"].is_string(), "{what}");
    }
    let huge = patient_body("BIG-1", &"x".repeat(70 * 1024), "Big");
    let (status, answer) = hub.post("/v1/patients", &doctor, huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert_eq!(answer["error"]["code"], "payload_too_large");

    let path = format!("/v1/patients/{id}");
    for (what, body, expected) in [
        (
            "unknown field in patch",
            json!({"version": 1, "id": "x"}),
            400,
        ),
        ("missing version", json!({"phone": "+1 555 0100"}), 400),
        (
            "wrong type in patch",
            json!({"version": 1, "bmi": "heavy"}),
            422,
        ),
        (
            "over-long phone",
            json!({"version": 1, "phone": "1".repeat(40)}),
            422,
        ),
    ] {
        let (status, answer) = hub.patch(&path, &doctor, body).await;
        assert_eq!(status.as_u16(), expected, "{what}: {answer}");
        assert!(
            !answer.to_string().contains("heavy"),
            "{what} echoes the value"
        );
    }
    for (what, path, expected) in [
        ("invalid uuid", "/v1/patients/not-a-uuid".to_owned(), 400),
        (
            "unknown query parameter",
            "/v1/patients?colour=blue".to_owned(),
            400,
        ),
        ("limit out of range", "/v1/patients?limit=0".to_owned(), 400),
        (
            "forged cursor",
            "/v1/patients?cursor=bm9wZQ".to_owned(),
            400,
        ),
        ("unknown route", "/v1/nothing".to_owned(), 404),
    ] {
        let (status, answer) = hub.get(&path, &doctor).await;
        assert_eq!(status.as_u16(), expected, "{what}: {answer}");
        assert!(answer["error"]["code"].is_string(), "{what}");
    }

    assert_eq!(
        hub.audit_events(&clinic).await,
        events_before,
        "no audit event: nothing reached the store"
    );
    assert_eq!(hub.patient_count(&clinic).await, patients_before);
    let (_, unchanged) = hub.get(&path, &doctor).await;
    assert_eq!(unchanged["version"], 1);
    hub.stop().await;
}

#[tokio::test]
async fn bad_user_and_tenant_requests_write_nothing() {
    let hub = TestHub::start().await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    let admin = hub.signed_in(Some(&clinic), Role::TenantAdmin).await;
    let platform = hub.signed_in(None, Role::PlatformAdmin).await;
    let (_, before) = hub.get("/v1/users", &admin).await;
    let member = json!({"email": "new.person@test.example", "full_name": "New Person", "role": "nurse", "password": "long enough password"});
    let mut bad = Vec::new();
    for (key, value) in [
        ("password", json!("short")),
        ("role", json!("ems_crew")),
        ("role", json!("root")),
        ("email", json!("nope")),
        ("full_name", json!("")),
        ("extra", json!(1)),
    ] {
        let mut body = member.clone();
        body[key] = value;
        bad.push(body);
    }
    for body in bad {
        let (status, answer) = hub.post("/v1/users", &admin, body.clone()).await;
        assert!(status.is_client_error(), "{body}: {status}");
        assert!(
            !answer.to_string().contains("short"),
            "the password is never echoed"
        );
    }
    let (_, after) = hub.get("/v1/users", &admin).await;
    assert_eq!(before, after);

    let (_, tenants_before) = hub.get("/v1/tenants", &platform).await;
    for body in [
        json!({"slug": "Bad Slug", "name": "x", "kind": "clinic"}),
        json!({"slug": "ok-slug", "name": "x", "kind": "spaceport"}),
        json!({"slug": "ok-slug", "name": "", "kind": "clinic"}),
        json!({"slug": "clinic", "name": "Duplicate", "kind": "clinic"}),
    ] {
        let (status, _) = hub.post("/v1/tenants", &platform, body.clone()).await;
        assert!(status.is_client_error(), "{body}: {status}");
    }
    let (_, tenants_after) = hub.get("/v1/tenants", &platform).await;
    assert_eq!(tenants_before, tenants_after);
    assert_eq!(hub.tenant_databases().await, 1, "no stray tenant databases");
    hub.stop().await;
}

#[tokio::test]
async fn nul_records_as_arrays_and_lookalike_media_types_are_refused_before_anything_is_written() {
    let hub = TestHub::start().await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    let admin_email = hub.user(Some(&clinic), Role::TenantAdmin).await;
    let admin = hub.token(&admin_email).await;
    let doctor = hub.signed_in(Some(&clinic), Role::Doctor).await;
    let platform = hub.signed_in(None, Role::PlatformAdmin).await;
    let central_before = hub.raw_central_actions().await;
    let patients_before = hub.patient_count(&clinic).await;
    let chain_before = hub.audit_events(&clinic).await;

    let nul = "Nul\u{0}Byte";
    let event = |entity: &str, entity_id: &str| {
        json!({"schema_version": 1, "audit": [{
            "event_id": LocalEventId::generate(), "action": "patient.read", "entity": entity,
            "entity_id": entity_id, "client_time": chrono::Utc::now(), "details": {}
        }]})
    };
    let login = "/v1/auth/login";
    let cases: Vec<(&str, &str, Option<&str>, serde_json::Value)> = vec![
        (
            "login e-mail of no account",
            login,
            None,
            json!({"email": "ghost\u{0}@test.example", "password": PASSWORD}),
        ),
        (
            "login e-mail of an account",
            login,
            None,
            json!({"email": format!("{admin_email}\u{0}"), "password": PASSWORD}),
        ),
        (
            "device name",
            login,
            None,
            json!({"email": admin_email, "password": PASSWORD, "device_name": nul}),
        ),
        (
            "offline audit entity",
            "/v1/sync/push",
            Some(&doctor),
            event(nul, "x"),
        ),
        (
            "offline audit entity_id",
            "/v1/sync/push",
            Some(&doctor),
            event("patient", nul),
        ),
        (
            "user full name",
            "/v1/users",
            Some(&admin),
            json!({"email": "nul.name@test.example", "full_name": nul, "role": "nurse",
                   "password": "long enough password"}),
        ),
        (
            "tenant name",
            "/v1/tenants",
            Some(&platform),
            json!({"slug": "nul-name", "name": nul, "kind": "clinic"}),
        ),
        (
            "a patient as an array of its field values",
            "/v1/patients",
            Some(&doctor),
            json!(["ARR-1", "Ada", "Array", "1990-01-01"]),
        ),
        (
            "a sign-in as an array",
            login,
            None,
            json!([admin_email, PASSWORD]),
        ),
    ];
    for (what, path, token, body) in cases {
        let (status, answer) = hub.call(Method::POST, path, token, Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid_input", "{what}: {answer}");
        assert!(
            !answer.to_string().contains("Nul"),
            "{what} echoes the value"
        );
    }
    for (what, path) in [
        ("search", "/v1/patients?q=Nul%00Byte"),
        ("cursor", "/v1/patients?cursor=%00"),
    ] {
        let (status, answer) = hub.get(path, &doctor).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid_input", "{what}: {answer}");
    }
    let create = |content_type: &'static str, mrn: &str| {
        hub.http
            .post(format!("{}/v1/patients", hub.url))
            .bearer_auth(&doctor)
            .header("content-type", content_type)
            .body(patient_body(mrn, "Media", "Type").to_string())
            .send()
    };
    for lookalike in ["application/jsonx", "application/json-seq", "text/json"] {
        let resp = create(lookalike, "MT-0").await.expect("send");
        assert_eq!(
            resp.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{lookalike}"
        );
    }

    assert_eq!(
        hub.raw_central_actions().await,
        central_before,
        "no sign-in attempt counted, no user or tenant created"
    );
    assert_eq!(hub.audit_events(&clinic).await, chain_before);
    assert_eq!(hub.patient_count(&clinic).await, patients_before);

    // The media type itself, in any case and with parameters, is still JSON.
    for (n, content_type) in ["application/json; charset=utf-8", "Application/JSON"]
        .into_iter()
        .enumerate()
    {
        let resp = create(content_type, &format!("MT-{}", n + 1))
            .await
            .expect("send");
        assert_eq!(resp.status(), StatusCode::CREATED, "{content_type}");
    }
    hub.stop().await;
}
