//! What the app holds while it runs: the client core behind an async mutex (held for local
//! reads and writes only: a sync runs on an engine of its own, see `background`), and the
//! sync state the status bar follows.

use std::sync::Mutex;

use chrono::Duration;
use serde::Serialize;
use tauri::Emitter;
use tokio::sync::Notify;
use ts_rs::TS;

use outpost_client::{
    Client, ClientOptions, ClientResult, Home, MirrorProgress, Status, SystemClock,
};

use crate::error::IpcError;
use crate::updates::UpdateOffer;

/// The event carrying a [`SyncState`] to the window whenever it changes.
pub const SYNC_STATE_EVENT: &str = "sync-state";

/// The status bar's view: the hub link, the sync under way, and the local counts.
#[derive(Debug, Clone, Default, Serialize, TS)]
pub struct SyncState {
    /// Whether the last contact with the hub succeeded.
    pub online: bool,
    pub syncing: bool,
    /// Rows stored of the first mirror, while it runs.
    pub mirror: Option<MirrorProgress>,
    /// Why the last sync failed, when it did.
    pub last_error: Option<IpcError>,
    /// Pending changes, conflicts, last sync time; `None` until first read.
    pub local: Option<Status>,
    /// A newer build the hub offers, until it is installed.
    pub update: Option<UpdateOffer>,
    /// Whether the hub's announcements are followed now (changes arrive at once rather than
    /// at the next interval).
    pub live: bool,
    /// How many times the hub announced a change of the transport board: the board screen
    /// reads the board again whenever this moves.
    #[ts(type = "number")]
    pub board_changes: u64,
}

/// The app's state.
pub struct Desktop {
    pub client: tokio::sync::Mutex<Client>,
    pub sync: Mutex<SyncState>,
    /// Wakes the background sync (after a local change, or on request).
    pub wake: Notify,
    /// How often the background sync runs when nothing wakes it.
    pub interval: std::time::Duration,
    /// The hub URL to offer on the sign-in screen (the demo sets it).
    pub suggested_hub: Option<String>,
    /// How often the hub is asked for a newer build of the app.
    pub update_interval: std::time::Duration,
    /// The update the hub offered, ready to install when the user agrees.
    pub pending_update: tokio::sync::Mutex<Option<tauri_plugin_updater::Update>>,
    /// The running app, once it has started (update checks and restarts need it).
    pub app: std::sync::OnceLock<tauri::AppHandle>,
}

impl Desktop {
    /// Reads `OUTPOST_HOME`, `OUTPOST_IDLE_SECONDS` (default 600), `OUTPOST_SYNC_SECONDS`
    /// (default 15), `OUTPOST_UPDATE_CHECK_SECONDS` (default 21600: every six hours) and
    /// `OUTPOST_HUB_URL` (a hub to suggest).
    pub fn from_env() -> ClientResult<Self> {
        let seconds = |name: &str, default: i64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse::<i64>().ok())
                .filter(|v| *v > 0)
                .unwrap_or(default)
        };
        let client = Client::new(ClientOptions {
            home: Home::from_env()?,
            idle_timeout: Duration::seconds(seconds("OUTPOST_IDLE_SECONDS", 600)),
            clock: std::sync::Arc::new(SystemClock),
            device_name: Some("Outpost desktop".into()),
        })?;
        Ok(Self {
            client: tokio::sync::Mutex::new(client),
            sync: Mutex::new(SyncState::default()),
            wake: Notify::new(),
            interval: std::time::Duration::from_secs(
                seconds("OUTPOST_SYNC_SECONDS", 15).unsigned_abs(),
            ),
            suggested_hub: std::env::var("OUTPOST_HUB_URL").ok(),
            update_interval: std::time::Duration::from_secs(
                seconds("OUTPOST_UPDATE_CHECK_SECONDS", 6 * 60 * 60).unsigned_abs(),
            ),
            pending_update: tokio::sync::Mutex::new(None),
            app: std::sync::OnceLock::new(),
        })
    }

    /// Changes the shared sync state and, when it changed, tells the UI (the `sync-state`
    /// event the status bar follows instead of polling).
    pub fn update(&self, change: impl FnOnce(&mut SyncState)) {
        let changed = match self.sync.lock() {
            Ok(mut state) => {
                let before = serde_json::to_value(&*state).ok();
                change(&mut state);
                let after = serde_json::to_value(&*state).ok();
                (before != after).then(|| state.clone())
            }
            Err(_) => None,
        };
        if let (Some(state), Some(app)) = (changed, self.app.get())
            && let Err(err) = app.emit(SYNC_STATE_EVENT, state)
        {
            tracing::warn!(error = %err, "the sync state could not be sent to the window");
        }
    }

    /// Reads the local counts (pending changes, conflicts, locked or not) after the client
    /// changed them, so that the status bar follows at once.
    pub fn local_changed(&self, client: &mut Client) {
        let local = client.status().ok();
        self.update(|s| s.local = local);
    }

    /// Runs a change the client keeps here for the sync (offline too): the status bar
    /// follows at once and the sync wakes to send it.
    pub async fn write<T>(
        &self,
        change: impl FnOnce(&mut Client) -> ClientResult<T>,
    ) -> crate::error::IpcResult<T> {
        let mut client = self.client.lock().await;
        let done = change(&mut client)?;
        self.local_changed(&mut client);
        self.wake.notify_one();
        Ok(done)
    }

    pub fn snapshot(&self) -> SyncState {
        self.sync.lock().map(|s| s.clone()).unwrap_or_default()
    }
}
