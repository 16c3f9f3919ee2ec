//! The behaviour every backend must show, written once against the traits. A backend's test
//! crate calls each function with a fresh, empty store.

use chrono::{Duration, NaiveDate, Utc};
use serde_json::{Map, json};

use outpost_domain::audit::{Actor, Outcome};
use outpost_domain::patient::PatientFields;
use outpost_domain::tenant::NewTenant;
use outpost_domain::{Role, SessionId, TenantKind, UserId};

mod kinds;

pub use kinds::{
    a_units_planned_shifts_never_overlap, every_kind_is_stored_versioned_and_synced,
    the_schedule_refuses_what_it_must_and_writes_nothing,
};

use crate::{
    PatientQuery, RefreshOutcome, SessionRecord, Store, StoreError, UserRecord, WriteOutcome,
};

fn actor() -> Actor {
    Actor::system(Utc::now())
}

fn fields(mrn: &str, given: &str, family: &str) -> PatientFields {
    serde_json::from_value(json!({
        "mrn": mrn, "given_name": given, "family_name": family, "birth_date": "1980-05-05",
        "bmi": 27.1, "stroke": false
    }))
    .expect("fields")
}

async fn tenant(store: &dyn Store, slug: &str) -> outpost_domain::tenant::Tenant {
    let new = NewTenant {
        slug: slug.into(),
        name: slug.into(),
        kind: TenantKind::Clinic,
    };
    store
        .provision_tenant(&new, actor().event("tenant.create", Outcome::Success))
        .await
        .expect("provision")
}

/// Changes write history and audit in one go; stale versions are refused; deletes are
/// tombstones; the chain verifies.
pub async fn patient_changes_are_versioned_and_audited(store: &dyn Store) {
    let t = tenant(store, "suite-clinic").await;
    let db = store.tenant(t.id).await.expect("tenant store");
    let created = db
        .create_patients(
            vec![
                fields("S-1", "Ada", "Byron"),
                fields("S-2", "Alan", "Turing"),
            ],
            &actor(),
        )
        .await
        .expect("create");
    let id = created[0].id;
    let mut change = Map::new();
    change.insert("given_name".into(), json!("Augusta"));
    let today = NaiveDate::from_ymd_opt(2026, 1, 1).expect("date");
    let updated = db
        .update_patient(id, 1, &change, today, &actor())
        .await
        .expect("update");
    assert!(matches!(updated, WriteOutcome::Done(ref p) if p.version == 2));
    let stale = db
        .update_patient(id, 1, &change, today, &actor())
        .await
        .expect("stale");
    assert!(matches!(stale, WriteOutcome::Stale(ref p) if p.version == 2));
    let deleted = db
        .delete_patient(id, Some(2), &actor())
        .await
        .expect("delete");
    assert!(matches!(deleted, WriteOutcome::Done(_)));
    assert!(db.patient(id, &actor()).await.expect("read").is_none());
    let report = db
        .patient_report(id, &actor())
        .await
        .expect("report")
        .expect("tombstone");
    assert!(report.deleted_at.is_some());
    assert_eq!(report.versions.len(), 3);
    assert_eq!(
        report.versions[1].changes["given_name"].new,
        json!("Augusta")
    );
    let page = db
        .search_patients(
            &PatientQuery {
                q: Some("a".into()),
                limit: 10,
                after: None,
            },
            &actor(),
        )
        .await
        .expect("search");
    assert_eq!(page.items.len(), 1);
    let chain = db.verify_audit().await.expect("verify");
    // 2 creates, 1 update, 1 refused stale update, 1 delete, 1 read, 1 report, 1 search.
    assert!(chain.valid);
    assert_eq!(chain.events, 8);
    let duplicate = db
        .create_patients(vec![fields("S-2", "Dup", "Licate")], &actor())
        .await;
    assert!(matches!(duplicate, Err(StoreError::AlreadyExists("mrn"))));
    assert_eq!(
        db.verify_audit().await.expect("verify").events,
        8,
        "a failed create leaves no trace"
    );
}

