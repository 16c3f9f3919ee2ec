//! Storage traits of the hub.
//!
//! The hub talks to a [`Store`]: one [`CentralStore`] (tenants, users, sessions, the central
//! audit chain) and one [`TenantStore`] per tenant (patients, history, the tenant's audit
//! chain). Every method that changes data or reads PHI takes the acting [`Actor`] and writes
//! its audit event in the same transaction, so that no backend can forget to audit and no
//! change lands without its event.
//!
//! Backends: `outpost-store-sqlite` (SQLCipher files) now; PostgreSQL later. Both must pass
//! the suite in [`testsuite`] (feature `testsuite`).
//!
//! [`Actor`]: outpost_domain::audit::Actor

pub mod backup;
pub mod board;
mod central;
pub mod changes;
pub mod columns;
mod error;
pub mod keys;
pub mod metrics;
mod migration;
pub mod plan;
mod records;
pub mod refresh;
pub mod statements;
mod tenant;
#[cfg(feature = "testsuite")]
pub mod testsuite;

use std::sync::Arc;

use async_trait::async_trait;
use outpost_domain::TenantId;
use outpost_domain::audit::AuditEvent;
use outpost_domain::tenant::{NewTenant, Tenant};

pub use board::BoardStore;
pub use central::CentralStore;
pub use error::{StoreError, StoreResult};
pub use migration::{Applied, Migration, check_applied};
pub use records::*;
pub use tenant::{TenantStore, typed};

/// A whole hub's storage: the central store plus the tenant databases it registers.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The central database.
    fn central(&self) -> &dyn CentralStore;

    /// The transport board and the outbox (in the central database).
    fn board(&self) -> &dyn BoardStore;

    /// The store of one registered tenant. Backends cache open handles.
    async fn tenant(&self, id: TenantId) -> StoreResult<Arc<dyn TenantStore>>;

    /// Creates the tenant's database, migrates it, and registers it centrally with `audit`
    /// appended to the central chain. On failure nothing is left behind.
    async fn provision_tenant(&self, new: &NewTenant, audit: AuditEvent) -> StoreResult<Tenant>;

    /// Creates the database of `tenant`, which must not be registered (`AlreadyExists`
    /// otherwise), fills it with `rows` (from [`TenantStore::export`], through a backup file),
    /// then registers it with `audit` appended to the central chain. On failure nothing is
    /// left behind. Provisioning is a restore of no rows.
    async fn restore_tenant(
        &self,
        tenant: &Tenant,
        rows: tokio::sync::mpsc::Receiver<StoreResult<backup::Batch>>,
        audit: AuditEvent,
    ) -> StoreResult<()>;

    /// Moves a tenant's database to the configured server `server`: the tenant is read-only
    /// meanwhile, the registry switches to the copy with `audit`, and the old database is
    /// dropped. Returns the new location. Only a backend with several servers can.
    async fn move_tenant(
        &self,
        _id: TenantId,
        _server: &str,
        _audit: AuditEvent,
    ) -> StoreResult<String> {
        Err(StoreError::Unsupported(
            "the embedded backend keeps every tenant in its data directory; moving a tenant \
             to another server needs the PostgreSQL backend",
        ))
    }

    /// Brings a tenant's database to the newest schema and returns its version. Opening a
    /// tenant migrates it too; this does it ahead of traffic (`migrate-all`).
    async fn migrate_tenant(&self, id: TenantId) -> StoreResult<i64>;

    /// Removes the tenant's database and its registry entry; `audit` goes to the central chain.
    async fn delete_tenant(&self, id: TenantId, audit: AuditEvent) -> StoreResult<()>;

    /// Tells the other hub instances serving the same databases that a tenant's changes now
    /// reach `cursor`, so that they announce it to their own listeners. The embedded backend
    /// is served by one instance: nothing to tell.
    async fn publish_changes(&self, _tenant: TenantId, _cursor: i64) -> StoreResult<()> {
        Ok(())
    }

    /// Tells the other hub instances that a board entry of `hospital`'s changed (published, bid
    /// on, accepted, moved by its trip), so that they tell their board's listeners.
    async fn publish_board(&self, _entry: uuid::Uuid, _hospital: TenantId) -> StoreResult<()> {
        Ok(())
    }

    /// What every instance (this one included) publishes, when the backend carries it between
    /// instances; `None` when there is only this one.
    async fn change_announcements(&self) -> Option<tokio::sync::mpsc::Receiver<Announcement>> {
        None
    }

    /// What the hub's operators watch of this store right now: open tenant handles and, with
    /// PostgreSQL, the connection router against its cap.
    fn gauges(&self) -> StoreGauges {
        StoreGauges::default()
    }

    /// Reachability, schema version, size and latency of the central and every tenant database.
    async fn status(&self) -> Vec<DatabaseStatus> {
        let mut all = vec![self.central().status().await];
        let tenants = match self.central().tenants().await {
            Ok(tenants) => tenants,
            Err(_) => return all,
        };
        for tenant in tenants {
            all.push(match self.tenant(tenant.id).await {
                Ok(store) => store.status().await,
                Err(err) => DatabaseStatus::unreachable(&tenant.slug, Some(tenant.id), &err),
            });
        }
        all
    }
}

/// What one hub instance tells the others serving the same databases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announcement {
    /// A tenant's changes reach a cursor.
    Changes(TenantId, i64),
    /// A board entry of a hospital's changed.
    Board {
        entry: uuid::Uuid,
        hospital: TenantId,
    },
}

/// `AlreadyExists` when `tenant`'s id or slug is registered: a restore never replaces a tenant.
pub async fn check_unregistered(central: &dyn CentralStore, tenant: &Tenant) -> StoreResult<()> {
    if central.tenant(tenant.id).await?.is_some() {
        return Err(StoreError::AlreadyExists("tenant"));
    }
    if central.tenant_by_slug(&tenant.slug).await?.is_some() {
        return Err(StoreError::AlreadyExists("slug"));
    }
    Ok(())
}

/// `audit` about the tenant `id` (creating, restoring or moving it), for the central chain.
pub fn tenant_audit(mut audit: AuditEvent, id: TenantId) -> AuditEvent {
    audit.tenant_id = Some(id);
    audit.entity = Some("tenant".into());
    audit.entity_id = Some(id.to_string());
    audit
}

/// The registry entry of a tenant about to be provisioned: a valid request whose slug is free.
/// Backends call it before creating anything.
pub async fn new_tenant(
    central: &dyn CentralStore,
    new: &NewTenant,
    at: chrono::DateTime<chrono::Utc>,
) -> StoreResult<Tenant> {
    new.validate()?;
    if central.tenant_by_slug(&new.slug).await?.is_some() {
        return Err(StoreError::AlreadyExists("slug"));
    }
    Ok(Tenant {
        id: TenantId::generate(),
        slug: new.slug.clone(),
        name: new.name.trim().to_owned(),
        kind: new.kind,
        status: outpost_domain::tenant::TenantStatus::Active,
        read_only: false,
        created_at: at,
    })
}
