//! `central.db`: the embedded implementation of [`CentralStore`].

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

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

use crate::conn::Db;
use crate::sql::{OrBackend, get_opt_parsed, get_opt_ts, get_parsed, get_ts, ts, unique_as};
use crate::{audit, status};

/// The central database file.
pub struct SqliteCentral {
    pub(crate) db: Db,
}

pub(crate) fn read_tenant(row: &Row<'_>) -> rusqlite::Result<Tenant> {
    read_tenant_at(row, 0)
}

/// A tenant whose [`TENANT`] columns start at `at`.
fn read_tenant_at(row: &Row<'_>, at: usize) -> rusqlite::Result<Tenant> {
    let status: String = row.get(at + 4)?;
    Ok(Tenant {
        id: get_parsed(row, at)?,
        slug: row.get(at + 1)?,
        name: row.get(at + 2)?,
        kind: get_parsed(row, at + 3)?,
        status: if status == "suspended" {
            TenantStatus::Suspended
        } else {
            TenantStatus::Active
        },
        created_at: get_ts(row, at + 5)?,
        read_only: row.get(at + 6)?,
    })
}

fn read_device(row: &Row<'_>) -> rusqlite::Result<DeviceRecord> {
    Ok(DeviceRecord {
        id: get_parsed(row, 0)?,
        user_id: get_parsed(row, 1)?,
        name: row.get(2)?,
        first_seen_at: get_ts(row, 3)?,
        last_seen_at: get_ts(row, 4)?,
        revoked_at: get_opt_ts(row, 5)?,
    })
}

fn read_user(row: &Row<'_>) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord {
        id: get_parsed(row, 0)?,
        email: row.get(1)?,
        full_name: row.get(2)?,
        password_hash: row.get(3)?,
        disabled: row.get(4)?,
        created_at: get_ts(row, 5)?,
    })
}

fn read_member(row: &Row<'_>) -> rusqlite::Result<Member> {
    Ok(Member {
        id: get_parsed(row, 0)?,
        email: row.get(1)?,
        full_name: row.get(2)?,
        tenant_id: get_opt_parsed(row, 3)?,
        role: get_parsed(row, 4)?,
        disabled: row.get(5)?,
        created_at: get_ts(row, 6)?,
    })
}

fn read_session(row: &Row<'_>) -> rusqlite::Result<SessionRecord> {
    Ok(SessionRecord {
        id: get_parsed(row, 0)?,
        user_id: get_parsed(row, 1)?,
        tenant_id: get_opt_parsed(row, 2)?,
        role: get_parsed(row, 3)?,
        device_id: get_opt_parsed(row, 4)?,
        device_name: row.get(5)?,
        ip: row.get(6)?,
        user_agent: row.get(7)?,
        created_at: get_ts(row, 8)?,
        last_activity_at: get_ts(row, 9)?,
        absolute_expires_at: get_ts(row, 10)?,
        ended_at: get_opt_ts(row, 11)?,
        end_reason: row.get(12)?,
    })
}

fn member_of(
    conn: &Connection,
    tenant: Option<TenantId>,
    user: UserId,
) -> StoreResult<Option<Member>> {
    conn.query_row(
        &format!("{MEMBER_QUERY} WHERE u.id = ?1 AND m.tenant_id IS ?2"),
        params![user.to_string(), tenant.map(|t| t.to_string())],
        read_member,
    )
    .optional()
    .db()
}

fn session_by_id(conn: &Connection, id: &str) -> StoreResult<Option<SessionRecord>> {
    conn.query_row(
        &format!("SELECT {SESSION} FROM sessions WHERE id = ?1"),
        [id],
        read_session,
    )
    .optional()
    .db()
}

fn end_sessions_where(
    conn: &Connection,
    clause: &str,
    arg: &str,
    reason: &str,
    at: DateTime<Utc>,
) -> StoreResult<usize> {
    conn.execute(
        &format!(
            "UPDATE sessions SET ended_at = ?1, end_reason = ?2 WHERE ended_at IS NULL AND {clause}"
        ),
        params![ts(at), reason, arg],
    )
    .db()
}

