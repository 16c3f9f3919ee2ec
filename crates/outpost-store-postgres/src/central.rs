//! The central database: the PostgreSQL implementation of [`CentralStore`].

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Row, Transaction};
use uuid::Uuid;

use outpost_domain::audit::{AuditEvent, AuditRecord, ChainReport};
use outpost_domain::tenant::{Tenant, TenantStatus};
use outpost_domain::user::Member;
use outpost_domain::{DeviceId, Permission, Role, SessionId, TenantId, UserId};
use outpost_store::columns::{DEVICE, MEMBER_QUERY, SESSION, TENANT, USER};
use outpost_store::refresh::{self, PresentedToken, RefreshStep};
use outpost_store::{
    CentralStore, DatabaseStatus, DeviceRecord, MemberUpdate, Membership, RefreshOutcome,
    SessionRecord, SigningKeyRecord, StoreError, StoreResult, UserRecord,
};

use crate::router::{Conn, Router, Target};
use crate::sql::{begin, col, id, opt_id, parsed, unique_as};
use crate::{OrBackend, audit, status};

/// The central database, reached through the router like every tenant database.
pub struct PgCentral {
    pub(crate) router: Arc<Router>,
    pub(crate) target: Target,
}

impl PgCentral {
    pub(crate) async fn conn(&self) -> StoreResult<Conn> {
        self.router.get(&self.target).await
    }
}

pub(crate) fn read_tenant(row: &Row) -> StoreResult<Tenant> {
    read_tenant_at(row, 0)
}

/// A tenant whose [`TENANT`] columns start at `at`.
fn read_tenant_at(row: &Row, at: usize) -> StoreResult<Tenant> {
    Ok(Tenant {
        id: id(row, at)?,
        slug: col(row, at + 1)?,
        name: col(row, at + 2)?,
        kind: parsed(row, at + 3)?,
        status: if col::<&str>(row, at + 4)? == "suspended" {
            TenantStatus::Suspended
        } else {
            TenantStatus::Active
        },
        created_at: col(row, at + 5)?,
        read_only: col(row, at + 6)?,
    })
}

fn read_device(row: &Row) -> StoreResult<DeviceRecord> {
    Ok(DeviceRecord {
        id: id(row, 0)?,
        user_id: id(row, 1)?,
        name: col(row, 2)?,
        first_seen_at: col(row, 3)?,
        last_seen_at: col(row, 4)?,
        revoked_at: col(row, 5)?,
    })
}

fn read_user(row: &Row) -> StoreResult<UserRecord> {
    Ok(UserRecord {
        id: id(row, 0)?,
        email: col(row, 1)?,
        full_name: col(row, 2)?,
        password_hash: col(row, 3)?,
        disabled: col(row, 4)?,
        created_at: col(row, 5)?,
    })
}

fn read_member(row: &Row) -> StoreResult<Member> {
    Ok(Member {
        id: id(row, 0)?,
        email: col(row, 1)?,
        full_name: col(row, 2)?,
        tenant_id: opt_id(row, 3)?,
        role: parsed(row, 4)?,
        disabled: col(row, 5)?,
        created_at: col(row, 6)?,
    })
}

fn read_session(row: &Row) -> StoreResult<SessionRecord> {
    Ok(SessionRecord {
        id: id(row, 0)?,
        user_id: id(row, 1)?,
        tenant_id: opt_id(row, 2)?,
        role: parsed(row, 3)?,
        device_id: opt_id(row, 4)?,
        device_name: col(row, 5)?,
        ip: col(row, 6)?,
        user_agent: col(row, 7)?,
        created_at: col(row, 8)?,
        last_activity_at: col(row, 9)?,
        absolute_expires_at: col(row, 10)?,
        ended_at: col(row, 11)?,
        end_reason: col(row, 12)?,
    })
}

fn uuid_of(tenant: Option<TenantId>) -> Option<Uuid> {
    tenant.map(|t| t.as_uuid())
}

