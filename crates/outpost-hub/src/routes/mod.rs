//! The HTTP API, v1. Every route but `/healthz`, login, refresh and the JWKS takes a
//! [`Principal`](crate::principal::Principal) and checks its permission first.

mod audit;
mod auth;
mod patients;
mod reports;
mod sync;
mod tenants;
mod users;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Request;
use axum::routing::{get, post};
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::TraceLayer;

pub use audit::verify_all;

use crate::error::ApiError;
use crate::state::AppState;

/// The router over the hub's state.
pub fn router(state: AppState) -> Router {
    let body_limit = state.config.body_limit_bytes;
    let body_timeout = std::time::Duration::from_secs(state.config.body_read_timeout_secs.max(1));
    Router::new()
        .route("/healthz", get(reports::health))
        .route("/v1/status", get(reports::status))
        .route("/v1/auth/login", post(auth::login))
        .route("/v1/auth/refresh", post(auth::refresh))
        .route("/v1/auth/logout", post(auth::logout))
        .route("/v1/auth/jwks", get(auth::jwks))
        .route("/v1/me", get(auth::me))
        .route("/v1/tenants", post(tenants::create).get(tenants::list))
        .route("/v1/tenants/{id}", get(tenants::get).delete(tenants::delete))
        .route("/v1/tenants/{id}/suspend", post(tenants::suspend))
        .route("/v1/tenants/{id}/resume", post(tenants::resume))
        .route("/v1/tenants/{id}/move", post(tenants::move_to))
        .route("/v1/tenants/{id}/backup", post(tenants::backup))
        .route("/v1/tenants/restore", post(tenants::restore))
        .route("/v1/tenants/migrate", post(tenants::migrate_all))
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
        .route("/v1/sync/pull", get(sync::pull))
        .route("/v1/sync/snapshot", get(sync::snapshot))
        .route("/v1/events", get(sync::events))
        .route("/v1/audit/verify", get(audit::verify))
        .route("/v1/reports/activity", get(reports::activity))
        .route("/v1/reports/patients/{id}", get(reports::patient))
        .fallback(|| async { ApiError::new(outpost_domain::ErrorCode::NotFound, "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::invalid("this method is not allowed on this route")
        })
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(RequestBodyTimeoutLayer::new(body_timeout))
        .layer(
            // Log method and path only: query strings can hold search terms (PHI).
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path())
            }),
        )
        .with_state(state)
}
