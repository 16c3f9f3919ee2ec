//! The sync that runs behind the UI: after every local change, on request, when the hub
//! announces a change, and every `interval` otherwise; it waits longer (exponential backoff)
//! while the hub is away.

use std::sync::Arc;
use std::time::Instant;

use outpost_client::{Announcement, Backoff, ClientError, HubEvents, Listener, MirrorProgress};

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

/// Follows the hub's announcements while the local data is open: a change on the hub wakes
/// the sync at once (a crew sees its new trip within a second, not at the next interval), and
/// a change of the transport board tells the board screen to read it again. Reconnects after
/// a lost or ended link, waiting longer each time up to one sync interval, until a connection
/// lives long enough to bring a keep-alive. A sign-in the hub refuses announcements (a role
/// that reads nothing live) is not asked again until someone else signs in.
pub async fn follow_hub(desktop: Arc<Desktop>) {
    let mut backoff = Backoff::new(std::time::Duration::from_secs(1), desktop.interval);
    let mut refused: Option<String> = None;
    loop {
        let listener = desktop.client.lock().await.listener();
        let delay = match listener {
            Ok(listener) if refused.as_deref() != Some(listener.profile_id()) => {
                match listen(&desktop, &listener, &mut backoff).await {
                    Ok(()) => backoff.next_delay(),
                    Err(ClientError::Hub {
                        status: 403, code, ..
                    }) if code == "forbidden" => {
                        refused = Some(listener.profile_id().to_owned());
                        std::time::Duration::from_secs(1)
                    }
                    Err(err) => {
                        tracing::info!(code = %err.code().as_str(), "hub announcements lost");
                        backoff.next_delay()
                    }
                }
            }
            // Signed out, locked, or refused: look again shortly.
            _ => std::time::Duration::from_secs(1),
        };
        tokio::time::sleep(delay).await;
    }
}

/// One connection to the hub's announcements, for as long as the same sign-in is open.
async fn listen(
    desktop: &Desktop,
    listener: &Listener,
    backoff: &mut Backoff,
) -> Result<(), ClientError> {
    let mut events = listener.connect().await?;
    desktop.update(|s| s.live = true);
    let followed = follow(desktop, listener, &mut events, backoff).await;
    desktop.update(|s| s.live = false);
    followed
}

/// Hands each announcement on, until the stream ends, the data locks or someone else signs
/// in.
async fn follow(
    desktop: &Desktop,
    listener: &Listener,
    events: &mut HubEvents,
    backoff: &mut Backoff,
) -> Result<(), ClientError> {
    // A new connection starts with the hub's cursor: the sync catches up.
    while let Some(announcement) = events.next().await? {
        let open_for_them = {
            let client = desktop.client.lock().await;
            client.is_unlocked()
                && client
                    .profile()
                    .is_some_and(|p| p.id == listener.profile_id())
        };
        if !open_for_them {
            return Ok(());
        }
        match announcement {
            Announcement::Changes(_) => desktop.wake.notify_one(),
            Announcement::Board => desktop.update(|s| s.board_changes += 1),
            // The keep-alive: this connection lasts.
            Announcement::Other => backoff.reset(),
        }
    }
    Ok(())
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
