//! The HTTP API, v1. Every route but `/healthz`, login, refresh and the JWKS takes a
//! [`Principal`](crate::principal::Principal) and checks its permission first.

mod audit;
mod auth;
mod desktop;
mod patients;
mod reports;
mod sync;
mod tenants;
mod users;

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::Request;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use outpost_domain::ErrorCode;
use tower_http::compression::CompressionLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;

pub use audit::verify_all;

use crate::error::ApiError;
use crate::state::AppState;

/// The router over the hub's state.
pub fn router(state: AppState) -> Router {
    let body_limit = state.config.body_limit_bytes;
    let body_timeout = Duration::from_secs(state.config.body_read_timeout_secs.max(1));
    let request_timeout = Duration::from_secs(state.config.request_timeout_secs.max(1));
    let metrics_token = state.config.metrics_token.is_some();
    let mut app = quick_routes()
        .merge(compressed(
            Router::new().route("/v1/sync/pull", get(sync::pull)),
        ))
        .route_layer(middleware::from_fn_with_state(
            request_timeout,
            answer_within,
        ))
        .merge(long_routes())
        .merge(compressed(
            Router::new().route("/v1/sync/snapshot", get(sync::snapshot)),
        ));
    if metrics_token {
        app = app.route("/metrics", get(crate::metrics::with_token));
    }
    app.fallback(|| async { ApiError::new(outpost_domain::ErrorCode::NotFound, "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::invalid("this method is not allowed on this route")
        })
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(RequestBodyTimeoutLayer::new(body_timeout))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::observe::observe,
        ))
        .with_state(state)
}

/// The routes of `metrics_listen`: `GET /metrics` alone, without authentication.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(crate::metrics::open))
        .with_state(state)
}

/// Answers compressed (gzip or zstd) when the client asks: the bulk of sync, never sign-in.
fn compressed(routes: Router<AppState>) -> Router<AppState> {
    routes.layer(CompressionLayer::new())
}

/// Routes answered within `request_timeout_secs`.
fn quick_routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(reports::health))
        .route("/readyz", get(reports::ready))
        .route("/v1/status", get(reports::status))
        .route("/v1/auth/login", post(auth::login))
        .route("/v1/auth/refresh", post(auth::refresh))
        .route("/v1/auth/logout", post(auth::logout))
        .route("/v1/auth/jwks", get(auth::jwks))
        .route("/v1/me", get(auth::me))
        .route("/v1/tenants", post(tenants::create).get(tenants::list))
        .route(
            "/v1/tenants/{id}",
            get(tenants::get).delete(tenants::delete),
        )
        .route("/v1/tenants/{id}/suspend", post(tenants::suspend))
        .route("/v1/tenants/{id}/resume", post(tenants::resume))
        .route("/v1/users", post(users::create).get(users::list))
        .route("/v1/users/{id}", axum::routing::patch(users::update))
        .route("/v1/patients", get(patients::list).post(patients::create))
        .route(
            "/v1/patients/{id}",
            get(patients::get)
                .patch(patients::update)
                .delete(patients::delete),
        )
        .route("/v1/patients/{id}/history", get(patients::history))
        .route("/v1/sync/push", post(sync::push))
        .route("/v1/audit/verify", get(audit::verify))
        .route("/v1/reports/activity", get(reports::activity))
        .route("/v1/reports/patients/{id}", get(reports::patient))
        .route(
            "/v1/desktop/updates/{target}/{arch}/{current_version}",
            get(desktop::update),
        )
}

/// Routes that may rightly take long before they answer or while they stream: the event
/// stream and the first mirror's snapshot, a tenant's backup, restore, move and the migration
/// of every tenant, and the download of a desktop build. No request deadline (the body and head limits still apply).
fn long_routes() -> Router<AppState> {
    Router::new()
        .route("/v1/events", get(sync::events))
        .route("/v1/tenants/{id}/move", post(tenants::move_to))
        .route("/v1/tenants/{id}/backup", post(tenants::backup))
        .route("/v1/tenants/restore", post(tenants::restore))
        .route("/v1/tenants/migrate", post(tenants::migrate_all))
        .route(
            "/v1/desktop/files/{target}/{arch}/{version}/{file}",
            get(desktop::file),
        )
}

/// Answers 503 when a request has not been answered within `limit`; the client may retry
/// (every change is idempotent or versioned).
async fn answer_within(
    State(limit): State<Duration>,
    request: Request<Body>,
    next: Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            ErrorCode::Unavailable,
            "the hub took too long to answer this request; try again",
        )
        .retry_after(1)
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use tower_service::Service;

    use super::*;

    #[tokio::test]
    async fn a_request_past_its_deadline_is_answered_503_in_the_error_shape() {
        let app: Router = Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "done"
                }),
            )
            .route("/quick", get(|| async { "done" }))
            .route_layer(middleware::from_fn_with_state(
                Duration::from_millis(50),
                answer_within,
            ));
        let call = |path: &str| {
            app.clone()
                .call(Request::get(path).body(Body::empty()).expect("request"))
        };
        let slow = call("/slow").await.expect("answer");
        assert_eq!(slow.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(slow.headers()["retry-after"], "1");
        let body = axum::body::to_bytes(slow.into_body(), 4096)
            .await
            .expect("body");
        let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(body["error"]["code"], "unavailable");
        assert_eq!(
            call("/quick").await.expect("answer").status(),
            StatusCode::OK
        );
    }
}
