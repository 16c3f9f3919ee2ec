//! What operators see of every request: an id (taken from a trusted proxy's `X-Request-Id`, or
//! made here) in the response, in every log line the request causes and in the details of its
//! audit events; one access-log line (method, route template, status, latency — never a query
//! string, a body, a token or a record value); and the HTTP metrics.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::forwarded;
use crate::state::AppState;

/// The header carrying a request's id, both ways.
pub const REQUEST_ID: &str = "x-request-id";

/// A request's id, in its extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// Whether an id a proxy sent is one to keep: short, and of characters that cannot break a log
/// line or a header.
fn acceptable(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// The request's id: the one a trusted proxy sent, or a new UUIDv7.
fn request_id(request: &Request, state: &AppState) -> String {
    let from_trusted_proxy = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|c| forwarded::is_trusted(c.0.ip(), &state.config.trusted_proxies));
    request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| from_trusted_proxy && acceptable(id))
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned)
}

/// The middleware: id, span, access log line, metrics.
pub async fn observe(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(&request, &state);
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    request.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", request_id = %id);
    let mut response = next.run(request).instrument(span.clone()).await;
    let latency = started.elapsed();
    let status = response.status().as_u16();
    span.in_scope(|| {
        tracing::info!(
            target: "outpost_hub::access",
            method = %method,
            route = %route,
            status,
            latency_ms = latency.as_secs_f64() * 1000.0,
            "request"
        );
    });
    metrics::counter!(
        "outpost_http_requests_total",
        "method" => method,
        "route" => route.clone(),
        "status" => status.to_string()
    )
    .increment(1);
    metrics::histogram!("outpost_http_request_duration_seconds", "route" => route)
        .record(latency.as_secs_f64());
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::acceptable;

    #[test]
    fn only_short_plain_ids_are_kept() {
        assert!(acceptable("0190a6c2-7f3e-7b1a-9c1d-2f4e5a6b7c8d"));
        assert!(acceptable("lb-1:42.7_x"));
        for bad in ["", "a b", "x\r\ninjected: 1", "é", &"x".repeat(65)] {
            assert!(!acceptable(bad), "{bad:?}");
        }
    }
}
