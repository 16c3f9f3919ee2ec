//! The transport board and the outbox in the central database ([`BoardStore`]). Decisions
//! take the central write lock (they append to the central audit chain); workers of several
//! hub instances lease outbox events with `FOR UPDATE SKIP LOCKED`, so that each event goes
//! to one of them and a crashed one's expired lease is taken over.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Row, Transaction};
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

use crate::central::{PgCentral, query_all, query_one};
use crate::sql::{begin, col, id, json, opt_id, to_json, unique_as};
use crate::{OrBackend, audit};

fn get_label<T: serde::de::DeserializeOwned>(row: &Row, idx: usize) -> StoreResult<T> {
    from_label(col::<&str>(row, idx)?)
}

fn read_entry(row: &Row) -> StoreResult<BoardEntry> {
    Ok(BoardEntry {
        id: col(row, 0)?,
        request_id: id(row, 1)?,
        hospital_tenant_id: id(row, 2)?,
        hospital: col(row, 3)?,
        level: get_label(row, 4)?,
        priority: get_label(row, 5)?,
        pickup_from: col(row, 6)?,
        pickup_to: col(row, 7)?,
        origin: col(row, 8)?,
        origin_city: col(row, 9)?,
        destination: col(row, 10)?,
        destination_city: col(row, 11)?,
        equipment: json(col(row, 12)?)?,
        isolation: col(row, 13)?,
        status: get_label(row, 14)?,
        cancel_reason: col(row, 15)?,
        agency_tenant_id: opt_id(row, 16)?,
        agency: col(row, 17)?,
        trip_id: opt_id(row, 18)?,
        published_at: col(row, 19)?,
        first_bid_at: col(row, 20)?,
        accepted_at: col(row, 21)?,
        picked_up_at: col(row, 22)?,
        updated_at: col(row, 23)?,
    })
}

fn read_bid(row: &Row) -> StoreResult<Bid> {
    Ok(Bid {
        id: col(row, 0)?,
        entry_id: col(row, 1)?,
        agency_tenant_id: id(row, 2)?,
        agency: col(row, 3)?,
        unit_id: id(row, 4)?,
        unit: col(row, 5)?,
        unit_level: get_label(row, 6)?,
        eta_minutes: col::<i32>(row, 7)?.max(0) as u32,
        notes: col(row, 8)?,
        status: col::<&str>(row, 9)?
            .parse()
            .map_err(|()| StoreError::Corrupt("bid status".into()))?,
        created_at: col(row, 10)?,
        updated_at: col(row, 11)?,
    })
}

fn bind(args: &[BoardArg]) -> Vec<Box<dyn ToSql + Sync + Send>> {
    args.iter()
        .map(|arg| -> Box<dyn ToSql + Sync + Send> {
            match arg {
                BoardArg::Text(text) => Box::new(text.clone()),
                BoardArg::Id(id) => Box::new(*id),
                BoardArg::Time(at) => Box::new(*at),
            }
        })
        .collect()
}

fn dollar(n: usize) -> String {
    format!("${n}")
}

async fn select<T>(
    client: &impl GenericClient,
    sql: &str,
    args: &[BoardArg],
    read: fn(&Row) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    let owned = bind(args);
    let params: Vec<&(dyn ToSql + Sync)> = owned
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect();
    query_all(client, sql, &params, read).await
}

async fn entry_in(
    client: &impl GenericClient,
    id: Uuid,
    lock: bool,
) -> StoreResult<Option<BoardEntry>> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    query_one(
        client,
        &format!("SELECT {ENTRY_COLUMNS} FROM board_entries WHERE id = $1{lock}"),
        &[&id],
        read_entry,
    )
    .await
}

async fn locked_entry(tx: &Transaction<'_>, id: Uuid) -> StoreResult<BoardEntry> {
    entry_in(tx, id, true).await?.ok_or(StoreError::NotFound)
}

async fn bids_in(
    client: &impl GenericClient,
    entry: Uuid,
    agency: Option<TenantId>,
) -> StoreResult<Vec<Bid>> {
    query_all(
        client,
        &format!(
            "SELECT {BID_COLUMNS} FROM trip_bids WHERE entry_id = $1 \
             AND ($2::uuid IS NULL OR agency_tenant_id = $2) ORDER BY created_at, id"
        ),
        &[&entry, &agency.map(|a| a.as_uuid())],
        read_bid,
    )
    .await
}

