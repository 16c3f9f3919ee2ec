//! Secrets in the OS keyring, one entry per profile: the wrapped cache key, the refresh token,
//! the offline grant and the hub's public keys. Nothing of this is ever written to a file.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{ClientError, ClientResult};
use crate::keywrap::WrappedKey;

const SERVICE: &str = "outpost";

/// What the keyring holds for one profile.
#[derive(Clone, Serialize, Deserialize)]
pub struct VaultRecord {
    pub wrapped_key: WrappedKey,
    pub refresh_token: Option<String>,
    pub offline_grant: Option<String>,
    pub jwks: Value,
}

impl std::fmt::Debug for VaultRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultRecord").finish_non_exhaustive()
    }
}

/// How long a keyring call may take by default: a locked keyring may show its owner a prompt
/// to unlock it, which takes a person a few seconds; a keyring that has not answered by then
/// is stuck (a restarting daemon, a prompt nobody can see). `OUTPOST_KEYRING_TIMEOUT_SECS`
/// changes it.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

fn timeout() -> Duration {
    std::env::var("OUTPOST_KEYRING_TIMEOUT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(DEFAULT_TIMEOUT, Duration::from_secs)
}

/// Runs a keyring call on a thread of its own and gives up on it after [`timeout`]: the
/// Secret Service answers over D-Bus, and a daemon that restarted locked, or whose unlock
/// prompt nobody can see, never answers. The stuck thread is left behind; the caller gets an
/// error that says what to do.
fn call<T: Send + 'static>(
    profile: &str,
    work: impl FnOnce(keyring::Entry) -> ClientResult<T> + Send + 'static,
) -> ClientResult<T> {
    let profile = profile.to_owned();
    let (sender, answer) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("outpost-keyring".into())
        .spawn(move || {
            let result = keyring::Entry::new(SERVICE, &profile)
                .map_err(|e| ClientError::NoKeyring(e.to_string()))
                .and_then(work);
            let _ = sender.send(result);
        })?;
    let limit = timeout();
    match answer.recv_timeout(limit) {
        Ok(result) => result,
        Err(RecvTimeoutError::Timeout) => Err(ClientError::KeyringTimeout(limit.as_secs())),
        Err(RecvTimeoutError::Disconnected) => Err(ClientError::NoKeyring(
            "the keyring call ended without an answer".into(),
        )),
    }
}

/// Reads a profile's record; `None` when there is none.
pub fn load(profile: &str) -> ClientResult<Option<VaultRecord>> {
    call(profile, |entry| match entry.get_password() {
        Ok(json) => serde_json::from_str(&json)
            .map(Some)
            .map_err(|_| ClientError::Corrupt("keyring entry".into())),
        Err(keyring::Error::NoEntry) => Ok(None),
        Err(err) => Err(ClientError::NoKeyring(err.to_string())),
    })
}

/// Writes (replaces) a profile's record.
pub fn save(profile: &str, record: &VaultRecord) -> ClientResult<()> {
    let json = zeroize::Zeroizing::new(
        serde_json::to_string(record).map_err(|e| ClientError::Corrupt(e.to_string()))?,
    );
    call(profile, move |entry| {
        entry
            .set_password(&json)
            .map_err(|e| ClientError::NoKeyring(e.to_string()))
    })
}

/// Removes a profile's record; a missing one is fine.
pub fn delete(profile: &str) -> ClientResult<()> {
    call(profile, |entry| match entry.delete_credential() {
        Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
        Err(err) => Err(ClientError::NoKeyring(err.to_string())),
    })
}
