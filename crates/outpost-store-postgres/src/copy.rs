//! Copying a tenant database's rows out (backups, moves) and into a new database (restores,
//! moves), in the backend-neutral form of [`outpost_store::backup`].

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::{TryStreamExt, pin_mut};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

use outpost_store::StoreResult;
use outpost_store::backup::{self, BATCH_ROWS, Batch, Cell, Kind, TABLES, Table};

use crate::OrBackend;
use crate::sql::col;

fn cell(row: &Row, idx: usize, kind: Kind) -> StoreResult<Cell> {
    Ok(match kind {
        Kind::Text => col::<Option<String>>(row, idx)?.map_or(Cell::Null, Cell::Text),
        Kind::Uuid => col::<Option<Uuid>>(row, idx)?.map_or(Cell::Null, Cell::Uuid),
        Kind::Date => col::<Option<NaiveDate>>(row, idx)?.map_or(Cell::Null, Cell::Date),
        Kind::Time => col::<Option<DateTime<Utc>>>(row, idx)?.map_or(Cell::Null, Cell::Time),
        Kind::Bool => col::<Option<bool>>(row, idx)?.map_or(Cell::Null, Cell::Bool),
        Kind::Int => col::<Option<i64>>(row, idx)?.map_or(Cell::Null, Cell::Int),
        Kind::Real => col::<Option<f64>>(row, idx)?.map_or(Cell::Null, Cell::Real),
    })
}

/// A value bound with the type of its column (a NULL too: PostgreSQL checks its type).
fn param(cell: Cell, kind: Kind) -> Box<dyn ToSql + Sync + Send> {
    match (cell, kind) {
        (Cell::Text(s), _) => Box::new(s),
        (Cell::Uuid(u), _) => Box::new(u),
        (Cell::Date(d), _) => Box::new(d),
        (Cell::Time(t), _) => Box::new(t),
        (Cell::Bool(b), _) => Box::new(b),
        (Cell::Int(i), _) => Box::new(i),
        (Cell::Real(f), _) => Box::new(f),
        (Cell::Null, Kind::Text) => Box::new(None::<String>),
        (Cell::Null, Kind::Uuid) => Box::new(None::<Uuid>),
        (Cell::Null, Kind::Date) => Box::new(None::<NaiveDate>),
        (Cell::Null, Kind::Time) => Box::new(None::<DateTime<Utc>>),
        (Cell::Null, Kind::Bool) => Box::new(None::<bool>),
        (Cell::Null, Kind::Int) => Box::new(None::<i64>),
        (Cell::Null, Kind::Real) => Box::new(None::<f64>),
    }
}

/// Sends the rows of `table` (those whose key is above `after`, when given) in batches.
/// Returns `false` when the receiver went away.
pub async fn send_table(
    conn: &impl GenericClient,
    table: &'static Table,
    after: Option<i64>,
    tx: &mpsc::Sender<StoreResult<Batch>>,
) -> StoreResult<bool> {
    let filter = if after.is_some() {
        format!("WHERE {} > $1", table.order_by)
    } else {
        String::new()
    };
    let sql = format!(
        "SELECT {} FROM {} {filter} ORDER BY {}",
        table.column_list(),
        table.name,
        table.order_by
    );
    let rows = conn.query_raw(&sql, after).await.db()?;
    pin_mut!(rows);
    let mut batch = Vec::with_capacity(BATCH_ROWS);
    let send = |rows| {
        tx.send(Ok(Batch {
            table: table.name.to_owned(),
            rows,
        }))
    };
    while let Some(row) = rows.try_next().await.db()? {
        let mut values: Vec<Value> = Vec::with_capacity(table.columns.len());
        for (i, (_, kind)) in table.columns.iter().enumerate() {
            values.push(cell(&row, i, *kind)?.into_json()?);
        }
        batch.push(values);
        if batch.len() == BATCH_ROWS && send(std::mem::take(&mut batch)).await.is_err() {
            return Ok(false);
        }
    }
    Ok(batch.is_empty() || send(batch).await.is_ok())
}

/// Sends every table, reading inside the transaction `conn` has begun.
pub async fn send_all(
    conn: &impl GenericClient,
    tx: &mpsc::Sender<StoreResult<Batch>>,
) -> StoreResult<bool> {
    for table in TABLES.iter() {
        if !send_table(conn, table, None, tx).await? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn pg_type(kind: Kind) -> Type {
    match kind {
        Kind::Text => Type::TEXT,
        Kind::Uuid => Type::UUID,
        Kind::Date => Type::DATE,
        Kind::Time => Type::TIMESTAMPTZ,
        Kind::Bool => Type::BOOL,
        Kind::Int => Type::INT8,
        Kind::Real => Type::FLOAT8,
    }
}

/// Loads one batch with a binary `COPY` in one transaction (identity columns take the copied
/// values, as `COPY` always does); a bad value writes nothing.
pub async fn import(conn: &mut tokio_postgres::Client, batch: &Batch) -> StoreResult<u64> {
    let (table, rows) = backup::cells(batch)?;
    let types: Vec<Type> = table
        .columns
        .iter()
        .map(|(_, kind)| pg_type(*kind))
        .collect();
    let tx = conn.transaction().await.db()?;
    let sink = tx
        .copy_in(&format!(
            "COPY {} ({}) FROM STDIN BINARY",
            table.name,
            table.column_list()
        ))
        .await
        .db()?;
    let writer = BinaryCopyInWriter::new(sink, &types);
    pin_mut!(writer);
    for row in rows {
        let params: Vec<Box<dyn ToSql + Sync + Send>> = row
            .into_iter()
            .zip(table.columns)
            .map(|(cell, (_, kind))| param(cell, *kind))
            .collect();
        let refs: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        writer.as_mut().write(&refs).await.db()?;
    }
    let written = writer.finish().await.db()?;
    tx.commit().await.db()?;
    Ok(written)
}

/// Moves the sequences of the identity columns past the copied rows, so that the next row
/// the hub writes gets the next number.
pub async fn reset_identities(conn: &impl GenericClient) -> StoreResult<()> {
    for table in TABLES.iter() {
        if let Some(column) = table.identity {
            conn.execute(
                &format!(
                    "SELECT setval(pg_get_serial_sequence('{0}', '{1}'), \
                     coalesce(max({1}), 0) + 1, false) FROM {0}",
                    table.name, column
                ),
                &[],
            )
            .await
            .db()?;
        }
    }
    Ok(())
}

/// The largest key of a table (0 when empty), for copying what was added after it.
pub async fn last_key(conn: &impl GenericClient, table: &Table) -> StoreResult<i64> {
    let row = conn
        .query_one(
            &format!(
                "SELECT coalesce(max({})::bigint, 0) FROM {}",
                table.order_by, table.name
            ),
            &[],
        )
        .await
        .db()?;
    col(&row, 0)
}
