//! Tenant operations: suspend and resume through the API, migrate-all from the command line.

mod common;

use reqwest::StatusCode;
use serde_json::json;

use common::{PASSWORD, TestHub};
use outpost_domain::{Role, TenantKind};

#[tokio::test]
async fn a_suspended_tenant_is_refused_until_it_is_resumed() {
    let hub = TestHub::start().await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    let platform = hub.signed_in(None, Role::PlatformAdmin).await;
    let doctor_email = hub.user(Some(&clinic), Role::Doctor).await;
    let doctor = hub.token(&doctor_email).await;
    let admin = hub.signed_in(Some(&clinic), Role::TenantAdmin).await;
    assert_eq!(hub.get("/v1/patients", &doctor).await.0, StatusCode::OK);

    let suspend = format!("/v1/tenants/{}/suspend", clinic.id);
    let (status, _) = hub.post(&suspend, &admin, json!({})).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a tenant admin cannot suspend"
    );
    let (status, tenant) = hub.post(&suspend, &platform, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{tenant}");
    assert_eq!(tenant["status"], "suspended");

    let (status, body) = hub.get("/v1/patients", &doctor).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "tenant_suspended");
    let (status, _) = hub
        .login_raw(json!({ "email": doctor_email, "password": PASSWORD }))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, tenant) = hub
        .post(
            &format!("/v1/tenants/{}/resume", clinic.id),
            &platform,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tenant["status"], "active");
    assert_eq!(hub.get("/v1/patients", &doctor).await.0, StatusCode::OK);

    let (status, _) = hub
        .post(
            &format!(
                "/v1/tenants/{}/suspend",
                outpost_domain::TenantId::generate()
            ),
            &platform,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Moving needs a second PostgreSQL server: the embedded backend refuses, and so does a
    // server name the configuration does not list.
    let (status, body) = hub
        .post(
            &format!("/v1/tenants/{}/move", clinic.id),
            &platform,
            json!({ "server": "elsewhere" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let central = hub.store.central();
    let chain = central.verify_audit().await.expect("verify");
    assert!(chain.valid);
    let actions: Vec<String> = hub
        .raw_central_actions()
        .await
        .into_iter()
        .filter(|a| a.starts_with("tenant."))
        .collect();
    assert_eq!(
        actions,
        ["tenant.create", "tenant.suspend", "tenant.resume"]
    );
    hub.stop().await;
}

#[tokio::test]
async fn migrate_all_reports_every_tenant_and_goes_on_past_a_broken_one() {
    let hub = TestHub::start().await;
    hub.tenant("clinic-a", TenantKind::Clinic).await;
    let broken = hub.tenant("clinic-b", TenantKind::Clinic).await;
    hub.tenant("clinic-c", TenantKind::Clinic).await;

    let out = hub.command(&["tenant", "migrate-all"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    for slug in ["clinic-a", "clinic-b", "clinic-c"] {
        assert!(stdout.contains(&format!("{slug}: schema 8")), "{stdout}");
    }
    assert!(stdout.contains("3 of 3 tenants migrated"), "{stdout}");

    hub.break_tenant_database(broken.id).await;
    let out = hub.command(&["tenant", "migrate-all"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("clinic-b: FAILED"), "{stdout}");
    assert!(stdout.contains("clinic-a: schema 8"), "{stdout}");
    assert!(stdout.contains("clinic-c: schema 8"), "{stdout}");
    assert!(
        stdout.contains("2 of 3 tenants migrated, 1 failed"),
        "{stdout}"
    );
    hub.stop().await;
}
