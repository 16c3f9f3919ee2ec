//! The OpenAPI document: served at `/v1/openapi.json` without sign-in, version 3.1, and
//! complete. Every path the router serves is in it and nothing else, each operation has its
//! own id, and every path parameter is declared.

mod common;

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::Value;

use common::TestHub;
use outpost_hub::HubConfig;
use outpost_hub::config::Secret;

/// The paths an axum router serves, read from its `Debug` form (axum has no listing API):
/// the quoted strings of its path table, without the two its fallback registers (`/` and a
/// private catch-all; the test shows `/` answers 404).
fn served_paths(router: &axum::Router) -> BTreeSet<String> {
    let text = format!("{router:?}");
    let mut paths = BTreeSet::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("\"/") {
        let after = &rest[start + 1..];
        let Some(end) = after.find('"') else { break };
        let path = &after[..end];
        if path != "/" && !path.contains("__private__axum") {
            paths.insert(path.to_owned());
        }
        rest = &after[end..];
    }
    paths
}

#[tokio::test]
async fn every_route_the_router_serves_is_in_the_served_document() {
    // With a metrics token, /metrics is on the API's address too.
    let hub = TestHub::start_with(HubConfig {
        metrics_token: Some(Secret("scrape".into())),
        ..HubConfig::default()
    })
    .await;
    let response = hub
        .http
        .get(format!("{}/v1/openapi.json", hub.url))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK, "served without sign-in");
    let doc: Value = response.json().await.expect("json");
    assert_eq!(doc["openapi"], "3.1.0");

    let root = hub
        .http
        .get(format!("{}/", hub.url))
        .send()
        .await
        .expect("/");
    assert_eq!(
        root.status(),
        StatusCode::NOT_FOUND,
        "nothing is served at /"
    );

    let router = outpost_hub::routes::router(hub.state.clone());
    let served = served_paths(&router);
    assert!(
        served.contains("/healthz") && served.contains("/v1/patients/{id}"),
        "the router's Debug form changed: {served:?}"
    );
    let documented: BTreeSet<String> = doc["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .cloned()
        .collect();
    let missing: Vec<_> = served.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&served).collect();
    assert!(missing.is_empty(), "served but not documented: {missing:?}");
    assert!(extra.is_empty(), "documented but not served: {extra:?}");

    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("item") {
            let id = operation["operationId"].as_str().expect("an operationId");
            assert!(ids.insert(id.to_owned()), "operationId {id} twice");
            let declared: BTreeSet<&str> = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .filter_map(|p| p["name"].as_str())
                .collect();
            for segment in path.split('/') {
                if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    assert!(
                        declared.contains(name),
                        "{method} {path}: path parameter {name} undeclared"
                    );
                }
            }
        }
    }
    hub.stop().await;
}
