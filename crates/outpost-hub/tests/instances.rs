//! Several hub instances on the same PostgreSQL databases, as a deployment behind a load
//! balancer runs them. Always on PostgreSQL: the embedded backend is served by one instance.

mod common;

use std::time::Duration;

use reqwest::StatusCode;

use common::{Backend, TestHub, patient_body};
use outpost_domain::{Role, TenantKind};
use outpost_hub::HubConfig;
use outpost_store_postgres::testing::unique_name;

#[tokio::test]
async fn a_change_made_through_one_instance_is_announced_and_pulled_through_the_other() {
    let first = TestHub::start_on(Backend::Postgres(unique_name()), HubConfig::default()).await;
    let second = first.another_instance().await;
    let clinic = first.tenant("clinic", TenantKind::Clinic).await;
    // Signed in through the first; the token holds at the second (one set of signing keys).
    let doctor = first.signed_in(Some(&clinic), Role::Doctor).await;

    let mut events = second
        .http
        .get(format!("{}/v1/events", second.url))
        .bearer_auth(&doctor)
        .send()
        .await
        .expect("events");
    assert_eq!(events.status(), StatusCode::OK);
    let hello = events.chunk().await.expect("chunk").expect("first event");
    assert!(String::from_utf8_lossy(&hello).contains("\"cursor\":0"));

    let (status, created) = first
        .post("/v1/patients", &doctor, patient_body("I-1", "Ines", "Two"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");

    let announced = tokio::time::timeout(Duration::from_secs(5), events.chunk())
        .await
        .expect("the other instance announced the change in time")
        .expect("chunk")
        .expect("event");
    let text = String::from_utf8_lossy(&announced);
    assert!(
        text.contains("event: changes") && text.contains("\"cursor\":1"),
        "{text}"
    );

    let (status, pulled) = second.get("/v1/sync/pull?cursor=0", &doctor).await;
    assert_eq!(status, StatusCode::OK, "{pulled}");
    let changes = pulled["changes"].as_array().expect("changes");
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["record_id"], created["id"]);
    assert_eq!(changes[0]["record"]["family_name"], "Two");

    // And the other way round: a change through the second reaches the first's store.
    let (status, _) = second
        .post("/v1/patients", &doctor, patient_body("I-2", "Ivo", "Two"))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(first.patient_count(&clinic).await, 2);
    second.stop().await;
    first.stop().await;
}
