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

#[tokio::test]
async fn two_instances_share_the_outbox_and_each_event_is_carried_out_once() {
    use outpost_domain::transport::board::BoardEntry;
    use outpost_domain::transport::facility::Facility;
    use outpost_domain::transport::request::TransportRequest;
    use outpost_store::board::{OutboxEvent, Step};
    use serde_json::json;

    let first = TestHub::start_on(Backend::Postgres(unique_name()), HubConfig::default()).await;
    let second = first.another_instance().await;
    let hospital = first.tenant("general", TenantKind::Hospital).await;
    let coordinator = first
        .signed_in(Some(&hospital), Role::TransportCoordinator)
        .await;
    let nurse = first.signed_in(Some(&hospital), Role::Nurse).await;
    let (_, patient) = first
        .post("/v1/patients", &nurse, patient_body("O-1", "Otto", "Box"))
        .await;
    let mut facilities = Vec::new();
    for name in ["General ER", "Oak Rehab"] {
        let (_, created) = first
            .post(
                "/v1/facilities",
                &coordinator,
                json!({"name": name, "kind": "hospital", "city": "Springfield"}),
            )
            .await;
        let facility: Facility = serde_json::from_value(created).expect("facility");
        facilities.push(facility);
    }
    // Decisions queued without being carried out, as if each deciding instance had died.
    let mut requests = Vec::new();
    for _ in 0..40 {
        let (status, created) = first
            .post(
                "/v1/transport-requests",
                &coordinator,
                json!({
                    "patient_id": patient["id"], "origin_facility_id": facilities[0].id,
                    "destination_facility_id": facilities[1].id, "level": "BLS",
                    "priority": "scheduled", "pickup_from": "2026-12-08T09:00:00Z",
                    "pickup_to": "2026-12-08T11:00:00Z"
                }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let request: TransportRequest = serde_json::from_value(created).expect("request");
        let entry = BoardEntry::published(
            uuid::Uuid::now_v7(),
            request.id,
            &request.fields,
            hospital.id,
            &hospital.name,
            &facilities[0].fields,
            &facilities[1].fields,
            chrono::Utc::now(),
        );
        let event = OutboxEvent {
            id: uuid::Uuid::now_v7(),
            entry_id: entry.id,
            step: Step::Published,
            created_at: entry.published_at,
        };
        let audit = first
            .actor()
            .event("board.publish", outpost_domain::audit::Outcome::Success);
        first
            .store
            .board()
            .publish(&entry, &event, audit)
            .await
            .expect("queued");
        requests.push(request.id);
    }
    first.state.outbox.wake();
    second.state.outbox.wake();
    let board = first.store.board();
    for _ in 0..400 {
        if board.pending_events().await.expect("pending") == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let log = board.event_log().await.expect("log");
    assert_eq!(log.len(), 40);
    assert!(
        log.iter()
            .all(|e| e.attempts == 1 && e.last_error.is_none() && e.done_by.is_some()),
        "{log:?}"
    );
    let by_first = log
        .iter()
        .filter(|e| e.done_by.as_deref() == Some(first.state.outbox.name.as_str()))
        .count();
    println!(
        "{by_first} events carried out by the first instance, {} by the second",
        log.len() - by_first
    );
    for id in requests {
        let (_, history) = first
            .get(
                &format!("/v1/transport-requests/{id}/history"),
                &coordinator,
            )
            .await;
        let published = history["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|v| v["changes"]["status"]["new"] == "published")
            .count();
        assert_eq!(published, 1, "{history}");
    }
    second.stop().await;
    first.stop().await;
}
