//! What the cache does with the hub's answers, decided without I/O for every kind of record:
//! an op the hub applied or merged, an op it refused or found in conflict, and a change pulled
//! from its feed, and the user's answer to a conflict. The sync engine (or the client) reads the record and its pending ops, calls these, and
//! writes what they say.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use outpost_domain::Entity;
use outpost_domain::record::Record;
use outpost_domain::sync::{Change, Op, OpAction, OpResult};

use crate::cache::{LocalRecord, StoredConflict};
use crate::client::{Resolution, new_op};
use crate::error::{ClientError, ClientResult};

/// The local record after the hub applied an op when nothing else is pending on it and no
/// conflict waits: the hub's record as it now is, confirmed (`None`: the local copy must be
/// read and settled with [`applied`]).
pub fn confirmed(
    entity: Entity,
    result: &OpResult,
    settled: bool,
    conflicted: bool,
) -> Option<LocalRecord> {
    match (&result.record, settled, conflicted) {
        (Some(record), true, false) => Some(LocalRecord::confirmed(entity, record.clone())),
        _ => None,
    }
}

/// What an applied op leaves when it is not simply [`confirmed`]: the local copy keeps the
/// changes still pending (or the conflict's local side), and learns the hub's version and
/// record; a delete the hub applied with nothing pending is a confirmed tombstone. With a
/// conflict waiting, its hub side moves to this newer version (`refresh`).
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub local: LocalRecord,
    pub refresh: Option<(Option<Record>, i64)>,
}

pub fn applied(
    local: LocalRecord,
    result: &OpResult,
    deleted: bool,
    settled: bool,
    conflicted: bool,
) -> Applied {
    let refresh = result
        .version
        .filter(|_| conflicted)
        .map(|version| (result.record.clone(), version));
    let local = match (deleted, settled && !conflicted) {
        (true, true) => LocalRecord {
            hub_version: result.version,
            deleted: true,
            hub_data: None,
            ..local
        },
        _ => LocalRecord {
            hub_version: result.version,
            hub_data: result.record.clone(),
            ..local
        },
    };
    Applied { local, refresh }
}

/// The local copy of a record whose op the hub refused or found in conflict: kept as it is,
/// marked, until the user settles it.
pub fn refused(local: LocalRecord) -> LocalRecord {
    LocalRecord {
        conflict: true,
        ..local
    }
}

/// What a pulled change does to the cache.
#[derive(Debug, Clone, PartialEq)]
pub enum Pulled {
    /// Nothing: local changes are pending on the record, or the cache already has a newer
    /// version.
    Keep,
    /// A conflict waits on the record: only its hub side moves, in the conflict and in the
    /// local record (whose own values stay the user's until they settle it).
    RefreshConflict(Box<LocalRecord>),
    Put(Box<LocalRecord>),
}

pub fn pulled(change: &Change, local: Option<LocalRecord>, pending: bool) -> Pulled {
    if let Some(local) = &local {
        if local.conflict {
            return Pulled::RefreshConflict(Box::new(LocalRecord {
                hub_version: Some(change.version),
                hub_data: change.record.clone(),
                ..local.clone()
            }));
        }
        if pending || local.hub_version.is_some_and(|v| v > change.version) {
            return Pulled::Keep;
        }
    }
    match (&change.record, local) {
        (Some(record), _) => Pulled::Put(Box::new(LocalRecord::confirmed(
            change.entity,
            record.clone(),
        ))),
        (None, Some(mut local)) => {
            // Gone, or no longer the user's to see: what only a record's members read (a
            // trip's patient) does not stay in the tombstone.
            let kind = change.entity.kind();
            local.record.fields.retain(|key, _| !kind.is_private(key));
            Pulled::Put(Box::new(LocalRecord {
                hub_version: Some(change.version),
                deleted: true,
                hub_data: None,
                ..local
            }))
        }
        (None, None) => Pulled::Keep,
    }
}

/// What settling a conflict leaves: the local record (`None`: removed, the hub never had
/// it) and the op to send, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub local: Option<LocalRecord>,
    pub op: Option<Op>,
}

