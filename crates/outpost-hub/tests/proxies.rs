//! Behind a TLS proxy the hub sees every request come from the proxy: the client's address is
//! taken from `X-Forwarded-For` only when the proxy is one the configuration trusts, and then
//! it is what sessions and audit events record.

mod common;

use std::net::SocketAddr;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::response::Response;
use serde_json::{Value, json};

use common::{PASSWORD, TestHub, patient_body};
use outpost_domain::{Role, TenantKind, UserId};
use outpost_hub::HubConfig;

/// Where the test's client is, as its proxy forwards it.
const CLIENT: &str = "203.0.113.7";

/// A small reverse proxy on an ephemeral port: every request goes on to `hub` with
/// `X-Forwarded-For: CLIENT` added, as a TLS-terminating proxy in front of a hub would.
async fn proxy(hub: String) -> SocketAddr {
    let http = common::http_client();
    let forward = move |request: Request| {
        let (http, hub) = (http.clone(), hub.clone());
        async move {
            let (parts, body) = request.into_parts();
            let body = axum::body::to_bytes(body, usize::MAX)
                .await
                .expect("request body");
            let mut upstream = http
                .request(parts.method, format!("{hub}{}", parts.uri))
                .header("x-forwarded-for", CLIENT)
                .body(body);
            for (name, value) in &parts.headers {
                if name != "host" {
                    upstream = upstream.header(name, value);
                }
            }
            let answer = upstream.send().await.expect("upstream");
            let mut response = Response::builder().status(answer.status());
            for (name, value) in answer.headers() {
                response = response.header(name, value);
            }
            let bytes: Bytes = answer.bytes().await.expect("upstream body");
            response.body(Body::from(bytes)).expect("response")
        }
    };
    let app = axum::Router::new().fallback(forward);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// Signs in through the proxy and reads a patient; returns the addresses the session, the
/// sign-in's central audit event and the read's tenant audit event recorded.
async fn addresses_recorded(hub: &TestHub) -> (Option<String>, Option<String>, Option<String>) {
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    let email = hub.user(Some(&clinic), Role::Doctor).await;
    let doctor = hub.signed_in(Some(&clinic), Role::Doctor).await;
    let (_, created) = hub
        .post(
            "/v1/patients",
            &doctor,
            patient_body("PX-1", "Proxied", "Read"),
        )
        .await;
    let id = created["id"].as_str().expect("id").to_owned();
    let via = format!("http://{}", proxy(hub.url.clone()).await);
    let http = common::http_client();
    let login: Value = http
        .post(format!("{via}/v1/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let token = login["access_token"].as_str().expect("token");
    let user: UserId = login["user"]["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    let read = http
        .get(format!("{via}/v1/patients/{id}"))
        .bearer_auth(token)
        .send()
        .await
        .expect("read");
    assert!(read.status().is_success());

    let central = hub.store.central();
    let session = central.sessions_of(user).await.expect("sessions");
    let login_event = central
        .audit_of_user(user, 10)
        .await
        .expect("audit")
        .into_iter()
        .find(|r| r.event.action == "auth.login")
        .expect("login event");
    let reads = hub
        .raw_tenant_sql(
            clinic.id,
            &format!(
                "SELECT ip FROM audit_events WHERE action = 'patient.read' AND entity_id = '{id}'"
            ),
        )
        .await
        .expect("tenant audit");
    (
        session.first().and_then(|s| s.ip.clone()),
        login_event.event.ip,
        reads.into_iter().next(),
    )
}

#[tokio::test]
async fn a_trusted_proxy_forwards_the_clients_address() {
    let hub = TestHub::start_with(HubConfig {
        trusted_proxies: vec!["127.0.0.1".parse().expect("net")],
        ..HubConfig::default()
    })
    .await;
    let client = Some(CLIENT.to_owned());
    assert_eq!(
        addresses_recorded(&hub).await,
        (client.clone(), client.clone(), client)
    );
    hub.stop().await;
}

#[tokio::test]
async fn an_untrusted_proxy_is_the_address_recorded() {
    let hub = TestHub::start().await;
    let proxy = Some("127.0.0.1".to_owned());
    assert_eq!(
        addresses_recorded(&hub).await,
        (proxy.clone(), proxy.clone(), proxy)
    );
    hub.stop().await;
}
