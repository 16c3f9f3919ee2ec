//! Copying a tenant file's rows out (backups) and into a new file (restores), in the
//! backend-neutral form of [`outpost_store::backup`].

use rusqlite::Connection;
use rusqlite::types::{Value as SqlValue, ValueRef};
use serde_json::Value;
use tokio::sync::mpsc;

use outpost_store::backup::{self, BATCH_ROWS, Batch, Cell, Kind, TABLES};
use outpost_store::{StoreError, StoreResult};

use crate::sql::{OrBackend, ts};

/// Sends every row of every table in batches, reading inside the transaction `conn` has
/// begun, so that all tables come from one snapshot. Stops early when the receiver goes away.
pub fn export(conn: Connection, tx: mpsc::Sender<StoreResult<Batch>>) {
    let send = |table: &str, rows: Vec<Vec<Value>>| {
        tx.blocking_send(Ok(Batch {
            table: table.to_owned(),
            rows,
        }))
        .is_ok()
    };
    let result = (|| -> StoreResult<()> {
        for table in TABLES.iter() {
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT {} FROM {} ORDER BY {}",
                    table.column_list(),
                    table.name,
                    table.order_by
                ))
                .db()?;
            let mut rows = stmt.query([]).db()?;
            let mut batch = Vec::with_capacity(BATCH_ROWS);
            while let Some(row) = rows.next().db()? {
                let mut values = Vec::with_capacity(table.columns.len());
                for (i, (_, kind)) in table.columns.iter().enumerate() {
                    values.push(cell(row.get_ref(i).db()?, *kind)?.into_json()?);
                }
                batch.push(values);
                if batch.len() == BATCH_ROWS && !send(table.name, std::mem::take(&mut batch)) {
                    return Ok(());
                }
            }
            if !batch.is_empty() && !send(table.name, batch) {
                return Ok(());
            }
        }
        Ok(())
    })();
    if let Err(err) = result {
        let _ = tx.blocking_send(Err(err));
    }
}

fn cell(value: ValueRef<'_>, kind: Kind) -> StoreResult<Cell> {
    Ok(match (value, kind) {
        (ValueRef::Null, _) => Cell::Null,
        (ValueRef::Integer(i), Kind::Bool) => Cell::Bool(i != 0),
        (ValueRef::Integer(i), Kind::Int) => Cell::Int(i),
        // REAL columns hand back whole numbers as integers.
        (ValueRef::Integer(i), Kind::Real) => Cell::Real(i as f64),
        (ValueRef::Real(f), Kind::Real) => Cell::Real(f),
        (ValueRef::Text(text), kind) => {
            let text = std::str::from_utf8(text)
                .map_err(|_| StoreError::Corrupt("stored text is not UTF-8".into()))?;
            Cell::from_json(&Value::String(text.to_owned()), kind)?
        }
        _ => {
            return Err(StoreError::Corrupt(format!(
                "a stored {kind:?} value has an unexpected type"
            )));
        }
    })
}

fn sql_value(cell: Cell) -> SqlValue {
    match cell {
        Cell::Null => SqlValue::Null,
        Cell::Text(s) => SqlValue::Text(s),
        Cell::Uuid(u) => SqlValue::Text(u.to_string()),
        Cell::Date(d) => SqlValue::Text(d.to_string()),
        Cell::Time(t) => SqlValue::Text(ts(t)),
        Cell::Bool(b) => SqlValue::Integer(i64::from(b)),
        Cell::Int(i) => SqlValue::Integer(i),
        Cell::Real(f) => SqlValue::Real(f),
    }
}

/// Inserts one batch into a new file, in one transaction; a bad value writes nothing.
pub fn import(conn: &mut Connection, batch: &Batch) -> StoreResult<()> {
    let (table, rows) = backup::cells(batch)?;
    let placeholders = (1..=table.columns.len())
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let tx = conn.transaction().db()?;
    {
        let mut stmt = tx
            .prepare_cached(&format!(
                "INSERT INTO {} ({}) VALUES ({placeholders})",
                table.name,
                table.column_list()
            ))
            .db()?;
        for row in rows {
            stmt.execute(rusqlite::params_from_iter(row.into_iter().map(sql_value)))
                .db()?;
        }
    }
    tx.commit().db()
}
