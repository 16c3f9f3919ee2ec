//! Error codes shared by the hub's HTTP edge and its clients, and the validation error of
//! domain records.

use serde::{Deserialize, Serialize};

/// Machine-readable error codes: clients decide by code, never by message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidInput,
    MalformedJson,
    UnsupportedMediaType,
    ValidationFailed,
    Unauthenticated,
    InvalidCredentials,
    SessionEnded,
    Forbidden,
    NotFound,
    VersionConflict,
    AlreadyExists,
    PayloadTooLarge,
    AccountLocked,
    TenantSuspended,
    DeviceRevoked,
    UnsupportedSchema,
    RateLimited,
    /// The slot overlaps another of its group (named in the message): an appointment the
    /// practitioner's, a shift the unit's.
    SlotTaken,
    /// A status change the record's status machine does not allow.
    InvalidTransition,
    OutsideWorkingHours,
    ClinicClosed,
    /// The bidding unit's level of care is below the request's.
    LevelTooLow,
    /// The agency already has a live bid on the board entry.
    BidExists,
    Internal,
    Unavailable,
}

impl ErrorCode {
    /// The HTTP status this code is answered with.
    pub fn http_status(self) -> u16 {
        match self {
            Self::InvalidInput | Self::MalformedJson => 400,
            Self::Unauthenticated | Self::InvalidCredentials | Self::SessionEnded => 401,
            Self::Forbidden | Self::TenantSuspended | Self::DeviceRevoked => 403,
            Self::NotFound => 404,
            Self::VersionConflict | Self::AlreadyExists | Self::SlotTaken | Self::BidExists => 409,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::ValidationFailed
            | Self::UnsupportedSchema
            | Self::InvalidTransition
            | Self::OutsideWorkingHours
            | Self::ClinicClosed
            | Self::LevelTooLow => 422,
            Self::AccountLocked => 423,
            Self::RateLimited => 429,
            Self::Internal => 500,
            Self::Unavailable => 503,
        }
    }
}

/// A value that does not satisfy a domain rule. The message names the field and the rule,
/// never the offending value (it may be PHI).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {rule}")]
pub struct ValidationError {
    pub field: String,
    pub rule: String,
    /// The value is malformed rather than semantically wrong (characters no text may hold):
    /// answered as invalid input (400), not as a failed rule (422).
    pub malformed: bool,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            rule: rule.into(),
            malformed: false,
        }
    }

    /// A value no field of its kind can hold, whatever the rules (see [`crate::text`]).
    pub fn malformed(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self {
            malformed: true,
            ..Self::new(field, rule)
        }
    }

    /// The code this error is answered with.
    pub fn code(&self) -> ErrorCode {
        if self.malformed {
            ErrorCode::InvalidInput
        } else {
            ErrorCode::ValidationFailed
        }
    }
}