fn refused(refusal: outpost_domain::kind::Refusal) -> StoreError {
    StoreError::Refused {
        code: refusal.code,
        message: refusal.message,
    }
}

async fn queue(tx: &Transaction<'_>, event: &OutboxEvent) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO events (id, entry_id, kind, payload, created_at) VALUES ($1, $2, $3, $4, $5)",
        &[
            &event.id,
            &event.entry_id,
            &event.step.kind(),
            &to_json(&event.step)?,
            &event.created_at,
        ],
    )
    .await
    .db()?;
    Ok(())
}

async fn set_bid_status(
    tx: &Transaction<'_>,
    id: Uuid,
    status: BidStatus,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    tx.execute(
        "UPDATE trip_bids SET status = $1, updated_at = $2 WHERE id = $3",
        &[&status.as_str(), &at, &id],
    )
    .await
    .db()?;
    Ok(())
}

#[async_trait]
impl BoardStore for PgCentral {
    async fn publish(
        &self,
        entry: &BoardEntry,
        event: &OutboxEvent,
        audit: AuditEvent,
    ) -> StoreResult<()> {
        let mut conn = self.conn().await?;
        let tx = begin(&mut conn).await?;
        tx.execute(
            &format!(
                "INSERT INTO board_entries ({ENTRY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, \
                 $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)"
            ),
            &[
                &entry.id,
                &entry.request_id.as_uuid(),
                &entry.hospital_tenant_id.as_uuid(),
                &entry.hospital,
                &label(&entry.level),
                &label(&entry.priority),
                &entry.pickup_from,
                &entry.pickup_to,
                &entry.origin,
                &entry.origin_city,
                &entry.destination,
                &entry.destination_city,
                &to_json(&entry.equipment)?,
                &entry.isolation,
                &entry.status.as_str(),
                &entry.cancel_reason,
                &entry.agency_tenant_id.map(|t| t.as_uuid()),
                &entry.agency,
                &entry.trip_id.map(|t| t.as_uuid()),
                &entry.published_at,
                &entry.first_bid_at,
                &entry.accepted_at,
                &entry.picked_up_at,
                &entry.updated_at,
            ],
        )
        .await
        .map_err(unique_as("board entry"))?;
        queue(&tx, event).await?;
        audit::append(&tx, &audit).await?;
        tx.commit().await.db()
    }

    async fn entry(&self, id: Uuid) -> StoreResult<Option<BoardEntry>> {
        let conn = self.conn().await?;
        entry_in(&*conn, id, false).await
    }

    async fn entry_of_request(
        &self,
        request: TransportRequestId,
    ) -> StoreResult<Option<BoardEntry>> {
        let conn = self.conn().await?;
        query_one(
            &*conn,
            &format!("SELECT {ENTRY_COLUMNS} FROM board_entries WHERE request_id = $1"),
            &[&request.as_uuid()],
            read_entry,
        )
        .await
    }

    async fn entries(&self, query: &BoardQuery) -> StoreResult<Vec<BoardEntry>> {
        let (sql, args) = entries_sql(query, dollar);
        let conn = self.conn().await?;
        select(&*conn, &sql, &args, read_entry).await
    }

