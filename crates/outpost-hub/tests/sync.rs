//! The hub's side of sync over real HTTP: idempotent pushes, merges and conflicts, pull order,
//! the snapshot stream, live events and device revocation.

mod common;

use chrono::{SubsecRound, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use common::{PASSWORD, TestHub, patient_body};
use outpost_domain::clock::Clock;
use outpost_domain::patient::Patient;
use outpost_domain::tenant::Tenant;
use outpost_domain::{DeviceId, OpId, PatientId, Role, TenantKind};

fn op(action: &str, record: &str, base: Option<i64>, fields: Value) -> Value {
    json!({
        "op_id": OpId::generate(), "entity": "patient", "record_id": record, "action": action,
        "base_version": base, "fields": fields, "client_time": Utc::now(), "schema_version": 1
    })
}

fn push_body(ops: Vec<Value>) -> Value {
    json!({ "schema_version": 1, "ops": ops })
}

/// Creates `count` patients straight in the tenant's store (MRNs `PREFIX-n`).
async fn seed(hub: &TestHub, tenant: &Tenant, prefix: &str, count: usize) -> Vec<Patient> {
    let fields: Vec<_> = (0..count)
        .map(|i| {
            serde_json::from_value(patient_body(&format!("{prefix}-{i}"), "Seeded", "Patient"))
                .expect("fields")
        })
        .collect();
    let mut actor = hub.actor();
    actor.tenant_id = Some(tenant.id);
    hub.store
        .tenant(tenant.id)
        .await
        .expect("store")
        .create_patients(fields, &actor)
        .await
        .expect("create")
}

#[tokio::test]
async fn a_push_replayed_three_times_and_concurrently_is_applied_once() {
    let hub = TestHub::start().await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    let doctor = hub.signed_in(Some(&clinic), Role::Doctor).await;
    let id = PatientId::generate().to_string();
    let body = push_body(vec![
        op("create", &id, None, patient_body("S-1", "Sync", "Once")),
        op("update", &id, Some(1), json!({"phone": "+1 555 0001"})),
    ]);
    let mut answers = Vec::new();
    for _ in 0..3 {
        let (status, answer) = hub.post("/v1/sync/push", &doctor, body.clone()).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answers.push(answer["results"].clone());
    }
    let concurrent = futures_util::future::join_all(
        (0..4).map(|_| hub.post("/v1/sync/push", &doctor, body.clone())),
    )
    .await;
    for (status, answer) in concurrent {
        assert_eq!(status, StatusCode::OK);
        answers.push(answer["results"].clone());
    }
    assert!(
        answers.windows(2).all(|w| w[0] == w[1]),
        "every replay answers the same"
    );
    assert_eq!(answers[0][0]["status"], "applied");
    assert_eq!(answers[0][1]["status"], "applied");
    assert_eq!(answers[0][1]["version"], 2);
    let (_, history) = hub
        .get(&format!("/v1/patients/{id}/history"), &doctor)
        .await;
    assert_eq!(
        history["items"].as_array().expect("items").len(),
        2,
        "applied once"
    );
    assert_eq!(hub.patient_count(&clinic).await, 1);
    hub.stop().await;
}

#[tokio::test]
async fn a_synced_version_keeps_the_device_clock_and_a_hub_edit_has_none() {
    let hub = TestHub::start().await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    let doctor = hub.signed_in(Some(&clinic), Role::Doctor).await;
    let id = PatientId::generate().to_string();
    // Stored to the microsecond.
    let made_offline = (Utc::now() - chrono::Duration::hours(2)).trunc_subsecs(6);
    let mut create = op("create", &id, None, patient_body("C-1", "Clock", "Kept"));
    create["client_time"] = json!(made_offline);
    let (status, answer) = hub
        .post("/v1/sync/push", &doctor, push_body(vec![create]))
        .await;
    assert_eq!(
        (status, &answer["results"][0]["status"]),
        (StatusCode::OK, &json!("applied"))
    );
    let (status, _) = hub
        .patch(
            &format!("/v1/patients/{id}"),
            &doctor,
            json!({"version": 1, "phone": "+1 555 0002"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, history) = hub
        .get(&format!("/v1/patients/{id}/history"), &doctor)
        .await;
    let items = history["items"].as_array().expect("items");
    let time = |v: &Value| {
        v.as_str()
            .map(|s| s.parse::<chrono::DateTime<Utc>>().expect("a time"))
    };
    assert_eq!(
        time(&items[0]["client_time"]),
        Some(made_offline),
        "the device's clock"
    );
    assert_eq!(
        time(&items[0]["at"]),
        Some(hub.clock.now().trunc_subsecs(6)),
        "versions carry the hub's own clock"
    );
    assert_eq!(items[1]["client_time"], Value::Null, "made on the hub");
    hub.stop().await;
}

#[tokio::test]
async fn stale_ops_merge_on_other_fields_and_conflict_on_the_same_field() {
    let hub = TestHub::start().await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    let doctor = hub.signed_in(Some(&clinic), Role::Doctor).await;
    let nurse = hub.signed_in(Some(&clinic), Role::Nurse).await;
    let (_, p) = hub
        .post("/v1/patients", &doctor, patient_body("M-1", "Mer", "Ge"))
        .await;
    let id = p["id"].as_str().expect("id").to_owned();
    // Both edited version 1 offline: the doctor the phone, the nurse the address.
    let (_, first) = hub
        .post(
            "/v1/sync/push",
            &doctor,
            push_body(vec![op(
                "update",
                &id,
                Some(1),
                json!({"phone": "+1 555 0002"}),
            )]),
        )
        .await;
    assert_eq!(first["results"][0]["status"], "applied");
    let (_, second) = hub
        .post(
            "/v1/sync/push",
            &nurse,
            push_body(vec![op(
                "update",
                &id,
                Some(1),
                json!({"address": "1 Merge St"}),
            )]),
        )
        .await;
    assert_eq!(second["results"][0]["status"], "merged");
    assert_eq!(second["results"][0]["version"], 3);
    assert_eq!(second["results"][0]["record"]["phone"], "+1 555 0002");
    // Now the nurse edits the phone from version 1 again: a conflict, nothing written.
    let (_, third) = hub
        .post(
            "/v1/sync/push",
            &nurse,
            push_body(vec![op(
                "update",
                &id,
                Some(1),
                json!({"phone": "+1 555 0003"}),
            )]),
        )
        .await;
    assert_eq!(third["results"][0]["status"], "conflict");
    assert_eq!(third["results"][0]["record"]["phone"], "+1 555 0002");
    let (_, now) = hub.get(&format!("/v1/patients/{id}"), &doctor).await;
    assert_eq!(now["version"], 3);
    assert_eq!(now["phone"], "+1 555 0002");
    assert_eq!(now["address"], "1 Merge St");
    // A delete from a stale version conflicts too; from the current one it applies.
    let (_, stale_delete) = hub
        .post(
            "/v1/sync/push",
            &doctor,
            push_body(vec![op("delete", &id, Some(2), json!({}))]),
        )
        .await;
    assert_eq!(
        stale_delete["results"][0]["status"], "rejected",
        "doctors may not delete"
    );
    let admin = hub.signed_in(Some(&clinic), Role::TenantAdmin).await;
    let (_, stale_delete) = hub
        .post(
            "/v1/sync/push",
            &admin,
            push_body(vec![op("delete", &id, Some(2), json!({}))]),
        )
        .await;
    assert_eq!(stale_delete["results"][0]["status"], "conflict");
    let (_, deleted) = hub
        .post(
            "/v1/sync/push",
            &admin,
            push_body(vec![op("delete", &id, Some(3), json!({}))]),
        )
        .await;
    assert_eq!(deleted["results"][0]["status"], "applied");
    let (_, after_delete) = hub
        .post(
            "/v1/sync/push",
            &nurse,
            push_body(vec![op("update", &id, Some(3), json!({"phone": "1"}))]),
        )
        .await;
    assert_eq!(after_delete["results"][0]["status"], "conflict");
    assert!(after_delete["results"][0]["record"].is_null());
    hub.stop().await;
}

#[tokio::test]
async fn bad_ops_are_rejected_and_old_clients_are_refused_whole() {
    let hub = TestHub::start().await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    let desk = hub.signed_in(Some(&clinic), Role::FrontDesk).await;
    let id = PatientId::generate().to_string();
    let (status, answer) = hub
        .post(
            "/v1/sync/push",
            &desk,
            push_body(vec![
                op("create", &id, None, json!({"mrn": "R-1", "given_name": "Re", "family_name": "Ject", "birth_date": "2999-01-01"})),
                op("create", &PatientId::generate().to_string(), None, patient_body("R-2", "Clin", "Ical")),
                op("create", &PatientId::generate().to_string(), None, json!({"mrn": "R-3", "given_name": "Ok", "family_name": "Fine", "birth_date": "1999-01-01", "colour": "red"})),
                op("update", &PatientId::generate().to_string(), Some(1), json!({"phone": "1"})),
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let codes: Vec<_> = answer["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["error"]["code"].clone())
        .collect();
    assert_eq!(
        codes,
        [
            json!("validation_failed"),
            json!("forbidden"),
            json!("invalid_input"),
            json!("not_found")
        ]
    );
    assert_eq!(hub.patient_count(&clinic).await, 0);
    // Later ops on a record whose earlier op failed are not applied either.
    let (_, blocked) = hub
        .post(
            "/v1/sync/push",
            &desk,
            push_body(vec![
                op("create", &id, None, json!({"mrn": "", "given_name": "Re", "family_name": "Ject", "birth_date": "1990-01-01"})),
                op("update", &id, Some(1), json!({"phone": "+1 555 0100"})),
            ]),
        )
        .await;
    assert_eq!(blocked["results"][1]["status"], "rejected");
    assert_eq!(hub.patient_count(&clinic).await, 0);
    // A write the database refuses (a taken MRN) leaves nothing of its op behind, and the
    // ops after it still apply.
    let taken = PatientId::generate().to_string();
    let other = PatientId::generate().to_string();
    let (_, first) = hub
        .post(
            "/v1/sync/push",
            &desk,
            push_body(vec![
                op("create", &taken, None, json!({"mrn": "U-1", "given_name": "Un", "family_name": "Ique", "birth_date": "1990-01-01"})),
                op("create", &other, None, json!({"mrn": "U-2", "given_name": "Ot", "family_name": "Her", "birth_date": "1990-01-01"})),
            ]),
        )
        .await;
    assert_eq!(first["results"][1]["status"], "applied", "{first}");
    let (_, clash) = hub
        .post(
            "/v1/sync/push",
            &desk,
            push_body(vec![
                op("create", &PatientId::generate().to_string(), None, json!({"mrn": "U-1", "given_name": "Du", "family_name": "Plicate", "birth_date": "1990-01-01"})),
                op("update", &other, Some(1), json!({"mrn": "U-1"})),
                op("update", &taken, Some(1), json!({"phone": "+1 555 0101"})),
            ]),
        )
        .await;
    let statuses: Vec<_> = clash["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| (r["status"].clone(), r["error"]["code"].clone()))
        .collect();
    assert_eq!(
        statuses,
        [
            (json!("rejected"), json!("already_exists")),
            (json!("rejected"), json!("already_exists")),
            (json!("applied"), json!(null)),
        ]
    );
    assert_eq!(hub.patient_count(&clinic).await, 2);
    let (_, history) = hub
        .get(&format!("/v1/patients/{other}/history"), &desk)
        .await;
    assert_eq!(
        history["items"].as_array().expect("items").len(),
        1,
        "{history}"
    );
    let (_, still) = hub.get(&format!("/v1/patients/{other}"), &desk).await;
    assert_eq!(
        (still["version"].clone(), still["mrn"].clone()),
        (json!(1), json!("U-2"))
    );

    let mut old = push_body(vec![op("create", &id, None, json!({}))]);
    old["schema_version"] = json!(99);
    let (status, answer) = hub.post("/v1/sync/push", &desk, old).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer["error"]["code"], "unsupported_schema");
    hub.stop().await;
}

#[tokio::test]
async fn pull_follows_the_hub_order_and_offline_reads_join_the_chain() {
    let hub = TestHub::start().await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    let doctor = hub.signed_in(Some(&clinic), Role::Doctor).await;
    let desk = hub.signed_in(Some(&clinic), Role::FrontDesk).await;
    let (_, a) = hub
        .post("/v1/patients", &doctor, patient_body("P-1", "Pull", "One"))
        .await;
    let (_, b) = hub
        .post("/v1/patients", &doctor, patient_body("P-2", "Pull", "Two"))
        .await;
    let a_id = a["id"].as_str().expect("id");
    hub.patch(
        &format!("/v1/patients/{a_id}"),
        &doctor,
        json!({"version": 1, "bmi": 30.5}),
    )
    .await;
    let (status, page) = hub.get("/v1/sync/pull?cursor=0&limit=2", &desk).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["has_more"], true);
    assert_eq!(page["changes"][0]["record_id"], a["id"]);
    assert_eq!(page["changes"][1]["record_id"], b["id"]);
    // The record is as it is now, without clinical fields for the front desk.
    assert_eq!(page["changes"][0]["record"]["version"], 2);
    assert!(page["changes"][0]["record"].get("bmi").is_none());
    let (_, rest) = hub
        .get(&format!("/v1/sync/pull?cursor={}", page["cursor"]), &desk)
        .await;
    assert_eq!(rest["has_more"], false);
    assert_eq!(rest["changes"][0]["action"], "update");
    assert!(
        rest["changes"][0]["history"]["changes"]
            .get("bmi")
            .is_none()
    );

    let before = hub.audit_events(&clinic).await;
    let event_id = outpost_domain::LocalEventId::generate();
    let offline_read = json!({
        "schema_version": 1,
        "audit": [{"event_id": event_id, "action": "patient.read", "entity": "patient",
                   "entity_id": a_id, "client_time": "2026-01-01T10:00:00Z", "details": {}}]
    });
    for _ in 0..2 {
        let (status, answer) = hub.post("/v1/sync/push", &desk, offline_read.clone()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(answer["audit_accepted"][0], json!(event_id));
    }
    assert_eq!(hub.audit_events(&clinic).await, before + 1, "appended once");
    let auditor = hub.signed_in(Some(&clinic), Role::Auditor).await;
    let (_, report) = hub
        .get(&format!("/v1/reports/patients/{a_id}"), &auditor)
        .await;
    let offline: Vec<_> = report["accesses"]
        .as_array()
        .expect("accesses")
        .iter()
        .filter(|e| e["details"]["offline"] == true)
        .collect();
    assert_eq!(offline.len(), 1);
    assert_eq!(offline[0]["details"]["client_time"], "2026-01-01T10:00:00Z");
    assert!(offline[0]["session_id"].is_string());
    let (_, verify) = hub.get("/v1/audit/verify", &auditor).await;
    assert_eq!(verify["items"][0]["valid"], true);
    hub.stop().await;
}

#[tokio::test]
async fn the_snapshot_is_a_complete_stream_with_its_cursor() {
    let hub = TestHub::start().await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    let doctor = hub.signed_in(Some(&clinic), Role::Doctor).await;
    let created = seed(&hub, &clinic, "SN", 1200).await;
    let gone = created[0].id;
    hub.delete(
        &format!("/v1/patients/{gone}"),
        &hub.signed_in(Some(&clinic), Role::TenantAdmin).await,
    )
    .await;
    let text = hub
        .http
        .get(format!("{}/v1/sync/snapshot", hub.url))
        .bearer_auth(&doctor)
        .send()
        .await
        .expect("snapshot")
        .text()
        .await
        .expect("body");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines[0]["type"], "begin");
    assert_eq!(lines[0]["records"], 1199);
    assert_eq!(lines[0]["history"], 1199);
    assert_eq!(lines[0]["cursor"], 1201, "1200 creates and a delete");
    assert_eq!(lines.last().expect("last")["type"], "end");
    let patients = lines
        .iter()
        .filter(|l| l["type"] == "record" && l["entity"] == "patient")
        .count();
    let history = lines.iter().filter(|l| l["type"] == "history").count();
    assert_eq!((patients, history), (1199, 1199));
    assert!(!text.contains(&gone.to_string()));
    hub.stop().await;
}

/// Four workstations making their first mirror at once is an ordinary morning: on PostgreSQL,
/// where a tenant has a few pooled connections, twenty at once must all complete (each holds
/// one connection and never waits for a second) and agree, while the tenant's other requests
/// are answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_first_mirrors_at_once_complete_and_agree_while_the_tenant_answers() {
    let hub = TestHub::start().await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    let doctor = hub.signed_in(Some(&clinic), Role::Doctor).await;
    seed(&hub, &clinic, "MO", 2000).await;
    let mirrors: Vec<_> = (0..20)
        .map(|_| {
            let request = hub
                .http
                .get(format!("{}/v1/sync/snapshot", hub.url))
                .bearer_auth(&doctor)
                .send();
            tokio::spawn(async move {
                let resp = request.await.expect("snapshot");
                assert_eq!(resp.status(), StatusCode::OK);
                resp.text().await.expect("body")
            })
        })
        .collect();
    let meanwhile = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        hub.get("/v1/patients?limit=5", &doctor),
    )
    .await
    .expect("the tenant answers while the mirrors run");
    assert_eq!(meanwhile.0, StatusCode::OK);
    let texts = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        futures_util::future::join_all(mirrors),
    )
    .await
    .expect("every mirror completes");
    let texts: Vec<String> = texts.into_iter().map(|t| t.expect("join")).collect();
    assert!(texts.windows(2).all(|w| w[0] == w[1]), "they agree");
    let lines: Vec<Value> = texts[0]
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines[0]["records"], 2000);
    assert_eq!(lines.last().expect("last")["type"], "end");
    assert_eq!(lines.len(), 2 + 2 * 2000);
    // Each mirror is audited once, and the chain verifies.
    let snapshots = hub
        .raw_tenant_sql(
            clinic.id,
            "SELECT action FROM audit_events WHERE action = 'sync.snapshot'",
        )
        .await
        .expect("audit");
    assert_eq!(snapshots.len(), 20);
    let report = hub
        .store
        .tenant(clinic.id)
        .await
        .expect("store")
        .verify_audit()
        .await
        .expect("verify");
    assert!(report.valid);
    hub.stop().await;
}

#[tokio::test]
async fn a_change_is_announced_to_listeners_of_the_tenant() {
    let hub = TestHub::start().await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    let doctor = hub.signed_in(Some(&clinic), Role::Doctor).await;
    let mut events = hub
        .http
        .get(format!("{}/v1/events", hub.url))
        .bearer_auth(&doctor)
        .send()
        .await
        .expect("events");
    assert_eq!(events.status(), StatusCode::OK);
    let first = events.chunk().await.expect("chunk").expect("first event");
    assert!(String::from_utf8_lossy(&first).contains("\"cursor\":0"));
    hub.post("/v1/patients", &doctor, patient_body("E-1", "Ev", "Ent"))
        .await;
    let next = tokio::time::timeout(std::time::Duration::from_secs(5), events.chunk())
        .await
        .expect("announced in time")
        .expect("chunk")
        .expect("event");
    let text = String::from_utf8_lossy(&next);
    assert!(
        text.contains("event: changes") && text.contains("\"cursor\":1"),
        "{text}"
    );
    hub.stop().await;
}

#[tokio::test]
async fn a_revoked_device_is_told_so_at_its_next_contact() {
    let hub = TestHub::start().await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    let email = hub.user(Some(&clinic), Role::Nurse).await;
    let device = DeviceId::generate();
    let login = hub
        .login_raw(json!({"email": email, "password": PASSWORD, "device_id": device, "device_name": "Ambulance 7"}))
        .await
        .1;
    let token = login["access_token"].as_str().expect("token").to_owned();
    assert_eq!(hub.get("/v1/me", &token).await.0, StatusCode::OK);
    let event = hub
        .actor()
        .event("device.revoke", outpost_domain::audit::Outcome::Success);
    hub.store
        .central()
        .revoke_device(device, hub.actor().at, event)
        .await
        .expect("revoke");
    let (status, answer) = hub.get("/v1/me", &token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(answer["error"]["code"], "device_revoked");
    let (_, answer) = hub
        .refresh(login["refresh_token"].as_str().expect("refresh"))
        .await;
    assert_eq!(answer["error"]["code"], "device_revoked");
    let (status, answer) = hub
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"email": email, "password": PASSWORD, "device_id": device})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(answer["error"]["code"], "device_revoked");
    // Another device of the same user still works.
    hub.login(&email, None).await;
    hub.stop().await;
}
