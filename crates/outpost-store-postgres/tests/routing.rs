//! Connection routing under the tightest cap: one connection in all, requests for two tenants
//! interleaved, every answer checked against the database that served it and a per-tenant
//! canary record.

use std::sync::Arc;

use chrono::Utc;
use serde_json::json;

use outpost_domain::TenantKind;
use outpost_domain::audit::{Actor, Outcome};
use outpost_domain::patient::PatientFields;
use outpost_domain::tenant::{NewTenant, Tenant};
use outpost_store::{PatientQuery, Store};
use outpost_store_postgres::testing::{cleanup, connect, open, tenant_database, unique_name};
use outpost_store_postgres::{PostgresStore, RouterLimits};

async fn tenant_with_canary(store: &PostgresStore, slug: &str) -> Tenant {
    let actor = Actor::system(Utc::now());
    let tenant = store
        .provision_tenant(
            &NewTenant {
                slug: slug.into(),
                name: slug.into(),
                kind: TenantKind::Clinic,
            },
            actor.event("tenant.create", Outcome::Success),
        )
        .await
        .expect("provision");
    let canary: PatientFields = serde_json::from_value(json!({
        "mrn": format!("CANARY-{slug}"), "given_name": "Canary", "family_name": slug,
        "birth_date": "1990-01-01"
    }))
    .expect("fields");
    store
        .tenant(tenant.id)
        .await
        .expect("store")
        .create_patients(vec![canary], &actor)
        .await
        .expect("canary");
    tenant
}

/// Server processes connected to this test's databases, seen from outside the router, once
/// those of connections the router has closed have exited: the server ends a process a moment
/// after its socket closes (seen taking longer than one request on a loaded machine), so a
/// count above `cap` is read again for up to a second before it stands.
async fn backends(monitor: &tokio_postgres::Client, prefix: &str, cap: i64) -> i64 {
    let started = std::time::Instant::now();
    loop {
        let count: i64 = monitor
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE starts_with(datname, $1)",
                &[&prefix],
            )
            .await
            .expect("pg_stat_activity")
            .get(0);
        if count <= cap || started.elapsed() > std::time::Duration::from_secs(1) {
            return count;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn with_one_connection_in_all_interleaved_tenants_never_see_each_other() {
    let dir = tempfile::tempdir().expect("tempdir");
    let name = unique_name();
    let limits = RouterLimits {
        cap: 1,
        per_database: 1,
        ..RouterLimits::default()
    };
    let store = Arc::new(open(&name, &dir.path().join("master.key"), limits).await);
    let checked = {
        let (store, name) = (store.clone(), name.clone());
        tokio::spawn(async move {
            let a = tenant_with_canary(&store, "tenant-a").await;
            let b = tenant_with_canary(&store, "tenant-b").await;
            let expected = [
                (a.clone(), tenant_database(&name, a.id).await),
                (b.clone(), tenant_database(&name, b.id).await),
            ];
            let monitor = connect("postgres").await;
            let mut peak = 0;
            // Sequential A/B/A/B…, then the same from eight concurrent tasks.
            for round in 0..40 {
                let (tenant, database) = &expected[round % 2];
                check(&store, tenant, database).await;
                assert!(store.router().open_connections() <= 1);
                peak = peak.max(backends(&monitor, &name, 1).await);
            }
            let tasks: Vec<_> = (0..8)
                .map(|task| {
                    let (store, expected) = (store.clone(), expected.clone());
                    tokio::spawn(async move {
                        for round in 0..10 {
                            let (tenant, database) = &expected[(task + round) % 2];
                            check(&store, tenant, database).await;
                            assert!(store.router().open_connections() <= 1);
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.expect("interleaved task");
            }
            peak = peak.max(backends(&monitor, &name, 1).await);
            assert!(
                peak <= 1,
                "the server saw {peak} connections under a cap of 1"
            );
        })
        .await
    };
    drop(store);
    cleanup(&name).await;
    if let Err(err) = checked {
        std::panic::resume_unwind(err.into_panic());
    }
}

/// One request for `tenant`: the connection is on its database, and it sees its canary only.
async fn check(store: &PostgresStore, tenant: &Tenant, database: &str) {
    assert_eq!(
        store.routed_database(tenant.id).await.expect("routed"),
        database
    );
    let mut actor = Actor::system(Utc::now());
    actor.tenant_id = Some(tenant.id);
    let page = store
        .tenant(tenant.id)
        .await
        .expect("store")
        .search_patients(
            &PatientQuery {
                q: Some("canary".into()),
                limit: 10,
                after: None,
            },
            &actor,
        )
        .await
        .expect("search");
    let families: Vec<&str> = page
        .items
        .iter()
        .map(|p| p.fields.family_name.as_str())
        .collect();
    assert_eq!(families, [tenant.slug.as_str()], "a cross-tenant answer");
}
