//! Announcing new changes to connected clients (`GET /v1/events`), per tenant.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::broadcast;

use outpost_domain::TenantId;

/// Announcements buffered per tenant; a slow listener that misses some just pulls anyway.
const CAPACITY: usize = 64;

/// A tenant's channel and the newest cursor announced on it.
struct Channel {
    sender: broadcast::Sender<i64>,
    newest: i64,
}

/// A board entry changed (published, bid on, accepted, withdrawn, moved by its trip): the
/// board's readers look again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoardNotice {
    pub entry: uuid::Uuid,
    /// The entry's hospital: of the hospitals, only its own coordinators hear of it.
    pub hospital: TenantId,
}

/// One broadcast channel per tenant that has listeners or changes, and one for the board.
pub struct ChangeEvents {
    channels: Mutex<HashMap<TenantId, Channel>>,
    board: broadcast::Sender<BoardNotice>,
}

impl Default for ChangeEvents {
    fn default() -> Self {
        Self {
            channels: Mutex::default(),
            board: broadcast::channel(CAPACITY).0,
        }
    }
}

impl ChangeEvents {
    /// Runs `f` on a tenant's channel, creating it.
    fn with_channel<T>(&self, tenant: TenantId, f: impl FnOnce(&mut Channel) -> T) -> Option<T> {
        let mut channels = self.channels.lock().ok()?;
        let channel = channels.entry(tenant).or_insert_with(|| Channel {
            sender: broadcast::channel(CAPACITY).0,
            newest: 0,
        });
        Some(f(channel))
    }

    /// Listens for a tenant's announcements.
    pub fn subscribe(&self, tenant: TenantId) -> Option<broadcast::Receiver<i64>> {
        self.with_channel(tenant, |c| c.sender.subscribe())
    }

    /// Listens for board changes.
    pub fn subscribe_board(&self) -> broadcast::Receiver<BoardNotice> {
        self.board.subscribe()
    }

    /// Tells the board's listeners on this instance that an entry changed.
    pub fn announce_board(&self, notice: BoardNotice) {
        // No listener is not an error.
        let _ = self.board.send(notice);
    }

    /// Tells a tenant's listeners that changes exist up to `cursor`, once: the same cursor
    /// comes back from the other hub instances' relay, and older ones add nothing.
    pub fn announce(&self, tenant: TenantId, cursor: i64) {
        self.with_channel(tenant, |channel| {
            if cursor > channel.newest {
                channel.newest = cursor;
                // No listener is not an error.
                let _ = channel.sender.send(cursor);
            }
        });
    }
}
