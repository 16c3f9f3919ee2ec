//! Announcing new changes to connected clients (`GET /v1/events`), per tenant.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::broadcast;

use outpost_domain::TenantId;

/// Announcements buffered per tenant; a slow listener that misses some just pulls anyway.
const CAPACITY: usize = 64;

/// One broadcast channel per tenant that has listeners or changes.
#[derive(Default)]
pub struct ChangeEvents {
    channels: Mutex<HashMap<TenantId, broadcast::Sender<i64>>>,
}

impl ChangeEvents {
    fn sender(&self, tenant: TenantId) -> Option<broadcast::Sender<i64>> {
        let mut channels = self.channels.lock().ok()?;
        Some(
            channels
                .entry(tenant)
                .or_insert_with(|| broadcast::channel(CAPACITY).0)
                .clone(),
        )
    }

    /// Listens for a tenant's announcements.
    pub fn subscribe(&self, tenant: TenantId) -> Option<broadcast::Receiver<i64>> {
        self.sender(tenant).map(|s| s.subscribe())
    }

    /// Tells a tenant's listeners that changes exist up to `cursor`.
    pub fn announce(&self, tenant: TenantId, cursor: i64) {
        if let Some(sender) = self.sender(tenant) {
            // No listener is not an error.
            let _ = sender.send(cursor);
        }
    }
}
