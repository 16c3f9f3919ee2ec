//! The shared store suite on the embedded backend, each case on a fresh data directory.

use outpost_store::testsuite;
use outpost_store_sqlite::SqliteStore;

fn fresh() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::create(&dir.path().join("data"), &dir.path().join("master.key"))
        .expect("store");
    (dir, store)
}

#[tokio::test]
async fn patient_changes_are_versioned_and_audited() {
    let (_dir, store) = fresh();
    testsuite::patient_changes_are_versioned_and_audited(&store).await;
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_revokes() {
    let (_dir, store) = fresh();
    testsuite::refresh_tokens_rotate_and_reuse_revokes(&store).await;
}

#[tokio::test]
async fn login_failures_lock_after_the_threshold() {
    let (_dir, store) = fresh();
    testsuite::login_failures_lock_after_the_threshold(&store).await;
}

#[tokio::test]
async fn deleting_a_tenant_removes_it() {
    let (_dir, store) = fresh();
    testsuite::deleting_a_tenant_removes_it(&store).await;
}

#[tokio::test]
async fn every_kind_is_stored_versioned_and_synced() {
    let (_dir, store) = fresh();
    testsuite::every_kind_is_stored_versioned_and_synced(&store).await;
}

#[tokio::test]
async fn a_units_planned_shifts_never_overlap() {
    let (_dir, store) = fresh();
    testsuite::a_units_planned_shifts_never_overlap(&store).await;
}

#[tokio::test]
async fn the_schedule_refuses_what_it_must_and_writes_nothing() {
    let (_dir, store) = fresh();
    testsuite::the_schedule_refuses_what_it_must_and_writes_nothing(&store).await;
}
