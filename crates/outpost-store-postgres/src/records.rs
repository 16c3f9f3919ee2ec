//! Records of any kind in a tenant database: one table per kind with a column per field (named
//! as the field, typed by its [`FieldType`]), the bookkeeping columns and the kind's lowercased
//! search keys. The SQL is made from the kind's description; nothing here names a kind.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

use outpost_domain::audit::Actor;
use outpost_domain::kind::{FieldType, Kind};
use outpost_domain::record::{Changes, Record};
use outpost_domain::{Entity, RecordId};
use outpost_store::changes::{Synced, change_event};
use outpost_store::plan::{Stored, Write};
use outpost_store::statements::{self, Arg, Placeholder, Statement};
use outpost_store::{RecordQuery, StoreError, StoreResult};

/// PostgreSQL's placeholders.
const MARK: Placeholder = Placeholder::Dollar;

use crate::sql::{col, id, opt_id, unique_as};
use crate::{OrBackend, audit, history};

/// A bound parameter of any column type.
pub type Param = Box<dyn ToSql + Sync + Send>;

pub use outpost_store::statements::select;

/// A row selected with [`select`].
pub fn read(kind: &Kind, row: &Row) -> StoreResult<Stored> {
    let mut fields = Map::new();
    for (i, field) in kind.fields.iter().enumerate() {
        if let Some(value) = from_sql(field.ty, row, statements::META_COLUMNS + i)? {
            fields.insert(field.name.to_owned(), value);
        }
    }
    Ok(Stored {
        record: Record {
            id: id(row, 0)?,
            fields,
            version: col(row, 1)?,
            created_at: col(row, 2)?,
            updated_at: col(row, 3)?,
            updated_by: opt_id(row, 4)?,
        },
        deleted: col::<Option<DateTime<Utc>>>(row, 5)?.is_some(),
    })
}

fn from_sql(ty: FieldType, row: &Row, idx: usize) -> StoreResult<Option<Value>> {
    let unfit = || StoreError::Corrupt("a stored value does not fit its field's type".into());
    Ok(match ty {
        FieldType::Text => col::<Option<String>>(row, idx)?.map(Value::String),
        FieldType::Date => {
            col::<Option<NaiveDate>>(row, idx)?.map(|d| Value::String(d.to_string()))
        }
        FieldType::Timestamp => col::<Option<DateTime<Utc>>>(row, idx)?
            .map(|at| serde_json::to_value(at).map_err(|_| unfit()))
            .transpose()?,
        FieldType::Bool => col::<Option<bool>>(row, idx)?.map(Value::Bool),
        FieldType::Real => col::<Option<f64>>(row, idx)?.map(Value::from),
        FieldType::Integer => col::<Option<i64>>(row, idx)?.map(Value::from),
        FieldType::Id => col::<Option<Uuid>>(row, idx)?.map(|u| Value::String(u.to_string())),
        FieldType::Json => col::<Option<String>>(row, idx)?
            .map(|t| serde_json::from_str(&t).map_err(|_| unfit()))
            .transpose()?,
    })
}

/// The parameter of a field's canonical JSON.
pub fn to_sql(ty: FieldType, value: Option<&Value>) -> StoreResult<Param> {
    let unfit = || StoreError::Corrupt("a field's value does not fit its type".into());
    let value = value.filter(|v| !v.is_null());
    Ok(match ty {
        FieldType::Text => Box::new(
            value
                .map(|v| v.as_str().map(str::to_owned).ok_or_else(unfit))
                .transpose()?,
        ),
        FieldType::Date => Box::new(
            value
                .map(|v| {
                    v.as_str()
                        .and_then(|s| s.parse::<NaiveDate>().ok())
                        .ok_or_else(unfit)
                })
                .transpose()?,
        ),
        FieldType::Timestamp => Box::new(
            value
                .map(|v| {
                    v.as_str()
                        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                        .map(|t| t.with_timezone(&Utc))
                        .ok_or_else(unfit)
                })
                .transpose()?,
        ),
        FieldType::Bool => Box::new(value.map(|v| v.as_bool().ok_or_else(unfit)).transpose()?),
        FieldType::Real => Box::new(value.map(|v| v.as_f64().ok_or_else(unfit)).transpose()?),
        FieldType::Integer => Box::new(value.map(|v| v.as_i64().ok_or_else(unfit)).transpose()?),
        FieldType::Id => Box::new(
            value
                .map(|v| {
                    v.as_str()
                        .and_then(|s| s.parse::<Uuid>().ok())
                        .ok_or_else(unfit)
                })
                .transpose()?,
        ),
        FieldType::Json => Box::new(value.map(Value::to_string)),
    })
}

