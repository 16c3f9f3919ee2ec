//! The audit chain table, identical in the central and every tenant database.

use futures_util::{TryStreamExt, pin_mut};
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Row};

use outpost_domain::UserId;
use outpost_domain::audit::{
    AuditEvent, AuditRecord, ChainReport, ChainVerifier, GENESIS_HASH, Outcome, chain_hash,
};
use outpost_store::columns::AUDIT;
use outpost_store::{StoreError, StoreResult};

use crate::OrBackend;
use crate::sql::{col, opt_id};

/// Appends an event to the chain inside the caller's transaction, which holds the write lock
/// ([`crate::sql::begin`]); returns its sequence number.
pub async fn append(tx: &impl GenericClient, event: &AuditEvent) -> StoreResult<i64> {
    let last = tx
        .query_opt(
            "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1",
            &[],
        )
        .await
        .db()?;
    let (seq, prev) = match last {
        Some(row) => (col::<i64>(&row, 0)? + 1, col::<String>(&row, 1)?),
        None => (1, GENESIS_HASH.to_owned()),
    };
    let hash = chain_hash(&prev, seq, event);
    outpost_store::metrics::audit_event_appended();
    let details = event.details.to_string();
    tx.execute(
        &format!(
            "INSERT INTO audit_events ({AUDIT}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        ),
        &[
            &seq,
            &event.at,
            &event.tenant_id.map(|t| t.as_uuid()),
            &event.actor_user_id.map(|u| u.as_uuid()),
            &event.actor_role,
            &event.session_id.map(|s| s.as_uuid()),
            &event.device_id.map(|d| d.as_uuid()),
            &event.ip,
            &event.action,
            &event.entity,
            &event.entity_id,
            &event.outcome.as_str(),
            &details,
            &prev,
            &hash,
        ],
    )
    .await
    .db()?;
    Ok(seq)
}

/// Streams the whole chain through the verifier.
pub async fn verify(client: &impl GenericClient, chain: &str) -> StoreResult<ChainReport> {
    let no_params: [&(dyn ToSql + Sync); 0] = [];
    let rows = client
        .query_raw(
            &format!("SELECT {AUDIT} FROM audit_events ORDER BY seq"),
            no_params,
        )
        .await
        .db()?;
    pin_mut!(rows);
    let mut verifier = ChainVerifier::default();
    while let Some(row) = rows.try_next().await.db()? {
        // A row that cannot even be read back as an event is itself a break.
        let record = read(&row).unwrap_or_else(|_| AuditRecord {
            seq: row.try_get(0).unwrap_or(-1),
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

/// Events whose actor is `user` or that are about `user`, oldest first, at most `limit` (the
/// newest ones).
pub async fn of_actor(
    client: &impl GenericClient,
    user: UserId,
    limit: u32,
) -> StoreResult<Vec<AuditRecord>> {
    let rows = client
        .query(
            &format!(
                "SELECT * FROM (SELECT {AUDIT} FROM audit_events WHERE actor_user_id = $1 \
                 OR (entity = 'user' AND entity_id = $2) ORDER BY seq DESC LIMIT $3) AS newest \
                 ORDER BY seq"
            ),
            &[&user.as_uuid(), &user.to_string(), &i64::from(limit)],
        )
        .await
        .db()?;
    rows.iter().map(read).collect()
}

/// Events about one record, oldest first, including searches whose results held it.
pub async fn of_entity(
    client: &impl GenericClient,
    entity: &str,
    id: &str,
) -> StoreResult<Vec<AuditRecord>> {
    let rows = client
        .query(
            &format!(
                "SELECT {AUDIT} FROM audit_events WHERE (entity = $1 AND entity_id = $2) \
                 OR (action = $1 || '.search' AND strpos(details, $2) > 0) ORDER BY seq"
            ),
            &[&entity, &id],
        )
        .await
        .db()?;
    rows.iter().map(read).collect()
}

fn read(row: &Row) -> StoreResult<AuditRecord> {
    let outcome = match col::<&str>(row, 11)? {
        "success" => Outcome::Success,
        "denied" => Outcome::Denied,
        "failure" => Outcome::Failure,
        _ => return Err(StoreError::Corrupt("unknown audit outcome".into())),
    };
    Ok(AuditRecord {
        seq: col(row, 0)?,
        event: AuditEvent {
            at: col(row, 1)?,
            tenant_id: opt_id(row, 2)?,
            actor_user_id: opt_id(row, 3)?,
            actor_role: col(row, 4)?,
            session_id: opt_id(row, 5)?,
            device_id: opt_id(row, 6)?,
            ip: col(row, 7)?,
            action: col(row, 8)?,
            entity: col(row, 9)?,
            entity_id: col(row, 10)?,
            outcome,
            details: crate::sql::json(col::<&str>(row, 12)?)?,
        },
        prev_hash: col(row, 13)?,
        hash: col(row, 14)?,
    })
}
