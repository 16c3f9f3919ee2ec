//! What a caller may see of a record of any kind, from its kind's description: the classes of
//! fields their permissions read, and nothing at all of a kind they may not read.

use outpost_domain::Entity;
use outpost_domain::record::{HistoryEntry, Record};
use outpost_domain::sync::SnapshotLine;

use crate::principal::Principal;

/// The record as the caller may see it; `None` when they may read nothing of its kind.
pub fn record(principal: &Principal, entity: Entity, mut record: Record) -> Option<Record> {
    let kind = entity.kind();
    let classes = kind.readable(&principal.permissions);
    if classes.is_empty() {
        return None;
    }
    kind.redact(&mut record.fields, &classes);
    Some(record)
}

/// The version as the caller may see it (changes of fields they may not read left out).
pub fn history(principal: &Principal, entity: Entity, mut entry: HistoryEntry) -> HistoryEntry {
    let kind = entity.kind();
    let classes = kind.readable(&principal.permissions);
    entry
        .changes
        .retain(|field, _| kind.field(field).is_none_or(|f| classes.contains(&f.class)));
    entry
}

/// A snapshot line as the caller may see it; `None` to leave it out.
pub fn snapshot_line(principal: &Principal, line: SnapshotLine) -> Option<SnapshotLine> {
    match line {
        SnapshotLine::Record { entity, record: r } => {
            record(principal, entity, r).map(|record| SnapshotLine::Record { entity, record })
        }
        SnapshotLine::History {
            entity,
            record_id,
            entry,
        } => entity
            .kind()
            .may_read(&principal.permissions)
            .then(|| SnapshotLine::History {
                entity,
                record_id,
                entry: history(principal, entity, entry),
            }),
        other => Some(other),
    }
}