pub(crate) async fn query_all<T>(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    read: fn(&Row) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    client
        .query(sql, params)
        .await
        .db()?
        .iter()
        .map(read)
        .collect()
}

pub(crate) async fn query_one<T>(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    read: fn(&Row) -> StoreResult<T>,
) -> StoreResult<Option<T>> {
    client
        .query_opt(sql, params)
        .await
        .db()?
        .as_ref()
        .map(read)
        .transpose()
}

async fn member_of(
    client: &impl GenericClient,
    tenant: Option<TenantId>,
    user: UserId,
) -> StoreResult<Option<Member>> {
    query_one(
        client,
        &format!("{MEMBER_QUERY} WHERE u.id = $1 AND m.tenant_id IS NOT DISTINCT FROM $2"),
        &[&user.as_uuid(), &uuid_of(tenant)],
        read_member,
    )
    .await
}

async fn session_by_id(
    client: &impl GenericClient,
    id: Uuid,
) -> StoreResult<Option<SessionRecord>> {
    query_one(
        client,
        &format!("SELECT {SESSION} FROM sessions WHERE id = $1"),
        &[&id],
        read_session,
    )
    .await
}

/// Which sessions [`end_sessions`] ends.
enum Sessions {
    OfUser(UserId),
    One(Uuid),
    OfDevice(DeviceId),
}

async fn end_sessions(
    tx: &Transaction<'_>,
    which: Sessions,
    reason: &str,
    at: DateTime<Utc>,
) -> StoreResult<u64> {
    let (column, id) = match which {
        Sessions::OfUser(u) => ("user_id", u.as_uuid()),
        Sessions::One(s) => ("id", s),
        Sessions::OfDevice(d) => ("device_id", d.as_uuid()),
    };
    tx.execute(
        &format!(
            "UPDATE sessions SET ended_at = $1, end_reason = $2 \
             WHERE ended_at IS NULL AND {column} = $3"
        ),
        &[&at, &reason, &id],
    )
    .await
    .db()
}

#[async_trait]
impl CentralStore for PgCentral {
    async fn tenants(&self) -> StoreResult<Vec<Tenant>> {
        let conn = self.conn().await?;
        query_all(
            &*conn,
            &format!("SELECT {TENANT} FROM tenants ORDER BY slug"),
            &[],
            read_tenant,
        )
        .await
    }

    async fn tenant(&self, id: TenantId) -> StoreResult<Option<Tenant>> {
        let conn = self.conn().await?;
        query_one(
            &*conn,
            &format!("SELECT {TENANT} FROM tenants WHERE id = $1"),
            &[&id.as_uuid()],
            read_tenant,
        )
        .await
    }

    async fn tenant_by_slug(&self, slug: &str) -> StoreResult<Option<Tenant>> {
        let conn = self.conn().await?;
        query_one(
            &*conn,
            &format!("SELECT {TENANT} FROM tenants WHERE slug = $1"),
            &[&slug],
            read_tenant,
        )
        .await
    }

    async fn set_tenant_status(
        &self,
        id: TenantId,
        status: TenantStatus,
        audit: AuditEvent,
    ) -> StoreResult<Tenant> {
        let mut conn = self.conn().await?;
        let tx = begin(&mut conn).await?;
        let row = tx
            .query_opt(
                &format!("UPDATE tenants SET status = $1 WHERE id = $2 RETURNING {TENANT}"),
                &[&status.as_str(), &id.as_uuid()],
            )
            .await
            .db()?
            .ok_or(StoreError::NotFound)?;
        let tenant = read_tenant(&row)?;
        audit::append(&tx, &audit).await?;
        tx.commit().await.db()?;
        Ok(tenant)
    }

    async fn role_permissions(&self) -> StoreResult<Vec<(Role, Permission)>> {
        let conn = self.conn().await?;
        query_all(
            &*conn,
            "SELECT role, permission FROM role_permissions ORDER BY role, permission",
            &[],
            |row| Ok((parsed(row, 0)?, parsed(row, 1)?)),
        )
        .await
    }

