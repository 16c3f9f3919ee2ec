//! Column lists shared by the backends, whose schemas have the same tables and column names
//! (only types and placeholders differ). Each backend's row readers expect this order.

/// `tenants`, as read into a `Tenant`.
pub const TENANT: &str = "id, slug, name, kind, status, created_at, read_only";
/// `sessions`, as read into a `SessionRecord`.
pub const SESSION: &str = "id, user_id, tenant_id, role, device_id, device_name, ip, \
     user_agent, created_at, last_activity_at, absolute_expires_at, ended_at, end_reason";
/// `users`, as read into a `UserRecord`.
pub const USER: &str = "id, email, full_name, password_hash, disabled, created_at";
/// Users with one membership each, as read into a `Member`.
pub const MEMBER_QUERY: &str = "SELECT u.id, u.email, u.full_name, m.tenant_id, m.role, \
     u.disabled, u.created_at FROM users u JOIN memberships m ON m.user_id = u.id";
/// `devices`, as read into a `DeviceRecord`.
pub const DEVICE: &str = "id, user_id, name, first_seen_at, last_seen_at, revoked_at";
/// `audit_events`, as read into an `AuditRecord`.
pub const AUDIT: &str = "seq, at, tenant_id, actor_user_id, actor_role, session_id, device_id, \
     ip, action, entity, entity_id, outcome, details, prev_hash, hash";
/// The columns of a kind's history table (`key` names the record), each prefixed with
/// `table` (`""` or an alias and a dot).
pub fn history(key: &str, table: &str) -> String {
    [
        key,
        "version",
        "action",
        "changes",
        "actor_user_id",
        "session_id",
        "device_id",
        "at",
        "client_time",
    ]
    .map(|c| format!("{table}{c}"))
    .join(", ")
}
