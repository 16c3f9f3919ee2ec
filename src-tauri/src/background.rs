//! The sync that runs behind the UI: after every local change, on request, and every
//! `interval` otherwise; it waits longer (exponential backoff) while the hub is away.

use std::sync::Arc;
use std::time::Instant;

use outpost_client::{Backoff, ClientError, MirrorProgress};

use crate::error::IpcError;
use crate::state::Desktop;
use crate::updates;

pub async fn run(desktop: Arc<Desktop>) {
    let mut backoff = Backoff::new(desktop.interval / 4, desktop.interval * 8);
    let mut wait = desktop.interval;
    let mut last_update_check: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = desktop.wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
        wait = match sync_once(&desktop).await {
            Some(Err(err)) if err.is_transient() => backoff.next_delay(),
            outcome => {
                backoff.reset();
                let due = last_update_check.is_none_or(|t| t.elapsed() >= desktop.update_interval);
                if matches!(outcome, Some(Ok(()))) && due {
                    last_update_check = Some(Instant::now());
                    check_for_update(&desktop).await;
                }
                desktop.interval
            }
        };
    }
}

/// Locks the local data once the user has been idle for the configured time, and tells the
/// status bar, checking every second. A sync is not activity; one under way runs to its end
/// on its own connection.
pub async fn watch_idle(desktop: Arc<Desktop>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tick.tick().await;
        let shown_unlocked = desktop.snapshot().local.is_some_and(|l| l.unlocked);
        if let Ok(mut client) = desktop.client.try_lock()
            && shown_unlocked
            && client.check_idle()
        {
            desktop.local_changed(&mut client);
        }
    }
}

/// Asks the signed-in hub for a newer build of the app (after a sync that reached it).
async fn check_for_update(desktop: &Desktop) {
    let profile = desktop.client.lock().await.profile().cloned();
    if let (Some(app), Some(profile)) = (desktop.app.get(), profile) {
        updates::check(app, desktop, &profile).await;
    }
}

/// One sync when the local data is unlocked; `None` when it is not. The client's lock is
/// held only to make the engine and to read the counts after: the sync itself runs on the
/// engine's own cache connection, so searches and edits answer while it waits on the hub.
async fn sync_once(desktop: &Desktop) -> Option<Result<(), ClientError>> {
    let engine = {
        let mut client = desktop.client.lock().await;
        if client.check_idle() {
            desktop.local_changed(&mut client);
            return None;
        }
        client.sync_engine()
    };
    desktop.update(|s| s.syncing = true);
    let mut progress = |p: MirrorProgress| desktop.update(|s| s.mirror = Some(p));
    let result = match engine {
        Ok(mut engine) => {
            let result = engine.sync(&mut progress).await.map(drop);
            desktop.client.lock().await.end_sync(engine, result)
        }
        Err(err) => Err(err),
    };
    let mut client = desktop.client.lock().await;
    let local = client.status().ok();
    drop(client);
    desktop.update(|s| {
        s.syncing = false;
        s.mirror = None;
        s.local = local;
        match &result {
            Ok(()) => {
                s.online = true;
                s.last_error = None;
            }
            Err(err) => {
                s.online = !err.is_transient();
                s.last_error = Some(IpcError::from(err));
            }
        }
    });
    Some(result)
}
