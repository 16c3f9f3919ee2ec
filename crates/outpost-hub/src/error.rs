//! Errors at the HTTP edge: `{"error": {"code": "...", "message": "..."}}` with a fitting
//! status. Messages are written for people and never contain record values, tokens or keys.

use axum::Json;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use outpost_domain::ErrorCode;
use outpost_store::StoreError;

use crate::passwords::PasswordError;

/// The error shape, as the OpenAPI document describes it: `{"error": {"code", "message"}}`,
/// and for a version conflict the record's current state in `current`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
    /// The record as it is now (`conflict` only).
    #[schema(value_type = Option<Object>)]
    pub current: Option<Value>,
}

/// What went wrong.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// For people; never a record value, token or key.
    pub message: String,
}

/// An error answered to an API client.
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Extra top-level members (e.g. `current` for a version conflict).
    pub extra: Option<(&'static str, Value)>,
    /// Seconds after which trying again may succeed (`Retry-After`), for 429 and 503.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            extra: None,
            retry_after: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidInput, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound, "no such record")
    }

    pub fn unauthenticated() -> Self {
        Self::new(
            ErrorCode::Unauthenticated,
            "a valid access token is required",
        )
    }

    pub fn internal() -> Self {
        Self::new(ErrorCode::Internal, "internal error; it has been logged")
    }

    pub fn with(mut self, key: &'static str, value: Value) -> Self {
        self.extra = Some((key, value));
        self
    }

    /// Tells the client when to try again.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }
}

impl From<PasswordError> for ApiError {
    fn from(err: PasswordError) -> Self {
        match err {
            PasswordError::Busy => ApiError::new(
                ErrorCode::Unavailable,
                "the hub is busy checking passwords; try again in a moment",
            )
            .retry_after(1),
            PasswordError::Stopped => {
                ApiError::new(ErrorCode::Unavailable, "the hub is shutting down")
            }
            PasswordError::Hashing(_) => {
                tracing::error!(error = %err, "password hashing failed");
                ApiError::internal()
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => ApiError::not_found(),
            StoreError::AlreadyExists(what) => ApiError::new(
                ErrorCode::AlreadyExists,
                format!("a record with this {what} already exists"),
            ),
            StoreError::Invalid(v) => v.into(),
            StoreError::Refused { code, message } => {
                match serde_json::from_value::<ErrorCode>(serde_json::Value::from(code)) {
                    Ok(code) => ApiError::new(code, message),
                    Err(_) => {
                        tracing::error!(code, "a kind's rule refused with a code the API lacks");
                        ApiError::internal()
                    }
                }
            }
            StoreError::Unsupported(why) => ApiError::new(ErrorCode::ValidationFailed, why),
            err @ StoreError::UnusableBackup(_) => {
                ApiError::new(ErrorCode::ValidationFailed, err.to_string())
            }
            other => {
                tracing::error!(error = %other, "store error");
                ApiError::internal()
            }
        }
    }
}

impl From<outpost_domain::ValidationError> for ApiError {
    fn from(err: outpost_domain::ValidationError) -> Self {
        ApiError::new(err.code(), err.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut body = json!({ "error": { "code": self.code, "message": self.message } });
        if let (Some((key, value)), Some(map)) = (self.extra, body.as_object_mut()) {
            map.insert(key.to_owned(), value);
        }
        let mut response = (status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
