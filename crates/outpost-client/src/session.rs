//! What one sign-in shares between the client and its sync engines: the profile, the hub's
//! API and the access token.

use std::sync::Mutex;

use zeroize::Zeroizing;

use crate::api::HubApi;
use crate::error::{ClientError, ClientResult};
use crate::home::Profile;
use crate::vault;

/// A sign-in's link to its hub, one per profile for as long as the client runs (locking
/// forgets the access token, not the session). Shared, in an `Arc`, by the client and the
/// sync engines running beside it, so that there is one access token and one refresh at a
/// time: two refreshes would spend the same refresh token twice, which the hub takes for a
/// stolen token and answers by ending the session.
pub(crate) struct Session {
    pub profile: Profile,
    pub api: HubApi,
    token: Mutex<Option<Zeroizing<String>>>,
    /// Held across a refresh, so that callers take turns.
    refreshing: tokio::sync::Mutex<()>,
}

impl Session {
    pub fn new(profile: Profile, api: HubApi, access_token: Option<String>) -> Self {
        Self {
            profile,
            api,
            token: Mutex::new(access_token.map(Zeroizing::new)),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    fn held(&self) -> Option<String> {
        self.token
            .lock()
            .ok()
            .and_then(|t| t.as_ref().map(|t| t.to_string()))
    }

    /// Keeps a new access token (a sign-in's).
    pub fn set_token(&self, token: String) {
        if let Ok(mut held) = self.token.lock() {
            *held = Some(Zeroizing::new(token));
        }
    }

    /// A valid access token: the one in memory, or a new one from the refresh token in the
    /// keyring (rotated, and stored back with the new offline grant). `DeviceRevoked` when
    /// the hub has revoked this device: the caller wipes. A refresh answered after the user
    /// signed out or the device was wiped keeps nothing.
    pub async fn token(&self) -> ClientResult<String> {
        if let Some(token) = self.held() {
            return Ok(token);
        }
        let _turn = self.refreshing.lock().await;
        if let Some(token) = self.held() {
            // Another caller refreshed while this one waited for its turn.
            return Ok(token);
        }
        let id = &self.profile.id;
        let refresh = vault::load(id)?
            .and_then(|record| record.refresh_token)
            .ok_or(ClientError::NotSignedIn)?;
        let answer = self.api.refresh(&refresh).await?;
        let mut record = vault::load(id)?.ok_or(ClientError::NotSignedIn)?;
        if record.refresh_token.as_deref() != Some(refresh.as_str()) {
            return Err(ClientError::NotSignedIn);
        }
        record.refresh_token = Some(answer.refresh_token.clone());
        record.offline_grant = answer.offline_grant.clone();
        vault::save(id, &record)?;
        self.set_token(answer.access_token.clone());
        Ok(answer.access_token)
    }

    /// Forgets the access token (the hub refused it as expired, or the client locked);
    /// returns whether one was held, that is whether asking again with a fresh one may help.
    pub fn forget_token(&self) -> bool {
        self.token.lock().is_ok_and(|mut t| t.take().is_some())
    }
}