/// How `resolution` settles `conflict` over the local copy `local`, at `now`.
pub fn resolved(
    now: DateTime<Utc>,
    conflict: &StoredConflict,
    local: LocalRecord,
    resolution: &Resolution,
) -> ClientResult<Resolved> {
    let entity = conflict.entity;
    let kind = entity.kind();
    let mine: Vec<String> = match resolution {
        Resolution::Change(changes) => return sent_again(now, conflict, local, changes),
        Resolution::KeepMine => conflict.local_op.fields.keys().cloned().collect(),
        Resolution::TakeTheirs => Vec::new(),
        Resolution::PerField(choice) => {
            if let Some(unknown) = choice
                .keys()
                .find(|f| !conflict.local_op.fields.contains_key(*f))
            {
                return Err(ClientError::InvalidInput(format!(
                    "`{unknown}` is not a field of this conflict"
                )));
            }
            choice
                .iter()
                .filter(|(_, m)| **m)
                .map(|(f, _)| f.clone())
                .collect()
        }
    };
    let keep_delete =
        conflict.local_op.action == OpAction::Delete && *resolution == Resolution::KeepMine;
    let settled = |local| Resolved { local, op: None };
    Ok(match (&conflict.hub_record, conflict.rejected) {
        (_, true) => {
            if *resolution != Resolution::TakeTheirs {
                return Err(ClientError::InvalidInput(
                    "the hub refused this change; it can be discarded (take theirs) or changed and sent again".into(),
                ));
            }
            settled(match (local.hub_version, local.hub_data.clone()) {
                (None, _) => None,
                (Some(v), Some(hub)) => Some(LocalRecord {
                    record: hub,
                    hub_version: Some(v),
                    deleted: false,
                    conflict: false,
                    hub_data: None,
                    ..local
                }),
                (Some(v), None) => Some(LocalRecord {
                    hub_version: Some(v),
                    conflict: false,
                    ..local
                }),
            })
        }
        (None, false) => {
            if !mine.is_empty() || keep_delete {
                return Err(ClientError::InvalidInput(
                    "the record was deleted on the hub: take theirs".into(),
                ));
            }
            settled(Some(LocalRecord {
                deleted: true,
                conflict: false,
                hub_data: None,
                hub_version: conflict.hub_version,
                ..local
            }))
        }
        (Some(hub), false) if keep_delete => {
            let mut record = hub.clone();
            record.version += 1;
            on_hub(now, local, hub, record, OpAction::Delete, Map::new())
        }
        (Some(hub), false) => {
            let values: Map<String, Value> = mine
                .iter()
                .map(|f| {
                    let value = local.record.fields.get(f).cloned().unwrap_or(Value::Null);
                    (f.clone(), value)
                })
                .collect();
            let (fields, changed) = kind.apply(&hub.fields, &values, now.date_naive())?;
            kind.check_rule(Some(&hub.fields), &fields)?;
            if changed.is_empty() {
                return Ok(settled(Some(LocalRecord::confirmed(entity, hub.clone()))));
            }
            let record = Record {
                fields,
                version: hub.version + 1,
                updated_at: now,
                ..hub.clone()
            };
            on_hub(now, local, hub, record, OpAction::Update, values)
        }
    })
}

/// The local copy becoming `record` on top of the hub's `hub`, and the op that sends it.
fn on_hub(
    now: DateTime<Utc>,
    local: LocalRecord,
    hub: &Record,
    record: Record,
    action: OpAction,
    values: Map<String, Value>,
) -> Resolved {
    let op = new_op(now, local.entity, hub.id, action, Some(hub.version), values);
    Resolved {
        local: Some(LocalRecord {
            record,
            hub_version: Some(hub.version),
            deleted: action == OpAction::Delete,
            conflict: false,
            hub_data: Some(hub.clone()),
            ..local
        }),
        op: Some(op),
    }
}

