//! The shared store suite on PostgreSQL, each case on freshly created databases that are
//! dropped afterwards.

use outpost_store::testsuite;
use outpost_store_postgres::testing::with_fresh;

#[tokio::test]
async fn patient_changes_are_versioned_and_audited() {
    with_fresh(|store| async move {
        testsuite::patient_changes_are_versioned_and_audited(store.as_ref()).await;
    })
    .await;
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_revokes() {
    with_fresh(|store| async move {
        testsuite::refresh_tokens_rotate_and_reuse_revokes(store.as_ref()).await;
    })
    .await;
}

#[tokio::test]
async fn login_failures_lock_after_the_threshold() {
    with_fresh(|store| async move {
        testsuite::login_failures_lock_after_the_threshold(store.as_ref()).await;
    })
    .await;
}

#[tokio::test]
async fn deleting_a_tenant_removes_it() {
    with_fresh(|store| async move {
        testsuite::deleting_a_tenant_removes_it(store.as_ref()).await;
    })
    .await;
}

#[tokio::test]
async fn every_kind_is_stored_versioned_and_synced() {
    with_fresh(|store| async move {
        testsuite::every_kind_is_stored_versioned_and_synced(store.as_ref()).await;
    })
    .await;
}

#[tokio::test]
async fn a_units_planned_shifts_never_overlap() {
    with_fresh(|store| async move {
        testsuite::a_units_planned_shifts_never_overlap(store.as_ref()).await;
    })
    .await;
}

#[tokio::test]
async fn the_schedule_refuses_what_it_must_and_writes_nothing() {
    with_fresh(|store| async move {
        testsuite::the_schedule_refuses_what_it_must_and_writes_nothing(store.as_ref()).await;
    })
    .await;
}
