//! Records the stores hand to the hub (and take from it) that are not wire types.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use outpost_domain::audit::AuditRecord;
use outpost_domain::patient::Patient;
use outpost_domain::record::Record;
use outpost_domain::tenant::Tenant;
use outpost_domain::{DeviceId, RecordId, Role, SessionId, TenantId, UserId};
use serde_json::Value;

use crate::error::StoreError;

pub use outpost_domain::patient::HistoryEntry;

/// A user with the secret the hub verifies passwords against.
#[derive(Clone)]
pub struct UserRecord {
    pub id: UserId,
    pub email: String,
    pub full_name: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

/// A user's role in one tenant (`tenant` is `None` for the platform scope).
#[derive(Debug, Clone, PartialEq)]
pub struct Membership {
    pub tenant: Option<Tenant>,
    pub role: Role,
}

/// Changes to a user within a tenant. `None` leaves a field as it is.
#[derive(Clone, Default)]
pub struct MemberUpdate {
    pub full_name: Option<String>,
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    pub password_hash: Option<String>,
}

/// A sign-in session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SessionRecord {
    pub id: SessionId,
    pub user_id: UserId,
    pub tenant_id: Option<TenantId>,
    pub role: Role,
    pub device_id: Option<DeviceId>,
    pub device_name: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_activity_at: DateTime<Utc>,
    pub absolute_expires_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub end_reason: Option<String>,
}

/// A store's state for the hub's metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreGauges {
    /// Tenant databases with an open handle in this process.
    pub tenant_handles_open: usize,
    /// The PostgreSQL connection router's connections; `None` on the embedded backend.
    pub connections: Option<ConnectionGauges>,
}

/// The PostgreSQL router's connections against its cap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionGauges {
    pub cap: usize,
    /// Open connections, idle or in use.
    pub open: usize,
    pub idle: usize,
    /// Requests waiting for a connection (a slot of their database or one under the cap).
    pub waiting: usize,
}

/// What presenting a refresh token led to.
#[derive(Debug, Clone, PartialEq)]
pub enum RefreshOutcome {
    /// The token was current: it is now spent and the new one replaces it. The session is
    /// as it was before this refresh, so that the caller can judge its idle time.
    Rotated(SessionRecord),
    /// The token had already been rotated: someone replayed it, so the session was revoked.
    Reused(SessionRecord),
    /// The token belongs to a session that has ended (the reason tells why).
    Ended(SessionRecord),
    /// No such token.
    Unknown,
}

/// A client installation seen at sign-in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceRecord {
    pub id: DeviceId,
    pub user_id: UserId,
    pub name: Option<String>,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// One Ed25519 token-signing key.
#[derive(Clone)]
pub struct SigningKeyRecord {
    pub kid: String,
    /// PKCS#8 DER of the private key.
    pub private_pkcs8: Vec<u8>,
    /// The raw 32-byte public key.
    pub public_key: Vec<u8>,
    pub created_at: DateTime<Utc>,
}

/// A patient search or listing.
#[derive(Debug, Clone, Default)]
pub struct PatientQuery {
    /// Case-insensitive prefix of a name or the MRN; every word must match.
    pub q: Option<String>,
    pub limit: u32,
    pub after: Option<RecordCursor>,
}

impl PatientQuery {
    /// The same query for the generic engine.
    pub fn to_records(&self) -> RecordQuery {
        RecordQuery {
            q: self.q.clone(),
            filters: Vec::new(),
            limit: self.limit,
            after: self.after.clone(),
        }
    }
}

/// Where a listing continues from: the values of the kind's order columns of the last record
/// returned, and its id. Sent to clients as opaque JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordCursor {
    pub keys: Vec<Value>,
    pub id: RecordId,
}

impl RecordCursor {
    /// The cursor continuing after `record` in its kind's order.
    pub fn after(kind: &outpost_domain::Kind, record: &Record) -> Self {
        let search = kind.search_values(&record.fields);
        let keys = kind
            .order
            .iter()
            .map(
                |column| match kind.search.iter().position(|k| k.column == *column) {
                    Some(i) => search[i].clone().map_or(Value::Null, Value::String),
                    None => record.fields.get(*column).cloned().unwrap_or(Value::Null),
                },
            )
            .collect();
        Self {
            keys,
            id: record.id,
        }
    }
}

/// How a filter compares a field with its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOp {
    Equals,
    /// The field is at least the value.
    AtLeast,
    /// The field is before (less than) the value.
    Before,
    /// The field, a list of ids, holds the value (a row rule's members: a crew's trips).
    Contains,
}

/// One condition of a listing on a field of the kind (values as the field's JSON).
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub field: &'static str,
    pub op: FilterOp,
    pub value: Value,
}

/// A search or listing of one kind.
#[derive(Debug, Clone, Default)]
pub struct RecordQuery {
    /// Case-insensitive prefix of the kind's search keys; every word must match one.
    pub q: Option<String>,
    pub filters: Vec<Filter>,
    pub limit: u32,
    pub after: Option<RecordCursor>,
}

/// The result of a versioned change.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOutcome {
    Done(Record),
    /// The record moved on since the caller's version; nothing was written.
    Stale(Record),
    NotFound,
}

/// A patient's full story for a report.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PatientReport {
    pub patient: Patient,
    pub deleted_at: Option<DateTime<Utc>>,
    pub versions: Vec<HistoryEntry>,
    pub accesses: Vec<AuditRecord>,
}

/// One database's health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DatabaseStatus {
    /// `central` or the tenant's slug.
    pub name: String,
    pub tenant_id: Option<TenantId>,
    pub reachable: bool,
    pub schema_version: Option<i64>,
    pub size_bytes: Option<u64>,
    pub latency_ms: Option<f64>,
    pub error: Option<String>,
}

impl DatabaseStatus {
    /// A database that answered.
    pub fn reached(
        name: &str,
        tenant_id: Option<TenantId>,
        schema_version: i64,
        size_bytes: u64,
        latency_ms: f64,
    ) -> Self {
        Self {
            name: name.to_owned(),
            tenant_id,
            reachable: true,
            schema_version: Some(schema_version),
            size_bytes: Some(size_bytes),
            latency_ms: Some(latency_ms),
            error: None,
        }
    }

    /// A database that could not be reached or read, and why.
    pub fn unreachable(name: &str, tenant_id: Option<TenantId>, error: &StoreError) -> Self {
        Self {
            name: name.to_owned(),
            tenant_id,
            reachable: false,
            schema_version: None,
            size_bytes: None,
            latency_ms: None,
            error: Some(error.to_string()),
        }
    }
}
