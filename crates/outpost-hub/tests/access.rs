//! The role × route matrix and tenant isolation, against a real hub over HTTP.

mod common;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use common::{TestHub, demographics_body, patient_body};
use outpost_domain::{Role, TenantKind};

/// Which roles each route admits. Everyone else must get 403 (never data).
fn matrix() -> Vec<(Method, &'static str, Option<Value>, &'static [Role])> {
    use Role::*;
    let readers: &[Role] = &[TenantAdmin, Doctor, Nurse, FrontDesk, TransportCoordinator];
    let writers: &[Role] = &[Doctor, Nurse, FrontDesk];
    vec![
        (Method::GET, "/v1/patients", None, readers),
        (Method::GET, "/v1/patients?q=smi", None, readers),
        (
            Method::POST,
            "/v1/patients",
            Some(json!("new-patient")),
            writers,
        ),
        (Method::GET, "/v1/patients/{pid}", None, readers),
        (
            Method::PATCH,
            "/v1/patients/{pid}",
            Some(json!({"version": 1, "phone": "+1 555 0199"})),
            writers,
        ),
        (
            Method::DELETE,
            "/v1/patients/{missing}",
            None,
            &[TenantAdmin],
        ),
        (Method::GET, "/v1/patients/{pid}/history", None, readers),
        (
            Method::GET,
            "/v1/users",
            None,
            &[PlatformAdmin, TenantAdmin],
        ),
        (
            Method::POST,
            "/v1/users",
            Some(json!("new-user")),
            &[PlatformAdmin, TenantAdmin],
        ),
        (
            Method::PATCH,
            "/v1/users/{missing}",
            Some(json!({"full_name": "X Y"})),
            &[PlatformAdmin, TenantAdmin],
        ),
        (Method::GET, "/v1/tenants", None, &[PlatformAdmin]),
        (
            Method::POST,
            "/v1/tenants",
            Some(json!("new-tenant")),
            &[PlatformAdmin],
        ),
        (Method::GET, "/v1/tenants/{missing}", None, &[PlatformAdmin]),
        (
            Method::DELETE,
            "/v1/tenants/{missing}",
            None,
            &[PlatformAdmin],
        ),
        (
            Method::GET,
            "/v1/audit/verify",
            None,
            &[PlatformAdmin, TenantAdmin, Auditor],
        ),
        (
            Method::GET,
            "/v1/reports/activity?user_id={uid}",
            None,
            &[PlatformAdmin, TenantAdmin, Auditor],
        ),
        (
            Method::GET,
            "/v1/reports/patients/{pid}",
            None,
            &[TenantAdmin, Auditor],
        ),
        (Method::GET, "/v1/status", None, &[PlatformAdmin]),
        // Sync is for every role that reads some kind of record: EMS crews and dispatchers
        // sync their agency's units and trips.
        (
            Method::GET,
            "/v1/sync/pull",
            None,
            &[
                TenantAdmin,
                Doctor,
                Nurse,
                FrontDesk,
                EmsDispatcher,
                EmsCrew,
                TransportCoordinator,
            ],
        ),
    ]
}

fn home_kind(role: Role) -> TenantKind {
    match role {
        Role::EmsCrew | Role::EmsDispatcher => TenantKind::EmsAgency,
        Role::TransportCoordinator => TenantKind::Hospital,
        _ => TenantKind::Clinic,
    }
}

