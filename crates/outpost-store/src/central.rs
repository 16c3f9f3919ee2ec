use async_trait::async_trait;
use chrono::{DateTime, Utc};

use outpost_domain::audit::{AuditEvent, AuditRecord, ChainReport};
use outpost_domain::tenant::{Tenant, TenantStatus};
use outpost_domain::user::Member;
use outpost_domain::{DeviceId, Permission, Role, SessionId, TenantId, UserId};

use crate::error::StoreResult;
use crate::records::{
    DatabaseStatus, DeviceRecord, MemberUpdate, Membership, RefreshOutcome, SessionRecord,
    SigningKeyRecord, UserRecord,
};

/// The central database: tenant registry, identities, sessions, keys and the central audit
/// chain. Methods that change state append their `audit` event in the same transaction.
#[async_trait]
pub trait CentralStore: Send + Sync {
    // --- tenants ---
    async fn tenants(&self) -> StoreResult<Vec<Tenant>>;
    async fn tenant(&self, id: TenantId) -> StoreResult<Option<Tenant>>;
    async fn tenant_by_slug(&self, slug: &str) -> StoreResult<Option<Tenant>>;

    /// Suspends or resumes a tenant, with `audit`; `NotFound` for an unknown one. A suspended
    /// tenant's users are refused at sign-in and at every request.
    async fn set_tenant_status(
        &self,
        id: TenantId,
        status: TenantStatus,
        audit: AuditEvent,
    ) -> StoreResult<Tenant>;

    // --- roles ---
    /// The role → permission table seeded by migration.
    async fn role_permissions(&self) -> StoreResult<Vec<(Role, Permission)>>;

    // --- users and memberships ---
    /// Creates a user, with a membership when `role` is given (`tenant` `None` = platform).
    async fn create_user(
        &self,
        user: &UserRecord,
        tenant: Option<TenantId>,
        role: Role,
        audit: AuditEvent,
    ) -> StoreResult<Member>;
    /// Gives an existing user a role in another tenant (or the platform).
    async fn add_membership(
        &self,
        user: UserId,
        tenant: Option<TenantId>,
        role: Role,
        audit: AuditEvent,
    ) -> StoreResult<Member>;
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>>;
    async fn user(&self, id: UserId) -> StoreResult<Option<UserRecord>>;
    async fn memberships(&self, user: UserId) -> StoreResult<Vec<Membership>>;
    /// Members of a tenant (`None`: platform admins), ordered by email.
    async fn members(&self, tenant: Option<TenantId>) -> StoreResult<Vec<Member>>;
    async fn member(&self, tenant: Option<TenantId>, user: UserId) -> StoreResult<Option<Member>>;
    /// Updates a user as seen from one tenant. Disabling the user ends all their sessions in
    /// the same transaction. `NotFound` when the user is not a member of `tenant`.
    async fn update_member(
        &self,
        tenant: Option<TenantId>,
        user: UserId,
        update: &MemberUpdate,
        at: DateTime<Utc>,
        audit: AuditEvent,
    ) -> StoreResult<Member>;

    // --- login throttling (keyed by normalised e-mail, whether or not it exists) ---
    async fn locked_until(&self, email: &str) -> StoreResult<Option<DateTime<Utc>>>;
    /// Counts a failure and appends `audit`; locks until `lock_until` once `threshold`
    /// consecutive failures are reached. Returns whether the account is now locked.
    async fn record_login_failure(
        &self,
        email: &str,
        threshold: u32,
        lock_until: DateTime<Utc>,
        audit: AuditEvent,
    ) -> StoreResult<bool>;

    // --- sessions and refresh tokens ---
    /// Creates a session with its first refresh token (stored as a hash), clears the login
    /// failures of `email`, and appends `audit`.
    async fn create_session(
        &self,
        session: &SessionRecord,
        refresh_hash: &str,
        email: &str,
        audit: AuditEvent,
    ) -> StoreResult<()>;
    async fn session(&self, id: SessionId) -> StoreResult<Option<SessionRecord>>;
    async fn touch_session(&self, id: SessionId, at: DateTime<Utc>) -> StoreResult<()>;
    /// Spends `old_hash` and stores `new_hash`, the successor the hub derives from it, in its
    /// place. A spent token presented again within `retry_window` of its spending, while that
    /// same successor is still unused, is a retry of a lost answer: `Rotated`, with nothing
    /// changed, so the caller answers with the same successor. Any other spent token revokes
    /// the session ([`crate::refresh::step`] decides).
    async fn rotate_refresh(
        &self,
        old_hash: &str,
        new_hash: &str,
        at: DateTime<Utc>,
        retry_window: chrono::Duration,
    ) -> StoreResult<RefreshOutcome>;
    /// Ends a session (idempotent) and appends `audit`.
    async fn end_session(
        &self,
        id: SessionId,
        reason: &str,
        at: DateTime<Utc>,
        audit: AuditEvent,
    ) -> StoreResult<()>;
    async fn sessions_of(&self, user: UserId) -> StoreResult<Vec<SessionRecord>>;

    // --- devices ---
    async fn device(&self, id: DeviceId) -> StoreResult<Option<DeviceRecord>>;
    async fn devices_of(&self, user: UserId) -> StoreResult<Vec<DeviceRecord>>;
    /// Marks a device revoked and ends every session it holds (reason `device_revoked`), with
    /// `audit`, in one transaction. `NotFound` for an unknown device.
    async fn revoke_device(
        &self,
        id: DeviceId,
        at: DateTime<Utc>,
        audit: AuditEvent,
    ) -> StoreResult<()>;

    // --- token signing keys ---
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>>;
    async fn add_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()>;

    // --- central audit chain ---
    async fn append_audit(&self, event: AuditEvent) -> StoreResult<i64>;
    async fn verify_audit(&self) -> StoreResult<ChainReport>;
    /// Events by or about a user, newest last.
    async fn audit_of_user(&self, user: UserId, limit: u32) -> StoreResult<Vec<AuditRecord>>;

    async fn status(&self) -> DatabaseStatus;
}
