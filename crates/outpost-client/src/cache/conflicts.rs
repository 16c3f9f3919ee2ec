//! Changes the hub did not apply, waiting for the user to settle them.

use rusqlite::{Connection, OptionalExtension, params};

use super::{Cache, from_json, to_json};
use crate::error::{ClientError, ClientResult};
use outpost_domain::record::Record;
use outpost_domain::sync::Op;
use outpost_domain::{Entity, RecordId};

impl Cache {
    /// Every conflict, oldest first.
    pub fn conflicts(conn: &Connection) -> ClientResult<Vec<StoredConflict>> {
        Self::conflicts_where(conn, None)
    }

    /// The conflict of one record, if it has one.
    pub fn conflict(conn: &Connection, id: RecordId) -> ClientResult<Option<StoredConflict>> {
        Ok(Self::conflicts_where(conn, Some(id))?.pop())
    }

    fn conflicts_where(
        conn: &Connection,
        id: Option<RecordId>,
    ) -> ClientResult<Vec<StoredConflict>> {
        let mut stmt = conn.prepare_cached(
            "SELECT record_id, kind, local_op, hub_record, hub_version, error, at, entity, code \
             FROM conflicts WHERE ?1 IS NULL OR record_id = ?1 ORDER BY at",
        )?;
        let rows = stmt
            .query_map([id.map(|i| i.to_string())], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, String>(7)?,
                    r.get::<_, Option<String>>(8)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(
                |(id, kind, op, hub, hub_version, error, at, entity, code)| {
                    Ok(StoredConflict {
                        entity: entity
                            .parse()
                            .map_err(|_| ClientError::Corrupt("conflict kind".into()))?,
                        record_id: id
                            .parse()
                            .map_err(|_| ClientError::Corrupt("conflict id".into()))?,
                        rejected: kind == "rejected",
                        local_op: from_json(&op)?,
                        hub_record: hub.map(|h| from_json(&h)).transpose()?,
                        hub_version,
                        error,
                        code,
                        at,
                    })
                },
            )
            .collect()
    }

    /// Stores the conflict of a record, or widens the one it has: the later op's fields join
    /// the first's (a delete wins), and the first answer's kind, code and message stay, since
    /// they say how the user settles it (a later op on the record is refused only because the
    /// first was).
    pub fn put_conflict(tx: &Connection, conflict: &StoredConflict) -> ClientResult<()> {
        let existing: Option<(String, String, Option<String>, Option<String>)> = tx
            .query_row(
                "SELECT local_op, kind, error, code FROM conflicts WHERE record_id = ?1",
                [conflict.record_id.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let mut op = conflict.local_op.clone();
        let mut conflict = conflict.clone();
        if let Some((previous, kind, error, code)) = existing {
            let mut previous: Op = from_json(&previous)?;
            previous.fields.extend(op.fields);
            if op.action == outpost_domain::sync::OpAction::Delete {
                previous.action = op.action;
            }
            op = previous;
            conflict.rejected = kind == "rejected";
            conflict.error = error;
            conflict.code = code;
        }
        tx.execute(
            "INSERT OR REPLACE INTO conflicts (record_id, kind, local_op, hub_record, hub_version, \
             error, at, entity, code) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                conflict.record_id.to_string(),
                if conflict.rejected {
                    "rejected"
                } else {
                    "conflict"
                },
                to_json(&op)?,
                conflict.hub_record.as_ref().map(to_json).transpose()?,
                conflict.hub_version,
                conflict.error,
                conflict.at,
                conflict.entity.as_str(),
                conflict.code,
            ],
        )?;
        Ok(())
    }

    /// Updates the hub side of an open conflict as newer hub versions arrive.
    pub fn refresh_conflict(
        tx: &Connection,
        id: RecordId,
        hub_record: Option<&Record>,
        hub_version: i64,
    ) -> ClientResult<()> {
        tx.execute(
            "UPDATE conflicts SET hub_record = ?1, hub_version = ?2 WHERE record_id = ?3 AND kind = 'conflict'",
            params![hub_record.map(to_json).transpose()?, hub_version, id.to_string()],
        )?;
        Ok(())
    }

    /// Whether a record has a conflict waiting for the user.
    pub fn has_conflict(tx: &Connection, id: RecordId) -> ClientResult<bool> {
        Ok(tx
            .prepare_cached("SELECT count(*) FROM conflicts WHERE record_id = ?1")?
            .query_row([id.to_string()], |r| r.get::<_, i64>(0))?
            > 0)
    }

    pub fn remove_conflict(tx: &Connection, id: RecordId) -> ClientResult<()> {
        tx.execute(
            "DELETE FROM conflicts WHERE record_id = ?1",
            [id.to_string()],
        )?;
        Ok(())
    }
}

/// A change the hub did not apply, waiting for the user.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredConflict {
    pub entity: Entity,
    pub record_id: RecordId,
    /// Refused outright (invalid, forbidden) rather than a version conflict.
    pub rejected: bool,
    /// The local change (fields accumulated over every op that did not apply).
    pub local_op: Op,
    /// The hub's current record (`None`: deleted on the hub, or unknown for a refusal).
    pub hub_record: Option<Record>,
    pub hub_version: Option<i64>,
    pub error: Option<String>,
    /// The hub's code for a refusal.
    pub code: Option<String>,
    pub at: String,
}
