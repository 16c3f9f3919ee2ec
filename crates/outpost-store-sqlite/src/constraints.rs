//! A kind's constraints that need other records, checked in the writing transaction before
//! the write: the records it names are there, no two live records overlap in one group (a
//! practitioner's appointments), and a slot lies within its owner's working hours and outside
//! the calendar's closures. The decisions are the domain's; this reads what they need.

use chrono::{DateTime, Days, Utc};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, params_from_iter};

use outpost_domain::kind::{Kind, NoOverlap, Refusal};
use outpost_domain::schedule::booking;
use outpost_domain::{Entity, RecordId};
use outpost_store::plan::{self, Write};
use outpost_store::{StoreError, StoreResult};

use crate::records::{self, load_live};
use crate::sql::{OrBackend, ts};

/// `Err(refusal)` when `write` of record `id` breaks one of the kind's constraints.
pub fn check(
    conn: &Connection,
    kind: &'static Kind,
    id: RecordId,
    write: &Write,
) -> StoreResult<Result<(), Refusal>> {
    for (reference, target) in plan::references(kind, write)? {
        if load_live(conn, reference.to.kind(), target)?.is_none() {
            return Ok(Err(plan::missing_reference(reference)));
        }
    }
    let Some(rule) = kind.moves_slot(write.changes.keys(), &write.fields) else {
        return Ok(Ok(()));
    };
    let (start, end, group) = plan::slot(rule, &write.fields)?;
    if let Some(taken) = overlapping(conn, kind, rule, id, &group, start, end)? {
        return Ok(Err(Refusal {
            code: "slot_taken",
            message: format!("the slot overlaps {} {taken}", kind.name),
        }));
    }
    let Some(owner) = rule.owner else {
        return Ok(Ok(()));
    };
    let owner_id: RecordId = group
        .parse()
        .map_err(|_| StoreError::Corrupt("a slot's group is not an id".into()))?;
    let Some(owner_record) = load_live(conn, owner.kind(), owner_id)? else {
        return Ok(Err(Refusal {
            code: "not_found",
            message: format!("no such {}", owner.as_str()),
        }));
    };
    let calendar = calendar_around(conn, &group, start, end)?;
    booking::check_records(&write.fields, &owner_record, &calendar).map_err(|e| {
        StoreError::Corrupt(format!(
            "a schedule record does not read ({:?})",
            e.classify()
        ))
    })
}

/// The first live record of the group, other than `id`, holding a slot that overlaps.
fn overlapping(
    conn: &Connection,
    kind: &Kind,
    rule: &NoOverlap,
    id: RecordId,
    group: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> StoreResult<Option<String>> {
    let inactive = (0..rule.inactive.len())
        .map(|i| format!("?{}", i + 5))
        .collect::<Vec<_>>()
        .join(", ");
    let mut args = vec![
        SqlValue::Text(group.to_owned()),
        SqlValue::Text(id.to_string()),
        SqlValue::Text(ts(end)),
        SqlValue::Text(ts(start)),
    ];
    args.extend(
        rule.inactive
            .iter()
            .map(|s| SqlValue::Text((*s).to_owned())),
    );
    conn.prepare_cached(&format!(
        "SELECT id FROM {} WHERE \"{}\" = ?1 AND id <> ?2 AND deleted_at IS NULL \
         AND \"{}\" < ?3 AND \"{}\" > ?4 AND \"{}\" NOT IN ({inactive}) LIMIT 1",
        kind.table, rule.group, rule.start, rule.end, rule.status
    ))
    .db()?
    .query_row(params_from_iter(args), |row| row.get(0))
    .optional()
    .db()
}

/// Live calendar entries of the tenant or of `owner` that may cover `start`..`end` (whole-day
/// entries are kept a day wider on each side: their days are local).
fn calendar_around(
    conn: &Connection,
    owner: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> StoreResult<Vec<outpost_domain::Record>> {
    let kind = Entity::CalendarEntry.kind();
    let first_day = (start.date_naive() - Days::new(1)).to_string();
    let last_day = (end.date_naive() + Days::new(1)).to_string();
    let mut stmt = conn
        .prepare_cached(&format!(
            "{} WHERE deleted_at IS NULL AND (practitioner_id IS NULL OR practitioner_id = ?1) \
             AND ((date IS NOT NULL AND coalesce(end_date, date) >= ?2 AND date <= ?3) \
             OR (\"start\" IS NOT NULL AND \"start\" < ?4 AND \"end\" > ?5))",
            records::select(kind)
        ))
        .db()?;
    stmt.query_map(
        rusqlite::params![owner, first_day, last_day, ts(end), ts(start)],
        |row| records::read(kind, row).map(|s| s.record),
    )
    .db()?
    .collect::<rusqlite::Result<Vec<_>>>()
    .db()
}