/// The parameters of a statement's arguments.
fn params(args: &[Arg]) -> StoreResult<Vec<Param>> {
    args.iter().map(|a| to_sql(a.ty, Some(&a.value))).collect()
}

/// Runs a statement that writes.
async fn execute(
    client: &impl GenericClient,
    statement: &Statement,
) -> StoreResult<Result<u64, tokio_postgres::Error>> {
    let values = params(&statement.args)?;
    Ok(client.execute(&statement.sql, &refs(&values)).await)
}

pub fn refs(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

/// Maps a unique-key violation to `AlreadyExists` naming the kind's unique field.
fn unique(kind: &Kind) -> impl Fn(tokio_postgres::Error) -> StoreError {
    unique_as(kind.unique.first().map_or("id", |u| u.field))
}

/// One record, live or tombstoned.
pub async fn load(
    client: &impl GenericClient,
    kind: &Kind,
    id: RecordId,
) -> StoreResult<Option<Stored>> {
    client
        .query_opt(&format!("{} WHERE id = $1", select(kind)), &[&id.as_uuid()])
        .await
        .db()?
        .as_ref()
        .map(|row| read(kind, row))
        .transpose()
}

/// One live record.
pub async fn load_live(
    client: &impl GenericClient,
    kind: &Kind,
    id: RecordId,
) -> StoreResult<Option<Record>> {
    Ok(load(client, kind, id)
        .await?
        .and_then(|s| (!s.deleted).then_some(s.record)))
}

/// Inserts a new record as `write` says, with its version, feed entry and audit event.
pub async fn insert(
    tx: &impl GenericClient,
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
    execute(tx, &statements::insert(kind, &record, MARK))
        .await?
        .map_err(unique(kind))?;
    recorded(tx, kind, &record, "create", &write.changes, actor, synced).await?;
    Ok(record)
}

/// Writes a new version as `write` says: only the changed columns (and the search keys of
/// changed fields), since an index whose columns are assigned is rewritten even when the
/// value stays the same.
pub async fn update(
    tx: &impl GenericClient,
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
    execute(tx, &statements::update(kind, &record, &write.changes, MARK))
        .await?
        .map_err(unique(kind))?;
    recorded(tx, kind, &record, "update", &write.changes, actor, synced).await?;
    Ok(record)
}

/// Tombstones a record with its version, feed entry and audit event.
pub async fn delete(
    tx: &impl GenericClient,
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
    execute(tx, &statements::delete(kind, &record, MARK))
        .await?
        .db()?;
    recorded(tx, kind, &record, "delete", &Changes::new(), actor, synced).await?;
    Ok(record)
}

/// The version row, change-feed entry and audit event of a change.
async fn recorded(
    tx: &impl GenericClient,
    kind: &'static Kind,
    record: &Record,
    action: &str,
    changes: &Changes,
    actor: &Actor,
    synced: Option<&Synced>,
) -> StoreResult<()> {
    history::record(
        tx,
        kind,
        record,
        action,
        changes,
        actor,
        synced.map(|s| s.client_time),
    )
    .await?;
    audit::append(
        tx,
        &change_event(actor, kind, action, record, changes, synced),
    )
    .await?;
    Ok(())
}

/// Live records matching `query` in the kind's order, and whether more follow.
pub async fn list(
    client: &impl GenericClient,
    kind: &Kind,
    query: &RecordQuery,
) -> StoreResult<(Vec<Record>, bool)> {
    let statement = statements::list(kind, query, MARK)?;
    let values = params(&statement.args)?;
    let rows = client.query(&statement.sql, &refs(&values)).await.db()?;
    let mut items = rows
        .iter()
        .map(|row| read(kind, row).map(|s| s.record))
        .collect::<StoreResult<Vec<_>>>()?;
    let limit = query.limit.max(1) as usize;
    let more = items.len() > limit;
    items.truncate(limit);
    Ok((items, more))
}

/// The kind of a change-feed row's `entity` column.
pub fn entity(text: &str) -> StoreResult<Entity> {
    text.parse()
        .map_err(|_| StoreError::Corrupt("an unknown kind of record in the change feed".into()))
}