/// Settles a refused change by changing it (a booking moved to a free slot) and sending it
/// again: a record the hub never created is created anew with every field; one it has gets
/// the refused fields and the changes on top of its version.
fn sent_again(
    now: DateTime<Utc>,
    conflict: &StoredConflict,
    local: LocalRecord,
    changes: &Map<String, Value>,
) -> ClientResult<Resolved> {
    if !conflict.rejected {
        return Err(ClientError::InvalidInput(
            "this is a conflict with the hub's version: keep mine, take theirs or choose per field"
                .into(),
        ));
    }
    let (entity, id) = (conflict.entity, conflict.record_id);
    let kind = entity.kind();
    let (fields, _) = kind.apply(&local.record.fields, changes, now.date_naive())?;
    let before = local.hub_data.as_ref().map(|h| &h.fields);
    kind.check_rule(before, &fields)?;
    let op = match local.hub_version {
        None => new_op(now, entity, id, OpAction::Create, None, fields.clone()),
        Some(version) => {
            let mut values = conflict.local_op.fields.clone();
            values.extend(changes.clone());
            new_op(now, entity, id, OpAction::Update, Some(version), values)
        }
    };
    let record = Record {
        fields,
        updated_at: now,
        ..local.record.clone()
    };
    Ok(Resolved {
        local: Some(LocalRecord {
            record,
            conflict: false,
            ..local
        }),
        op: Some(op),
    })
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use serde_json::{Map, json};

    use outpost_domain::sync::{OpAction, OpStatus};
    use outpost_domain::{OpId, RecordId};

    use super::*;

    fn record(version: i64, phone: &str) -> Record {
        let mut fields = Map::new();
        fields.insert("phone".into(), json!(phone));
        Record {
            id: RecordId::from_uuid(uuid::Uuid::nil()),
            fields,
            version,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            updated_by: None,
        }
    }

    fn local(version: i64, hub_version: Option<i64>, phone: &str) -> LocalRecord {
        LocalRecord {
            entity: Entity::Appointment,
            record: record(version, phone),
            hub_version,
            deleted: false,
            conflict: false,
            hub_data: None,
        }
    }

    fn answer(record: Option<Record>, version: i64) -> OpResult {
        OpResult {
            op_id: OpId::generate(),
            status: OpStatus::Applied,
            version: Some(version),
            record,
            error: None,
        }
    }

    fn change(record: Option<Record>, version: i64) -> Change {
        Change {
            seq: 1,
            entity: Entity::Appointment,
            record_id: RecordId::from_uuid(uuid::Uuid::nil()),
            version,
            action: if record.is_some() {
                OpAction::Update
            } else {
                OpAction::Delete
            },
            record,
            history: None,
        }
    }

    #[test]
    fn an_applied_op_confirms_the_hub_record_only_when_nothing_else_waits() {
        let result = answer(Some(record(2, "hub")), 2);
        let confirmed_ = confirmed(Entity::Appointment, &result, true, false).expect("confirmed");
        assert_eq!(
            (confirmed_.hub_version, confirmed_.record.version),
            (Some(2), 2)
        );
        assert!(
            confirmed(Entity::Appointment, &result, false, false).is_none(),
            "more pending"
        );
        assert!(
            confirmed(Entity::Appointment, &result, true, true).is_none(),
            "a conflict waits"
        );
        // More pending: the local copy stays, and learns the hub's version and record.
        let kept = applied(local(3, Some(1), "mine"), &result, false, false, false);
        assert_eq!(kept.local.record.text("phone"), Some("mine"));
        assert_eq!(kept.local.hub_version, Some(2));
        assert_eq!(kept.local.hub_data.as_ref().map(|r| r.version), Some(2));
        assert_eq!(kept.refresh, None);
        // A conflict waits: its hub side moves forward.
        let refreshed = applied(local(3, Some(1), "mine"), &result, false, true, true);
        assert_eq!(refreshed.refresh.map(|(_, v)| v), Some(2));
        // A delete applied with nothing pending: a confirmed tombstone.
        let gone = applied(
            local(2, Some(1), "mine"),
            &answer(None, 2),
            true,
            true,
            false,
        );
        assert!(gone.local.deleted && gone.local.hub_data.is_none());
    }

    #[test]
    fn a_pulled_change_never_overwrites_pending_or_newer_local_state() {
        let newer = change(Some(record(3, "hub")), 3);
        assert_eq!(
            pulled(&newer, Some(local(4, Some(2), "mine")), true),
            Pulled::Keep
        );
        assert_eq!(
            pulled(&newer, Some(local(4, Some(4), "x")), false),
            Pulled::Keep
        );
        let mut marked = local(2, Some(2), "mine");
        marked.conflict = true;
        match pulled(&newer, Some(marked), false) {
            Pulled::RefreshConflict(kept) => {
                assert_eq!(
                    kept.record.text("phone"),
                    Some("mine"),
                    "the user's values stay"
                );
                assert_eq!(kept.hub_version, Some(3));
                assert_eq!(
                    kept.hub_data.as_ref().and_then(|r| r.text("phone")),
                    Some("hub")
                );
            }
            other => panic!("{other:?}"),
        }
        match pulled(&newer, Some(local(2, Some(2), "old")), false) {
            Pulled::Put(put) => assert_eq!(
                (put.record.text("phone"), put.hub_version),
                (Some("hub"), Some(3))
            ),
            other => panic!("{other:?}"),
        }
        match pulled(&change(None, 4), Some(local(3, Some(3), "old")), false) {
            Pulled::Put(put) => assert!(put.deleted),
            other => panic!("{other:?}"),
        }
        assert_eq!(pulled(&change(None, 4), None, false), Pulled::Keep);
        assert!(
            matches!(pulled(&newer, None, false), Pulled::Put(_)),
            "a record new to the cache"
        );
    }

    #[test]
    fn a_trip_gone_from_a_crews_sight_leaves_no_patient_in_its_tombstone() {
        let mut trip = local(3, Some(3), "x");
        trip.entity = Entity::Trip;
        trip.record
            .fields
            .insert("patient_name".into(), json!("Ada Byron"));
        trip.record
            .fields
            .insert("patient_birth_date".into(), json!("1950-02-03"));
        trip.record
            .fields
            .insert("origin".into(), json!("St Mary's"));
        let gone = Change {
            entity: Entity::Trip,
            ..change(None, 4)
        };
        match pulled(&gone, Some(trip), false) {
            Pulled::Put(local) => {
                assert!(local.deleted);
                assert!(!local.record.fields.contains_key("patient_name"));
                assert!(!local.record.fields.contains_key("patient_birth_date"));
                assert_eq!(local.record.fields["origin"], "St Mary's");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_refused_op_marks_the_local_copy() {
        assert!(refused(local(2, Some(1), "mine")).conflict);
    }

    fn patient(version: i64, phone: &str) -> Record {
        let fields = json!({
            "mrn": "M-1", "given_name": "Ada", "family_name": "Byron",
            "birth_date": "1980-05-05", "phone": phone
        });
        Record {
            fields: fields.as_object().expect("object").clone(),
            ..record(version, "unused")
        }
    }

    /// A conflict of a patient whose local change set `phone` to 555-0100.
    fn conflict(rejected: bool, hub: Option<Record>) -> StoredConflict {
        let mut fields = Map::new();
        fields.insert("phone".into(), json!("555-0100"));
        StoredConflict {
            entity: Entity::Patient,
            record_id: RecordId::from_uuid(uuid::Uuid::nil()),
            rejected,
            local_op: new_op(
                Utc::now(),
                Entity::Patient,
                RecordId::from_uuid(uuid::Uuid::nil()),
                OpAction::Update,
                Some(1),
                fields,
            ),
            hub_version: hub.as_ref().map(|h| h.version),
            hub_record: hub,
            error: None,
            code: None,
            at: String::new(),
        }
    }

    fn mine(hub_version: Option<i64>, hub_data: Option<Record>) -> LocalRecord {
        LocalRecord {
            entity: Entity::Patient,
            record: patient(3, "555-0100"),
            hub_version,
            deleted: false,
            conflict: true,
            hub_data,
        }
    }

    fn phone_of(resolved: &Resolved) -> Option<&str> {
        resolved.local.as_ref().and_then(|l| l.record.text("phone"))
    }

    #[test]
    fn a_version_conflict_is_settled_by_keeping_mine_taking_theirs_or_choosing_per_field() {
        let now = Utc::now();
        let c = conflict(false, Some(patient(2, "555-0199")));
        let kept = resolved(now, &c, mine(Some(1), None), &Resolution::KeepMine).expect("keep");
        let op = kept.op.as_ref().expect("an op");
        assert_eq!((op.action, op.base_version), (OpAction::Update, Some(2)));
        assert_eq!(op.fields.get("phone"), Some(&json!("555-0100")));
        assert_eq!(phone_of(&kept), Some("555-0100"));
        let local = kept.local.as_ref().expect("local");
        assert_eq!((local.hub_version, local.record.version), (Some(2), 3));
        assert!(!local.conflict);

        let theirs = resolved(now, &c, mine(Some(1), None), &Resolution::TakeTheirs).expect("take");
        assert_eq!((phone_of(&theirs), &theirs.op), (Some("555-0199"), &None));
        let choice = Resolution::PerField([("phone".to_owned(), false)].into());
        let per_field = resolved(now, &c, mine(Some(1), None), &choice).expect("per field");
        assert_eq!(per_field, theirs);

        let unknown = Resolution::PerField([("bmi".to_owned(), true)].into());
        assert!(matches!(
            resolved(now, &c, mine(Some(1), None), &unknown),
            Err(ClientError::InvalidInput(_))
        ));
        let changed = Resolution::Change(Map::new());
        assert!(matches!(
            resolved(now, &c, mine(Some(1), None), &changed),
            Err(ClientError::InvalidInput(_))
        ));
        // Deleted on the hub: only taking theirs settles it, as a tombstone.
        let gone = conflict(false, None);
        assert!(resolved(now, &gone, mine(Some(1), None), &Resolution::KeepMine).is_err());
        let tomb =
            resolved(now, &gone, mine(Some(1), None), &Resolution::TakeTheirs).expect("take");
        assert!(tomb.local.expect("tombstone").deleted);
    }

    #[test]
    fn a_refused_change_is_discarded_or_changed_and_sent_again() {
        let now = Utc::now();
        let refused = conflict(true, None);
        // Never on the hub: discarding removes it; changing it sends it as a creation.
        let discarded =
            resolved(now, &refused, mine(None, None), &Resolution::TakeTheirs).expect("discard");
        assert_eq!(
            discarded,
            Resolved {
                local: None,
                op: None
            }
        );
        assert!(resolved(now, &refused, mine(None, None), &Resolution::KeepMine).is_err());
        let mut change = Map::new();
        change.insert("phone".into(), json!("555-0123"));
        let again = resolved(
            now,
            &refused,
            mine(None, None),
            &Resolution::Change(change.clone()),
        )
        .expect("again");
        let op = again.op.as_ref().expect("op");
        assert_eq!((op.action, op.base_version), (OpAction::Create, None));
        assert_eq!(op.fields.get("mrn"), Some(&json!("M-1")));
        assert_eq!(phone_of(&again), Some("555-0123"));
        assert!(!again.local.expect("local").conflict);

        // On the hub at version 1: discarding returns to the hub's record; changing it sends
        // the refused fields and the change on that version.
        let hub = patient(1, "555-0199");
        let back = resolved(
            now,
            &refused,
            mine(Some(1), Some(hub.clone())),
            &Resolution::TakeTheirs,
        )
        .expect("discard");
        assert_eq!(phone_of(&back), Some("555-0199"));
        let again = resolved(
            now,
            &refused,
            mine(Some(1), Some(hub)),
            &Resolution::Change(change),
        )
        .expect("again");
        let op = again.op.expect("op");
        assert_eq!((op.action, op.base_version), (OpAction::Update, Some(1)));
        assert_eq!(op.fields.get("phone"), Some(&json!("555-0123")));
    }
}
