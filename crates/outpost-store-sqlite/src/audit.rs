//! The audit chain table, identical in the central and every tenant file.

use rusqlite::{Connection, OptionalExtension, Row, params};

use outpost_domain::UserId;
use outpost_domain::audit::{
    AuditEvent, AuditRecord, ChainReport, ChainVerifier, GENESIS_HASH, Outcome, chain_hash,
};
use outpost_store::StoreResult;
use outpost_store::columns::AUDIT;

use crate::sql::{OrBackend, conversion, get_json, get_opt_parsed, get_ts, ts};

#[derive(Debug, thiserror::Error)]
#[error("unknown audit outcome")]
struct UnknownOutcome;

/// Appends an event to the chain inside the caller's transaction; returns its sequence number.
pub fn append(conn: &Connection, event: &AuditEvent) -> StoreResult<i64> {
    let last: Option<(i64, String)> = conn
        .prepare_cached("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
        .db()?
        .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()
        .db()?;
    let (seq, prev) = match last {
        Some((seq, hash)) => (seq + 1, hash),
        None => (1, GENESIS_HASH.to_owned()),
    };
    let hash = chain_hash(&prev, seq, event);
    outpost_store::metrics::audit_event_appended();
    conn.prepare_cached(&format!(
        "INSERT INTO audit_events ({AUDIT}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
    ))
    .db()?
    .execute(params![
            seq,
            ts(event.at),
            event.tenant_id.map(|t| t.to_string()),
            event.actor_user_id.map(|u| u.to_string()),
            event.actor_role,
            event.session_id.map(|s| s.to_string()),
            event.device_id.map(|d| d.to_string()),
            event.ip,
            event.action,
            event.entity,
            event.entity_id,
            event.outcome.as_str(),
            event.details.to_string(),
            prev,
            hash,
        ],
    )
    .db()?;
    Ok(seq)
}

/// Appends an event in a transaction of its own (for events not tied to another change).
pub fn append_alone(conn: &mut Connection, event: &AuditEvent) -> StoreResult<i64> {
    let tx = conn.transaction().db()?;
    let seq = append(&tx, event)?;
    tx.commit().db()?;
    Ok(seq)
}

/// Streams the whole chain through the verifier.
pub fn verify(conn: &Connection, chain: &str) -> StoreResult<ChainReport> {
    let mut stmt = conn
        .prepare(&format!("SELECT {AUDIT} FROM audit_events ORDER BY seq"))
        .db()?;
    let mut rows = stmt.query([]).db()?;
    let mut verifier = ChainVerifier::default();
    while let Some(row) = rows.next().db()? {
        // A row that cannot even be read back as an event is itself a break.
        let record = read(row).unwrap_or_else(|_| AuditRecord {
            seq: row.get(0).unwrap_or(-1),
            event: AuditEvent::new(chrono::Utc::now(), "unreadable", Outcome::Failure),
            prev_hash: String::new(),
            hash: String::new(),
        });
        if !verifier.push(&record) {
            break;
        }
    }
    Ok(verifier.finish(chain))
}

/// The events of [`of_actor`]: the literal `entity = 'user'` lets a tenant chain use its
/// partial index of events about users.
fn of_actor_query() -> String {
    format!(
        "SELECT * FROM (SELECT {AUDIT} FROM audit_events WHERE actor_user_id = ?1 \
         OR (entity = 'user' AND entity_id = ?1) ORDER BY seq DESC LIMIT ?2) ORDER BY seq"
    )
}

/// Events whose actor is `user`, oldest first, at most `limit` (the newest ones).
pub fn of_actor(conn: &Connection, user: UserId, limit: u32) -> StoreResult<Vec<AuditRecord>> {
    let mut stmt = conn.prepare(&of_actor_query()).db()?;
    let rows = stmt
        .query_map(params![user.to_string(), limit], read)
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    Ok(rows)
}

/// Events about one record, oldest first, including searches whose results held it.
pub fn of_entity(conn: &Connection, entity: &str, id: &str) -> StoreResult<Vec<AuditRecord>> {
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {AUDIT} FROM audit_events WHERE (entity = ?1 AND entity_id = ?2) \
             OR (action = ?1 || '.search' AND instr(details, ?2) > 0) ORDER BY seq"
        ))
        .db()?;
    let rows = stmt
        .query_map(params![entity, id], read)
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    Ok(rows)
}

fn read(row: &Row<'_>) -> rusqlite::Result<AuditRecord> {
    let outcome: String = row.get(11)?;
    let outcome = match outcome.as_str() {
        "success" => Outcome::Success,
        "denied" => Outcome::Denied,
        "failure" => Outcome::Failure,
        _ => return Err(conversion(11, UnknownOutcome)),
    };
    Ok(AuditRecord {
        seq: row.get(0)?,
        event: AuditEvent {
            at: get_ts(row, 1)?,
            tenant_id: get_opt_parsed(row, 2)?,
            actor_user_id: get_opt_parsed(row, 3)?,
            actor_role: row.get(4)?,
            session_id: get_opt_parsed(row, 5)?,
            device_id: get_opt_parsed(row, 6)?,
            ip: row.get(7)?,
            action: row.get(8)?,
            entity: row.get(9)?,
            entity_id: row.get(10)?,
            outcome,
            details: get_json(row, 12)?,
        },
        prev_hash: row.get(13)?,
        hash: row.get(14)?,
    })
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use crate::migrate;

    /// A user's activity report reads each chain through its indexes, never the whole chain:
    /// a busy tenant's holds millions of events. Both kinds of file are checked, since the
    /// tenant file indexes only the events about users.
    #[test]
    fn a_users_events_are_found_through_indexes() {
        for (migrations, user_index) in [
            (migrate::TENANT, "audit_events_user"),
            (migrate::CENTRAL, "audit_events_entity"),
        ] {
            let mut conn = Connection::open_in_memory().expect("open");
            migrate::apply(&mut conn, migrations).expect("migrate");
            let plan = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {}", super::of_actor_query()))
                .expect("plan")
                .query_map(["u", "10"], |row| row.get::<_, String>(3))
                .expect("rows")
                .collect::<rusqlite::Result<Vec<_>>>()
                .expect("plan rows");
            let uses = |index: &str| plan.iter().any(|step| step.contains(index));
            assert!(uses("USING INDEX audit_events_actor"), "{plan:?}");
            assert!(uses(&format!("USING INDEX {user_index}")), "{plan:?}");
            assert!(!uses("SCAN audit_events"), "{plan:?}");
        }
    }
}
