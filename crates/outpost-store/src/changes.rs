//! What every backend records around a change, built once: the audit events of changes,
//! refusals, reads and syncs, and the answers to pushed ops. Backends only store them.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use outpost_domain::Kind;
use outpost_domain::ValidationError;
use outpost_domain::audit::{Actor, AuditEvent, Outcome};
use outpost_domain::record::{Changes, PatchError, Record};
use outpost_domain::sync::{LocalAuditEvent, Op, OpError, OpResult, OpStatus};

use crate::error::StoreError;

/// Where a change came from when a device's sync uploaded it.
pub struct Synced {
    /// Added to the change's audit event (the op id, the device's clock).
    pub details: Value,
    /// The device's clock when the change was made, kept with the version.
    pub client_time: DateTime<Utc>,
}

impl Synced {
    /// The origin of a pushed op.
    pub fn of(op: &Op) -> Self {
        Self {
            details: json!({
                "via": "sync",
                "op_id": op.op_id,
                "client_time": op.client_time,
            }),
            client_time: op.client_time,
        }
    }
}

/// The audit event of a change that landed; a synced change's origin is merged into the
/// details.
pub fn change_event(
    actor: &Actor,
    kind: &Kind,
    action: &str,
    record: &Record,
    changes: &Changes,
    synced: Option<&Synced>,
) -> AuditEvent {
    let mut details = json!({ "version": record.version, "changes": changes });
    if let (Some(Value::Object(extra)), Some(map)) =
        (synced.map(|s| &s.details), details.as_object_mut())
    {
        map.extend(extra.clone());
    }
    actor
        .event(format!("{}.{action}", kind.name), Outcome::Success)
        .entity(kind.name, record.id)
        .details(details)
}

/// A change refused for a stale version still showed the caller the current record: it is
/// audited as a failure.
pub fn stale_event(
    actor: &Actor,
    kind: &Kind,
    action: &str,
    current: &Record,
    base_version: i64,
) -> AuditEvent {
    actor
        .event(format!("{}.{action}", kind.name), Outcome::Failure)
        .entity(kind.name, current.id)
        .details(json!({
            "reason": "version_conflict",
            "base_version": base_version,
            "current_version": current.version,
        }))
}

/// A search or listing, with the ids it returned (so that a patient's report shows it).
pub fn search_event(
    actor: &Actor,
    kind: &Kind,
    query: Option<&str>,
    returned: &[String],
) -> AuditEvent {
    actor
        .event(format!("{}.search", kind.name), Outcome::Success)
        .details(json!({ "query": query, "returned": returned }))
}

/// A pull that returned changes, with the records it returned.
pub fn pull_event(
    actor: &Actor,
    cursor: i64,
    to: i64,
    returned: &std::collections::BTreeSet<String>,
) -> AuditEvent {
    actor.event("sync.pull", Outcome::Success).details(json!({
        "cursor": cursor,
        "to": to,
        "returned": returned,
    }))
}

/// A snapshot handed out, with its cursor and size.
pub fn snapshot_event(actor: &Actor, cursor: i64, records: u64) -> AuditEvent {
    actor
        .event("sync.snapshot", Outcome::Success)
        .details(json!({ "cursor": cursor, "records": records }))
}

/// An event recorded offline, as the hub appends it: stamped with the hub's time, keeping the
/// device's time and details.
pub fn offline_event(actor: &Actor, event: &LocalAuditEvent) -> AuditEvent {
    let mut record = actor
        .event(event.action.clone(), Outcome::Success)
        .details(json!({
            "offline": true,
            "local_event_id": event.event_id,
            "client_time": event.client_time,
            "details": event.details,
        }));
    record.entity.clone_from(&event.entity);
    record.entity_id.clone_from(&event.entity_id);
    record
}

/// A partial update that does not apply, as a store error (never echoing values).
pub fn patch_error(err: PatchError) -> StoreError {
    match err {
        PatchError::Invalid(v) => StoreError::Invalid(v),
        PatchError::Shape(s) => StoreError::Invalid(ValidationError::new("patch", s)),
    }
}

/// A refused op.
pub fn op_rejected(op: &Op, code: &str, message: impl Into<String>) -> OpResult {
    OpResult {
        op_id: op.op_id,
        status: OpStatus::Rejected,
        version: None,
        record: None,
        error: Some(OpError {
            code: code.into(),
            message: message.into(),
        }),
    }
}

/// An op that applied or merged, with the record after it.
pub fn op_done(op: &Op, status: OpStatus, record: Record) -> OpResult {
    OpResult {
        op_id: op.op_id,
        status,
        version: Some(record.version),
        record: Some(record),
        error: None,
    }
}

/// An op that conflicts with the current record (not sent back when deleted).
pub fn op_conflict(op: &Op, current: Record, deleted: bool) -> OpResult {
    OpResult {
        op_id: op.op_id,
        status: OpStatus::Conflict,
        version: Some(current.version),
        record: (!deleted).then_some(current),
        error: None,
    }
}

/// The answer to an op whose write failed: invalid input and uniqueness become rejections
/// the device can show; anything else is the backend's error.
pub fn op_failed(op: &Op, err: StoreError) -> Result<OpResult, StoreError> {
    match err {
        StoreError::Invalid(v) => {
            let code = if v.malformed {
                "invalid_input"
            } else {
                "validation_failed"
            };
            Ok(op_rejected(op, code, v.to_string()))
        }
        StoreError::AlreadyExists(what) => Ok(op_rejected(
            op,
            "already_exists",
            format!("a record with this {what} already exists"),
        )),
        other => Err(other),
    }
}

/// The audit event of an op that did not apply (rejected or conflicting).
pub fn op_failure_event(actor: &Actor, op: &Op, result: &OpResult, synced: Synced) -> AuditEvent {
    let mut event = actor
        .event(
            format!("{}.{}", op.entity.as_str(), op.action.as_str()),
            Outcome::Failure,
        )
        .entity(op.entity.as_str(), op.record_id)
        .details(synced.details);
    if let Some(map) = event.details.as_object_mut() {
        map.insert("status".into(), json!(result.status));
        map.insert("base_version".into(), json!(op.base_version));
        if let Some(error) = &result.error {
            map.insert("code".into(), json!(error.code));
        }
    }
    event
}
