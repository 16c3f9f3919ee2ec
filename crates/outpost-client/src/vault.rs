//! Secrets in the OS keyring, one entry per profile: the wrapped cache key, the refresh token,
//! the offline grant and the hub's public keys. Nothing of this is ever written to a file.

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

fn entry(profile: &str) -> ClientResult<keyring::Entry> {
    keyring::Entry::new(SERVICE, profile).map_err(|e| ClientError::NoKeyring(e.to_string()))
}

/// Reads a profile's record; `None` when there is none.
pub fn load(profile: &str) -> ClientResult<Option<VaultRecord>> {
    match entry(profile)?.get_password() {
        Ok(json) => serde_json::from_str(&json)
            .map(Some)
            .map_err(|_| ClientError::Corrupt("keyring entry".into())),
        Err(keyring::Error::NoEntry) => Ok(None),
        Err(err) => Err(ClientError::NoKeyring(err.to_string())),
    }
}

/// Writes (replaces) a profile's record.
pub fn save(profile: &str, record: &VaultRecord) -> ClientResult<()> {
    let json = zeroize::Zeroizing::new(
        serde_json::to_string(record).map_err(|e| ClientError::Corrupt(e.to_string()))?,
    );
    entry(profile)?
        .set_password(&json)
        .map_err(|e| ClientError::NoKeyring(e.to_string()))
}

/// Removes a profile's record; a missing one is fine.
pub fn delete(profile: &str) -> ClientResult<()> {
    match entry(profile)?.delete_credential() {
        Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
        Err(err) => Err(ClientError::NoKeyring(err.to_string())),
    }
}