    async fn published_between(
        &self,
        scope: BoardScope,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<BoardEntry>> {
        let (sql, args) = period_sql(scope, false, dollar, from, to);
        let conn = self.conn().await?;
        select(&*conn, &sql, &args, read_entry).await
    }

    async fn running(&self) -> StoreResult<Vec<BoardEntry>> {
        let conn = self.conn().await?;
        query_all(
            &*conn,
            &format!(
                "SELECT {ENTRY_COLUMNS} FROM board_entries WHERE trip_id IS NOT NULL \
                 AND status NOT IN ('completed', 'cancelled') ORDER BY pickup_from, id"
            ),
            &[],
            read_entry,
        )
        .await
    }

    async fn bids(&self, entry: Uuid, agency: Option<TenantId>) -> StoreResult<Vec<Bid>> {
        let conn = self.conn().await?;
        bids_in(&*conn, entry, agency).await
    }

    async fn bids_between(
        &self,
        scope: BoardScope,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<Bid>> {
        let (sql, args) = period_sql(scope, true, dollar, from, to);
        let conn = self.conn().await?;
        select(&*conn, &sql, &args, read_bid).await
    }

    async fn submit_bid(&self, bid: &Bid, audit: AuditEvent) -> StoreResult<()> {
        let mut conn = self.conn().await?;
        let tx = begin(&mut conn).await?;
        let entry = locked_entry(&tx, bid.entry_id).await?;
        let own = bids_in(&tx, bid.entry_id, Some(bid.agency_tenant_id)).await?;
        board::may_bid(&entry, bid.unit_level, &own).map_err(refused)?;
        tx.execute(
            &format!(
                "INSERT INTO trip_bids ({BID_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
                 $9, $10, $11, $12)"
            ),
            &[
                &bid.id,
                &bid.entry_id,
                &bid.agency_tenant_id.as_uuid(),
                &bid.agency,
                &bid.unit_id.as_uuid(),
                &bid.unit,
                &label(&bid.unit_level),
                &(bid.eta_minutes as i32),
                &bid.notes,
                &bid.status.as_str(),
                &bid.created_at,
                &bid.updated_at,
            ],
        )
        .await
        .db()?;
        tx.execute(
            "UPDATE board_entries SET first_bid_at = coalesce(first_bid_at, $1) WHERE id = $2",
            &[&bid.created_at, &bid.entry_id],
        )
        .await
        .db()?;
        audit::append(&tx, &audit).await?;
        tx.commit().await.db()
    }

    async fn withdraw_bid(
        &self,
        entry: Uuid,
        bid: Uuid,
        agency: TenantId,
        at: DateTime<Utc>,
        audit: AuditEvent,
    ) -> StoreResult<Bid> {
        let mut conn = self.conn().await?;
        let tx = begin(&mut conn).await?;
        let found = locked_entry(&tx, entry).await?;
        let mut own = bids_in(&tx, entry, Some(agency))
            .await?
            .into_iter()
            .find(|b| b.id == bid)
            .ok_or(StoreError::NotFound)?;
        board::may_withdraw(&found, &own).map_err(refused)?;
        set_bid_status(&tx, bid, BidStatus::Withdrawn, at).await?;
        audit::append(&tx, &audit).await?;
        tx.commit().await.db()?;
        own.status = BidStatus::Withdrawn;
        own.updated_at = at;
        Ok(own)
    }

    async fn accept_bid(
        &self,
        entry: Uuid,
        bid: Uuid,
        trip: TripId,
        event: &OutboxEvent,
        audit: AuditEvent,
    ) -> StoreResult<BoardEntry> {
        let mut conn = self.conn().await?;
        let tx = begin(&mut conn).await?;
        let found = locked_entry(&tx, entry).await?;
        let bids = bids_in(&tx, entry, None).await?;
        let changes = board::accepted(&found, &bids, bid).map_err(refused)?;
        let at = event.created_at;
        for (id, status) in changes {
            set_bid_status(&tx, id, status, at).await?;
        }
        let chosen = bids
            .iter()
            .find(|b| b.id == bid)
            .ok_or(StoreError::NotFound)?;
        tx.execute(
            "UPDATE board_entries SET status = 'assigned', agency_tenant_id = $1, agency = $2, \
             trip_id = $3, accepted_at = $4, updated_at = $4 WHERE id = $5",
            &[
                &chosen.agency_tenant_id.as_uuid(),
                &chosen.agency,
                &trip.as_uuid(),
                &at,
                &entry,
            ],
        )
        .await
        .db()?;
        queue(&tx, event).await?;
        audit::append(&tx, &audit).await?;
        let after = locked_entry(&tx, entry).await?;
        tx.commit().await.db()?;
        Ok(after)
    }

    async fn cancel_entry(
        &self,
        entry: Uuid,
        reason: &str,
        event: &OutboxEvent,
        audit: AuditEvent,
    ) -> StoreResult<BoardEntry> {
        let mut conn = self.conn().await?;
        let tx = begin(&mut conn).await?;
        let found = locked_entry(&tx, entry).await?;
        let bids = bids_in(&tx, entry, None).await?;
        let at = event.created_at;
        for (id, status) in board::cancelled(&found, &bids).map_err(refused)? {
            set_bid_status(&tx, id, status, at).await?;
        }
        tx.execute(
            "UPDATE board_entries SET status = 'cancelled', cancel_reason = $1, updated_at = $2 \
             WHERE id = $3",
            &[&reason, &at, &entry],
        )
        .await
        .db()?;
        queue(&tx, event).await?;
        audit::append(&tx, &audit).await?;
        let after = locked_entry(&tx, entry).await?;
        tx.commit().await.db()?;
        Ok(after)
    }

    async fn follow_trip(
        &self,
        entry: Uuid,
        status: TripStatus,
        reason: Option<&str>,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.db()?;
        let found = locked_entry(&tx, entry).await?;
        let Some(next) = board::followed(found.status, status) else {
            return Ok(false);
        };
        let picked_up = board::reached_patient(next).then_some(at);
        tx.execute(
            "UPDATE board_entries SET status = $1, cancel_reason = coalesce($2, cancel_reason), \
             picked_up_at = coalesce(picked_up_at, $3), updated_at = $4 WHERE id = $5",
            &[&next.as_str(), &reason, &picked_up, &at, &entry],
        )
        .await
        .db()?;
        tx.commit().await.db()?;
        Ok(true)
    }

    async fn lease_event(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease: Duration,
        entry: Option<Uuid>,
    ) -> StoreResult<Option<LeasedEvent>> {
        let conn = self.conn().await?;
        let row = conn
            .query_opt(
                "UPDATE events SET leased_by = $1, lease_until = $2, attempts = attempts + 1 \
                 WHERE id = (SELECT e.id FROM events e WHERE e.done_at IS NULL \
                    AND (e.lease_until IS NULL OR e.lease_until < $3) \
                    AND ($4::uuid IS NULL OR e.entry_id = $4) \
                    AND NOT EXISTS (SELECT 1 FROM events o WHERE o.entry_id = e.entry_id \
                                    AND o.seq < e.seq AND o.done_at IS NULL) \
                    ORDER BY e.seq LIMIT 1 FOR UPDATE SKIP LOCKED) \
                 RETURNING id, entry_id, payload, created_at, attempts",
                &[&worker, &(now + lease), &now, &entry],
            )
            .await
            .db()?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(LeasedEvent {
            event: OutboxEvent {
                id: col(&row, 0)?,
                entry_id: col(&row, 1)?,
                step: json(col(&row, 2)?)?,
                created_at: col(&row, 3)?,
            },
            attempts: col(&row, 4)?,
        }))
    }

