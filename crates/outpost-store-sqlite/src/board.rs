//! The transport board and the outbox in `central.db` ([`BoardStore`]). One connection
//! serves the embedded hub, so an IMMEDIATE transaction is the lock every decision needs.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use rusqlite::types::Value as Sql;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};
use uuid::Uuid;

use outpost_domain::audit::AuditEvent;
use outpost_domain::transport::TripStatus;
use outpost_domain::transport::board::{self, Bid, BidStatus, BoardEntry, BoardScope};
use outpost_domain::{TenantId, TransportRequestId, TripId};
use outpost_store::board::{
    BID_COLUMNS, BoardArg, BoardQuery, ENTRY_COLUMNS, EventLogRow, LeasedEvent, OutboxEvent,
    entries_sql, from_label, label, period_sql,
};
use outpost_store::{BoardStore, StoreError, StoreResult};

use crate::audit;
use crate::central::SqliteCentral;
use crate::sql::{OrBackend, conversion, get_opt_parsed, get_opt_ts, get_parsed, get_ts, ts};

fn get_label<T: serde::de::DeserializeOwned>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T> {
    let text: String = row.get(idx)?;
    from_label(&text).map_err(|e| conversion(idx, e))
}

fn read_entry(row: &Row<'_>) -> rusqlite::Result<BoardEntry> {
    let equipment: String = row.get(12)?;
    Ok(BoardEntry {
        id: get_parsed(row, 0)?,
        request_id: get_parsed(row, 1)?,
        hospital_tenant_id: get_parsed(row, 2)?,
        hospital: row.get(3)?,
        level: get_label(row, 4)?,
        priority: get_label(row, 5)?,
        pickup_from: get_ts(row, 6)?,
        pickup_to: get_ts(row, 7)?,
        origin: row.get(8)?,
        origin_city: row.get(9)?,
        destination: row.get(10)?,
        destination_city: row.get(11)?,
        equipment: serde_json::from_str(&equipment).map_err(|e| conversion(12, e))?,
        isolation: row.get(13)?,
        status: get_label(row, 14)?,
        cancel_reason: row.get(15)?,
        agency_tenant_id: get_opt_parsed(row, 16)?,
        agency: row.get(17)?,
        trip_id: get_opt_parsed(row, 18)?,
        published_at: get_ts(row, 19)?,
        first_bid_at: get_opt_ts(row, 20)?,
        accepted_at: get_opt_ts(row, 21)?,
        picked_up_at: get_opt_ts(row, 22)?,
        updated_at: get_ts(row, 23)?,
    })
}

fn read_bid(row: &Row<'_>) -> rusqlite::Result<Bid> {
    let status: String = row.get(9)?;
    Ok(Bid {
        id: get_parsed(row, 0)?,
        entry_id: get_parsed(row, 1)?,
        agency_tenant_id: get_parsed(row, 2)?,
        agency: row.get(3)?,
        unit_id: get_parsed(row, 4)?,
        unit: row.get(5)?,
        unit_level: get_label(row, 6)?,
        eta_minutes: row.get(7)?,
        notes: row.get(8)?,
        status: status
            .parse()
            .map_err(|()| conversion(9, StoreError::Corrupt("bid status".into())))?,
        created_at: get_ts(row, 10)?,
        updated_at: get_ts(row, 11)?,
    })
}

fn bind(args: Vec<BoardArg>) -> Vec<Sql> {
    args.into_iter()
        .map(|arg| match arg {
            BoardArg::Text(text) => Sql::Text(text),
            BoardArg::Id(id) => Sql::Text(id.to_string()),
            BoardArg::Time(at) => Sql::Text(ts(at)),
        })
        .collect()
}

fn question(n: usize) -> String {
    format!("?{n}")
}

fn entry_in(conn: &Connection, id: Uuid) -> StoreResult<Option<BoardEntry>> {
    conn.query_row(
        &format!("SELECT {ENTRY_COLUMNS} FROM board_entries WHERE id = ?1"),
        [id.to_string()],
        read_entry,
    )
    .optional()
    .db()
}