#[async_trait]
impl CentralStore for SqliteCentral {
    async fn tenants(&self) -> StoreResult<Vec<Tenant>> {
        self.db
            .call(|conn| {
                let mut stmt = conn
                    .prepare(&format!("SELECT {TENANT} FROM tenants ORDER BY slug"))
                    .db()?;
                stmt.query_map([], read_tenant)
                    .db()?
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .db()
            })
            .await
    }

    async fn tenant(&self, id: TenantId) -> StoreResult<Option<Tenant>> {
        self.db
            .call(move |conn| {
                conn.query_row(
                    &format!("SELECT {TENANT} FROM tenants WHERE id = ?1"),
                    [id.to_string()],
                    read_tenant,
                )
                .optional()
                .db()
            })
            .await
    }

    async fn tenant_by_slug(&self, slug: &str) -> StoreResult<Option<Tenant>> {
        let slug = slug.to_owned();
        self.db
            .call(move |conn| {
                conn.query_row(
                    &format!("SELECT {TENANT} FROM tenants WHERE slug = ?1"),
                    [slug],
                    read_tenant,
                )
                .optional()
                .db()
            })
            .await
    }

    async fn set_tenant_status(
        &self,
        id: TenantId,
        status: TenantStatus,
        audit: AuditEvent,
    ) -> StoreResult<Tenant> {
        self.db
            .call(move |conn| {
                let tx = conn.transaction().db()?;
                let changed = tx
                    .execute(
                        "UPDATE tenants SET status = ?1 WHERE id = ?2",
                        params![status.as_str(), id.to_string()],
                    )
                    .db()?;
                if changed == 0 {
                    return Err(StoreError::NotFound);
                }
                audit::append(&tx, &audit)?;
                let tenant = tx
                    .query_row(
                        &format!("SELECT {TENANT} FROM tenants WHERE id = ?1"),
                        [id.to_string()],
                        read_tenant,
                    )
                    .db()?;
                tx.commit().db()?;
                Ok(tenant)
            })
            .await
    }

    async fn role_permissions(&self) -> StoreResult<Vec<(Role, Permission)>> {
        self.db
            .call(|conn| {
                let mut stmt = conn
                    .prepare(
                        "SELECT role, permission FROM role_permissions ORDER BY role, permission",
                    )
                    .db()?;
                stmt.query_map([], |row| Ok((get_parsed(row, 0)?, get_parsed(row, 1)?)))
                    .db()?
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .db()
            })
            .await
    }