    async fn finish_event(
        &self,
        id: Uuid,
        worker: &str,
        now: DateTime<Utc>,
        error: Option<&str>,
    ) -> StoreResult<bool> {
        let conn = self.conn().await?;
        let done = conn
            .execute(
                "UPDATE events SET done_at = $1, done_by = $2, last_error = $3, lease_until = NULL, \
                 payload = CASE WHEN kind = 'cancelled' \
                 THEN '{\"kind\":\"cancelled\",\"reason\":\"\"}' ELSE payload END \
                 WHERE id = $4 AND leased_by = $2 AND done_at IS NULL",
                &[&now, &worker, &error, &id],
            )
            .await
            .db()?;
        Ok(done == 1)
    }

    async fn retry_event(
        &self,
        id: Uuid,
        worker: &str,
        retry_at: DateTime<Utc>,
        error: &str,
    ) -> StoreResult<()> {
        let conn = self.conn().await?;
        conn.execute(
            "UPDATE events SET lease_until = $1, last_error = $2 \
             WHERE id = $3 AND leased_by = $4 AND done_at IS NULL",
            &[&retry_at, &error, &id, &worker],
        )
        .await
        .db()?;
        Ok(())
    }

    async fn pending_events(&self) -> StoreResult<i64> {
        let conn = self.conn().await?;
        let row = conn
            .query_one("SELECT count(*) FROM events WHERE done_at IS NULL", &[])
            .await
            .db()?;
        col(&row, 0)
    }

    async fn event_log(&self) -> StoreResult<Vec<EventLogRow>> {
        let conn = self.conn().await?;
        query_all(
            &*conn,
            "SELECT id, entry_id, kind, attempts, done_by, last_error FROM events ORDER BY seq",
            &[],
            |row| {
                Ok(EventLogRow {
                    id: col(row, 0)?,
                    entry_id: col(row, 1)?,
                    kind: col(row, 2)?,
                    attempts: col(row, 3)?,
                    done_by: col(row, 4)?,
                    last_error: col(row, 5)?,
                })
            },
        )
        .await
    }
}
