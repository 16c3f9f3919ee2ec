//! What an operator watches: `/metrics` (Prometheus text, behind a token, counters moving with
//! the requests), `/readyz` following the central store, a request id on every answer (a
//! trusted proxy's kept, in the audit events' details), and sync answers compressed when the
//! client asks (never sign-in).

mod common;

use std::collections::HashMap;

use reqwest::StatusCode;
use serde_json::{Value, json};

use common::{Backend, PASSWORD, TestHub, patient_body};
use outpost_domain::{Role, TenantKind};
use outpost_hub::HubConfig;
use outpost_hub::config::Secret;
use outpost_store_postgres::testing as pg;

const METRICS_TOKEN: &str = "metrics scraping token of the test";

/// The samples of a scrape, by name and labels.
async fn scrape(hub: &TestHub) -> HashMap<String, f64> {
    let text = hub
        .http
        .get(format!("{}/metrics", hub.url))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text");
    scrape
        .samples
        .into_iter()
        .filter_map(|s| {
            let value = match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => return None,
            };
            let mut labels: Vec<String> =
                s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            labels.sort();
            Some((format!("{}{{{}}}", s.metric, labels.join(",")), value))
        })
        .collect()
}

fn sample(samples: &HashMap<String, f64>, key: &str) -> f64 {
    samples.get(key).copied().unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text_and_move_with_the_requests() {
    let hub = TestHub::start_with(HubConfig {
        metrics_token: Some(Secret(METRICS_TOKEN.into())),
        ..HubConfig::default()
    })
    .await;
    let (status, _) = hub.get("/metrics", "not the token").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    let doctor = hub.signed_in(Some(&clinic), Role::Doctor).await;
    let before = scrape(&hub).await;
    for _ in 0..3 {
        assert_eq!(hub.get("/v1/patients", &doctor).await.0, StatusCode::OK);
    }
    let id = outpost_domain::PatientId::generate().to_string();
    let (status, answer) = hub
        .post(
            "/v1/sync/push",
            &doctor,
            json!({"schema_version": 1, "ops": [{
                "op_id": outpost_domain::OpId::generate(), "entity": "patient", "record_id": id,
                "action": "create", "base_version": null, "fields": patient_body("MT-1", "Metric", "Counted"),
                "client_time": chrono::Utc::now(), "schema_version": 1
            }]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let after = scrape(&hub).await;
    let requests = "outpost_http_requests_total{method=GET,route=/v1/patients,status=200}";
    assert_eq!(sample(&after, requests) - sample(&before, requests), 3.0);
    let pushed = "outpost_sync_push_ops_total{outcome=applied}";
    assert_eq!(sample(&after, pushed) - sample(&before, pushed), 1.0);
    let audited = "outpost_audit_events_appended_total{}";
    assert!(
        sample(&after, audited) >= sample(&before, audited) + 4.0,
        "3 searches and a create"
    );
    assert!(
        after
            .keys()
            .any(|k| k.starts_with("outpost_http_request_duration_seconds_count{")),
        "latency histograms"
    );
    assert!(sample(&after, "outpost_tenant_handles_open{}") >= 1.0);
    if let Backend::Postgres(_) = hub.backend {
        assert!(sample(&after, "outpost_db_connections_cap{}") >= 1.0);
        assert!(sample(&after, "outpost_db_connections{state=open}") >= 1.0);
    }
    hub.stop().await;
}

#[tokio::test]
async fn readiness_follows_the_central_store() {
    let hub = TestHub::start().await;
    assert_eq!(hub.get("/readyz", "").await.0, StatusCode::OK);
    let central = hub.dir.path().join("data/central.db");
    let moved = hub.dir.path().join("data/central.db.away");
    match &hub.backend {
        Backend::Embedded => std::fs::rename(&central, &moved).expect("move central.db"),
        Backend::Postgres(name) => {
            let admin = pg::connect("postgres").await;
            admin
                .batch_execute(&format!(
                    "ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS false; \
                     SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
                ))
                .await
                .expect("shut the central database");
        }
    }
    let (status, answer) = hub.get("/readyz", "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert_eq!(answer["error"]["code"], "unavailable");
    assert_eq!(
        hub.get("/healthz", "").await.0,
        StatusCode::OK,
        "alive, not ready"
    );
    match &hub.backend {
        Backend::Embedded => std::fs::rename(&moved, &central).expect("move back"),
        Backend::Postgres(name) => pg::connect("postgres")
            .await
            .batch_execute(&format!(
                "ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS true"
            ))
            .await
            .expect("open the central database"),
    }
    assert_eq!(hub.get("/readyz", "").await.0, StatusCode::OK);
    hub.stop().await;
}

#[tokio::test]
async fn every_answer_has_a_request_id_and_a_trusted_proxys_is_kept_in_the_audit() {
    let hub = TestHub::start_with(HubConfig {
        trusted_proxies: vec!["127.0.0.1".parse().expect("net")],
        ..HubConfig::default()
    })
    .await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    let email = hub.user(Some(&clinic), Role::Doctor).await;
    let made = hub
        .http
        .get(format!("{}/healthz", hub.url))
        .send()
        .await
        .expect("healthz");
    let id = made.headers()["x-request-id"].to_str().expect("id");
    assert!(
        uuid::Uuid::parse_str(id).is_ok(),
        "a made id is a UUID: {id}"
    );
    let login = hub
        .http
        .post(format!("{}/v1/auth/login", hub.url))
        .header("x-request-id", "lb-7f3a-0001")
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(login.headers()["x-request-id"], "lb-7f3a-0001");
    let login: Value = login.json().await.expect("json");
    let user = login["user"]["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    let events = hub
        .store
        .central()
        .audit_of_user(user, 10)
        .await
        .expect("audit");
    let signed_in = events
        .iter()
        .find(|e| e.event.action == "auth.login")
        .expect("login event");
    assert_eq!(signed_in.event.details["request_id"], "lb-7f3a-0001");
    // An id that could break a log line is replaced, not kept.
    let forged = hub
        .http
        .get(format!("{}/healthz", hub.url))
        .header("x-request-id", "a b c")
        .send()
        .await
        .expect("healthz");
    assert_ne!(forged.headers()["x-request-id"], "a b c");
    hub.stop().await;
}

#[tokio::test]
async fn sync_answers_are_compressed_when_asked_and_sign_in_never() {
    let hub = TestHub::start().await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    let email = hub.user(Some(&clinic), Role::Doctor).await;
    let token = hub.token(&email).await;
    let raw = reqwest::Client::builder()
        .no_gzip()
        .no_zstd()
        .build()
        .expect("client");
    for (path, encoding) in [("/v1/sync/snapshot", "zstd"), ("/v1/sync/pull", "gzip")] {
        let resp = raw
            .get(format!("{}{path}", hub.url))
            .bearer_auth(&token)
            .header("accept-encoding", encoding)
            .send()
            .await
            .expect("sync");
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["content-encoding"], encoding, "{path}");
    }
    let resp = raw
        .post(format!("{}/v1/auth/login", hub.url))
        .header("accept-encoding", "gzip, zstd")
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().get("content-encoding").is_none());
    hub.stop().await;
}
