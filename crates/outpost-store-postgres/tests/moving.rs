//! Moving a tenant between servers: every row arrives, reads made during the move keep their
//! audit events, the chain verifies, and the old database is gone.
//!
//! Server `b` is `OUTPOST_TEST_POSTGRES_SECOND` (a second cluster, as `.ci/run` starts one)
//! when set, else the test server again under another name.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use chrono::Utc;
use serde_json::json;

use outpost_domain::TenantKind;
use outpost_domain::audit::{Actor, Outcome};
use outpost_domain::patient::PatientFields;
use outpost_domain::tenant::NewTenant;
use outpost_store::Store;
use outpost_store::keys::MasterKey;
use outpost_store::testsuite::{exported, exported_actions};
use outpost_store_postgres::testing::{cleanup, connect, databases, options, unique_name};
use outpost_store_postgres::{PgConfig, PostgresStore, RouterLimits};

fn second_server() -> PgConfig {
    match std::env::var("OUTPOST_TEST_POSTGRES_SECOND") {
        Ok(conn) => conn.parse().expect("OUTPOST_TEST_POSTGRES_SECOND"),
        Err(_) => outpost_store_postgres::testing::server_config(),
    }
}

async fn location(central: &str, tenant: outpost_domain::TenantId) -> String {
    connect(central)
        .await
        .query_one(
            "SELECT location FROM tenants WHERE id = $1",
            &[&tenant.as_uuid()],
        )
        .await
        .expect("registry")
        .get(0)
}

