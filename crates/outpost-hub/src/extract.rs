//! Request extractors whose rejections answer in the API's error shape.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::header::{CONTENT_TYPE, USER_AGENT};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use outpost_domain::ErrorCode;
use outpost_domain::text::CONTROL_RULE;

use crate::error::ApiError;
use crate::forwarded;
use crate::state::AppState;
use crate::strict_json::Strict;

/// A JSON body. Malformed JSON, unknown fields, wrong types and oversized bodies become 4xx
/// errors naming the offending field but never echoing its value.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(is_json_media_type);
        if !is_json {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "the body must be JSON (Content-Type: application/json)",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(ErrorCode::PayloadTooLarge, "the request body is too large")
            } else {
                ApiError::invalid("the request body could not be read")
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Whether a `Content-Type` names JSON: the media type `application/json` exactly (any case),
/// with or without parameters such as a charset; not a type that merely starts the same way.
pub fn is_json_media_type(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default();
    essence.trim().eq_ignore_ascii_case("application/json")
}

/// Deserialises JSON under the [`Strict`] rules (records are objects, no control characters),
/// describing failures by path and kind only.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(Strict(&mut de)).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::new(
                ErrorCode::MalformedJson,
                "the request body is not valid JSON",
            );
        }
        let text = inner.to_string();
        let what = if text.starts_with(CONTROL_RULE) {
            CONTROL_RULE.to_owned()
        } else if text.starts_with("unknown field") || text.starts_with("missing field") {
            // serde names only field names in these messages.
            text.split(" at line")
                .next()
                .unwrap_or("unknown field")
                .to_owned()
        } else {
            "has the wrong type or an invalid value".to_owned()
        };
        if path == "." {
            ApiError::invalid(format!("request body: {what}"))
        } else {
            ApiError::invalid(format!("field `{path}`: {what}"))
        }
    })?;
    de.end().map_err(|_| {
        ApiError::new(
            ErrorCode::MalformedJson,
            "trailing data after the JSON body",
        )
    })?;
    Ok(value)
}

/// Path parameters; an unparsable id is a 400, not a 404.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|_| ApiError::invalid("the id in the path is not a valid UUID"))
    }
}

/// Query parameters, read under the [`Strict`] rules; unknown parameters, bad values and
/// control characters are a 400.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let pairs = form_urlencoded::parse(query.as_bytes());
        T::deserialize(Strict(serde_urlencoded::Deserializer::new(pairs)))
            .map(ApiQuery)
            .map_err(|err| {
                if err.to_string().starts_with(CONTROL_RULE) {
                    ApiError::invalid(format!("the query string: a parameter {CONTROL_RULE}"))
                } else {
                    ApiError::invalid("the query string has an unknown parameter or a bad value")
                }
            })
    }
}

/// Where a request came from, for sessions and audit events.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// The client's address (through trusted proxies), for rate limits.
    pub address: Option<std::net::IpAddr>,
    /// The same as text, as sessions and audit events record it.
    pub ip: Option<String>,
    /// The request's id ([`crate::observe`]).
    pub request_id: Option<String>,
    pub user_agent: Option<String>,
}

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = ApiError;

    /// The client's address: the connection's, or the one a trusted proxy forwarded.
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let address = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| {
                forwarded::client_address(c.0.ip(), &parts.headers, &state.config.trusted_proxies)
            });
        let user_agent = parts
            .headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(200).collect());
        Ok(ClientInfo {
            address,
            ip: address.map(|a| a.to_string()),
            user_agent,
            request_id: parts
                .extensions
                .get::<crate::observe::RequestId>()
                .map(|id| id.0.clone()),
        })
    }
}
