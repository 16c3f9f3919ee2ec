//! A store configured with a runtime role serves requests as that role: everything works,
//! and an audit row cannot be changed or removed through the hub's own connections.

use chrono::Utc;
use serde_json::json;

use outpost_domain::TenantKind;
use outpost_domain::audit::{Actor, Outcome};
use outpost_domain::patient::PatientFields;
use outpost_domain::tenant::NewTenant;
use outpost_store::Store;
use outpost_store::keys::MasterKey;
use outpost_store_postgres::admin::quote_ident;
use outpost_store_postgres::testing::{cleanup, connect, options, tenant_database, unique_name};
use outpost_store_postgres::{PostgresStore, RouterLimits, Target};

#[tokio::test]
async fn requests_run_as_the_runtime_role_which_cannot_edit_audit_rows() {
    let name = unique_name();
    let role = format!("{name}_app");
    let server = connect("postgres").await;
    server
        .batch_execute(&format!(
            "CREATE ROLE {r} NOLOGIN; GRANT {r} TO CURRENT_USER",
            r = quote_ident(&role)
        ))
        .await
        .expect("role");
    let dir = tempfile::tempdir().expect("tempdir");
    let outcome = {
        let (name, role) = (name.clone(), role.clone());
        tokio::spawn(async move {
            let mut options = options(&name, RouterLimits::default());
            options.runtime_role = Some(role.clone());
            let master = MasterKey::create(&dir.path().join("master.key")).expect("key");
            let store = PostgresStore::open(options, master).await.expect("open");
            let actor = Actor::system(Utc::now());
            let tenant = store
                .provision_tenant(
                    &NewTenant {
                        slug: "role-clinic".into(),
                        name: "Role Clinic".into(),
                        kind: TenantKind::Clinic,
                    },
                    actor.event("tenant.create", Outcome::Success),
                )
                .await
                .expect("provision");
            let fields: PatientFields = serde_json::from_value(json!({
                "mrn": "R-1", "given_name": "Rita", "family_name": "Role",
                "birth_date": "1980-01-01"
            }))
            .expect("fields");
            let db = store.tenant(tenant.id).await.expect("tenant");
            db.create_patients(vec![fields], &actor)
                .await
                .expect("create");
            assert!(db.verify_audit().await.expect("verify").valid);

            let target = Target {
                server: "main".into(),
                database: tenant_database(&name, tenant.id).await,
            };
            let conn = store.router().get(&target).await.expect("routed");
            let who: String = conn
                .query_one("SELECT current_user::text", &[])
                .await
                .expect("current_user")
                .get(0);
            assert_eq!(who, role);
            for edit in [
                "UPDATE audit_events SET action = 'x'",
                "DELETE FROM audit_events",
                "TRUNCATE audit_events",
            ] {
                let err = conn.batch_execute(edit).await.expect_err(edit);
                assert_eq!(
                    err.code(),
                    Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
                    "{edit}"
                );
            }
            drop(conn);
            assert_eq!(db.verify_audit().await.expect("verify").events, 1);
        })
        .await
    };
    cleanup(&name).await;
    server
        .batch_execute(&format!("DROP ROLE IF EXISTS {}", quote_ident(&role)))
        .await
        .expect("drop role");
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}
