//! `GET /metrics`: Prometheus text of what the hub counts (HTTP requests by route and status
//! with latency histograms, pushed ops by outcome, snapshot rows, audit events written) and of
//! what it holds right now (open event streams, open tenant handles, the PostgreSQL router's
//! connections against its cap). Served on `metrics_listen`, or on the API's address to a
//! bearer of `metrics_token`; nowhere otherwise.

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use outpost_domain::ErrorCode;

use crate::error::{ApiError, ApiResult};
use crate::state::{AppState, HubState};

/// Latency buckets in seconds: a search answers in a millisecond, a push of a thousand ops in
/// a fraction of a second, a request past its deadline in 30 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The process's recorder: the `metrics` facade has one per process, so every hub state in a
/// process (tests run several) shares it.
fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(LATENCY_BUCKETS)
            .map(PrometheusBuilder::build_recorder)
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed: GET /metrics shows none");
        }
        handle
    })
}

/// Installs the recorder, so that counting starts when the hub does.
pub fn install() {
    handle();
}

/// The metrics as Prometheus text, the gauges read now.
pub fn render(state: &HubState) -> String {
    let gauges = state.store.gauges();
    metrics::gauge!("outpost_tenant_handles_open").set(gauges.tenant_handles_open as f64);
    if let Some(connections) = gauges.connections {
        metrics::gauge!("outpost_db_connections_cap").set(connections.cap as f64);
        metrics::gauge!("outpost_db_connections", "state" => "open").set(connections.open as f64);
        metrics::gauge!("outpost_db_connections", "state" => "idle").set(connections.idle as f64);
        metrics::gauge!("outpost_db_connections", "state" => "waiting")
            .set(connections.waiting as f64);
    }
    let handle = handle();
    handle.run_upkeep();
    handle.render()
}

/// Counts an outbox event carried out (`done`) or closed as refused.
pub fn outbox_step(kind: &'static str, done: bool) {
    let outcome = if done { "done" } else { "refused" };
    metrics::counter!("outpost_outbox_events_total", "kind" => kind, "outcome" => outcome)
        .increment(1);
}

/// `GET /metrics` on the API's address: only with `metrics_token`, and only to its bearer.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text (with metrics_token)", content_type = "text/plain", body = String))
)]
pub async fn with_token(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<impl IntoResponse> {
    let expected = state
        .config
        .metrics_token
        .as_ref()
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such route"))?;
    let presented = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !presented.is_some_and(|token| expected.matches(token)) {
        return Err(ApiError::unauthenticated());
    }
    Ok(text(&state))
}

/// `GET /metrics` on `metrics_listen` (an address only the monitoring system reaches).
pub async fn open(State(state): State<AppState>) -> impl IntoResponse {
    text(&state)
}

fn text(state: &HubState) -> impl IntoResponse + use<> {
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        render(state),
    )
}

/// Counts an event stream open for as long as it lives.
pub struct OpenStream;

impl OpenStream {
    pub fn new() -> Self {
        metrics::gauge!("outpost_event_streams_open").increment(1.0);
        Self
    }
}

impl Default for OpenStream {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        metrics::gauge!("outpost_event_streams_open").decrement(1.0);
    }
}
