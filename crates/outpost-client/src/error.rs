//! The client core's one error type, and the one code list its callers decide by: the
//! `outpost --json` output and the desktop app's IPC both carry [`ErrorCode`], which holds the
//! client's own codes and every code the hub answers with (`slot_taken`, `version_conflict`,
//! …), never one catch-all for the hub.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use outpost_domain::ValidationError;
use outpost_domain::kind::Refusal;
use outpost_domain::patient::PatchError;

/// Every code a caller of the client core may receive (exported to TypeScript).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
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
    DeviceRevoked,
    NotEncrypted,
    CacheKeyMismatch,
    NotFound,
    ValidationFailed,
    InvalidInput,
    Forbidden,
    /// The appointment's slot is taken (in the local copy, or on the hub).
    SlotTaken,
    InvalidTransition,
    OutsideWorkingHours,
    ClinicClosed,
    /// A bid's unit is below the transport's level of care.
    LevelTooLow,
    /// The agency already has a live bid on the board entry.
    BidExists,
    VersionConflict,
    AlreadyExists,
    Unauthenticated,
    InvalidCredentials,
    SessionEnded,
    TenantSuspended,
    AccountLocked,
    RateLimited,
    UnsupportedSchema,
    PayloadTooLarge,
    MalformedJson,
    UnsupportedMediaType,
    Unavailable,
    /// The hub failed on its side.
    Internal,
    /// A local file or database problem.
    Local,
    /// The desktop app's update waits until every pending change has synced.
    UpdateWaits,
}

impl ErrorCode {
    /// The code of a hub answer (`internal` for a code this build does not know).
    pub fn of_hub(code: &str) -> Self {
        serde_json::from_value(serde_json::Value::from(code)).unwrap_or(ErrorCode::Internal)
    }

    /// The snake_case spelling.
    pub fn as_str(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The OS credential store is not available; the client fails closed rather than keeping
    /// a key anywhere else.
    #[error(
        "no OS keyring is available ({0}); Outpost keeps its keys nowhere else. Start a Secret \
         Service in your desktop session (GNOME Keyring, or KeePassXC with its Secret Service \
         integration on) and try again"
    )]
    NoKeyring(String),
    /// The keyring did not answer in time (locked, restarting, or waiting on a prompt nobody
    /// can see).
    #[error(
        "the OS keyring did not answer within {0} s: it may be locked or restarting. Unlock it \
         (sign in to the desktop session, or open GNOME Keyring, KDE Wallet or KeePassXC) and \
         try again"
    )]
    KeyringTimeout(u64),
    #[error("the password is not correct")]
    WrongPassword,
    #[error("not signed in on this computer: run `outpost login` first")]
    NotSignedIn,
    #[error("the local data is locked: unlock it with your password")]
    Locked,
    #[error("offline access has expired: connect to the hub and sign in again")]
    OfflineGrantExpired,
    #[error("the offline grant does not verify: connect to the hub and sign in again")]
    OfflineGrantInvalid,
    #[error("the hub cannot be reached ({0})")]
    Offline(String),
    /// The hub answered, but with a certificate this computer does not trust.
    #[error(
        "the hub's certificate is not trusted: {0}. If your organisation runs its own \
         certificate authority, give its certificate (a PEM file from your IT department) with \
         --ca-file, or in the sign-in screen"
    )]
    TlsUntrusted(String),
    /// Plain HTTP to another computer would carry passwords and records in clear.
    #[error(
        "plain http:// is only allowed to a hub on this computer; use the hub's https:// address"
    )]
    InsecureHubUrl,
    #[error("{message}")]
    Hub {
        status: u16,
        code: String,
        message: String,
    },
    #[error("this device was revoked by the hub; its local data and keys have been wiped")]
    DeviceRevoked,
    #[error("the SQLite library is not SQLCipher; refusing to store data unencrypted")]
    NotEncrypted,
    #[error(
        "the local data was locked with a different password: unlock with the previous one, or wipe it"
    )]
    CacheKeyMismatch,
    #[error("no such record")]
    NotFound,
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("{0}")]
    InvalidInput(String),
    #[error("{0}")]
    Forbidden(String),
    /// The local copy already holds a record in that slot (its id): an appointment of the
    /// practitioner, a planned shift of the unit.
    #[error("the slot is taken in the local copy by record {0}")]
    SlotTaken(String),
    /// A rule of the record's kind refuses the change (`invalid_transition`,
    /// `outside_working_hours`, `clinic_closed`).
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    #[error("local data error: {0}")]
    Cache(#[from] rusqlite::Error),
    #[error("local file error: {0}")]
    Io(#[from] std::io::Error),
    #[error("local data is inconsistent: {0}")]
    Corrupt(String),
}

impl From<Refusal> for ClientError {
    fn from(refusal: Refusal) -> Self {
        ClientError::Refused {
            code: refusal.code,
            message: refusal.message,
        }
    }
}

impl From<PatchError> for ClientError {
    fn from(err: PatchError) -> Self {
        match err {
            PatchError::Invalid(v) => ClientError::Invalid(v),
            PatchError::Shape(message) => ClientError::InvalidInput(message),
        }
    }
}

impl ClientError {
    /// The code callers decide by.
    pub fn code(&self) -> ErrorCode {
        match self {
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
            ClientError::Hub { code, .. } => ErrorCode::of_hub(code),
            ClientError::DeviceRevoked => ErrorCode::DeviceRevoked,
            ClientError::NotEncrypted => ErrorCode::NotEncrypted,
            ClientError::CacheKeyMismatch => ErrorCode::CacheKeyMismatch,
            ClientError::NotFound => ErrorCode::NotFound,
            ClientError::Invalid(v) if v.malformed => ErrorCode::InvalidInput,
            ClientError::Invalid(_) => ErrorCode::ValidationFailed,
            ClientError::InvalidInput(_) => ErrorCode::InvalidInput,
            ClientError::Forbidden(_) => ErrorCode::Forbidden,
            ClientError::SlotTaken(_) => ErrorCode::SlotTaken,
            ClientError::Refused { code, .. } => ErrorCode::of_hub(code),
            ClientError::Cache(_) | ClientError::Io(_) | ClientError::Corrupt(_) => {
                ErrorCode::Local
            }
        }
    }

    /// Whether trying again later may succeed: the hub was unreachable, overloaded or failed
    /// on its side. Refusals (bad input, forbidden, revoked) are final.
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Offline(_) => true,
            ClientError::Hub { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

pub type ClientResult<T> = Result<T, ClientError>;
