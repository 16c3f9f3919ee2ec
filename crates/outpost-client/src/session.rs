//! What one sign-in shares between the client and its sync engines: the profile, the hub's
//! API and the access token.

use tokio::sync::Mutex;
use zeroize::Zeroizing;

use crate::api::HubApi;
use crate::error::{ClientError, ClientResult};
use crate::home::Profile;
use crate::vault;

/// A sign-in's link to its hub. Shared (in an `Arc`) by the client and a sync engine running
/// beside it, so that there is one access token and one refresh at a time: two refreshes
/// would spend the same refresh token twice, which the hub takes for a stolen token and
/// answers by ending the session.
pub(crate) struct Session {
    pub profile: Profile,
    pub api: HubApi,
    token: Mutex<Option<Zeroizing<String>>>,
}

impl Session {
    pub fn new(profile: Profile, api: HubApi, access_token: Option<String>) -> Self {
        Self {
            profile,
            api,
            token: Mutex::new(access_token.map(Zeroizing::new)),
        }
    }

    /// A valid access token: the one in memory, or a new one from the refresh token in the
    /// keyring (rotated, and stored back with the new offline grant). `DeviceRevoked` when
    /// the hub has revoked this device: the caller wipes.
    pub async fn token(&self) -> ClientResult<String> {
        let mut held = self.token.lock().await;
        if let Some(token) = held.as_ref() {
            return Ok(token.to_string());
        }
        let id = &self.profile.id;
        let mut record = vault::load(id)?.ok_or(ClientError::NotSignedIn)?;
        let refresh = record
            .refresh_token
            .clone()
            .ok_or(ClientError::NotSignedIn)?;
        let answer = self.api.refresh(&refresh).await?;
        record.refresh_token = Some(answer.refresh_token.clone());
        record.offline_grant = answer.offline_grant.clone();
        vault::save(id, &record)?;
        *held = Some(Zeroizing::new(answer.access_token.clone()));
        Ok(answer.access_token)
    }

    /// Forgets the access token after the hub refused it (it expired); returns whether one
    /// was held, that is whether asking again with a fresh one may help.
    pub async fn forget_token(&self) -> bool {
        self.token.lock().await.take().is_some()
    }
}
