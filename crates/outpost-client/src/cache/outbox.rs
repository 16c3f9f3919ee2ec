//! The outbox: local changes in the order they were made, until the hub answers them.

use rusqlite::{Connection, params};

use super::Batch;
use super::{Cache, from_json, to_json};
use crate::error::ClientResult;
use outpost_domain::RecordId;
use outpost_domain::sync::Op;

impl Cache {
    /// Records a local change in the outbox, as an op of its own: every change reaches the
    /// hub, in order, with its own version, history entry and audit event (the push batches
    /// them; it does not fold them).
    pub fn enqueue(tx: &Connection, op: &Op) -> ClientResult<()> {
        tx.prepare_cached("INSERT INTO outbox (op_id, record_id, op) VALUES (?1, ?2, ?3)")?
            .execute(params![
                op.op_id.to_string(),
                op.record_id.to_string(),
                to_json(op)?
            ])?;
        Ok(())
    }

    /// The oldest ops after sequence `after`, at most `batch` (count and bytes), marked as
    /// sent (from now on they are only ever replayed unchanged); whether more are waiting; and
    /// the sequence to continue after.
    pub fn take_outbox(&mut self, batch: Batch, after: i64) -> ClientResult<(Vec<Op>, bool, i64)> {
        let tx = self.conn.transaction()?;
        let (rows, more) = {
            let mut stmt = tx.prepare_cached(
                "SELECT seq, op FROM outbox WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )?;
            batch.take(stmt.query_map(params![after, batch.count + 1], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })?)?
        };
        let last = rows.last().map_or(after, |(seq, _)| *seq);
        tx.execute(
            "UPDATE outbox SET sent = 1 WHERE seq > ?1 AND seq <= ?2",
            [after, last],
        )?;
        tx.commit()?;
        let ops = rows
            .iter()
            .map(|(_, op)| from_json(op))
            .collect::<ClientResult<_>>()?;
        Ok((ops, more, last))
    }

    pub fn remove_op(tx: &Connection, op_id: &str) -> ClientResult<()> {
        tx.prepare_cached("DELETE FROM outbox WHERE op_id = ?1")?
            .execute([op_id])?;
        Ok(())
    }

    pub fn pending_ops_for(tx: &Connection, id: RecordId) -> ClientResult<i64> {
        Ok(tx
            .prepare_cached("SELECT count(*) FROM outbox WHERE record_id = ?1")?
            .query_row([id.to_string()], |r| r.get(0))?)
    }

    /// The ops on one record waiting for the hub, oldest first.
    pub fn pending_ops_of(conn: &Connection, id: RecordId) -> ClientResult<Vec<Op>> {
        let rows = conn
            .prepare_cached("SELECT op FROM outbox WHERE record_id = ?1 ORDER BY seq")?
            .query_map([id.to_string()], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.iter().map(|json| from_json(json)).collect()
    }
}
