//! Audit chains and reports: every read and change is in the chain, tampering is named, and
//! reports show a user's activity and a patient's story.

mod common;

use std::process::Command;

use reqwest::StatusCode;
use serde_json::json;

use common::{TestHub, patient_body};
use outpost_domain::{Role, TenantKind};

#[tokio::test]
async fn reads_and_changes_are_chained_and_a_tampered_row_is_named() {
    let hub = TestHub::start().await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    let doctor = hub.signed_in(Some(&clinic), Role::Doctor).await;
    let auditor = hub.signed_in(Some(&clinic), Role::Auditor).await;
    let platform = hub.signed_in(None, Role::PlatformAdmin).await;
    let (_, p) = hub
        .post("/v1/patients", &doctor, patient_body("T-1", "Tam", "Per"))
        .await;
    let id = p["id"].as_str().expect("id").to_owned();
    hub.get(&format!("/v1/patients/{id}"), &doctor).await;
    hub.get("/v1/patients?q=tam", &doctor).await;
    hub.patch(
        &format!("/v1/patients/{id}"),
        &doctor,
        json!({"version": 1, "given_name": "Tamsin"}),
    )
    .await;

    let (status, verify) = hub.get("/v1/audit/verify", &auditor).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(verify["items"][0]["valid"], true);
    assert_eq!(verify["items"][0]["chain"], "clinic");
    assert_eq!(verify["items"][0]["events"], 4);
    let (_, all) = hub.get("/v1/audit/verify", &platform).await;
    let chains: Vec<_> = all["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| c["chain"].clone())
        .collect();
    assert_eq!(chains, [json!("central"), json!("clinic")]);
    assert!(
        all["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|c| c["valid"] == true)
    );

    // The search event records which records it returned.
    let returned = hub
        .raw_tenant_sql(
            clinic.id,
            "SELECT details FROM audit_events WHERE action = 'patient.search'",
        )
        .await
        .expect("search event");
    assert!(returned[0].contains(&id));

    // An insider switches off the append-only guard and rewrites event 3.
    hub.tamper_with_audit_event(clinic.id, 3).await;
    let (_, verify) = hub.get("/v1/audit/verify", &auditor).await;
    assert_eq!(verify["items"][0]["valid"], false);
    assert_eq!(verify["items"][0]["first_broken_seq"], 3);

    let out = Command::new(env!("CARGO_BIN_EXE_outpost-hub"))
        .args(["audit", "verify", "--tenant", "clinic"])
        .args(hub.store_args())
        .output()
        .expect("run outpost-hub");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("clinic: BROKEN at sequence 3"), "{stdout}");
    hub.stop().await;
}

#[tokio::test]
async fn an_append_only_trigger_refuses_casual_edits() {
    let hub = TestHub::start().await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    let doctor = hub.signed_in(Some(&clinic), Role::Doctor).await;
    hub.post("/v1/patients", &doctor, patient_body("T-1", "Tam", "Per"))
        .await;
    for edit in [
        "UPDATE audit_events SET action = 'x'",
        "DELETE FROM audit_events",
    ] {
        assert!(hub.raw_tenant_sql(clinic.id, edit).await.is_err(), "{edit}");
    }
    assert_eq!(hub.audit_events(&clinic).await, 1);
    hub.stop().await;
}

#[tokio::test]
async fn reports_show_activity_a_patients_story_and_database_status() {
    let hub = TestHub::start().await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    let doctor_email = hub.user(Some(&clinic), Role::Doctor).await;
    let doctor = hub.token(&doctor_email).await;
    let auditor = hub.signed_in(Some(&clinic), Role::Auditor).await;
    let platform = hub.signed_in(None, Role::PlatformAdmin).await;
    let (_, me) = hub.get("/v1/me", &doctor).await;
    let doctor_id = me["user"]["id"].as_str().expect("id").to_owned();
    let (_, p) = hub
        .post(
            "/v1/patients",
            &doctor,
            patient_body("R-1", "Rita", "Report"),
        )
        .await;
    let pid = p["id"].as_str().expect("id").to_owned();
    hub.get(&format!("/v1/patients/{pid}"), &doctor).await;

    let (status, activity) = hub
        .get(
            &format!("/v1/reports/activity?user_id={doctor_id}"),
            &auditor,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{activity}");
    assert_eq!(activity["sessions"].as_array().expect("sessions").len(), 1);
    let central: Vec<_> = activity["central_events"]
        .as_array()
        .expect("central")
        .iter()
        .map(|e| e["action"].clone())
        .collect();
    assert!(central.contains(&json!("auth.login")), "{central:?}");
    let tenant_actions: Vec<_> = activity["tenant_events"][0]["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["action"].clone())
        .collect();
    assert_eq!(
        tenant_actions,
        [json!("patient.create"), json!("patient.read")]
    );

    let (status, report) = hub
        .get(&format!("/v1/reports/patients/{pid}"), &auditor)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["patient"]["family_name"], "Report");
    assert_eq!(report["versions"].as_array().expect("versions").len(), 1);
    assert_eq!(report["accesses"].as_array().expect("accesses").len(), 2);
    // A search that returned the patient counts as an access too.
    hub.get("/v1/patients?q=rita", &doctor).await;
    let (_, with_search) = hub
        .get(&format!("/v1/reports/patients/{pid}"), &auditor)
        .await;
    let actions: Vec<_> = with_search["accesses"]
        .as_array()
        .expect("accesses")
        .iter()
        .map(|a| a["action"].clone())
        .collect();
    assert_eq!(
        actions,
        [
            json!("patient.create"),
            json!("patient.read"),
            json!("report.patient"),
            json!("patient.search")
        ]
    );
    // Reading the report is itself audited.
    let (_, again) = hub
        .get(&format!("/v1/reports/patients/{pid}"), &auditor)
        .await;
    assert_eq!(again["accesses"].as_array().expect("accesses").len(), 5);

    let (status, status_page) = hub.get("/v1/status", &platform).await;
    assert_eq!(status, StatusCode::OK);
    let items = status_page["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    for db in items {
        assert_eq!(db["reachable"], true, "{db}");
        assert!(db["schema_version"].as_i64().expect("version") >= 1);
        assert!(db["size_bytes"].as_u64().expect("size") > 0);
        assert!(db["latency_ms"].as_f64().is_some());
    }
    assert_eq!(items[1]["name"], "clinic");
    hub.stop().await;
}