    async fn create_user(
        &self,
        user: &UserRecord,
        tenant: Option<TenantId>,
        role: Role,
        audit: AuditEvent,
    ) -> StoreResult<Member> {
        let user = user.clone();
        self.db
            .call(move |conn| {
                let tx = conn.transaction().db()?;
                tx.execute(
                    &format!("INSERT INTO users ({USER}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
                    params![
                        user.id.to_string(),
                        user.email,
                        user.full_name,
                        user.password_hash,
                        user.disabled,
                        ts(user.created_at)
                    ],
                )
                .map_err(unique_as("email"))?;
                tx.execute(
                    "INSERT INTO memberships (user_id, tenant_id, role, created_at) VALUES (?1, ?2, ?3, ?4)",
                    params![
                        user.id.to_string(),
                        tenant.map(|t| t.to_string()),
                        role.as_str(),
                        ts(user.created_at)
                    ],
                )
                .db()?;
                audit::append(&tx, &audit)?;
                let member = member_of(&tx, tenant, user.id)?.ok_or(StoreError::NotFound)?;
                tx.commit().db()?;
                Ok(member)
            })
            .await
    }

    async fn add_membership(
        &self,
        user: UserId,
        tenant: Option<TenantId>,
        role: Role,
        audit: AuditEvent,
    ) -> StoreResult<Member> {
        self.db
            .call(move |conn| {
                let tx = conn.transaction().db()?;
                tx.execute(
                    "INSERT INTO memberships (user_id, tenant_id, role, created_at) VALUES (?1, ?2, ?3, ?4)",
                    params![
                        user.to_string(),
                        tenant.map(|t| t.to_string()),
                        role.as_str(),
                        ts(audit.at)
                    ],
                )
                .map_err(unique_as("membership"))?;
                audit::append(&tx, &audit)?;
                let member = member_of(&tx, tenant, user)?.ok_or(StoreError::NotFound)?;
                tx.commit().db()?;
                Ok(member)
            })
            .await
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>> {
        let email = email.to_owned();
        self.db
            .call(move |conn| {
                conn.query_row(
                    &format!("SELECT {USER} FROM users WHERE email = ?1"),
                    [email],
                    read_user,
                )
                .optional()
                .db()
            })
            .await
    }

    async fn user(&self, id: UserId) -> StoreResult<Option<UserRecord>> {
        self.db
            .call(move |conn| {
                conn.query_row(
                    &format!("SELECT {USER} FROM users WHERE id = ?1"),
                    [id.to_string()],
                    read_user,
                )
                .optional()
                .db()
            })
            .await
    }

    async fn memberships(&self, user: UserId) -> StoreResult<Vec<Membership>> {
        self.db
            .call(move |conn| {
                let mut stmt = conn
                    .prepare(
                        "SELECT m.role, t.id, t.slug, t.name, t.kind, t.status, t.created_at, \
                         t.read_only FROM memberships m LEFT JOIN tenants t ON t.id = m.tenant_id \
                         WHERE m.user_id = ?1 ORDER BY t.slug",
                    )
                    .db()?;
                stmt.query_map([user.to_string()], |row| {
                    let tenant_id: Option<String> = row.get(1)?;
                    let tenant = match tenant_id {
                        Some(_) => Some(read_tenant_at(row, 1)?),
                        None => None,
                    };
                    Ok(Membership {
                        tenant,
                        role: get_parsed(row, 0)?,
                    })
                })
                .db()?
                .collect::<rusqlite::Result<Vec<_>>>()
                .db()
            })
            .await
    }

    async fn members(&self, tenant: Option<TenantId>) -> StoreResult<Vec<Member>> {
        self.db
            .call(move |conn| {
                let mut stmt = conn
                    .prepare(&format!(
                        "{MEMBER_QUERY} WHERE m.tenant_id IS ?1 ORDER BY u.email"
                    ))
                    .db()?;
                stmt.query_map([tenant.map(|t| t.to_string())], read_member)
                    .db()?
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .db()
            })
            .await
    }

    async fn member(&self, tenant: Option<TenantId>, user: UserId) -> StoreResult<Option<Member>> {
        self.db
            .call(move |conn| member_of(conn, tenant, user))
            .await
    }

    async fn update_member(
        &self,
        tenant: Option<TenantId>,
        user: UserId,
        update: &MemberUpdate,
        at: DateTime<Utc>,
        audit: AuditEvent,
    ) -> StoreResult<Member> {
        let update = update.clone();
        self.db
            .call(move |conn| {
                let tx = conn.transaction().db()?;
                if member_of(&tx, tenant, user)?.is_none() {
                    return Err(StoreError::NotFound);
                }
                let id = user.to_string();
                if let Some(name) = &update.full_name {
                    tx.execute(
                        "UPDATE users SET full_name = ?1 WHERE id = ?2",
                        params![name, id],
                    )
                    .db()?;
                }
                if let Some(hash) = &update.password_hash {
                    tx.execute(
                        "UPDATE users SET password_hash = ?1 WHERE id = ?2",
                        params![hash, id],
                    )
                    .db()?;
                    end_sessions_where(&tx, "user_id = ?3", &id, "password_changed", at)?;
                }
                if let Some(role) = update.role {
                    tx.execute(
                        "UPDATE memberships SET role = ?1 WHERE user_id = ?2 AND tenant_id IS ?3",
                        params![role.as_str(), id, tenant.map(|t| t.to_string())],
                    )
                    .db()?;
                    end_sessions_where(&tx, "user_id = ?3", &id, "role_changed", at)?;
                }
                if let Some(disabled) = update.disabled {
                    tx.execute(
                        "UPDATE users SET disabled = ?1 WHERE id = ?2",
                        params![disabled, id],
                    )
                    .db()?;
                    if disabled {
                        end_sessions_where(&tx, "user_id = ?3", &id, "user_disabled", at)?;
                    }
                }
                audit::append(&tx, &audit)?;
                let member = member_of(&tx, tenant, user)?.ok_or(StoreError::NotFound)?;
                tx.commit().db()?;
                Ok(member)
            })
            .await
    }

    async fn locked_until(&self, email: &str) -> StoreResult<Option<DateTime<Utc>>> {
        let email = email.to_owned();
        self.db
            .call(move |conn| {
                let until = conn
                    .query_row(
                        "SELECT locked_until FROM login_failures WHERE email = ?1",
                        [email],
                        |row| get_opt_ts(row, 0),
                    )
                    .optional()
                    .db()?;
                Ok(until.flatten())
            })
            .await
    }

    async fn record_login_failure(
        &self,
        email: &str,
        threshold: u32,
        lock_until: DateTime<Utc>,
        audit: AuditEvent,
    ) -> StoreResult<bool> {
        let email = email.to_owned();
        self.db
            .call(move |conn| {
                let tx = conn.transaction().db()?;
                let at = ts(audit.at);
                tx.execute(
                    "INSERT INTO login_failures (email, failures, last_failure_at) VALUES (?1, 1, ?2) \
                     ON CONFLICT (email) DO UPDATE SET failures = failures + 1, last_failure_at = ?2",
                    params![email, at],
                )
                .db()?;
                let failures: u32 = tx
                    .query_row(
                        "SELECT failures FROM login_failures WHERE email = ?1",
                        [&email],
                        |row| row.get(0),
                    )
                    .db()?;
                let locked = failures >= threshold;
                if locked {
                    tx.execute(
                        "UPDATE login_failures SET locked_until = ?1, failures = 0 WHERE email = ?2",
                        params![ts(lock_until), email],
                    )
                    .db()?;
                }
                audit::append(&tx, &audit)?;
                tx.commit().db()?;
                Ok(locked)
            })
            .await
    }

    async fn create_session(
        &self,
        session: &SessionRecord,
        refresh_hash: &str,
        email: &str,
        audit: AuditEvent,
    ) -> StoreResult<()> {
        let s = session.clone();
        let refresh_hash = refresh_hash.to_owned();
        let email = email.to_owned();
        self.db
            .call(move |conn| {
                let tx = conn.transaction().db()?;
                tx.execute(
                    &format!(
                        "INSERT INTO sessions ({SESSION}) VALUES \
                         (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
                    ),
                    params![
                        s.id.to_string(),
                        s.user_id.to_string(),
                        s.tenant_id.map(|t| t.to_string()),
                        s.role.as_str(),
                        s.device_id.map(|d| d.to_string()),
                        s.device_name,
                        s.ip,
                        s.user_agent,
                        ts(s.created_at),
                        ts(s.last_activity_at),
                        ts(s.absolute_expires_at),
                        s.ended_at.map(ts),
                        s.end_reason,
                    ],
                )
                .db()?;
                tx.execute(
                    "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES (?1, ?2, ?3)",
                    params![refresh_hash, s.id.to_string(), ts(s.created_at)],
                )
                .db()?;
                if let Some(device) = s.device_id {
                    tx.execute(
                        "INSERT INTO devices (id, user_id, name, first_seen_at, last_seen_at) \
                         VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (id) DO UPDATE SET \
                         last_seen_at = ?4, name = coalesce(?3, name)",
                        params![
                            device.to_string(),
                            s.user_id.to_string(),
                            s.device_name,
                            ts(s.created_at)
                        ],
                    )
                    .db()?;
                }
                tx.execute("DELETE FROM login_failures WHERE email = ?1", [email])
                    .db()?;
                audit::append(&tx, &audit)?;
                tx.commit().db()
            })
            .await
    }

    async fn session(&self, id: SessionId) -> StoreResult<Option<SessionRecord>> {
        self.db
            .call(move |conn| session_by_id(conn, &id.to_string()))
            .await
    }

    async fn touch_session(&self, id: SessionId, at: DateTime<Utc>) -> StoreResult<()> {
        self.db
            .call(move |conn| {
                conn.execute(
                    "UPDATE sessions SET last_activity_at = ?1 WHERE id = ?2 AND ended_at IS NULL",
                    params![ts(at), id.to_string()],
                )
                .db()
                .map(drop)
            })
            .await
    }

    async fn rotate_refresh(
        &self,
        old_hash: &str,
        new_hash: &str,
        at: DateTime<Utc>,
        retry_window: chrono::Duration,
    ) -> StoreResult<RefreshOutcome> {
        let (old_hash, new_hash) = (old_hash.to_owned(), new_hash.to_owned());
        self.db
            .call(move |conn| {
                let tx = conn.transaction().db()?;
                let token: Option<(String, Option<DateTime<Utc>>, Option<String>)> = tx
                    .query_row(
                        "SELECT session_id, spent_at, replaced_by FROM refresh_tokens WHERE token_hash = ?1",
                        [&old_hash],
                        |row| Ok((row.get(0)?, get_opt_ts(row, 1)?, row.get(2)?)),
                    )
                    .optional()
                    .db()?;
                let Some((session_id, spent_at, replaced_by)) = token else {
                    return Ok(RefreshOutcome::Unknown);
                };
                let Some(session) = session_by_id(&tx, &session_id)? else {
                    return Ok(RefreshOutcome::Unknown);
                };
                let successor_unused = match &replaced_by {
                    Some(next) => tx
                        .query_row(
                            "SELECT spent_at IS NULL FROM refresh_tokens WHERE token_hash = ?1",
                            [next],
                            |row| row.get::<_, bool>(0),
                        )
                        .optional()
                        .db()?
                        .unwrap_or(false),
                    None => false,
                };
                let presented = PresentedToken {
                    spent_at,
                    replaced_by,
                    successor_unused,
                    session_ended: session.ended_at.is_some(),
                };
                match refresh::step(&presented, &new_hash, at, retry_window) {
                    RefreshStep::Refuse { spent: false } => Ok(RefreshOutcome::Ended(session)),
                    RefreshStep::Refuse { spent: true } => Ok(RefreshOutcome::Reused(session)),
                    RefreshStep::Revoke => {
                        end_sessions_where(&tx, "id = ?3", &session_id, "refresh_token_reused", at)?;
                        let session = session_by_id(&tx, &session_id)?.ok_or(StoreError::NotFound)?;
                        tx.commit().db()?;
                        Ok(RefreshOutcome::Reused(session))
                    }
                    step @ (RefreshStep::Rotate | RefreshStep::Repeat) => {
                        if step == RefreshStep::Rotate {
                            tx.execute(
                                "UPDATE refresh_tokens SET spent_at = ?1, replaced_by = ?2 WHERE token_hash = ?3",
                                params![ts(at), new_hash, old_hash],
                            )
                            .db()?;
                            tx.execute(
                                "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES (?1, ?2, ?3)",
                                params![new_hash, session_id, ts(at)],
                            )
                            .db()?;
                        }
                        tx.execute(
                            "UPDATE sessions SET last_activity_at = ?1 WHERE id = ?2",
                            params![ts(at), session_id],
                        )
                        .db()?;
                        tx.commit().db()?;
                        Ok(RefreshOutcome::Rotated(session))
                    }
                }
            })
            .await
    }

    async fn end_session(
        &self,
        id: SessionId,
        reason: &str,
        at: DateTime<Utc>,
        audit: AuditEvent,
    ) -> StoreResult<()> {
        let reason = reason.to_owned();
        self.db
            .call(move |conn| {
                let tx = conn.transaction().db()?;
                end_sessions_where(&tx, "id = ?3", &id.to_string(), &reason, at)?;
                audit::append(&tx, &audit)?;
                tx.commit().db()
            })
            .await
    }

    async fn sessions_of(&self, user: UserId) -> StoreResult<Vec<SessionRecord>> {
        self.db
            .call(move |conn| {
                let mut stmt = conn
                    .prepare(&format!(
                        "SELECT {SESSION} FROM sessions WHERE user_id = ?1 ORDER BY created_at"
                    ))
                    .db()?;
                stmt.query_map([user.to_string()], read_session)
                    .db()?
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .db()
            })
            .await
    }

    async fn device(&self, id: DeviceId) -> StoreResult<Option<DeviceRecord>> {
        self.db
            .call(move |conn| {
                conn.query_row(
                    &format!("SELECT {DEVICE} FROM devices WHERE id = ?1"),
                    [id.to_string()],
                    read_device,
                )
                .optional()
                .db()
            })
            .await
    }

    async fn devices_of(&self, user: UserId) -> StoreResult<Vec<DeviceRecord>> {
        self.db
            .call(move |conn| {
                let mut stmt = conn
                    .prepare(&format!(
                        "SELECT {DEVICE} FROM devices WHERE user_id = ?1 ORDER BY first_seen_at"
                    ))
                    .db()?;
                stmt.query_map([user.to_string()], read_device)
                    .db()?
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .db()
            })
            .await
    }

    async fn revoke_device(
        &self,
        id: DeviceId,
        at: DateTime<Utc>,
        audit: AuditEvent,
    ) -> StoreResult<()> {
        self.db
            .call(move |conn| {
                let tx = conn.transaction().db()?;
                let found = tx
                    .execute(
                        "UPDATE devices SET revoked_at = coalesce(revoked_at, ?1) WHERE id = ?2",
                        params![ts(at), id.to_string()],
                    )
                    .db()?;
                if found == 0 {
                    return Err(StoreError::NotFound);
                }
                end_sessions_where(&tx, "device_id = ?3", &id.to_string(), "device_revoked", at)?;
                audit::append(&tx, &audit)?;
                tx.commit().db()
            })
            .await
    }

    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        self.db
            .call(|conn| {
                let mut stmt = conn
                    .prepare(
                        "SELECT kid, private_pkcs8, public_key, created_at FROM signing_keys \
                         ORDER BY created_at DESC",
                    )
                    .db()?;
                stmt.query_map([], |row| {
                    Ok(SigningKeyRecord {
                        kid: row.get(0)?,
                        private_pkcs8: row.get(1)?,
                        public_key: row.get(2)?,
                        created_at: get_ts(row, 3)?,
                    })
                })
                .db()?
                .collect::<rusqlite::Result<Vec<_>>>()
                .db()
            })
            .await
    }

    async fn add_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()> {
        let key = key.clone();
        self.db
            .call(move |conn| {
                conn.execute(
                    "INSERT INTO signing_keys (kid, private_pkcs8, public_key, created_at) \
                     VALUES (?1, ?2, ?3, ?4)",
                    params![
                        key.kid,
                        key.private_pkcs8,
                        key.public_key,
                        ts(key.created_at)
                    ],
                )
                .map_err(unique_as("signing key"))
                .map(drop)
            })
            .await
    }

    async fn append_audit(&self, event: AuditEvent) -> StoreResult<i64> {
        self.db
            .call(move |conn| audit::append_alone(conn, &event))
            .await
    }

    async fn verify_audit(&self) -> StoreResult<ChainReport> {
        self.db.call(|conn| audit::verify(conn, "central")).await
    }

    async fn audit_of_user(&self, user: UserId, limit: u32) -> StoreResult<Vec<AuditRecord>> {
        self.db
            .call(move |conn| audit::of_actor(conn, user, limit))
            .await
    }

    async fn status(&self) -> DatabaseStatus {
        status::of(&self.db, "central", None).await
    }
}