/// Moves `tenant` to `server` while a task keeps reading a patient; returns the successful
/// reads.
async fn move_while_reading(
    store: &Arc<PostgresStore>,
    tenant: outpost_domain::TenantId,
    patient: outpost_domain::PatientId,
    server: &str,
) -> u64 {
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let reader = {
        let (store, stop, reads) = (store.clone(), stop.clone(), reads.clone());
        tokio::spawn(async move {
            let actor = Actor::system(Utc::now());
            while !stop.load(Ordering::Acquire) {
                if let Ok(tenant) = store.tenant(tenant).await
                    && let Ok(Some(_)) = tenant.patient(patient, &actor).await
                {
                    reads.fetch_add(1, Ordering::AcqRel);
                }
                tokio::task::yield_now().await;
            }
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let actor = Actor::system(Utc::now());
    let moved = store
        .move_tenant(tenant, server, actor.event("tenant.move", Outcome::Success))
        .await
        .expect("move");
    assert!(moved.starts_with(&format!("{server}/")), "{moved}");
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    stop.store(true, Ordering::Release);
    reader.await.expect("reader");
    reads.load(Ordering::Acquire)
}

#[tokio::test]
async fn a_moved_tenant_keeps_every_record_read_and_its_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let name = unique_name();
    let master = MasterKey::create(&dir.path().join("master.key")).expect("master key");
    let opts = || {
        let mut opts = options(&name, RouterLimits::default());
        opts.servers = vec![
            ("a".into(), outpost_store_postgres::testing::server_config()),
            ("b".into(), second_server()),
        ];
        opts
    };
    let store = Arc::new(PostgresStore::open(opts(), master).await.expect("store"));
    let actor = Actor::system(Utc::now());
    let tenant = store
        .provision_tenant(
            &NewTenant {
                slug: "moving-clinic".into(),
                name: "Moving clinic".into(),
                kind: TenantKind::Clinic,
            },
            actor.event("tenant.create", Outcome::Success),
        )
        .await
        .expect("provision");
    assert!(location(&name, tenant.id).await.starts_with("a/"));
    let tenant_store = store.tenant(tenant.id).await.expect("tenant");
    let fields: Vec<PatientFields> = (0..40)
        .map(|i| {
            serde_json::from_value(json!({
                "mrn": format!("MV-{i:03}"), "given_name": "Ada", "family_name": format!("Movable{i}"),
                "birth_date": "1980-02-03", "bmi": 22.5 + f64::from(i) / 10.0
            }))
            .expect("fields")
        })
        .collect();
    let patients = tenant_store
        .create_patients(fields, &actor)
        .await
        .expect("create");
    for patient in &patients[..10] {
        let changes = json!({ "phone": "+1 555 0100" });
        tenant_store
            .update_patient(
                patient.id,
                patient.version,
                changes.as_object().expect("object"),
                Utc::now().date_naive(),
                &actor,
            )
            .await
            .expect("update");
    }
    tenant_store
        .delete_patient(patients[39].id, None, &actor)
        .await
        .expect("delete");
    let old_database = location(&name, tenant.id).await;
    let before = exported(tenant_store.as_ref()).await;
    drop(tenant_store);
    assert_eq!(before["patients"].len(), 40);
    assert_eq!(before["patient_history"].len(), 51);

    // A tenant already being moved (its flag set) is not moved a second time at once.
    let central = connect(&name).await;
    let flag = "UPDATE tenants SET read_only = $1 WHERE id = $2";
    central
        .execute(flag, &[&true, &tenant.id.as_uuid()])
        .await
        .expect("flag");
    let twice = store
        .move_tenant(tenant.id, "b", actor.event("tenant.move", Outcome::Success))
        .await;
    assert!(
        twice
            .err()
            .is_some_and(|e| e.to_string().contains("already being moved"))
    );
    central
        .execute(flag, &[&false, &tenant.id.as_uuid()])
        .await
        .expect("flag");

    let reads = move_while_reading(&store, tenant.id, patients[0].id, "b").await;
    assert!(reads > 0, "the reader ran during the move");
    println!("reads answered during the first move: {reads}");
    let moved = store.tenant(tenant.id).await.expect("moved tenant");
    let after = exported(moved.as_ref()).await;
    for table in ["patients", "patient_history", "change_feed", "applied_ops"] {
        assert_eq!(before.get(table), after.get(table), "{table} differs");
    }
    let (old, new) = (exported_actions(&before), exported_actions(&after));
    assert_eq!(
        new[..old.len()],
        old[..],
        "the chain before the move is kept"
    );
    let reads_logged = new[old.len()..]
        .iter()
        .filter(|a| *a == "patient.read")
        .count();
    assert_eq!(reads_logged as u64, reads, "every read answered is audited");
    assert_eq!(new.len(), old.len() + reads as usize);
    let chain = moved.verify_audit().await.expect("verify");
    assert!(chain.valid, "{chain:?}");
    let databases_now = databases(&name).await;
    let old_name = old_database.split_once('/').expect("location").1;
    assert!(
        !databases_now.iter().any(|d| d == old_name),
        "old database dropped"
    );

    // A write after the move lands in the new database, numbered after the copied rows.
    moved
        .update_patient(
            patients[1].id,
            2,
            json!({ "phone": "+1 555 0199" })
                .as_object()
                .expect("object"),
            Utc::now().date_naive(),
            &actor,
        )
        .await
        .expect("update after move");
    assert_eq!(moved.cursor().await.expect("cursor"), 52);
    drop(moved);

    // Another instance that does not listen for announcements has the tenant open.
    let master = MasterKey::load(&dir.path().join("master.key")).expect("master key");
    let other = PostgresStore::open(opts(), master)
        .await
        .expect("other instance");
    let read_by_other = other
        .tenant(tenant.id)
        .await
        .expect("tenant")
        .patient(patients[0].id, &actor)
        .await;
    assert!(matches!(read_by_other, Ok(Some(_))));

    // And back again.
    let reads_back = move_while_reading(&store, tenant.id, patients[0].id, "a").await;
    let back = store.tenant(tenant.id).await.expect("tenant back");
    let again = exported(back.as_ref()).await;
    assert_eq!(again["patients"].len(), 40);
    assert_eq!(again["patient_history"].len(), 52);
    assert_eq!(
        exported_actions(&again).len(),
        new.len() + 2 + reads_back as usize,
        "chain: the first move's events, the update, the other instance's read, the reads of \
         the second move"
    );
    assert!(back.verify_audit().await.expect("verify").valid);
    assert!(location(&name, tenant.id).await.starts_with("a/"));
    drop(back);
    // The other instance's handle points at the dropped database: a failed request makes it
    // read the registry again, and it serves the tenant from its new place.
    let mut attempts = 0;
    loop {
        attempts += 1;
        let read = match other.tenant(tenant.id).await {
            Ok(store) => store.patient(patients[0].id, &actor).await,
            Err(err) => Err(err),
        };
        if let Ok(Some(_)) = read {
            break;
        }
        assert!(attempts < 5, "the other instance still fails: {read:?}");
    }
    println!("the other instance served the moved tenant at attempt {attempts}");
    drop(other);

    let central: Vec<String> = connect(&name)
        .await
        .query("SELECT action FROM audit_events ORDER BY seq", &[])
        .await
        .expect("central audit")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(central, ["tenant.create", "tenant.move", "tenant.move"]);
    assert!(
        store
            .move_tenant(
                tenant.id,
                "nowhere",
                actor.event("tenant.move", Outcome::Success)
            )
            .await
            .is_err()
    );
    store
        .delete_tenant(tenant.id, actor.event("tenant.delete", Outcome::Success))
        .await
        .expect("delete tenant");
    drop(store);
    cleanup(&name).await;
}
