//! The HTTP API, v1. Every route but `/healthz`, login, refresh and the JWKS takes a
//! [`Principal`](crate::principal::Principal) and checks its permission first.

mod audit;
mod auth;
mod board;
mod desktop;
pub mod openapi;
mod patients;
mod records;
mod reports;
mod schedule;
mod sync;
mod tenants;
mod transport;
mod users;
mod views;

use std::time::Duration;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::Request;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use outpost_domain::ErrorCode;
use tower_http::compression::CompressionLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use audit::verify_all;

use crate::config::HubConfig;
use crate::error::ApiError;
use crate::state::AppState;

/// The API's routes and their OpenAPI document, from one list: every route is an annotated
/// handler, so the document describes exactly what is served.
pub fn api(config: &HubConfig) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let request_timeout = Duration::from_secs(config.request_timeout_secs.max(1));
    let mut app = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(quick_routes())
        .merge(compressed(OpenApiRouter::new().routes(routes!(sync::pull))))
        .route_layer(middleware::from_fn_with_state(
            request_timeout,
            answer_within,
        ))
        .merge(long_routes())
        .merge(compressed(
            OpenApiRouter::new().routes(routes!(sync::snapshot)),
        ));
    if config.metrics_token.is_some() {
        app = app.routes(routes!(crate::metrics::with_token));
    }
    app.split_for_parts()
}

/// The router over the hub's state.
pub fn router(state: AppState) -> Router {
    let body_limit = state.config.body_limit_bytes;
    let body_timeout = Duration::from_secs(state.config.body_read_timeout_secs.max(1));
    let (app, doc) = api(&state.config);
    app.fallback(|| async { ApiError::new(outpost_domain::ErrorCode::NotFound, "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::invalid("this method is not allowed on this route")
        })
        .layer(Extension(openapi::Served::of(&doc)))
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
fn compressed(routes: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    routes.layer(CompressionLayer::new())
}

/// Routes answered within `request_timeout_secs`. One `routes!` per path.
fn quick_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(reports::health))
        .routes(routes!(reports::ready))
        .routes(routes!(openapi::serve))
        .routes(routes!(reports::status))
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::jwks))
        .routes(routes!(auth::me))
        .routes(routes!(tenants::create, tenants::list))
        .routes(routes!(tenants::get, tenants::delete))
        .routes(routes!(tenants::suspend))
        .routes(routes!(tenants::resume))
        .routes(routes!(users::create, users::list))
        .routes(routes!(users::update))
        .routes(routes!(patients::list, patients::create))
        .routes(routes!(patients::get, patients::update, patients::delete))
        .routes(routes!(patients::history))
        .routes(routes!(
            schedule::list_practitioners,
            schedule::create_practitioner
        ))
        .routes(routes!(
            schedule::get_practitioner,
            schedule::update_practitioner,
            schedule::delete_practitioner
        ))
        .routes(routes!(
            schedule::list_appointments,
            schedule::book_appointment
        ))
        .routes(routes!(
            schedule::get_appointment,
            schedule::update_appointment,
            schedule::delete_appointment
        ))
        .routes(routes!(schedule::appointment_history))
        .routes(routes!(
            schedule::list_calendar,
            schedule::create_calendar_entry
        ))
        .routes(routes!(
            schedule::get_calendar_entry,
            schedule::update_calendar_entry,
            schedule::delete_calendar_entry
        ))
        .routes(routes!(
            transport::list_facilities,
            transport::create_facility
        ))
        .routes(routes!(
            transport::get_facility,
            transport::update_facility,
            transport::delete_facility
        ))
        .routes(routes!(
            transport::list_transport_requests,
            transport::create_transport_request
        ))
        .routes(routes!(
            transport::get_transport_request,
            transport::update_transport_request,
            transport::delete_transport_request
        ))
        .routes(routes!(transport::transport_request_history))
        .routes(routes!(transport::list_units, transport::create_unit))
        .routes(routes!(
            transport::get_unit,
            transport::update_unit,
            transport::delete_unit
        ))
        .routes(routes!(
            transport::list_unit_shifts,
            transport::create_unit_shift
        ))
        .routes(routes!(
            transport::get_unit_shift,
            transport::update_unit_shift,
            transport::delete_unit_shift
        ))
        .routes(routes!(transport::list_trips))
        .routes(routes!(transport::get_trip))
        .routes(routes!(transport::trip_history))
        .routes(routes!(board::publish))
        .routes(routes!(board::cancel))
        .routes(routes!(board::request_bids))
        .routes(routes!(board::accept))
        .routes(routes!(board::board))
        .routes(routes!(board::board_entry))
        .routes(routes!(board::entry_bids, board::submit_bid))
        .routes(routes!(board::withdraw_bid))
        .routes(routes!(board::transport_report))
        .routes(routes!(sync::push))
        .routes(routes!(audit::verify))
        .routes(routes!(reports::activity))
        .routes(routes!(reports::patient))
        .routes(routes!(desktop::update))
}

/// Routes that may rightly take long before they answer or while they stream: the event
/// stream and the first mirror's snapshot, a tenant's backup, restore, move and the migration
/// of every tenant, and the download of a desktop build. No request deadline (the body and
/// head limits still apply).
fn long_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sync::events))
        .routes(routes!(tenants::move_to))
        .routes(routes!(tenants::backup))
        .routes(routes!(tenants::restore))
        .routes(routes!(tenants::migrate_all))
        .routes(routes!(desktop::file))
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
