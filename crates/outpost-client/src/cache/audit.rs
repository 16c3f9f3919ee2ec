//! Audit events of local reads and changes, waiting to be uploaded with the next push.

use rusqlite::{Connection, params};

use super::Batch;
use super::{Cache, from_json, to_json};
use crate::error::ClientResult;
use outpost_domain::sync::LocalAuditEvent;

impl Cache {
    pub fn add_local_event(tx: &Connection, event: &LocalAuditEvent) -> ClientResult<()> {
        tx.prepare_cached("INSERT INTO local_audit (event_id, event) VALUES (?1, ?2)")?
            .execute(params![event.event_id.to_string(), to_json(event)?])?;
        Ok(())
    }

    /// The oldest local audit events after sequence `after`, at most `batch`; whether more are
    /// waiting; and the sequence to continue after.
    pub fn local_events(
        &self,
        batch: Batch,
        after: i64,
    ) -> ClientResult<(Vec<LocalAuditEvent>, bool, i64)> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, event FROM local_audit WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let (rows, more) = batch.take(stmt.query_map(params![after, batch.count + 1], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })?)?;
        let last = rows.last().map_or(after, |(seq, _)| *seq);
        let events = rows
            .iter()
            .map(|(_, e)| from_json(e))
            .collect::<ClientResult<_>>()?;
        Ok((events, more, last))
    }

    pub fn remove_local_event(tx: &Connection, event_id: &str) -> ClientResult<()> {
        tx.prepare_cached("DELETE FROM local_audit WHERE event_id = ?1")?
            .execute([event_id])?;
        Ok(())
    }

    /// Records reads in the local audit table, in one transaction. Reads are frequent (every
    /// keystroke of a search), so this commit is durable against a crash of the app but skips
    /// the fsync that `synchronous = FULL` gives the outbox; a power cut may lose the last
    /// reads' events.
    pub fn audit_reads(&mut self, events: &[LocalAuditEvent]) -> ClientResult<()> {
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        let written = (|| {
            let tx = self.conn.transaction()?;
            for event in events {
                Self::add_local_event(&tx, event)?;
            }
            tx.commit()?;
            Ok(())
        })();
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        written
    }
}
