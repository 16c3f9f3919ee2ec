//! Crash safety of the outbox worker, on either backend (`OUTPOST_TEST_BACKEND`): the real
//! `outpost-hub` binary serves the transport flow (publish, two bids, accept, a crew's five
//! steps) while it is killed with SIGKILL at random moments, thirty times, and
//! restarted each time. Afterwards every step is found done exactly once: one trip per
//! accepted request, the other bid declined, each request's statuses once and in order, every
//! outbox event done.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use rand::Rng;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use common::{TestHub, demographics_body};
use outpost_domain::{Role, TenantKind};

/// Kills before the hub is left alone to finish.
const KILLS: usize = 30;
/// Requests prepared; the flow runs through them until the kills are done (at least `MIN`).
const DRAFTS: usize = 60;
const MIN_FLOWS: usize = 8;

/// The running hub process and how to restart it.
struct Hub {
    args: Vec<String>,
    port: u16,
    child: Child,
}

impl Hub {
    fn spawn(args: &[String], port: u16) -> Child {
        Command::new(env!("CARGO_BIN_EXE_outpost-hub"))
            .arg("serve")
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(args)
            .env("OUTPOST_OUTBOX_LEASE_SECS", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start outpost-hub")
    }

    fn restart(&mut self) {
        self.child = Self::spawn(&self.args, self.port);
    }

    fn kill(&mut self) {
        // SIGKILL: no shutdown, no cleanup; whatever was in flight stops where it was.
        self.child.kill().expect("kill");
        self.child.wait().expect("reap");
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A client that gives up quickly on a dead hub.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .expect("client")
}

/// Sends until the hub gives an answer that is not an outage (no connection, 5xx).
async fn call(
    http: &reqwest::Client,
    base: &str,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    for _ in 0..2400 {
        let mut request = http
            .request(method.clone(), format!("{base}{path}"))
            .bearer_auth(token);
        if let Some(body) = &body {
            request = request.json(body);
        }
        if let Ok(response) = request.send().await {
            let status = response.status();
            if !status.is_server_error() {
                let body = response.json().await.unwrap_or(Value::Null);
                return (status, body);
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the hub never answered {path}");
}

async fn healthy(http: &reqwest::Client, base: &str) {
    for _ in 0..400 {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await
            && r.status() == StatusCode::OK
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the hub did not come back");
}

struct Tokens {
    coordinator: String,
    a: String,
    b: String,
    crew: String,
}

/// One request's flow, each call repeated through outages; an answer saying it was done
/// before the crash counts as done.
async fn flow(http: &reqwest::Client, base: &str, t: &Tokens, request: &str, units: (&str, &str)) {
    let (status, body) = call(
        http,
        base,
        Method::POST,
        &format!("/v1/transport-requests/{request}/publish"),
        &t.coordinator,
        Some(json!({})),
    )
    .await;
    assert!(
        status == StatusCode::OK || body["error"]["code"] == "invalid_transition",
        "{status} {body}"
    );
    let entry = loop {
        let (_, board) = call(
            http,
            base,
            Method::GET,
            "/v1/board?status=published&limit=500",
            &t.a,
            None,
        )
        .await;
        let (_, all) = call(http, base, Method::GET, "/v1/board?limit=500", &t.a, None).await;
        let found = board["items"]
            .as_array()
            .into_iter()
            .chain(all["items"].as_array())
            .flatten()
            .find(|e| e["request_id"] == request)
            .cloned();
        if let Some(entry) = found {
            break entry["id"].as_str().expect("id").to_owned();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    for (token, unit, eta) in [(&t.a, units.0, 20), (&t.b, units.1, 15)] {
        let (status, body) = call(
            http,
            base,
            Method::POST,
            &format!("/v1/board/{entry}/bids"),
            token,
            Some(json!({"unit_id": unit, "eta_minutes": eta})),
        )
        .await;
        assert!(
            status == StatusCode::CREATED || body["error"]["code"] == "bid_exists",
            "{status} {body}"
        );
    }
    let (_, own) = call(
        http,
        base,
        Method::GET,
        &format!("/v1/board/{entry}/bids"),
        &t.a,
        None,
    )
    .await;
    let bid = own["items"][0]["id"].as_str().expect("A's bid").to_owned();
    let (status, body) = call(
        http,
        base,
        Method::POST,
        &format!("/v1/transport-requests/{request}/bids/{bid}/accept"),
        &t.coordinator,
        Some(json!({})),
    )
    .await;
    assert!(
        status == StatusCode::OK || body["error"]["code"] == "invalid_transition",
        "{status} {body}"
    );
    // The crew's trip arrives through the outbox; its steps go up once each (fixed op ids).
    let trip = loop {
        let (_, trips) = call(
            http,
            base,
            Method::GET,
            "/v1/trips?limit=500",
            &t.crew,
            None,
        )
        .await;
        let found = trips["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|trip| trip["board_entry_id"] == entry.as_str())
            .cloned();
        if let Some(trip) = found {
            break trip["id"].as_str().expect("id").to_owned();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    let ops: Vec<Value> = [
        "en_route",
        "at_pickup",
        "transporting",
        "at_destination",
        "completed",
    ]
    .iter()
    .enumerate()
    .map(|(n, status)| {
        json!({
            "op_id": Uuid::now_v7(), "entity": "trip", "record_id": trip,
            "action": "update", "base_version": n + 1, "fields": {"status": status},
            "client_time": chrono::Utc::now(), "schema_version": 3
        })
    })
    .collect();
    for op in ops {
        let (status, body) = call(
            http,
            base,
            Method::POST,
            "/v1/sync/push",
            &t.crew,
            Some(json!({"schema_version": 3, "ops": [op]})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["results"][0]["status"], "applied", "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_step_is_done_once_across_thirty_kills_of_the_hub() {
    let mut hub = TestHub::start().await;
    let hospital = hub.tenant("general", TenantKind::Hospital).await;
    let coordinator = hub
        .signed_in(Some(&hospital), Role::TransportCoordinator)
        .await;
    let nurse = hub.signed_in(Some(&hospital), Role::Nurse).await;
    let (_, patient) = hub
        .post(
            "/v1/patients",
            &nurse,
            demographics_body("K-1", "Kim", "Kill"),
        )
        .await;
    let mut facilities = Vec::new();
    for name in ["General ER", "Oak Rehab"] {
        let (_, created) = hub
            .post(
                "/v1/facilities",
                &coordinator,
                json!({"name": name, "kind": "hospital", "city": "Springfield"}),
            )
            .await;
        facilities.push(created["id"].as_str().expect("id").to_owned());
    }
    let mut drafts = Vec::new();
    for _ in 0..DRAFTS {
        let (status, created) = hub
            .post(
                "/v1/transport-requests",
                &coordinator,
                json!({
                    "patient_id": patient["id"], "origin_facility_id": facilities[0],
                    "destination_facility_id": facilities[1], "level": "BLS",
                    "priority": "scheduled", "pickup_from": "2026-12-08T09:00:00Z",
                    "pickup_to": "2026-12-08T11:00:00Z"
                }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        drafts.push(created["id"].as_str().expect("id").to_owned());
    }
    let mut agencies = Vec::new();
    for slug in ["metro-ems", "county-ems"] {
        let tenant = hub.tenant(slug, TenantKind::EmsAgency).await;
        let dispatcher = hub.signed_in(Some(&tenant), Role::EmsDispatcher).await;
        let crew = hub.signed_in(Some(&tenant), Role::EmsCrew).await;
        let (_, me) = hub.get("/v1/me", &crew).await;
        let (_, unit) = hub
            .post(
                "/v1/units",
                &dispatcher,
                json!({"call_sign": "Medic 1", "level": "ALS", "crew_user_ids": [me["user"]["id"]]}),
            )
            .await;
        agencies.push((
            dispatcher,
            crew,
            unit["id"].as_str().expect("unit").to_owned(),
        ));
    }
    let tokens = Tokens {
        coordinator: coordinator.clone(),
        a: agencies[0].0.clone(),
        b: agencies[1].0.clone(),
        crew: agencies[0].1.clone(),
    };
    let units = (agencies[0].2.clone(), agencies[1].2.clone());

    // From here the real binary serves the same databases.
    hub.stop_serving().await;
    let port = free_port();
    let args = hub.store_args();
    let base = format!("http://127.0.0.1:{port}");
    let http = client();
    let mut process = Hub {
        child: Hub::spawn(&args, port),
        args,
        port,
    };
    healthy(&http, &base).await;

    let kills = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicBool::new(false));
    let killer = {
        let (kills, finished, http, base) =
            (kills.clone(), finished.clone(), http.clone(), base.clone());
        tokio::spawn(async move {
            while kills.load(Ordering::SeqCst) < KILLS && !finished.load(Ordering::SeqCst) {
                let wait = rand::thread_rng().gen_range(5..150);
                tokio::time::sleep(Duration::from_millis(wait)).await;
                process.kill();
                kills.fetch_add(1, Ordering::SeqCst);
                process.restart();
                healthy(&http, &base).await;
            }
            process
        })
    };
    let mut flowed = 0;
    for request in &drafts {
        flow(&http, &base, &tokens, request, (&units.0, &units.1)).await;
        flowed += 1;
        if flowed >= MIN_FLOWS && kills.load(Ordering::SeqCst) >= KILLS {
            break;
        }
    }
    finished.store(true, Ordering::SeqCst);
    let mut process = killer.await.expect("killer");
    let killed = kills.load(Ordering::SeqCst);
    assert!(killed >= KILLS, "only {killed} kills during {flowed} flows");

    // Left alone, the hub finishes what the kills interrupted.
    for request in &drafts[..flowed] {
        let path = format!("/v1/transport-requests/{request}");
        let mut done = false;
        for _ in 0..400 {
            let (_, body) = call(&http, &base, Method::GET, &path, &coordinator, None).await;
            if body["status"] == "completed" {
                done = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert!(done, "{request} never completed");
        let (_, history) = call(
            &http,
            &base,
            Method::GET,
            &format!("{path}/history"),
            &coordinator,
            None,
        )
        .await;
        let statuses: Vec<&str> = history["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|v| v["changes"]["status"]["new"].as_str())
            .collect();
        assert_eq!(
            statuses,
            [
                "draft",
                "published",
                "assigned",
                "en_route",
                "at_pickup",
                "transporting",
                "at_destination",
                "completed"
            ],
            "{request}"
        );
    }
    let (_, trips) = call(
        &http,
        &base,
        Method::GET,
        "/v1/trips?limit=500",
        &tokens.a,
        None,
    )
    .await;
    let trips = trips["items"].as_array().expect("trips").clone();
    assert_eq!(trips.len(), flowed, "one trip per accepted request");
    let (_, board) = call(
        &http,
        &base,
        Method::GET,
        "/v1/board?limit=500",
        &tokens.b,
        None,
    )
    .await;
    for entry in board["items"].as_array().expect("entries") {
        assert_eq!(
            trips
                .iter()
                .filter(|t| t["board_entry_id"] == entry["id"])
                .count(),
            1
        );
        let (_, bids) = call(
            &http,
            &base,
            Method::GET,
            &format!("/v1/board/{}/bids", entry["id"].as_str().expect("id")),
            &tokens.b,
            None,
        )
        .await;
        let statuses: Vec<&str> = bids["items"]
            .as_array()
            .expect("bids")
            .iter()
            .filter_map(|b| b["status"].as_str())
            .collect();
        assert_eq!(statuses, ["declined"], "one decline per other bid");
    }
    for request in &drafts[flowed..] {
        let (_, body) = call(
            &http,
            &base,
            Method::GET,
            &format!("/v1/transport-requests/{request}"),
            &coordinator,
            None,
        )
        .await;
        assert_eq!(body["status"], "draft");
    }
    // A step whose effects landed before a kill, but not its end, is taken again once its
    // lease runs out (a second): wait for the outbox to empty.
    for _ in 0..400 {
        if hub.store.board().pending_events().await.expect("pending") == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    process.kill();
    let log = hub.store.board().event_log().await.expect("log");
    assert_eq!(log.len(), 2 * flowed, "{log:?}");
    assert!(
        log.iter()
            .all(|e| e.done_by.is_some() && e.last_error.is_none()),
        "{log:?}"
    );
    let retaken = log.iter().filter(|e| e.attempts > 1).count();
    println!(
        "{killed} kills over {flowed} flows; {retaken} of {} events were taken again after a kill",
        log.len()
    );
    hub.stop().await;
}
