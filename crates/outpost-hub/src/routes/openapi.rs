//! The API's OpenAPI 3.1 document, built from the same list of annotated handlers as the
//! router (`utoipa-axum`), so that a route cannot be served without being described; served at
//! `GET /v1/openapi.json`.

use axum::Extension;
use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};
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
        let mut value = serde_json::to_value(doc).unwrap_or_default();
        merge_flattened(&mut value);
        add_error_answers(&mut value);
        Self(Bytes::from(serde_json::to_vec(&value).unwrap_or_default()))
    }
}

/// Every operation may be refused (4xx) or fail (5xx), always in the error shape: said once
/// here rather than on each handler.
fn add_error_answers(doc: &mut Value) {
    let error = |description: &str| {
        json!({
            "description": description,
            "content": { "application/json": {
                "schema": { "$ref": "#/components/schemas/ErrorBody" }
            } }
        })
    };
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for operation in paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
    {
        if let Some(responses) = operation
            .get_mut("responses")
            .and_then(Value::as_object_mut)
        {
            responses
                .entry("4XX")
                .or_insert_with(|| error("Refused: the error shape"));
            responses
                .entry("5XX")
                .or_insert_with(|| error("Failed or unavailable: the error shape"));
        }
    }
}

/// serde's `flatten` of a struct that refuses unknown fields (a patient's editable fields,
/// inside the stored patient) comes out as `allOf` of that struct's schema, which forbids
/// other properties, and the outer fields: nothing could match both. Every such schema, a
/// component or inline (generic pages inline their items), becomes one object with the
/// properties and requirements of all its parts.
fn merge_flattened(doc: &mut Value) {
    let components = doc
        .pointer("/components/schemas")
        .cloned()
        .unwrap_or_default();
    merge_in(doc, &components);
}

fn merge_in(value: &mut Value, components: &Value) {
    match value {
        Value::Object(map) => {
            for child in map.values_mut() {
                merge_in(child, components);
            }
            if let Some(merged) = merged_object(map, components) {
                *value = merged;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| merge_in(item, components)),
        _ => {}
    }
}

/// The one object an `allOf` of objects amounts to, if `schema` is one.
fn merged_object(schema: &Map<String, Value>, components: &Value) -> Option<Value> {
    let parts = schema.get("allOf")?.as_array()?;
    let resolved: Vec<&Value> = parts
        .iter()
        .map(|part| match part.get("$ref").and_then(Value::as_str) {
            Some(reference) => reference
                .strip_prefix("#/components/schemas/")
                .and_then(|name| components.get(name)),
            None => Some(part),
        })
        .collect::<Option<_>>()?;
    if !resolved.iter().all(|part| part["type"] == "object") {
        return None;
    }
    let mut properties = Map::new();
    let mut required = Vec::new();
    for part in resolved {
        if let Some(own) = part["properties"].as_object() {
            properties.extend(own.clone());
        }
        required.extend(part["required"].as_array().into_iter().flatten().cloned());
    }
    let mut merged = json!({ "type": "object", "properties": properties, "required": required });
    if let Some(description) = schema.get("description") {
        merged["description"] = description.clone();
    }
    Some(merged)
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
