//! The client core's one error type. Each variant has a stable code (for `--json` output and,
//! later, the desktop app's IPC), so callers decide by code, never by message text.

use outpost_domain::ValidationError;

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
    #[error("local data error: {0}")]
    Cache(#[from] rusqlite::Error),
    #[error("local file error: {0}")]
    Io(#[from] std::io::Error),
    #[error("local data is inconsistent: {0}")]
    Corrupt(String),
}

impl ClientError {
    /// A stable snake_case code.
    pub fn code(&self) -> &str {
        match self {
            ClientError::NoKeyring(_) => "no_keyring",
            ClientError::KeyringTimeout(_) => "keyring_timeout",
            ClientError::WrongPassword => "wrong_password",
            ClientError::NotSignedIn => "not_signed_in",
            ClientError::Locked => "locked",
            ClientError::OfflineGrantExpired => "offline_grant_expired",
            ClientError::OfflineGrantInvalid => "offline_grant_invalid",
            ClientError::Offline(_) => "offline",
            ClientError::TlsUntrusted(_) => "tls_untrusted",
            ClientError::InsecureHubUrl => "insecure_hub_url",
            ClientError::Hub { code, .. } => code,
            ClientError::DeviceRevoked => "device_revoked",
            ClientError::NotEncrypted => "not_encrypted",
            ClientError::CacheKeyMismatch => "cache_key_mismatch",
            ClientError::NotFound => "not_found",
            ClientError::Invalid(_) => "validation_failed",
            ClientError::InvalidInput(_) => "invalid_input",
            ClientError::Forbidden(_) => "forbidden",
            ClientError::Cache(_) => "cache_error",
            ClientError::Io(_) => "io_error",
            ClientError::Corrupt(_) => "corrupt",
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
