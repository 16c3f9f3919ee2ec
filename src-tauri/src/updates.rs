//! The app's own updates, from the hub it signs in to: the hub serves the builds its operator
//! published (`outpost-hub release add`), so a clinic without internet still updates. The
//! app checks while it is online and shows the offer in the status bar; it installs only when
//! the user agrees and nothing is waiting to sync (an installer restarts the app, and unsynced
//! changes must never depend on that going well).

use std::time::Duration;

use serde::Serialize;
use tauri::{AppHandle, Runtime};
use tauri_plugin_updater::UpdaterExt;
use ts_rs::TS;

use outpost_client::{HubAddress, Profile};

use crate::error::{ErrorCode, IpcError, IpcResult};
use crate::state::Desktop;

/// How long an update check or download may take before it is given up.
const CHECK_TIMEOUT: Duration = Duration::from_secs(30);

/// An update the hub offers, as the status bar shows it.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct UpdateOffer {
    pub version: String,
    pub notes: Option<String>,
}

/// The updater's names for this platform: `linux | windows | darwin` and
/// `x86_64 | aarch64 | i686 | armv7`.
fn platform() -> (&'static str, &'static str) {
    let target = match std::env::consts::OS {
        "macos" => "darwin",
        os => os,
    };
    let arch = match std::env::consts::ARCH {
        "x86" => "i686",
        "arm" => "armv7",
        arch => arch,
    };
    (target, arch)
}

/// Where this build asks `hub` for updates.
pub fn endpoint(hub: &str, version: &str) -> String {
    let (target, arch) = platform();
    format!(
        "{}/v1/desktop/updates/{target}/{arch}/{version}",
        hub.trim_end_matches('/')
    )
}

/// Whether an update may be installed now: never while changes, or the record of what was
/// read offline, wait to be synced (the restart must not stand between them and the hub).
pub fn may_install(pending_ops: i64, pending_audit: i64) -> Result<(), String> {
    match (pending_ops, pending_audit) {
        (0, 0) => Ok(()),
        (0, _) => Err(
            "The record of what was viewed offline is waiting to sync: the update installs once it has."
                .into(),
        ),
        (1, _) => Err("1 change is waiting to sync: the update installs once it has.".into()),
        (n, _) => Err(format!(
            "{n} changes are waiting to sync: the update installs once they have."
        )),
    }
}

/// [`may_install`] for the client's current state.
fn check_nothing_waits(client: &mut outpost_client::Client) -> IpcResult<()> {
    let status = client.status().map_err(IpcError::from)?;
    may_install(status.pending_ops, status.pending_audit)
        .map_err(|message| IpcError::new(ErrorCode::UpdateWaits, message))
}

/// Whether this build can verify updates: packaged builds carry the updater's public key;
/// a development build has none and never checks.
fn signing_key_present<R: Runtime>(app: &AppHandle<R>) -> bool {
    app.config()
        .plugins
        .0
        .get("updater")
        .and_then(|c| c.get("pubkey"))
        .and_then(|k| k.as_str())
        .is_some_and(|k| !k.trim().is_empty())
}

/// Asks the profile's hub for a newer build; remembers it and shows it in the status bar.
pub async fn check<R: Runtime>(app: &AppHandle<R>, desktop: &Desktop, profile: &Profile) {
    if !signing_key_present(app) {
        return;
    }
    let version = app.package_info().version.to_string();
    let found = async {
        let url =
            tauri::Url::parse(&endpoint(&profile.hub, &version)).map_err(|e| e.to_string())?;
        let address =
            HubAddress::new(&profile.hub).with_ca_file(profile.ca_file.as_ref().map(Into::into));
        let tls =
            outpost_client::tls_config(address.ca_file.as_deref()).map_err(|e| e.to_string())?;
        app.updater_builder()
            .endpoints(vec![url])
            .map_err(|e| e.to_string())?
            .timeout(CHECK_TIMEOUT)
            .configure_client(move |client| client.tls_backend_preconfigured(tls.clone()))
            .build()
            .map_err(|e| e.to_string())?
            .check()
            .await
            .map_err(|e| e.to_string())
    }
    .await;
    match found {
        Ok(update) => {
            let offer = update.as_ref().map(|u| UpdateOffer {
                version: u.version.clone(),
                notes: u.body.clone(),
            });
            desktop.update(|s| s.update = offer);
            *desktop.pending_update.lock().await = update;
        }
        Err(err) => tracing::warn!(error = %err, "update check failed"),
    }
}

/// Downloads and installs the offered update, then restarts into it; refused while anything
/// waits to sync. The cache is held from the last check to the restart, so no change can slip
/// in between; the offer stays when the download or the install fails.
pub async fn install<R: Runtime>(app: &AppHandle<R>, desktop: &Desktop) -> IpcResult<()> {
    check_nothing_waits(&mut *desktop.client.lock().await)?;
    let Some(mut update) = desktop.pending_update.lock().await.clone() else {
        return Err(IpcError::new(
            ErrorCode::NotFound,
            "No update is on offer.".into(),
        ));
    };
    // The check's time limit is not the download's: a build takes what the link takes.
    update.timeout = None;
    let failed = |err: tauri_plugin_updater::Error| {
        tracing::warn!(error = %err, "update install failed");
        IpcError::new(
            ErrorCode::Local,
            format!("The update could not be installed: {err}"),
        )
    };
    let bytes = update.download(|_, _| {}, || {}).await.map_err(failed)?;
    let mut client = desktop.client.lock().await;
    check_nothing_waits(&mut client)?;
    update.install(bytes).map_err(failed)?;
    client.lock();
    app.restart();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_names_this_platform_and_version() {
        let url = endpoint("https://hub.clinic.example/", "0.1.0");
        let (target, arch) = platform();
        assert_eq!(
            url,
            format!("https://hub.clinic.example/v1/desktop/updates/{target}/{arch}/0.1.0")
        );
        assert!(["linux", "windows", "darwin"].contains(&target));
    }

    #[test]
    fn an_update_waits_for_pending_changes_and_the_offline_record() {
        assert!(may_install(0, 0).is_ok());
        assert!(
            may_install(1, 4)
                .expect_err("waits")
                .contains("1 change is")
        );
        assert!(
            may_install(3, 0)
                .expect_err("waits")
                .contains("3 changes are")
        );
        assert!(
            may_install(0, 2)
                .expect_err("waits")
                .contains("viewed offline")
        );
    }
}
