//! Errors as they cross IPC: `{code, message}`, the code from a closed enum exported to
//! TypeScript, so the UI decides by code and shows the message.

use serde::Serialize;
use ts_rs::TS;

use outpost_client::ClientError;

/// Every code the UI may receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    NoKeyring,
    /// The keyring did not answer in time; the message says what to unlock.
    KeyringTimeout,
    WrongPassword,
    NotSignedIn,
    Locked,
    OfflineGrantExpired,
    OfflineGrantInvalid,
    Offline,
    /// The hub's certificate is not trusted (give the authority's CA file).
    TlsUntrusted,
    /// Plain http:// to another computer.
    InsecureHubUrl,
    /// The hub refused the request (wrong credentials, forbidden, invalid); see the message.
    HubRefused,
    DeviceRevoked,
    NotEncrypted,
    CacheKeyMismatch,
    NotFound,
    ValidationFailed,
    InvalidInput,
    Forbidden,
    /// A local file or database problem.
    Local,
    /// The update waits until every pending change has synced.
    UpdateWaits,
}

/// An error for the UI.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct IpcError {
    pub code: ErrorCode,
    pub message: String,
    /// For `validation_failed`: the field to mark in the form.
    pub field: Option<String>,
}

impl IpcError {
    /// An error of the app itself (not of the client core).
    pub fn new(code: ErrorCode, message: String) -> Self {
        Self {
            code,
            message,
            field: None,
        }
    }
}

impl From<ClientError> for IpcError {
    fn from(err: ClientError) -> Self {
        Self::from(&err)
    }
}

impl From<&ClientError> for IpcError {
    fn from(err: &ClientError) -> Self {
        let code = match err {
            ClientError::NoKeyring(_) => ErrorCode::NoKeyring,
            ClientError::KeyringTimeout(_) => ErrorCode::KeyringTimeout,
            ClientError::WrongPassword => ErrorCode::WrongPassword,
            ClientError::NotSignedIn => ErrorCode::NotSignedIn,
            ClientError::Locked => ErrorCode::Locked,
            ClientError::OfflineGrantExpired => ErrorCode::OfflineGrantExpired,
            ClientError::OfflineGrantInvalid => ErrorCode::OfflineGrantInvalid,
            ClientError::Offline(_) => ErrorCode::Offline,
            ClientError::TlsUntrusted(_) => ErrorCode::TlsUntrusted,
            ClientError::InsecureHubUrl => ErrorCode::InsecureHubUrl,
            ClientError::Hub { .. } => ErrorCode::HubRefused,
            ClientError::DeviceRevoked => ErrorCode::DeviceRevoked,
            ClientError::NotEncrypted => ErrorCode::NotEncrypted,
            ClientError::CacheKeyMismatch => ErrorCode::CacheKeyMismatch,
            ClientError::NotFound => ErrorCode::NotFound,
            ClientError::Invalid(_) => ErrorCode::ValidationFailed,
            ClientError::InvalidInput(_) => ErrorCode::InvalidInput,
            ClientError::Forbidden(_) => ErrorCode::Forbidden,
            ClientError::Cache(_) | ClientError::Io(_) | ClientError::Corrupt(_) => {
                ErrorCode::Local
            }
        };
        let field = match err {
            ClientError::Invalid(invalid) => Some(invalid.field.clone()),
            _ => None,
        };
        Self {
            code,
            message: err.to_string(),
            field,
        }
    }
}

pub type IpcResult<T> = Result<T, IpcError>;
