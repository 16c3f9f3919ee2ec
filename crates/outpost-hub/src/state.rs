//! The hub's shared state, built once at start.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use outpost_domain::{Permission, Role};
use outpost_store::{Announcement, Store, StoreError};

use crate::clock::Clock;
use crate::config::HubConfig;
use crate::events::{BoardNotice, ChangeEvents};
use crate::passwords::{self, PasswordWork};
use crate::rate::AddressLimits;
use crate::tokens::{TokenKeys, generate_signing_key};

/// What went wrong in the hub's library: starting it, or publishing a desktop build.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the token signing keys cannot be loaded")]
    SigningKeys,
    #[error("password hashing failed: {0}")]
    Hashing(String),
    /// The store cannot be opened as configured (no hub yet, one already, a bad URL).
    #[error("{0}")]
    Setup(String),
    /// A desktop build cannot be published or read (a bad version, file or signature).
    #[error("{0}")]
    Release(String),
}

/// What every request handler can reach.
pub struct HubState {
    pub store: Arc<dyn Store>,
    pub config: HubConfig,
    pub clock: Arc<dyn Clock>,
    pub tokens: TokenKeys,
    /// Role → permissions, loaded from the central database at start.
    pub permissions: HashMap<Role, BTreeSet<Permission>>,
    /// Hash compared against when an e-mail is unknown, so that unknown addresses and wrong
    /// passwords cost the same time.
    pub dummy_hash: String,
    /// The bounded pool every password hash and check runs on.
    pub passwords: PasswordWork,
    /// Per-address limits on sign-in and refresh.
    pub address_limits: AddressLimits,
    /// Live-update announcements per tenant.
    pub events: ChangeEvents,
    /// The outbox worker's identity and wake-up call.
    pub outbox: Arc<crate::outbox::Outbox>,
    /// Turns `true` when the hub shuts down, so that endless streams (events) end.
    pub shutting_down: tokio::sync::watch::Sender<bool>,
}

/// The state as axum holds it.
pub type AppState = Arc<HubState>;

impl HubState {
    /// Loads permissions and signing keys (creating the first key if there is none).
    pub async fn load(
        store: Arc<dyn Store>,
        config: HubConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<AppState, HubError> {
        let central = store.central();
        let mut keys = central.signing_keys().await?;
        if keys.is_empty() {
            let key = generate_signing_key(clock.now());
            central.add_signing_key(&key).await?;
            keys.push(key);
        }
        let tokens =
            TokenKeys::new(&keys, &config.issuer, &config.audience).ok_or(HubError::SigningKeys)?;
        let mut permissions: HashMap<Role, BTreeSet<Permission>> = HashMap::new();
        for (role, permission) in central.role_permissions().await? {
            permissions.entry(role).or_default().insert(permission);
        }
        crate::metrics::install();
        let dummy_hash = passwords::hash_now(&passwords::generate())
            .map_err(|e| HubError::Hashing(e.to_string()))?;
        let address_limits = AddressLimits::new(&config);
        let passwords = PasswordWork::start(
            config
                .password_workers
                .unwrap_or_else(passwords::default_workers),
            config.password_queue,
        );
        let state = Arc::new(HubState {
            store,
            config,
            clock,
            tokens,
            permissions,
            dummy_hash,
            passwords,
            address_limits,
            events: ChangeEvents::default(),
            outbox: Arc::default(),
            shutting_down: tokio::sync::watch::Sender::new(false),
        });
        Self::relay_announcements(&state).await;
        Ok(state)
    }

    /// Announces a tenant's newest changes to its listeners.
    pub async fn announce_changes(&self, tenant: outpost_domain::TenantId) {
        match self.store.tenant(tenant).await {
            Ok(store) => match store.cursor().await {
                Ok(cursor) => self.announce(tenant, cursor).await,
                Err(err) => tracing::warn!(error = %err, "cannot read the change cursor"),
            },
            Err(err) => tracing::warn!(error = %err, "cannot open tenant store"),
        }
    }

    /// Announces that a tenant's changes reach `cursor`: to this instance's listeners, and
    /// through the store to the other instances serving the same databases.
    pub async fn announce(&self, tenant: outpost_domain::TenantId, cursor: i64) {
        self.events.announce(tenant, cursor);
        // A crew's synced step is for the worker to bring to the hospital and the board.
        self.outbox.changed(tenant);
        if let Err(err) = self.store.publish_changes(tenant, cursor).await {
            tracing::warn!(error = %err, "cannot tell other hub instances about changes");
        }
    }

    /// Announces that a board entry changed: to this instance's board listeners, and through
    /// the store to the other instances'.
    pub async fn announce_board(&self, entry: uuid::Uuid, hospital: outpost_domain::TenantId) {
        self.events.announce_board(BoardNotice { entry, hospital });
        if let Err(err) = self.store.publish_board(entry, hospital).await {
            tracing::warn!(error = %err, "cannot tell other hub instances about the board");
        }
    }

    /// Relays what other instances announce to this instance's listeners, for as long as the
    /// state lives.
    async fn relay_announcements(state: &AppState) {
        let Some(mut announcements) = state.store.change_announcements().await else {
            return;
        };
        let state = Arc::downgrade(state);
        tokio::spawn(async move {
            while let Some(announcement) = announcements.recv().await {
                let Some(state) = state.upgrade() else {
                    return;
                };
                match announcement {
                    Announcement::Changes(tenant, cursor) => {
                        state.events.announce(tenant, cursor);
                        state.outbox.changed(tenant);
                    }
                    Announcement::Board { entry, hospital } => {
                        state.events.announce_board(BoardNotice { entry, hospital })
                    }
                }
            }
        });
    }

    /// The permissions of a role (empty for an unknown one).
    pub fn permissions_of(&self, role: Role) -> BTreeSet<Permission> {
        self.permissions.get(&role).cloned().unwrap_or_default()
    }
}
