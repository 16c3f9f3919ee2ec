//! What a caller may see of a record of any kind, from its kind's description: the classes of
//! fields their permissions read, nothing at all of a kind they may not read, nothing of a
//! record its kind's row rule keeps from them (a trip of another unit's crew), and of the
//! records they see without being a member, not the members' private fields (a trip's patient,
//! for the dispatcher); no history carries those.

use std::collections::HashSet;

use outpost_domain::record::{HistoryEntry, Record};
use outpost_domain::sync::SnapshotLine;
use outpost_domain::{Entity, RecordId};

use crate::principal::Principal;

/// The record as the caller may see it; `None` when they may read nothing of its kind, or
/// not this record.
pub fn record(principal: &Principal, entity: Entity, mut record: Record) -> Option<Record> {
    let kind = entity.kind();
    let classes = kind.readable(&principal.permissions);
    if classes.is_empty()
        || !kind.row_visible(
            &record.fields,
            Some(principal.user_id),
            &principal.permissions,
        )
    {
        return None;
    }
    kind.redact(&mut record.fields, &classes);
    kind.hide_private(&mut record.fields, Some(principal.user_id));
    Some(record)
}

/// The version as the caller may see it (changes of fields they may not read left out, and
/// of members' private fields, which a history entry cannot tell the members of).
pub fn history(principal: &Principal, entity: Entity, mut entry: HistoryEntry) -> HistoryEntry {
    let kind = entity.kind();
    let classes = kind.readable(&principal.permissions);
    entry.changes.retain(|field, _| {
        kind.field(field)
            .is_none_or(|f| classes.contains(&f.class) && !kind.is_private(field))
    });
    entry
}

/// A snapshot line as the caller may see it; `None` to leave it out. Records left out are
/// remembered in `hidden`, so that their versions (which come after every record) are too.
pub fn snapshot_line(
    principal: &Principal,
    line: SnapshotLine,
    hidden: &mut HashSet<RecordId>,
) -> Option<SnapshotLine> {
    match line {
        SnapshotLine::Record { entity, record: r } => {
            let id = r.id;
            let seen = record(principal, entity, r);
            if seen.is_none() {
                hidden.insert(id);
            }
            seen.map(|record| SnapshotLine::Record { entity, record })
        }
        SnapshotLine::History {
            entity,
            record_id,
            entry,
        } => (entity.kind().may_read(&principal.permissions) && !hidden.contains(&record_id)).then(
            || SnapshotLine::History {
                entity,
                record_id,
                entry: history(principal, entity, entry),
            },
        ),
        other => Some(other),
    }
}
