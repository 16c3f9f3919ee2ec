//! The API's OpenAPI 3.1 document, built from the same list of annotated handlers as the
//! router (`utoipa-axum`), so that a route cannot be served without being described; served at
//! `GET /v1/openapi.json`.

use axum::Extension;
use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The document's fixed part; the paths come from the router.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Outpost hub",
        description = "The Outpost hub's HTTP API (v1): sign-in, tenants, users, patients, sync, audit, reports, desktop updates. Errors answer `{\"error\": {\"code\", \"message\"}}`."
    ),
    modifiers(&Bearer),
    security(("bearer" = [])),
    components(schemas(
        outpost_domain::TenantId,
        outpost_domain::PatientId,
        outpost_domain::UserId,
        crate::error::ErrorBody
    ))
)]
pub struct ApiDoc;

/// Bearer access tokens (JWT, EdDSA), as `POST /v1/auth/login` issues them.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The finished document as JSON, built once when the router is.
#[derive(Clone)]
pub struct Served(Bytes);

impl Served {
    pub fn of(doc: &utoipa::openapi::OpenApi) -> Self {
        Self(Bytes::from(doc.to_json().unwrap_or_default()))
    }
}

#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    operation_id = "openapi",
    tag = "operations",
    responses((status = 200, description = "This document (OpenAPI 3.1)", body = Object)),
    security(())
)]
pub async fn serve(Extension(doc): Extension<Served>) -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], doc.0)
}
