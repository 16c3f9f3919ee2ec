//! Records of any kind in a tenant file: one table per kind with a column per field (named as
//! the field), the bookkeeping columns and the kind's lowercased search keys. The SQL is made
//! from the kind's description; nothing here names a kind.

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, params_from_iter};
use serde_json::{Map, Value, json};

use outpost_domain::audit::Actor;
use outpost_domain::kind::{FieldType, Kind};
use outpost_domain::record::{Changes, Record};
use outpost_domain::{Entity, RecordId};
use outpost_store::changes::{Synced, change_event};
use outpost_store::plan::{Stored, Write};
use outpost_store::statements::{self, Arg, Placeholder, Statement};
use outpost_store::{RecordQuery, StoreError, StoreResult};

/// SQLite's placeholders.
const MARK: Placeholder = Placeholder::Question;

use crate::audit;
use crate::history;
use crate::sql::{OrBackend, conversion, get_opt_parsed, get_opt_ts, get_parsed, get_ts, ts};

pub use outpost_store::statements::select;

/// A row selected with [`select`].
pub fn read(kind: &Kind, row: &Row<'_>) -> rusqlite::Result<Stored> {
    let mut fields = Map::new();
    for (i, field) in kind.fields.iter().enumerate() {
        let idx = statements::META_COLUMNS + i;
        if let Some(value) = from_sql(field.ty, row.get(idx)?).map_err(|e| conversion(idx, e))? {
            fields.insert(field.name.to_owned(), value);
        }
    }
    Ok(Stored {
        record: Record {
            id: get_parsed(row, 0)?,
            fields,
            version: row.get(1)?,
            created_at: get_ts(row, 2)?,
            updated_at: get_ts(row, 3)?,
            updated_by: get_opt_parsed(row, 4)?,
        },
        deleted: get_opt_ts(row, 5)?.is_some(),
    })
}

/// A value that does not fit its column.
#[derive(Debug, thiserror::Error)]
#[error("a stored value does not fit its field's type")]
pub struct Unfit;

fn from_sql(ty: FieldType, value: SqlValue) -> Result<Option<Value>, Unfit> {
    Ok(Some(match (ty, value) {
        (_, SqlValue::Null) => return Ok(None),
        (FieldType::Bool, SqlValue::Integer(n)) => Value::Bool(n != 0),
        (FieldType::Integer, SqlValue::Integer(n)) => json!(n),
        (FieldType::Real, SqlValue::Real(f)) => json!(f),
        (FieldType::Real, SqlValue::Integer(n)) => json!(n as f64),
        (FieldType::Timestamp, SqlValue::Text(t)) => {
            let at = DateTime::parse_from_rfc3339(&t).map_err(|_| Unfit)?;
            serde_json::to_value(at.with_timezone(&Utc)).map_err(|_| Unfit)?
        }
        (FieldType::Json, SqlValue::Text(t)) => serde_json::from_str(&t).map_err(|_| Unfit)?,
        (FieldType::Text | FieldType::Date | FieldType::Id, SqlValue::Text(t)) => Value::String(t),
        _ => return Err(Unfit),
    }))
}

/// The SQL value of a field's canonical JSON.
pub fn to_sql(ty: FieldType, value: Option<&Value>) -> StoreResult<SqlValue> {
    let unfit = || StoreError::Corrupt("a field's value does not fit its type".into());
    Ok(match (ty, value) {
        (_, None | Some(Value::Null)) => SqlValue::Null,
        (FieldType::Bool, Some(Value::Bool(b))) => SqlValue::Integer(i64::from(*b)),
        (FieldType::Integer, Some(Value::Number(n))) => {
            SqlValue::Integer(n.as_i64().ok_or_else(unfit)?)
        }
        (FieldType::Real, Some(Value::Number(n))) => SqlValue::Real(n.as_f64().ok_or_else(unfit)?),
        (FieldType::Timestamp, Some(Value::String(s))) => {
            SqlValue::Text(ts(DateTime::parse_from_rfc3339(s)
                .map_err(|_| unfit())?
                .with_timezone(&Utc)))
        }
        (FieldType::Date, Some(Value::String(s))) => {
            s.parse::<NaiveDate>().map_err(|_| unfit())?;
            SqlValue::Text(s.clone())
        }
        (FieldType::Json, Some(v)) => SqlValue::Text(v.to_string()),
        (FieldType::Text | FieldType::Id, Some(Value::String(s))) => SqlValue::Text(s.clone()),
        _ => return Err(unfit()),
    })
}

/// The SQL values of a statement's arguments.
fn params(args: &[Arg]) -> StoreResult<Vec<SqlValue>> {
    args.iter().map(|a| to_sql(a.ty, Some(&a.value))).collect()
}

