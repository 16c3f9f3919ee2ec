//! What the cache does with the hub's answers, decided without I/O for every kind of record:
//! an op the hub applied or merged, an op it refused or found in conflict, and a change pulled
//! from its feed. The sync engine reads the record and its pending ops, calls these, and
//! writes what they say.

use outpost_domain::Entity;
use outpost_domain::record::Record;
use outpost_domain::sync::{Change, OpResult};

use crate::cache::LocalRecord;

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
        (None, Some(local)) => Pulled::Put(Box::new(LocalRecord {
            hub_version: Some(change.version),
            deleted: true,
            hub_data: None,
            ..local
        })),
        (None, None) => Pulled::Keep,
    }
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
    fn a_refused_op_marks_the_local_copy() {
        assert!(refused(local(2, Some(1), "mine")).conflict);
    }
}