    async fn create_user(
        &self,
        user: &UserRecord,
        tenant: Option<TenantId>,
        role: Role,
        audit: AuditEvent,
    ) -> StoreResult<Member> {
        let mut conn = self.conn().await?;
        let tx = begin(&mut conn).await?;
        tx.execute(
            &format!("INSERT INTO users ({USER}) VALUES ($1, $2, $3, $4, $5, $6)"),
            &[
                &user.id.as_uuid(),
                &user.email,
                &user.full_name,
                &user.password_hash,
                &user.disabled,
                &user.created_at,
            ],
        )
        .await
        .map_err(unique_as("email"))?;
        tx.execute(
            "INSERT INTO memberships (user_id, tenant_id, role, created_at) VALUES ($1, $2, $3, $4)",
            &[
                &user.id.as_uuid(),
                &uuid_of(tenant),
                &role.as_str(),
                &user.created_at,
            ],
        )
        .await
        .db()?;
        audit::append(&tx, &audit).await?;
        let member = member_of(&tx, tenant, user.id)
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await.db()?;
        Ok(member)
    }

    async fn add_membership(
        &self,
        user: UserId,
        tenant: Option<TenantId>,
        role: Role,
        audit: AuditEvent,
    ) -> StoreResult<Member> {
        let mut conn = self.conn().await?;
        let tx = begin(&mut conn).await?;
        tx.execute(
            "INSERT INTO memberships (user_id, tenant_id, role, created_at) VALUES ($1, $2, $3, $4)",
            &[&user.as_uuid(), &uuid_of(tenant), &role.as_str(), &audit.at],
        )
        .await
        .map_err(unique_as("membership"))?;
        audit::append(&tx, &audit).await?;
        let member = member_of(&tx, tenant, user)
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await.db()?;
        Ok(member)
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>> {
        let conn = self.conn().await?;
        query_one(
            &*conn,
            &format!("SELECT {USER} FROM users WHERE email = $1"),
            &[&email],
            read_user,
        )
        .await
    }

    async fn user(&self, id: UserId) -> StoreResult<Option<UserRecord>> {
        let conn = self.conn().await?;
        query_one(
            &*conn,
            &format!("SELECT {USER} FROM users WHERE id = $1"),
            &[&id.as_uuid()],
            read_user,
        )
        .await
    }

    async fn memberships(&self, user: UserId) -> StoreResult<Vec<Membership>> {
        let conn = self.conn().await?;
        query_all(
            &*conn,
            "SELECT m.role, t.id, t.slug, t.name, t.kind, t.status, t.created_at, t.read_only \
             FROM memberships m LEFT JOIN tenants t ON t.id = m.tenant_id \
             WHERE m.user_id = $1 ORDER BY t.slug NULLS FIRST",
            &[&user.as_uuid()],
            |row| {
                let tenant = match col::<Option<Uuid>>(row, 1)? {
                    Some(_) => Some(read_tenant_at(row, 1)?),
                    None => None,
                };
                Ok(Membership {
                    tenant,
                    role: parsed(row, 0)?,
                })
            },
        )
        .await
    }

    async fn members(&self, tenant: Option<TenantId>) -> StoreResult<Vec<Member>> {
        let conn = self.conn().await?;
        query_all(
            &*conn,
            &format!("{MEMBER_QUERY} WHERE m.tenant_id IS NOT DISTINCT FROM $1 ORDER BY u.email"),
            &[&uuid_of(tenant)],
            read_member,
        )
        .await
    }

    async fn member(&self, tenant: Option<TenantId>, user: UserId) -> StoreResult<Option<Member>> {
        let conn = self.conn().await?;
        member_of(&*conn, tenant, user).await
    }

    async fn update_member(
        &self,
        tenant: Option<TenantId>,
        user: UserId,
        update: &MemberUpdate,
        at: DateTime<Utc>,
        audit: AuditEvent,
    ) -> StoreResult<Member> {
        let mut conn = self.conn().await?;
        let tx = begin(&mut conn).await?;
        if member_of(&tx, tenant, user).await?.is_none() {
            return Err(StoreError::NotFound);
        }
        let id = user.as_uuid();
        if let Some(name) = &update.full_name {
            tx.execute(
                "UPDATE users SET full_name = $1 WHERE id = $2",
                &[name, &id],
            )
            .await
            .db()?;
        }
        if let Some(hash) = &update.password_hash {
            tx.execute(
                "UPDATE users SET password_hash = $1 WHERE id = $2",
                &[hash, &id],
            )
            .await
            .db()?;
            end_sessions(&tx, Sessions::OfUser(user), "password_changed", at).await?;
        }
        if let Some(role) = update.role {
            tx.execute(
                "UPDATE memberships SET role = $1 WHERE user_id = $2 \
                 AND tenant_id IS NOT DISTINCT FROM $3",
                &[&role.as_str(), &id, &uuid_of(tenant)],
            )
            .await
            .db()?;
            end_sessions(&tx, Sessions::OfUser(user), "role_changed", at).await?;
        }
        if let Some(disabled) = update.disabled {
            tx.execute(
                "UPDATE users SET disabled = $1 WHERE id = $2",
                &[&disabled, &id],
            )
            .await
            .db()?;
            if disabled {
                end_sessions(&tx, Sessions::OfUser(user), "user_disabled", at).await?;
            }
        }
        audit::append(&tx, &audit).await?;
        let member = member_of(&tx, tenant, user)
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await.db()?;
        Ok(member)
    }

    async fn locked_until(&self, email: &str) -> StoreResult<Option<DateTime<Utc>>> {
        let conn = self.conn().await?;
        let row = conn
            .query_opt(
                "SELECT locked_until FROM login_failures WHERE email = $1",
                &[&email],
            )
            .await
            .db()?;
        Ok(match row {
            Some(row) => col(&row, 0)?,
            None => None,
        })
    }

    async fn record_login_failure(
        &self,
        email: &str,
        threshold: u32,
        lock_until: DateTime<Utc>,
        audit: AuditEvent,
    ) -> StoreResult<bool> {
        let mut conn = self.conn().await?;
        let tx = begin(&mut conn).await?;
        let row = tx
            .query_one(
                "INSERT INTO login_failures (email, failures, last_failure_at) VALUES ($1, 1, $2) \
                 ON CONFLICT (email) DO UPDATE SET failures = login_failures.failures + 1, \
                 last_failure_at = $2 RETURNING failures",
                &[&email, &audit.at],
            )
            .await
            .db()?;
        let failures: i32 = col(&row, 0)?;
        let locked = u32::try_from(failures).unwrap_or(0) >= threshold;
        if locked {
            tx.execute(
                "UPDATE login_failures SET locked_until = $1, failures = 0 WHERE email = $2",
                &[&lock_until, &email],
            )
            .await
            .db()?;
        }
        audit::append(&tx, &audit).await?;
        tx.commit().await.db()?;
        Ok(locked)
    }

    async fn create_session(
        &self,
        session: &SessionRecord,
        refresh_hash: &str,
        email: &str,
        audit: AuditEvent,
    ) -> StoreResult<()> {
        let s = session;
        let mut conn = self.conn().await?;
        let tx = begin(&mut conn).await?;
        tx.execute(
            &format!(
                "INSERT INTO sessions ({SESSION}) VALUES \
                 ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
            ),
            &[
                &s.id.as_uuid(),
                &s.user_id.as_uuid(),
                &uuid_of(s.tenant_id),
                &s.role.as_str(),
                &s.device_id.map(|d| d.as_uuid()),
                &s.device_name,
                &s.ip,
                &s.user_agent,
                &s.created_at,
                &s.last_activity_at,
                &s.absolute_expires_at,
                &s.ended_at,
                &s.end_reason,
            ],
        )
        .await
        .db()?;
        tx.execute(
            "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)",
            &[&refresh_hash, &s.id.as_uuid(), &s.created_at],
        )
        .await
        .db()?;
        if let Some(device) = s.device_id {
            tx.execute(
                "INSERT INTO devices (id, user_id, name, first_seen_at, last_seen_at) \
                 VALUES ($1, $2, $3, $4, $4) ON CONFLICT (id) DO UPDATE SET \
                 last_seen_at = $4, name = coalesce($3, devices.name)",
                &[
                    &device.as_uuid(),
                    &s.user_id.as_uuid(),
                    &s.device_name,
                    &s.created_at,
                ],
            )
            .await
            .db()?;
        }
        tx.execute("DELETE FROM login_failures WHERE email = $1", &[&email])
            .await
            .db()?;
        audit::append(&tx, &audit).await?;
        tx.commit().await.db()
    }

    async fn session(&self, id: SessionId) -> StoreResult<Option<SessionRecord>> {
        let conn = self.conn().await?;
        session_by_id(&*conn, id.as_uuid()).await
    }

    async fn touch_session(&self, id: SessionId, at: DateTime<Utc>) -> StoreResult<()> {
        let conn = self.conn().await?;
        conn.execute(
            "UPDATE sessions SET last_activity_at = $1 WHERE id = $2 AND ended_at IS NULL",
            &[&at, &id.as_uuid()],
        )
        .await
        .db()
        .map(drop)
    }

    async fn rotate_refresh(
        &self,
        old_hash: &str,
        new_hash: &str,
        at: DateTime<Utc>,
        retry_window: chrono::Duration,
    ) -> StoreResult<RefreshOutcome> {
        let mut conn = self.conn().await?;
        let tx = begin(&mut conn).await?;
        let token = tx
            .query_opt(
                "SELECT session_id, spent_at, replaced_by FROM refresh_tokens WHERE token_hash = $1",
                &[&old_hash],
            )
            .await
            .db()?;
        let Some(token) = token else {
            return Ok(RefreshOutcome::Unknown);
        };
        let session_id: Uuid = col(&token, 0)?;
        let spent_at: Option<DateTime<Utc>> = col(&token, 1)?;
        let replaced_by: Option<String> = col(&token, 2)?;
        let Some(session) = session_by_id(&tx, session_id).await? else {
            return Ok(RefreshOutcome::Unknown);
        };
        let successor_unused = match &replaced_by {
            Some(next) => tx
                .query_opt(
                    "SELECT spent_at IS NULL FROM refresh_tokens WHERE token_hash = $1",
                    &[next],
                )
                .await
                .db()?
                .map(|row| col::<bool>(&row, 0))
                .transpose()?
                .unwrap_or(false),
            None => false,
        };
        let presented = PresentedToken {
            spent_at,
            replaced_by,
            successor_unused,
            session_ended: session.ended_at.is_some(),
        };
        let step = refresh::step(&presented, new_hash, at, retry_window);
        match step {
            RefreshStep::Refuse { spent: false } => return Ok(RefreshOutcome::Ended(session)),
            RefreshStep::Refuse { spent: true } => return Ok(RefreshOutcome::Reused(session)),
            RefreshStep::Revoke => {
                end_sessions(&tx, Sessions::One(session_id), "refresh_token_reused", at).await?;
                let session = session_by_id(&tx, session_id)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                tx.commit().await.db()?;
                return Ok(RefreshOutcome::Reused(session));
            }
            RefreshStep::Rotate => {
                tx.execute(
                    "UPDATE refresh_tokens SET spent_at = $1, replaced_by = $2 WHERE token_hash = $3",
                    &[&at, &new_hash, &old_hash],
                )
                .await
                .db()?;
                tx.execute(
                    "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)",
                    &[&new_hash, &session_id, &at],
                )
                .await
                .db()?;
            }
            RefreshStep::Repeat => {}
        }
        tx.execute(
            "UPDATE sessions SET last_activity_at = $1 WHERE id = $2",
            &[&at, &session_id],
        )
        .await
        .db()?;
        tx.commit().await.db()?;
        Ok(RefreshOutcome::Rotated(session))
    }

    async fn end_session(
        &self,
        id: SessionId,
        reason: &str,
        at: DateTime<Utc>,
        audit: AuditEvent,
    ) -> StoreResult<()> {
        let mut conn = self.conn().await?;
        let tx = begin(&mut conn).await?;
        end_sessions(&tx, Sessions::One(id.as_uuid()), reason, at).await?;
        audit::append(&tx, &audit).await?;
        tx.commit().await.db()
    }

    async fn sessions_of(&self, user: UserId) -> StoreResult<Vec<SessionRecord>> {
        let conn = self.conn().await?;
        query_all(
            &*conn,
            &format!("SELECT {SESSION} FROM sessions WHERE user_id = $1 ORDER BY created_at"),
            &[&user.as_uuid()],
            read_session,
        )
        .await
    }

    async fn device(&self, id: DeviceId) -> StoreResult<Option<DeviceRecord>> {
        let conn = self.conn().await?;
        query_one(
            &*conn,
            &format!("SELECT {DEVICE} FROM devices WHERE id = $1"),
            &[&id.as_uuid()],
            read_device,
        )
        .await
    }

    async fn devices_of(&self, user: UserId) -> StoreResult<Vec<DeviceRecord>> {
        let conn = self.conn().await?;
        query_all(
            &*conn,
            &format!("SELECT {DEVICE} FROM devices WHERE user_id = $1 ORDER BY first_seen_at"),
            &[&user.as_uuid()],
            read_device,
        )
        .await
    }

    async fn revoke_device(
        &self,
        id: DeviceId,
        at: DateTime<Utc>,
        audit: AuditEvent,
    ) -> StoreResult<()> {
        let mut conn = self.conn().await?;
        let tx = begin(&mut conn).await?;
        let found = tx
            .execute(
                "UPDATE devices SET revoked_at = coalesce(revoked_at, $1) WHERE id = $2",
                &[&at, &id.as_uuid()],
            )
            .await
            .db()?;
        if found == 0 {
            return Err(StoreError::NotFound);
        }
        end_sessions(&tx, Sessions::OfDevice(id), "device_revoked", at).await?;
        audit::append(&tx, &audit).await?;
        tx.commit().await.db()
    }

    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        let conn = self.conn().await?;
        query_all(
            &*conn,
            "SELECT kid, private_pkcs8, public_key, created_at FROM signing_keys \
             ORDER BY created_at DESC",
            &[],
            |row| {
                Ok(SigningKeyRecord {
                    kid: col(row, 0)?,
                    private_pkcs8: col(row, 1)?,
                    public_key: col(row, 2)?,
                    created_at: col(row, 3)?,
                })
            },
        )
        .await
    }

    async fn add_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()> {
        let conn = self.conn().await?;
        conn.execute(
            "INSERT INTO signing_keys (kid, private_pkcs8, public_key, created_at) \
             VALUES ($1, $2, $3, $4)",
            &[
                &key.kid,
                &key.private_pkcs8,
                &key.public_key,
                &key.created_at,
            ],
        )
        .await
        .map_err(unique_as("signing key"))
        .map(drop)
    }

    async fn append_audit(&self, event: AuditEvent) -> StoreResult<i64> {
        let mut conn = self.conn().await?;
        let tx = begin(&mut conn).await?;
        let seq = audit::append(&tx, &event).await?;
        tx.commit().await.db()?;
        Ok(seq)
    }

    async fn verify_audit(&self) -> StoreResult<ChainReport> {
        let conn = self.conn().await?;
        audit::verify(&*conn, "central").await
    }

    async fn audit_of_user(&self, user: UserId, limit: u32) -> StoreResult<Vec<AuditRecord>> {
        let conn = self.conn().await?;
        audit::of_actor(&*conn, user, limit).await
    }

    async fn status(&self) -> DatabaseStatus {
        status::of(&self.router, &self.target, "central", None).await
    }
}