/// Runs a statement that writes.
fn execute(conn: &Connection, statement: &Statement) -> rusqlite::Result<usize> {
    let values = params(&statement.args)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    conn.prepare_cached(&statement.sql)?
        .execute(params_from_iter(values))
}

/// Maps a unique-key violation to `AlreadyExists` naming the kind's unique field.
fn unique(kind: &'static Kind) -> impl Fn(rusqlite::Error) -> StoreError {
    crate::sql::unique_as(kind.unique.first().map_or("id", |u| u.field))
}

/// One record, live or tombstoned.
pub fn load(conn: &Connection, kind: &Kind, id: RecordId) -> StoreResult<Option<Stored>> {
    conn.prepare_cached(&format!("{} WHERE id = ?1", select(kind)))
        .db()?
        .query_row([id.to_string()], |row| read(kind, row))
        .optional()
        .db()
}

/// One live record.
pub fn load_live(conn: &Connection, kind: &Kind, id: RecordId) -> StoreResult<Option<Record>> {
    Ok(load(conn, kind, id)?.and_then(|s| (!s.deleted).then_some(s.record)))
}

/// Inserts a new record as `write` says, with its version, feed entry and audit event.
pub fn insert(
    conn: &Connection,
    kind: &'static Kind,
    id: RecordId,
    write: Write,
    actor: &Actor,
    synced: Option<&Synced>,
) -> StoreResult<Record> {
    let record = Record {
        id,
        fields: write.fields,
        version: 1,
        created_at: actor.at,
        updated_at: actor.at,
        updated_by: actor.user_id,
    };
    execute(conn, &statements::insert(kind, &record, MARK)).map_err(unique(kind))?;
    recorded(conn, kind, &record, "create", &write.changes, actor, synced)?;
    Ok(record)
}

/// Writes a new version as `write` says: only the changed columns (and the search keys of
/// changed fields), since an index whose columns are assigned is rewritten even when the
/// value stays the same.
pub fn update(
    conn: &Connection,
    kind: &'static Kind,
    current: Record,
    write: Write,
    actor: &Actor,
    synced: Option<&Synced>,
) -> StoreResult<Record> {
    let record = Record {
        fields: write.fields,
        version: current.version + 1,
        updated_at: actor.at,
        updated_by: actor.user_id,
        ..current
    };
    execute(
        conn,
        &statements::update(kind, &record, &write.changes, MARK),
    )
    .map_err(unique(kind))?;
    recorded(conn, kind, &record, "update", &write.changes, actor, synced)?;
    Ok(record)
}

/// Tombstones a record with its version, feed entry and audit event.
pub fn delete(
    conn: &Connection,
    kind: &'static Kind,
    current: Record,
    actor: &Actor,
    synced: Option<&Synced>,
) -> StoreResult<Record> {
    let record = Record {
        version: current.version + 1,
        updated_at: actor.at,
        updated_by: actor.user_id,
        ..current
    };
    execute(conn, &statements::delete(kind, &record, MARK)).db()?;
    recorded(
        conn,
        kind,
        &record,
        "delete",
        &Changes::new(),
        actor,
        synced,
    )?;
    Ok(record)
}

/// The version row, change-feed entry and audit event of a change.
fn recorded(
    conn: &Connection,
    kind: &'static Kind,
    record: &Record,
    action: &str,
    changes: &Changes,
    actor: &Actor,
    synced: Option<&Synced>,
) -> StoreResult<()> {
    history::record(
        conn,
        kind,
        record,
        action,
        changes,
        actor,
        synced.map(|s| s.client_time),
    )?;
    audit::append(
        conn,
        &change_event(actor, kind, action, record, changes, synced),
    )?;
    Ok(())
}

/// Live records matching `query` in the kind's order, and whether more follow.
pub fn list(
    conn: &Connection,
    kind: &Kind,
    query: &RecordQuery,
) -> StoreResult<(Vec<Record>, bool)> {
    let statement = statements::list(kind, query, MARK)?;
    let mut stmt = conn.prepare_cached(&statement.sql).db()?;
    let mut items = stmt
        .query_map(params_from_iter(params(&statement.args)?), |row| {
            read(kind, row).map(|s| s.record)
        })
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    let limit = query.limit.max(1) as usize;
    let more = items.len() > limit;
    items.truncate(limit);
    Ok((items, more))
}

/// The kind of a change-feed or history row's `entity` column.
pub fn entity(text: &str) -> StoreResult<Entity> {
    text.parse()
        .map_err(|_| StoreError::Corrupt("an unknown kind of record in the change feed".into()))
}
