//! A request cancelled while its connection is inside a transaction or holds a lock (a client
//! that hung up mid-way) leaves nothing behind for the next request of that database: the
//! connection is closed rather than pooled, and the server ends what it held.

use std::time::Duration;

use chrono::Utc;
use serde_json::json;

use outpost_domain::audit::{Actor, Outcome};
use outpost_domain::patient::PatientFields;
use outpost_domain::tenant::{NewTenant, Tenant};
use outpost_domain::{Entity, TenantKind};
use outpost_store::Store;
use outpost_store_postgres::testing::{cleanup, connect, open, unique_name};
use outpost_store_postgres::{PostgresStore, RouterLimits, Target};

async fn clinic(store: &PostgresStore) -> Tenant {
    store
        .provision_tenant(
            &NewTenant {
                slug: "clinic".into(),
                name: "Clinic".into(),
                kind: TenantKind::Clinic,
            },
            Actor::system(Utc::now()).event("tenant.create", Outcome::Success),
        )
        .await
        .expect("provision")
}

fn patient(n: usize) -> PatientFields {
    serde_json::from_value(json!({
        "mrn": format!("CX-{n}"), "given_name": "Cancel", "family_name": "Led",
        "birth_date": "1990-01-01"
    }))
    .expect("fields")
}

/// The tenant's database as the router names it.
async fn target(central: &str, tenant: &Tenant) -> Target {
    let location: String = connect(central)
        .await
        .query_one(
            "SELECT location FROM tenants WHERE id = $1",
            &[&tenant.id.as_uuid()],
        )
        .await
        .expect("location")
        .get(0);
    let (server, database) = location.split_once('/').expect("server/database");
    Target {
        server: server.into(),
        database: database.into(),
    }
}

/// Waits until no server process of `database` is left inside a transaction or holding an
/// advisory lock.
async fn settled(database: &str) {
    let monitor = connect("postgres").await;
    for _ in 0..200 {
        let left: i64 = monitor
            .query_one(
                "SELECT (SELECT count(*) FROM pg_stat_activity \
                         WHERE datname = $1 AND state LIKE 'idle in transaction%') \
                      + (SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
                         WHERE d.datname = $1 AND l.locktype = 'advisory')",
                &[&database],
            )
            .await
            .expect("pg_stat_activity")
            .get(0);
        if left == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("a connection to {database} stayed in a transaction or kept a lock");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_request_never_hands_its_transaction_or_lock_to_the_next() {
    let dir = tempfile::tempdir().expect("tempdir");
    let name = unique_name();
    let store = std::sync::Arc::new(
        open(
            &name,
            &dir.path().join("master.key"),
            RouterLimits {
                per_database: 1,
                streams_per_database: 1,
                ..RouterLimits::default()
            },
        )
        .await,
    );
    let central = name.clone();
    let outcome = async move {
        let tenant = clinic(&store).await;
        let target = target(&central, &tenant).await;
        let tenant_store = store.tenant(tenant.id).await.expect("tenant store");
        let actor = Actor::system(Utc::now());
        tenant_store
            .create_patients((0..300).map(patient).collect(), &actor)
            .await
            .expect("seed");

        // A connection dropped inside a transaction begun by hand, with one slot per database:
        // the next request gets a fresh connection, not that transaction.
        let mut conn = store.router().get(&target).await.expect("conn");
        conn.enter("BEGIN READ ONLY").await.expect("begin");
        drop(conn);
        tenant_store
            .create_patients(vec![patient(1000)], &actor)
            .await
            .expect("a write after a dropped read-only transaction");
        settled(&target.database).await;

        // Snapshots cancelled at every stage: before the lock, holding it, auditing, inside
        // the read-only transaction, streaming.
        for (n, micros) in [0, 200, 500, 1_000, 2_000, 4_000, 8_000, 16_000, 50_000]
            .into_iter()
            .enumerate()
        {
            let started = tokio::time::timeout(
                Duration::from_micros(micros),
                tenant_store.snapshot(Entity::ALL, &actor),
            )
            .await;
            drop(started);
            tenant_store
                .create_patients(vec![patient(2000 + n)], &actor)
                .await
                .unwrap_or_else(|e| {
                    panic!("a write after a snapshot cancelled at {micros} µs: {e}")
                });
            settled(&target.database).await;
        }
        let report = tenant_store.verify_audit().await.expect("verify");
        assert!(report.valid);
    };
    let outcome = tokio::spawn(outcome).await;
    cleanup(&name).await;
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}
