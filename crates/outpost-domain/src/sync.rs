//! The sync protocol between a client's outbox and the hub (DESIGN.md, "Sync").
//!
//! Push: the client sends its outbox in order; each op is idempotent by `op_id` and checked
//! against the record's version. Pull: changes after a cursor in the hub's own order (its
//! change-feed sequence, never a device clock). Snapshot: a consistent copy of everything the
//! user may read, and the cursor to continue from.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ids::{LocalEventId, OpId, RecordId};
use crate::record::{HistoryEntry, Record};
use crate::roles::Permission;

pub use crate::kind::Entity;

/// The version of the op format and client schema this build speaks: 4 knows units' shifts,
/// 3 the other transport kinds (facilities, transport requests, units, trips), 2 the clinic's
/// (patients and the schedule), 1 patients only.
pub const SCHEMA_VERSION: i64 = 4;
/// The schema of a client that does not name one on a pull or a snapshot (those before 4 did
/// not): the hub sends it the kinds up to this schema's, and a cache that did not record its
/// schema knew these.
pub const UNSAID_SCHEMA: i64 = 3;
/// The oldest client schema the hub still applies: a schema 1 op is a patient op, which the
/// hub applies as it always did. (A schema 1 client cannot read a snapshot, nor a pull holding
/// other kinds: it must update, which the desktop's updater offers.)
pub const MIN_SCHEMA_VERSION: i64 = 1;
/// Most ops or offline events accepted in one push.
pub const MAX_PUSH_OPS: usize = 5000;

/// What an op does to its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OpAction {
    Create,
    Update,
    Delete,
}

impl OpAction {
    pub fn as_str(self) -> &'static str {
        match self {
            OpAction::Create => "create",
            OpAction::Update => "update",
            OpAction::Delete => "delete",
        }
    }
}

/// One local change, as the outbox holds it and the hub receives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Op {
    pub op_id: OpId,
    pub entity: Entity,
    /// Chosen by the client for creates (a UUIDv7), so offline records have their final id.
    pub record_id: RecordId,
    pub action: OpAction,
    /// The version the client edited; `None` for a create.
    pub base_version: Option<i64>,
    /// For a create: every field; for an update: the changed fields; for a delete: nothing.
    pub fields: Map<String, Value>,
    /// The device's clock when the change was made: informational only.
    pub client_time: DateTime<Utc>,
    /// The client's schema version when it recorded the op.
    pub schema_version: i64,
}

/// The largest `details` of an uploaded audit event, in bytes of JSON: enough for a search
/// with its query and a hundred returned ids, small enough that a device cannot bloat the chain.
pub const MAX_AUDIT_DETAILS_BYTES: usize = 8192;

/// An audit event recorded on a device while offline (a read or a change), uploaded with the
/// next push and appended to the tenant's chain with both clocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocalAuditEvent {
    pub event_id: LocalEventId,
    pub action: String,
    pub entity: Option<String>,
    pub entity_id: Option<String>,
    pub client_time: DateTime<Utc>,
    pub details: Value,
}

/// `POST /v1/sync/push`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushRequest {
    pub schema_version: i64,
    #[serde(default)]
    pub ops: Vec<Op>,
    #[serde(default)]
    pub audit: Vec<LocalAuditEvent>,
}

/// How the hub dealt with an op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OpStatus {
    /// Applied on the version the client edited.
    Applied,
    /// The record had moved on, but only in other fields: applied on top.
    Merged,
    /// The record had moved on in the same fields (or was deleted): not applied. `record`
    /// holds the hub's current record (`None` if it was deleted).
    Conflict,
    /// Not applicable at all (invalid fields, forbidden, duplicate MRN): not applied.
    Rejected,
}

/// The outcome of one op; a replay of the same `op_id` gets the same answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OpResult {
    pub op_id: OpId,
    pub status: OpStatus,
    /// The record's version after the op (applied/merged) or now (conflict).
    pub version: Option<i64>,
    /// The hub's record after the op, or its current record on a conflict.
    pub record: Option<Record>,
    /// For a rejection: a code and a sentence, never a value.
    pub error: Option<OpError>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OpError {
    pub code: String,
    pub message: String,
}

/// The answer to a push.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PushResponse {
    pub results: Vec<OpResult>,
    /// Offline audit events now in the hub's chain (including earlier replays).
    pub audit_accepted: Vec<LocalEventId>,
    /// The hub's change-feed position after this push.
    pub cursor: i64,
}

/// One change after a cursor: the record as it is now (or its tombstone), plus the version
/// entry the change created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Change {
    pub seq: i64,
    pub entity: Entity,
    pub record_id: RecordId,
    pub version: i64,
    pub action: OpAction,
    /// The current record; `None` when the record is deleted.
    pub record: Option<Record>,
    pub history: Option<HistoryEntry>,
}

/// `GET /v1/sync/pull`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PullResponse {
    pub changes: Vec<Change>,
    /// Where the next pull starts.
    pub cursor: i64,
    pub has_more: bool,
}

/// One line of `GET /v1/sync/snapshot` (newline-delimited JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SnapshotLine {
    /// First line: the cursor the snapshot is consistent with, and how many rows follow.
    Begin {
        cursor: i64,
        records: u64,
        history: u64,
    },
    /// A live record, kind by kind in [`Entity::ALL`] order.
    Record { entity: Entity, record: Record },
    /// One version of a live record, after all the records.
    History {
        entity: Entity,
        record_id: RecordId,
        entry: HistoryEntry,
    },
    /// Last line; a stream without it was cut short.
    End,
}

/// `GET /v1/events` data: new changes exist up to `cursor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChangesAvailable {
    pub cursor: i64,
}

/// What the acting user may do with ops, decided by the hub from their permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpRules {
    pub permissions: BTreeSet<Permission>,
    /// The acting user, for kinds whose records only some readers see (`None`: the hub
    /// itself, its tools and its worker, which see every record).
    pub user: Option<crate::ids::UserId>,
    /// For date validation (a birth date is not in the future).
    pub today: chrono::NaiveDate,
}

impl OpRules {
    /// Whether this op is allowed at all; a refusal is the op's `Rejected` answer.
    pub fn check(&self, op: &Op) -> Result<(), OpError> {
        let forbidden = |message: String| OpError {
            code: "forbidden".into(),
            message,
        };
        if op.schema_version < MIN_SCHEMA_VERSION || op.schema_version > SCHEMA_VERSION {
            return Err(OpError {
                code: "unsupported_schema".into(),
                message: format!(
                    "this op was recorded with client schema {}; the hub applies {MIN_SCHEMA_VERSION} to {SCHEMA_VERSION}",
                    op.schema_version
                ),
            });
        }
        let kind = op.entity.kind();
        let records = kind.table.replace('_', " ");
        match op.action {
            OpAction::Delete if !kind.may_delete(&self.permissions) => {
                Err(forbidden(format!("your role may not delete {records}")))
            }
            OpAction::Create | OpAction::Update if !kind.may_write(&self.permissions) => {
                Err(forbidden(format!("your role may not change {records}")))
            }
            _ => match if op.action == OpAction::Create {
                kind.creation_refusal(
                    &op.fields,
                    &self.permissions,
                    self.user.is_none(),
                    self.today,
                )
            } else {
                kind.write_refusal(op.fields.keys(), &self.permissions, self.user.is_none())
            } {
                Some(why) => Err(forbidden(why)),
                None if op.action == OpAction::Update && op.base_version.is_none() => {
                    Err(OpError {
                        code: "invalid_input".into(),
                        message: "an update needs base_version".into(),
                    })
                }
                None => Ok(()),
            },
        }
    }
}
