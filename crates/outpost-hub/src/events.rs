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

/// One broadcast channel per tenant that has listeners or changes.
#[derive(Default)]
pub struct ChangeEvents {
    channels: Mutex<HashMap<TenantId, Channel>>,
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
