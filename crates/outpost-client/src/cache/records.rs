//! Records of every kind but patients: one row each, with the group and order keys its kind's
//! description gives (an appointment's practitioner and start), and their versions.

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use outpost_domain::record::{HistoryEntry, Record};
use outpost_domain::{Entity, RecordId};

use super::local::LocalRecord;
use super::{Cache, from_json, to_json};
use crate::error::ClientResult;

/// Text that sorts like the value: times in one fixed form, the rest as it is (search keys
/// lowercased).
fn sortable(value: Option<&Value>, lowercase: bool) -> String {
    match value {
        Some(Value::String(s)) => match DateTime::parse_from_rfc3339(s) {
            Ok(at) => at
                .with_timezone(&Utc)
                .to_rfc3339_opts(SecondsFormat::Micros, true),
            Err(_) if lowercase => s.to_lowercase(),
            Err(_) => s.clone(),
        },
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// The order key of a record: its kind's order columns, then its id.
pub fn sort_key(entity: Entity, record: &Record) -> String {
    let kind = entity.kind();
    kind.order
        .iter()
        .map(
            |column| match kind.search.iter().find(|k| k.column == *column) {
                Some(key) => sortable(record.fields.get(key.field), true),
                None => sortable(record.fields.get(*column), false),
            },
        )
        .chain([record.id.to_string()])
        .collect::<Vec<_>>()
        .join("\u{1f}")
}

/// A time as the order keys hold it (to read a range of them).
pub fn time_key(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The group key of a record: the field its kind's no-overlap rule groups by.
fn group_key(entity: Entity, record: &Record) -> Option<String> {
    let rule = entity.kind().no_overlap.as_ref()?;
    record.text(rule.group).map(str::to_owned)
}

type Row = (String, i64, Option<i64>, bool, bool, Option<String>);

fn local_from(entity: Entity, row: Row) -> ClientResult<LocalRecord> {
    let (data, _, hub_version, deleted, conflict, hub_data) = row;
    Ok(LocalRecord {
        entity,
        record: from_json(&data)?,
        hub_version,
        deleted,
        conflict,
        hub_data: hub_data.map(|d| from_json(&d)).transpose()?,
    })
}

fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

const COLUMNS: &str = "data, version, hub_version, deleted, conflict, hub_data";

impl Cache {
    pub(super) fn record_row(
        conn: &Connection,
        entity: Entity,
        id: RecordId,
    ) -> ClientResult<Option<LocalRecord>> {
        conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM records WHERE entity = ?1 AND id = ?2"
        ))?
        .query_row(params![entity.as_str(), id.to_string()], read)
        .optional()?
        .map(|row| local_from(entity, row))
        .transpose()
    }

    /// Writes a record's row; with `create` false, a record whose row is gone stays gone.
    pub(super) fn put_record_row(
        tx: &Connection,
        local: &LocalRecord,
        create: bool,
    ) -> ClientResult<()> {
        let values = params![
            local.entity.as_str(),
            local.record.id.to_string(),
            to_json(&local.record)?,
            local.record.version,
            local.hub_version,
            local.deleted,
            local.conflict,
            local.hub_data.as_ref().map(to_json).transpose()?,
            group_key(local.entity, &local.record),
            sort_key(local.entity, &local.record),
        ];
        let sql = if create {
            "INSERT INTO records (entity, id, data, version, hub_version, deleted, conflict, \
             hub_data, group_key, sort_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
             ON CONFLICT (entity, id) DO UPDATE SET data = excluded.data, \
             version = excluded.version, hub_version = excluded.hub_version, \
             deleted = excluded.deleted, conflict = excluded.conflict, \
             hub_data = excluded.hub_data, group_key = excluded.group_key, \
             sort_key = excluded.sort_key"
        } else {
            "UPDATE records SET data = ?3, version = ?4, hub_version = ?5, deleted = ?6, \
             conflict = ?7, hub_data = ?8, group_key = ?9, sort_key = ?10 \
             WHERE entity = ?1 AND id = ?2"
        };
        tx.prepare_cached(sql)?.execute(values)?;
        Ok(())
    }

    pub(super) fn remove_record_row(
        tx: &Connection,
        entity: Entity,
        id: RecordId,
    ) -> ClientResult<()> {
        tx.prepare_cached("DELETE FROM records WHERE entity = ?1 AND id = ?2")?
            .execute(params![entity.as_str(), id.to_string()])?;
        Ok(())
    }

    pub(super) fn add_record_history(
        tx: &Connection,
        entity: Entity,
        id: RecordId,
        entry: &HistoryEntry,
    ) -> ClientResult<()> {
        tx.prepare_cached(
            "INSERT INTO record_history (entity, record_id, version, entry) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (entity, record_id, version) DO UPDATE SET entry = excluded.entry",
        )?
        .execute(params![entity.as_str(), id.to_string(), entry.version, to_json(entry)?])?;
        Ok(())
    }

    pub(super) fn record_history(
        &self,
        entity: Entity,
        id: RecordId,
    ) -> ClientResult<Vec<HistoryEntry>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT entry FROM record_history WHERE entity = ?1 AND record_id = ?2 ORDER BY version",
        )?;
        let rows = stmt
            .query_map(params![entity.as_str(), id.to_string()], |r| {
                r.get::<_, String>(0)
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.iter().map(|e| from_json(e)).collect()
    }

    /// Live records of a kind whose order key lies in `from..to` (in order), of one group when
    /// given: a day of appointments, of one practitioner or all.
    pub fn records_between(
        &self,
        entity: Entity,
        group: Option<&str>,
        from: &str,
        to: &str,
    ) -> ClientResult<Vec<LocalRecord>> {
        let found = match group {
            Some(group) => self
                .conn
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM records WHERE entity = ?1 AND group_key = ?2 \
                     AND sort_key >= ?3 AND sort_key < ?4 AND deleted = 0 ORDER BY sort_key"
                ))?
                .query_map(params![entity.as_str(), group, from, to], read)?
                .collect::<rusqlite::Result<Vec<_>>>()?,
            None => self
                .conn
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM records WHERE entity = ?1 \
                     AND sort_key >= ?2 AND sort_key < ?3 AND deleted = 0 ORDER BY sort_key"
                ))?
                .query_map(params![entity.as_str(), from, to], read)?
                .collect::<rusqlite::Result<Vec<_>>>()?,
        };
        found
            .into_iter()
            .map(|row| local_from(entity, row))
            .collect()
    }

    /// The id of a live record of the same group whose slot overlaps `record`'s, when the kind
    /// has a no-overlap rule and `record` holds its slot: the client's own check before a
    /// booking (the hub decides again when the op arrives).
    pub fn slot_taken(
        conn: &Connection,
        entity: Entity,
        record: &Record,
    ) -> ClientResult<Option<String>> {
        let Some(rule) = entity.kind().no_overlap.as_ref() else {
            return Ok(None);
        };
        let status = record.text(rule.status).unwrap_or_default();
        let (Some(group), Some(start), Some(end)) = (
            record.text(rule.group),
            record.text(rule.start).and_then(time),
            record.text(rule.end).and_then(time),
        ) else {
            return Ok(None);
        };
        if rule.inactive.contains(&status) {
            return Ok(None);
        }
        let earliest = time_key(start - chrono::Duration::minutes(rule.longest_minutes));
        let found = conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM records WHERE entity = ?1 AND group_key = ?2 \
                 AND sort_key >= ?3 AND sort_key < ?4 AND deleted = 0 ORDER BY sort_key"
            ))?
            .query_map(
                params![entity.as_str(), group, earliest, time_key(end)],
                read,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        for row in found {
            let other = local_from(entity, row)?.record;
            let holds = other
                .text(rule.status)
                .is_none_or(|s| !rule.inactive.contains(&s));
            let overlaps = other
                .text(rule.start)
                .and_then(time)
                .is_some_and(|s| s < end)
                && other
                    .text(rule.end)
                    .and_then(time)
                    .is_some_and(|e| e > start);
            if other.id != record.id && holds && overlaps {
                return Ok(Some(other.id.to_string()));
            }
        }
        Ok(None)
    }

    /// A patient's live appointments, in order of start.
    pub fn appointments_of(&self, patient: &str) -> ClientResult<Vec<LocalRecord>> {
        let found = self
            .conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM records WHERE entity = 'appointment' \
                 AND json_extract(data, '$.patient_id') = ?1 AND deleted = 0 ORDER BY sort_key"
            ))?
            .query_map([patient], read)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        found
            .into_iter()
            .map(|row| local_from(Entity::Appointment, row))
            .collect()
    }

    /// Every live record of a kind, in its order.
    pub fn records_of(conn: &Connection, entity: Entity) -> ClientResult<Vec<LocalRecord>> {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM records WHERE entity = ?1 AND deleted = 0 ORDER BY sort_key"
        ))?;
        let found = stmt
            .query_map([entity.as_str()], read)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        found
            .into_iter()
            .map(|row| local_from(entity, row))
            .collect()
    }

    /// Inserts snapshot records of a kind (not patients) inside the caller's transaction.
    pub fn insert_snapshot_records(
        tx: &Connection,
        entity: Entity,
        records: &[Record],
        history: &[(RecordId, HistoryEntry)],
    ) -> ClientResult<()> {
        for record in records {
            Self::put_record_row(tx, &LocalRecord::confirmed(entity, record.clone()), true)?;
        }
        for (id, entry) in history {
            Self::add_record_history(tx, entity, *id, entry)?;
        }
        Ok(())
    }
}
