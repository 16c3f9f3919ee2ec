//! Errors as they cross IPC: `{code, message, field}`, the code from the client core's one
//! code list (exported to TypeScript, the hub's own codes included), so the UI decides by
//! code and shows the message.

use serde::Serialize;
use ts_rs::TS;

use outpost_client::ClientError;
pub use outpost_client::ErrorCode;

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
        let code = err.code();
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
