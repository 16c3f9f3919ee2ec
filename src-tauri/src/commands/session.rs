//! Signing in and out, locking, and the status bar.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use outpost_client::{ClientError, HubAddress, Profile};

use crate::error::IpcResult;
use crate::state::{Desktop, SyncState};

#[derive(Debug, Clone, Serialize, TS)]
pub struct AppInfo {
    /// The last sign-in on this computer (hub, tenant, email: never the password).
    pub profile: Option<Profile>,
    pub unlocked: bool,
    /// A hub URL to offer when nobody has signed in yet.
    pub suggested_hub: Option<String>,
}

#[derive(Debug, Clone, Deserialize, TS)]
pub struct SignIn {
    pub hub: String,
    /// The tenant's slug; empty when the user belongs to one tenant only.
    pub tenant: String,
    pub email: String,
    pub password: String,
    /// A PEM file of the authority that signs the hub's certificate (a hospital's own), when
    /// the system does not trust it; empty for none. Remembered for this hub.
    #[serde(default)]
    pub ca_file: String,
}

#[derive(Debug, Clone, Serialize, TS)]
pub struct SignedIn {
    pub profile: Profile,
    /// Unlocked from the local data because the hub could not be reached.
    pub offline: bool,
}

#[derive(Debug, Clone, Deserialize, TS)]
pub struct Unlock {
    pub password: String,
}

pub async fn app_info(desktop: &Desktop, (): ()) -> IpcResult<AppInfo> {
    let mut client = desktop.client.lock().await;
    let unlocked = !client.check_idle();
    Ok(AppInfo {
        profile: client.profile().cloned(),
        unlocked,
        suggested_hub: desktop.suggested_hub.clone(),
    })
}

pub async fn sign_in(desktop: &Desktop, req: SignIn) -> IpcResult<SignedIn> {
    let mut client = desktop.client.lock().await;
    let tenant = Some(req.tenant.trim()).filter(|t| !t.is_empty());
    let hub = req.hub.trim().trim_end_matches('/');
    let ca_file = Some(req.ca_file.trim())
        .filter(|f| !f.is_empty())
        .map(std::path::PathBuf::from);
    let address = HubAddress::new(hub).with_ca_file(ca_file);
    let online = client
        .login(address, tenant, req.email.trim(), &req.password)
        .await;
    let (profile, offline) = match online {
        Ok(profile) => (profile, false),
        Err(ClientError::Offline(reason)) => {
            let same = client.profile().is_some_and(|p| {
                p.hub == hub
                    && p.email.eq_ignore_ascii_case(req.email.trim())
                    && tenant.is_none_or(|t| t == p.tenant)
            });
            if !same {
                return Err(ClientError::Offline(reason).into());
            }
            client.unlock(&req.password)?;
            let profile = client.profile().cloned().ok_or(ClientError::NotSignedIn)?;
            (profile, true)
        }
        Err(err) => return Err(err.into()),
    };
    drop(client);
    desktop.update(|s| s.online = !offline);
    desktop.wake.notify_one();
    Ok(SignedIn { profile, offline })
}

pub async fn unlock(desktop: &Desktop, req: Unlock) -> IpcResult<()> {
    desktop.write(|client| client.unlock(&req.password)).await
}

pub async fn lock(desktop: &Desktop, (): ()) -> IpcResult<()> {
    let mut client = desktop.client.lock().await;
    client.lock();
    desktop.local_changed(&mut client);
    Ok(())
}

pub async fn sign_out(desktop: &Desktop, (): ()) -> IpcResult<()> {
    desktop.client.lock().await.logout().await?;
    desktop.update(|s| *s = SyncState::default());
    Ok(())
}

pub async fn touch(desktop: &Desktop, (): ()) -> IpcResult<()> {
    desktop.client.lock().await.touch();
    Ok(())
}

/// Never waits for a sync under way: the counts are then those the sync left last.
pub async fn status(desktop: &Desktop, (): ()) -> IpcResult<SyncState> {
    if let Ok(mut client) = desktop.client.try_lock() {
        let local = client.status()?;
        desktop.update(|s| s.local = Some(local));
    }
    Ok(desktop.snapshot())
}

pub async fn sync_now(desktop: &Desktop, (): ()) -> IpcResult<()> {
    desktop.wake.notify_one();
    Ok(())
}

pub async fn install_update(desktop: &Desktop, (): ()) -> IpcResult<()> {
    let app = desktop.app.get().ok_or_else(|| {
        crate::error::IpcError::new(
            crate::error::ErrorCode::Local,
            "The app has not started yet.".into(),
        )
    })?;
    crate::updates::install(app, desktop).await
}