/// A spent refresh token that comes back revokes its session.
pub async fn refresh_tokens_rotate_and_reuse_revokes(store: &dyn Store) {
    let central = store.central();
    let now = Utc::now();
    let user = UserRecord {
        id: UserId::generate(),
        email: "suite@example.org".into(),
        full_name: "Suite".into(),
        password_hash: "$argon2id$unused".into(),
        disabled: false,
        created_at: now,
    };
    central
        .create_user(
            &user,
            None,
            Role::PlatformAdmin,
            actor().event("user.create", Outcome::Success),
        )
        .await
        .expect("user");
    let session = SessionRecord {
        id: SessionId::generate(),
        user_id: user.id,
        tenant_id: None,
        role: Role::PlatformAdmin,
        device_id: None,
        device_name: None,
        ip: None,
        user_agent: None,
        created_at: now,
        last_activity_at: now,
        absolute_expires_at: now + Duration::hours(1),
        ended_at: None,
        end_reason: None,
    };
    central
        .create_session(
            &session,
            "hash-1",
            &user.email,
            actor().event("auth.login", Outcome::Success),
        )
        .await
        .expect("session");
    let window = Duration::seconds(15);
    let rotate_at = |old: &'static str, new: &'static str, at: chrono::DateTime<Utc>| {
        central.rotate_refresh(old, new, at, window)
    };
    let rotate = |old: &'static str, new: &'static str| rotate_at(old, new, now);
    assert!(matches!(
        rotate("hash-1", "hash-2").await.expect("rotate"),
        RefreshOutcome::Rotated(_)
    ));
    // The answer was lost, again and again (a flaky link): hash-1 comes back with the same
    // successor each time, hash-2 never used → retries, not theft, and nothing new is minted.
    for _ in 0..3 {
        assert!(matches!(
            rotate_at("hash-1", "hash-2", now + Duration::seconds(10))
                .await
                .expect("retry"),
            RefreshOutcome::Rotated(_)
        ));
    }
    assert!(matches!(
        rotate("hash-2", "hash-3").await.expect("rotate"),
        RefreshOutcome::Rotated(_)
    ));
    // hash-2 has been used: replaying hash-1 now is theft, even inside the window.
    let reused = rotate("hash-1", "hash-2").await.expect("reuse");
    assert!(
        matches!(reused, RefreshOutcome::Reused(ref s) if s.end_reason.as_deref() == Some("refresh_token_reused"))
    );
    let after = rotate("hash-3", "hash-4").await.expect("after");
    assert!(matches!(after, RefreshOutcome::Ended(ref s) if s.ended_at.is_some()));
    assert_eq!(
        rotate("never-issued", "x").await.expect("unknown"),
        RefreshOutcome::Unknown
    );
    assert!(central.verify_audit().await.expect("verify").valid);
}

/// Lockout counts per address, existing or not.
pub async fn login_failures_lock_after_the_threshold(store: &dyn Store) {
    let central = store.central();
    let until = Utc::now() + Duration::minutes(15);
    for attempt in 1..=3 {
        let locked = central
            .record_login_failure(
                "ghost@example.org",
                3,
                until,
                actor().event("auth.login_failed", Outcome::Failure),
            )
            .await
            .expect("failure");
        assert_eq!(locked, attempt == 3);
    }
    assert!(
        central
            .locked_until("ghost@example.org")
            .await
            .expect("q")
            .is_some()
    );
    assert!(
        central
            .locked_until("other@example.org")
            .await
            .expect("q")
            .is_none()
    );
}

/// Deleting a tenant removes it from the registry and the store, audited centrally.
pub async fn deleting_a_tenant_removes_it(store: &dyn Store) {
    let t = tenant(store, "suite-gone").await;
    store
        .delete_tenant(
            t.id,
            actor()
                .event("tenant.delete", Outcome::Success)
                .entity("tenant", t.id),
        )
        .await
        .expect("delete");
    assert!(store.central().tenant(t.id).await.expect("q").is_none());
    assert!(matches!(
        store.tenant(t.id).await,
        Err(StoreError::NotFound)
    ));
    let status = store.status().await;
    assert_eq!(status.len(), 1, "only central remains");
    assert!(store.central().verify_audit().await.expect("verify").valid);
}

/// Every row a tenant's [`crate::TenantStore::export`] yields, by table, for comparing two
/// copies of a tenant.
pub async fn exported(
    store: &dyn crate::TenantStore,
) -> std::collections::BTreeMap<String, Vec<Vec<serde_json::Value>>> {
    let mut rows = store.export().await.expect("export");
    let mut tables = std::collections::BTreeMap::<String, Vec<Vec<serde_json::Value>>>::new();
    while let Some(batch) = rows.recv().await {
        let batch = batch.expect("batch");
        tables.entry(batch.table).or_default().extend(batch.rows);
    }
    tables
}

/// The actions of the audit chain in an [`exported`] copy, in order.
pub fn exported_actions(
    tables: &std::collections::BTreeMap<String, Vec<Vec<serde_json::Value>>>,
) -> Vec<String> {
    let action = crate::backup::AUDIT_TABLE
        .columns
        .iter()
        .position(|(name, _)| *name == "action")
        .expect("audit_events has an action column");
    tables["audit_events"]
        .iter()
        .map(|row| row[action].as_str().expect("action").to_owned())
        .collect()
}