fn bids_in(conn: &Connection, entry: Uuid, agency: Option<TenantId>) -> StoreResult<Vec<Bid>> {
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {BID_COLUMNS} FROM trip_bids WHERE entry_id = ?1 \
             AND (?2 IS NULL OR agency_tenant_id = ?2) ORDER BY created_at, id"
        ))
        .db()?;
    stmt.query_map(
        params![entry.to_string(), agency.map(|a| a.to_string())],
        read_bid,
    )
    .db()?
    .collect::<Result<_, _>>()
    .db()
}

fn select(conn: &Connection, sql: &str, args: Vec<BoardArg>) -> StoreResult<Vec<BoardEntry>> {
    let mut stmt = conn.prepare(sql).db()?;
    stmt.query_map(rusqlite::params_from_iter(bind(args)), read_entry)
        .db()?
        .collect::<Result<_, _>>()
        .db()
}

fn refused(refusal: outpost_domain::kind::Refusal) -> StoreError {
    StoreError::Refused {
        code: refusal.code,
        message: refusal.message,
    }
}

fn queue(tx: &Transaction<'_>, event: &OutboxEvent) -> StoreResult<()> {
    let payload = serde_json::to_string(&event.step).map_err(StoreError::backend)?;
    tx.execute(
        "INSERT INTO events (id, entry_id, kind, payload, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            event.id.to_string(),
            event.entry_id.to_string(),
            event.step.kind(),
            payload,
            ts(event.created_at)
        ],
    )
    .db()?;
    Ok(())
}

fn set_bid_status(
    tx: &Transaction<'_>,
    id: Uuid,
    status: BidStatus,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    tx.execute(
        "UPDATE trip_bids SET status = ?1, updated_at = ?2 WHERE id = ?3",
        params![status.as_str(), ts(at), id.to_string()],
    )
    .db()?;
    Ok(())
}

/// An entry read inside a write transaction, or `NotFound`.
fn locked_entry(tx: &Transaction<'_>, id: Uuid) -> StoreResult<BoardEntry> {
    entry_in(tx, id)?.ok_or(StoreError::NotFound)
}

#[async_trait]
impl BoardStore for SqliteCentral {
    async fn publish(
        &self,
        entry: &BoardEntry,
        event: &OutboxEvent,
        audit: AuditEvent,
    ) -> StoreResult<()> {
        let (entry, event) = (entry.clone(), event.clone());
        self.db
            .call(move |conn| {
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .db()?;
                let equipment =
                    serde_json::to_string(&entry.equipment).map_err(StoreError::backend)?;
                tx.execute(
                    &format!(
                        "INSERT INTO board_entries ({ENTRY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, \
                         ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, \
                         ?21, ?22, ?23, ?24)"
                    ),
                    params![
                        entry.id.to_string(),
                        entry.request_id.to_string(),
                        entry.hospital_tenant_id.to_string(),
                        entry.hospital,
                        label(&entry.level),
                        label(&entry.priority),
                        ts(entry.pickup_from),
                        ts(entry.pickup_to),
                        entry.origin,
                        entry.origin_city,
                        entry.destination,
                        entry.destination_city,
                        equipment,
                        entry.isolation,
                        entry.status.as_str(),
                        entry.cancel_reason,
                        entry.agency_tenant_id.map(|t| t.to_string()),
                        entry.agency,
                        entry.trip_id.map(|t| t.to_string()),
                        ts(entry.published_at),
                        entry.first_bid_at.map(ts),
                        entry.accepted_at.map(ts),
                        entry.picked_up_at.map(ts),
                        ts(entry.updated_at),
                    ],
                )
                .map_err(crate::sql::unique_as("board entry"))?;
                queue(&tx, &event)?;
                audit::append(&tx, &audit)?;
                tx.commit().db()
            })
            .await
    }

    async fn entry(&self, id: Uuid) -> StoreResult<Option<BoardEntry>> {
        self.db.call(move |conn| entry_in(conn, id)).await
    }