#[tokio::test]
async fn every_role_reaches_exactly_its_routes() {
    let hub = TestHub::start().await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    let hospital = hub.tenant("hospital", TenantKind::Hospital).await;
    let ems = hub.tenant("ems", TenantKind::EmsAgency).await;
    let mut checked = 0;
    for (n, role) in Role::ALL.iter().copied().enumerate() {
        let tenant = match (role, home_kind(role)) {
            (Role::PlatformAdmin, _) => None,
            (_, TenantKind::Hospital) => Some(&hospital),
            (_, TenantKind::EmsAgency) => Some(&ems),
            _ => Some(&clinic),
        };
        let token = hub.signed_in(tenant, role).await;
        // A patient and a user in the caller's own tenant, so allowed calls find something.
        let (pid, uid) = match tenant {
            Some(t) if matches!(t.kind, TenantKind::Clinic | TenantKind::Hospital) => {
                let store = outpost_store::Store::tenant(hub.store.as_ref(), t.id)
                    .await
                    .expect("store");
                let fields =
                    serde_json::from_value(demographics_body(&format!("M-{n}"), "Sam", "Smith"))
                        .expect("fields");
                let mut actor = hub.actor();
                actor.tenant_id = Some(t.id);
                let p = store
                    .create_patients(vec![fields], &actor)
                    .await
                    .expect("patient");
                (
                    p[0].id.to_string(),
                    hub.get("/v1/me", &token).await.1["user"]["id"]
                        .as_str()
                        .expect("id")
                        .to_owned(),
                )
            }
            _ => (
                Uuid::now_v7().to_string(),
                hub.get("/v1/me", &token).await.1["user"]["id"]
                    .as_str()
                    .expect("id")
                    .to_owned(),
            ),
        };
        for (method, path, body, allowed) in matrix() {
            let path = path
                .replace("{pid}", &pid)
                .replace("{uid}", &uid)
                .replace("{missing}", &Uuid::now_v7().to_string());
            let body = body.map(|b| match b.as_str() {
                Some("new-patient") => {
                    demographics_body(&format!("N-{n}-{checked}"), "New", "Person")
                }
                Some("new-user") => json!({
                    "email": format!("made.{n}.{checked}@test.example"), "full_name": "Made User",
                    "role": if role == Role::PlatformAdmin { "platform_admin" } else { "auditor" },
                    "password": "another long password"
                }),
                Some("new-tenant") => {
                    json!({"slug": format!("t-{n}-{checked}"), "name": "T", "kind": "clinic"})
                }
                _ => b,
            });
            let (status, answer) = hub.call(method.clone(), &path, Some(&token), body).await;
            if allowed.contains(&role) {
                assert!(
                    status != StatusCode::FORBIDDEN
                        && status != StatusCode::UNAUTHORIZED
                        && status.as_u16() < 500,
                    "{role} {method} {path}: expected access, got {status} {answer}"
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{role} {method} {path}: {answer}"
                );
                assert_eq!(answer["error"]["code"], "forbidden");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, Role::ALL.len() * matrix().len());
    hub.stop().await;
}

#[tokio::test]
async fn front_desk_never_sees_or_writes_clinical_fields() {
    let hub = TestHub::start().await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    let doctor = hub.signed_in(Some(&clinic), Role::Doctor).await;
    let desk = hub.signed_in(Some(&clinic), Role::FrontDesk).await;
    let (status, created) = hub
        .post(
            "/v1/patients",
            &doctor,
            patient_body("C-1", "Ada", "Lovelace"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["bmi"], 24.5);
    let id = created["id"].as_str().expect("id");
    let clinical: Vec<_> = outpost_domain::patient::clinical_fields().collect();
    let (_, one) = hub.get(&format!("/v1/patients/{id}"), &desk).await;
    let (_, list) = hub.get("/v1/patients?q=ada", &desk).await;
    let (_, history) = hub.get(&format!("/v1/patients/{id}/history"), &desk).await;
    for field in clinical {
        assert!(one.get(field).is_none(), "{field} in GET");
        assert!(list["items"][0].get(field).is_none(), "{field} in list");
        assert!(
            history["items"][0]["changes"].get(field).is_none(),
            "{field} in history"
        );
    }
    assert_eq!(one["given_name"], "Ada");
    let (status, _) = hub
        .post("/v1/patients", &desk, patient_body("C-2", "Bo", "Bell"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = hub
        .patch(
            &format!("/v1/patients/{id}"),
            &desk,
            json!({"version": 1, "stroke": true}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = hub
        .patch(
            &format!("/v1/patients/{id}"),
            &desk,
            json!({"version": 1, "phone": "+1 555 0111"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    hub.stop().await;
}

#[tokio::test]
async fn a_token_of_tenant_a_never_reaches_tenant_b() {
    let hub = TestHub::start().await;
    let a = hub.tenant("clinic-a", TenantKind::Clinic).await;
    let b = hub.tenant("clinic-b", TenantKind::Clinic).await;
    let doctor_b = hub.signed_in(Some(&b), Role::Doctor).await;
    let mut b_ids = Vec::new();
    for i in 0..3 {
        let (status, p) = hub
            .post(
                "/v1/patients",
                &doctor_b,
                patient_body(&format!("B-{i}"), "Bertha", "Bravo"),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        b_ids.push(p["id"].as_str().expect("id").to_owned());
    }
    let b_admin_email = hub.user(Some(&b), Role::TenantAdmin).await;
    let (_, b_admin) = hub.get("/v1/me", &hub.token(&b_admin_email).await).await;
    let b_user = b_admin["user"]["id"].as_str().expect("id").to_owned();

    let doctor_a = hub.signed_in(Some(&a), Role::Doctor).await;
    let admin_a = hub.signed_in(Some(&a), Role::TenantAdmin).await;
    let auditor_a = hub.signed_in(Some(&a), Role::Auditor).await;
    hub.post(
        "/v1/patients",
        &doctor_a,
        patient_body("A-1", "Alma", "Alpha"),
    )
    .await;
    for id in &b_ids {
        for (method, path, token, body) in [
            (Method::GET, format!("/v1/patients/{id}"), &doctor_a, None),
            (
                Method::PATCH,
                format!("/v1/patients/{id}"),
                &doctor_a,
                Some(json!({"version": 1, "given_name": "Hacked"})),
            ),
            (Method::DELETE, format!("/v1/patients/{id}"), &admin_a, None),
            (
                Method::GET,
                format!("/v1/patients/{id}/history"),
                &doctor_a,
                None,
            ),
            (
                Method::GET,
                format!("/v1/reports/patients/{id}"),
                &auditor_a,
                None,
            ),
        ] {
            let (status, answer) = hub.call(method.clone(), &path, Some(token), body).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {answer}");
            assert!(!answer.to_string().contains("Bertha"));
        }
    }
    for query in ["", "?q=bravo", "?q=bertha", "?q=b-", "?q=b", "?limit=500"] {
        let (status, page) = hub.get(&format!("/v1/patients{query}"), &doctor_a).await;
        assert_eq!(status, StatusCode::OK);
        let text = page.to_string();
        assert!(
            !text.contains("Bertha") && !b_ids.iter().any(|id| text.contains(id)),
            "{query}: {text}"
        );
    }
    let (_, users) = hub.get("/v1/users", &admin_a).await;
    assert!(!users.to_string().contains(&b_admin_email));
    let (status, _) = hub
        .patch(
            &format!("/v1/users/{b_user}"),
            &admin_a,
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = hub
        .get(
            &format!("/v1/reports/activity?user_id={b_user}"),
            &auditor_a,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // B's data is intact.
    let (_, b_page) = hub.get("/v1/patients?q=bravo", &doctor_b).await;
    assert_eq!(b_page["items"].as_array().expect("items").len(), 3);
    assert_eq!(b_page["items"][0]["given_name"], "Bertha");
    hub.stop().await;
}