    async fn entry_of_request(
        &self,
        request: TransportRequestId,
    ) -> StoreResult<Option<BoardEntry>> {
        self.db
            .call(move |conn| {
                conn.query_row(
                    &format!("SELECT {ENTRY_COLUMNS} FROM board_entries WHERE request_id = ?1"),
                    [request.to_string()],
                    read_entry,
                )
                .optional()
                .db()
            })
            .await
    }

    async fn entries(&self, query: &BoardQuery) -> StoreResult<Vec<BoardEntry>> {
        let (sql, args) = entries_sql(query, question);
        self.db.call(move |conn| select(conn, &sql, args)).await
    }

    async fn published_between(
        &self,
        scope: BoardScope,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<BoardEntry>> {
        let (sql, args) = period_sql(scope, false, question, from, to);
        self.db.call(move |conn| select(conn, &sql, args)).await
    }

    async fn running(&self) -> StoreResult<Vec<BoardEntry>> {
        self.db
            .call(|conn| {
                select(
                    conn,
                    &format!(
                        "SELECT {ENTRY_COLUMNS} FROM board_entries WHERE trip_id IS NOT NULL \
                         AND status NOT IN ('completed', 'cancelled') ORDER BY pickup_from, id"
                    ),
                    vec![],
                )
            })
            .await
    }

    async fn bids(&self, entry: Uuid, agency: Option<TenantId>) -> StoreResult<Vec<Bid>> {
        self.db.call(move |conn| bids_in(conn, entry, agency)).await
    }

    async fn bids_between(
        &self,
        scope: BoardScope,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<Bid>> {
        let (sql, args) = period_sql(scope, true, question, from, to);
        self.db
            .call(move |conn| {
                let mut stmt = conn.prepare(&sql).db()?;
                stmt.query_map(rusqlite::params_from_iter(bind(args)), read_bid)
                    .db()?
                    .collect::<Result<_, _>>()
                    .db()
            })
            .await
    }

    async fn submit_bid(&self, bid: &Bid, audit: AuditEvent) -> StoreResult<()> {
        let bid = bid.clone();
        self.db
            .call(move |conn| {
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .db()?;
                let entry = locked_entry(&tx, bid.entry_id)?;
                let own = bids_in(&tx, bid.entry_id, Some(bid.agency_tenant_id))?;
                board::may_bid(&entry, bid.unit_level, &own).map_err(refused)?;
                tx.execute(
                    &format!(
                        "INSERT INTO trip_bids ({BID_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, \
                         ?7, ?8, ?9, ?10, ?11, ?12)"
                    ),
                    params![
                        bid.id.to_string(),
                        bid.entry_id.to_string(),
                        bid.agency_tenant_id.to_string(),
                        bid.agency,
                        bid.unit_id.to_string(),
                        bid.unit,
                        label(&bid.unit_level),
                        bid.eta_minutes,
                        bid.notes,
                        bid.status.as_str(),
                        ts(bid.created_at),
                        ts(bid.updated_at),
                    ],
                )
                .db()?;
                tx.execute(
                    "UPDATE board_entries SET first_bid_at = coalesce(first_bid_at, ?1) \
                     WHERE id = ?2",
                    params![ts(bid.created_at), bid.entry_id.to_string()],
                )
                .db()?;
                audit::append(&tx, &audit)?;
                tx.commit().db()
            })
            .await
    }

    async fn withdraw_bid(
        &self,
        entry: Uuid,
        bid: Uuid,
        agency: TenantId,
        at: DateTime<Utc>,
        audit: AuditEvent,
    ) -> StoreResult<Bid> {
        self.db
            .call(move |conn| {
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .db()?;
                let found = locked_entry(&tx, entry)?;
                let mut own = bids_in(&tx, entry, Some(agency))?
                    .into_iter()
                    .find(|b| b.id == bid)
                    .ok_or(StoreError::NotFound)?;
                board::may_withdraw(&found, &own).map_err(refused)?;
                set_bid_status(&tx, bid, BidStatus::Withdrawn, at)?;
                audit::append(&tx, &audit)?;
                tx.commit().db()?;
                own.status = BidStatus::Withdrawn;
                own.updated_at = at;
                Ok(own)
            })
            .await
    }

    async fn accept_bid(
        &self,
        entry: Uuid,
        bid: Uuid,
        trip: TripId,
        event: &OutboxEvent,
        audit: AuditEvent,
    ) -> StoreResult<BoardEntry> {
        let event = event.clone();
        self.db
            .call(move |conn| {
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .db()?;
                let found = locked_entry(&tx, entry)?;
                let bids = bids_in(&tx, entry, None)?;
                let changes = board::accepted(&found, &bids, bid).map_err(refused)?;
                let at = event.created_at;
                for (id, status) in changes {
                    set_bid_status(&tx, id, status, at)?;
                }
                let chosen = bids
                    .iter()
                    .find(|b| b.id == bid)
                    .ok_or(StoreError::NotFound)?;
                tx.execute(
                    "UPDATE board_entries SET status = 'assigned', agency_tenant_id = ?1, \
                     agency = ?2, trip_id = ?3, accepted_at = ?4, updated_at = ?4 WHERE id = ?5",
                    params![
                        chosen.agency_tenant_id.to_string(),
                        chosen.agency,
                        trip.to_string(),
                        ts(at),
                        entry.to_string()
                    ],
                )
                .db()?;
                queue(&tx, &event)?;
                audit::append(&tx, &audit)?;
                let after = locked_entry(&tx, entry)?;
                tx.commit().db()?;
                Ok(after)
            })
            .await
    }

    async fn cancel_entry(
        &self,
        entry: Uuid,
        reason: &str,
        event: &OutboxEvent,
        audit: AuditEvent,
    ) -> StoreResult<BoardEntry> {
        let (event, reason) = (event.clone(), reason.to_owned());
        self.db
            .call(move |conn| {
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .db()?;
                let found = locked_entry(&tx, entry)?;
                let bids = bids_in(&tx, entry, None)?;
                let at = event.created_at;
                for (id, status) in board::cancelled(&found, &bids).map_err(refused)? {
                    set_bid_status(&tx, id, status, at)?;
                }
                tx.execute(
                    "UPDATE board_entries SET status = 'cancelled', cancel_reason = ?1, \
                     updated_at = ?2 WHERE id = ?3",
                    params![reason, ts(at), entry.to_string()],
                )
                .db()?;
                queue(&tx, &event)?;
                audit::append(&tx, &audit)?;
                let after = locked_entry(&tx, entry)?;
                tx.commit().db()?;
                Ok(after)
            })
            .await
    }

    async fn follow_trip(
        &self,
        entry: Uuid,
        status: TripStatus,
        reason: Option<&str>,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let reason = reason.map(str::to_owned);
        self.db
            .call(move |conn| {
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .db()?;
                let found = locked_entry(&tx, entry)?;
                let Some(next) = board::followed(found.status, status) else {
                    return Ok(false);
                };
                let picked_up = board::reached_patient(next).then(|| ts(at));
                tx.execute(
                    "UPDATE board_entries SET status = ?1, cancel_reason = coalesce(?2, \
                     cancel_reason), picked_up_at = coalesce(picked_up_at, ?3), updated_at = ?4 \
                     WHERE id = ?5",
                    params![next.as_str(), reason, picked_up, ts(at), entry.to_string()],
                )
                .db()?;
                tx.commit().db()?;
                Ok(true)
            })
            .await
    }

    async fn lease_event(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease: Duration,
        entry: Option<Uuid>,
    ) -> StoreResult<Option<LeasedEvent>> {
        let worker = worker.to_owned();
        self.db
            .call(move |conn| {
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .db()?;
                let row = tx
                    .query_row(
                        "SELECT e.id, e.entry_id, e.payload, e.created_at, e.attempts \
                         FROM events e WHERE e.done_at IS NULL \
                         AND (e.lease_until IS NULL OR e.lease_until < ?1) \
                         AND (?2 IS NULL OR e.entry_id = ?2) \
                         AND NOT EXISTS (SELECT 1 FROM events o WHERE o.entry_id = e.entry_id \
                                         AND o.seq < e.seq AND o.done_at IS NULL) \
                         ORDER BY e.seq LIMIT 1",
                        params![ts(now), entry.map(|e| e.to_string())],
                        |row| {
                            Ok((
                                get_parsed::<Uuid>(row, 0)?,
                                get_parsed::<Uuid>(row, 1)?,
                                row.get::<_, String>(2)?,
                                get_ts(row, 3)?,
                                row.get::<_, i32>(4)?,
                            ))
                        },
                    )
                    .optional()
                    .db()?;
                let Some((id, entry_id, payload, created_at, attempts)) = row else {
                    return Ok(None);
                };
                tx.execute(
                    "UPDATE events SET leased_by = ?1, lease_until = ?2, attempts = attempts + 1 \
                     WHERE id = ?3",
                    params![worker, ts(now + lease), id.to_string()],
                )
                .db()?;
                tx.commit().db()?;
                let step = serde_json::from_str(&payload)
                    .map_err(|_| StoreError::Corrupt("an outbox event's payload".into()))?;
                Ok(Some(LeasedEvent {
                    event: OutboxEvent {
                        id,
                        entry_id,
                        step,
                        created_at,
                    },
                    attempts: attempts + 1,
                }))
            })
            .await
    }

    async fn finish_event(
        &self,
        id: Uuid,
        worker: &str,
        now: DateTime<Utc>,
        error: Option<&str>,
    ) -> StoreResult<bool> {
        let (worker, error) = (worker.to_owned(), error.map(str::to_owned));
        self.db
            .call(move |conn| {
                let done = conn
                    .execute(
                        "UPDATE events SET done_at = ?1, done_by = ?2, last_error = ?3, \
                         lease_until = NULL, payload = CASE WHEN kind = 'cancelled' \
                         THEN '{\"kind\":\"cancelled\",\"reason\":\"\"}' ELSE payload END \
                         WHERE id = ?4 AND leased_by = ?2 AND done_at IS NULL",
                        params![ts(now), worker, error, id.to_string()],
                    )
                    .db()?;
                Ok(done == 1)
            })
            .await
    }

    async fn retry_event(
        &self,
        id: Uuid,
        worker: &str,
        retry_at: DateTime<Utc>,
        error: &str,
    ) -> StoreResult<()> {
        let (worker, error) = (worker.to_owned(), error.to_owned());
        self.db
            .call(move |conn| {
                conn.execute(
                    "UPDATE events SET lease_until = ?1, last_error = ?2 \
                     WHERE id = ?3 AND leased_by = ?4 AND done_at IS NULL",
                    params![ts(retry_at), error, id.to_string(), worker],
                )
                .db()?;
                Ok(())
            })
            .await
    }

    async fn pending_events(&self) -> StoreResult<i64> {
        self.db
            .call(|conn| {
                conn.query_row(
                    "SELECT count(*) FROM events WHERE done_at IS NULL",
                    [],
                    |r| r.get(0),
                )
                .db()
            })
            .await
    }

    async fn event_log(&self) -> StoreResult<Vec<EventLogRow>> {
        self.db
            .call(|conn| {
                let mut stmt = conn
                    .prepare(
                        "SELECT id, entry_id, kind, attempts, done_by, last_error FROM events \
                         ORDER BY seq",
                    )
                    .db()?;
                stmt.query_map([], |row| {
                    Ok(EventLogRow {
                        id: get_parsed(row, 0)?,
                        entry_id: get_parsed(row, 1)?,
                        kind: row.get(2)?,
                        attempts: row.get(3)?,
                        done_by: row.get(4)?,
                        last_error: row.get(5)?,
                    })
                })
                .db()?
                .collect::<Result<_, _>>()
                .db()
            })
            .await
    }
}
