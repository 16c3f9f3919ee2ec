//! The transport board and the outbox in the central database (DESIGN.md, "Transport between
//! tenants"). Every decision (publish, bid, withdraw, accept, cancel) is one central
//! transaction that also queues, where another database must follow, its outbox event; the
//! hub's worker carries the events out. Decisions are the pure functions of
//! [`outpost_domain::transport::board`]; backends only lock, read, and write what they say.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use outpost_domain::audit::AuditEvent;
use outpost_domain::transport::TripStatus;
use outpost_domain::transport::board::{Bid, BoardEntry, BoardFilter, BoardScope};
use outpost_domain::{TenantId, TripId};

use crate::error::StoreResult;

/// A cross-database step to carry out, keyed by its id (every effect derives its own key from
/// it) and ordered per board entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEvent {
    pub id: Uuid,
    pub entry_id: Uuid,
    pub step: Step,
    pub created_at: DateTime<Utc>,
}

/// What an outbox event asks the other databases to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Step {
    /// The hospital's request shows it is on the board.
    Published,
    /// The trip is made in the agency's database; the request shows the assignment.
    Accepted { bid: Uuid },
    /// The request (and the trip, if any) are cancelled.
    Cancelled { reason: String },
}

impl Step {
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Published => "published",
            Step::Accepted { .. } => "accepted",
            Step::Cancelled { .. } => "cancelled",
        }
    }
}

/// An outbox event as a worker holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct LeasedEvent {
    pub event: OutboxEvent,
    /// How many times a worker has taken it, this time included.
    pub attempts: i32,
}

/// The board's page size bounds.
pub const MAX_BOARD_PAGE: u32 = 500;

/// A board listing: filters, who reads, and a page after the cursor (pickup order).
#[derive(Debug, Clone, PartialEq)]
pub struct BoardQuery {
    pub filter: BoardFilter,
    pub scope: BoardScope,
    pub limit: u32,
    /// `(pickup_from, id)` of the last entry of the previous page.
    pub after: Option<(DateTime<Utc>, Uuid)>,
}

/// The board, its bids and the outbox.
#[async_trait]
pub trait BoardStore: Send + Sync {
    /// Puts a request on the board and queues its `Published` event. `AlreadyExists` when
    /// the request was published before.
    async fn publish(
        &self,
        entry: &BoardEntry,
        event: &OutboxEvent,
        audit: AuditEvent,
    ) -> StoreResult<()>;
    async fn entry(&self, id: Uuid) -> StoreResult<Option<BoardEntry>>;
    async fn entry_of_request(
        &self,
        request: outpost_domain::TransportRequestId,
    ) -> StoreResult<Option<BoardEntry>>;
    /// Entries in pickup order, as the query's scope may see them: at most `limit + 1`, so
    /// that the caller knows whether a next page exists.
    async fn entries(&self, query: &BoardQuery) -> StoreResult<Vec<BoardEntry>>;
    /// Entries whose published time falls in `[from, to)` (the transport report).
    async fn published_between(
        &self,
        scope: BoardScope,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<BoardEntry>>;
    /// Entries assigned to a trip that is not over: the ones the worker follows.
    async fn running(&self) -> StoreResult<Vec<BoardEntry>>;
    /// Every bid on an entry (of `agency` only, if given), oldest first.
    async fn bids(&self, entry: Uuid, agency: Option<TenantId>) -> StoreResult<Vec<Bid>>;
    /// Every bid on the entries `[from, to)` of [`BoardStore::published_between`].
    async fn bids_between(
        &self,
        scope: BoardScope,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<Bid>>;
    /// Adds a bid if [`outpost_domain::transport::board::may_bid`] allows it (`Refused`
    /// otherwise), noting the entry's first bid time.
    async fn submit_bid(&self, bid: &Bid, audit: AuditEvent) -> StoreResult<()>;
    /// Withdraws an agency's submitted bid.
    async fn withdraw_bid(
        &self,
        entry: Uuid,
        bid: Uuid,
        agency: TenantId,
        at: DateTime<Utc>,
        audit: AuditEvent,
    ) -> StoreResult<Bid>;
    /// Accepts a bid, declines the other submitted ones, assigns the entry to the bid's agency
    /// and `trip`, and queues `event`: one transaction. Returns the entry after.
    async fn accept_bid(
        &self,
        entry: Uuid,
        bid: Uuid,
        trip: TripId,
        event: &OutboxEvent,
        audit: AuditEvent,
    ) -> StoreResult<BoardEntry>;
    /// Cancels an entry not over, declines its submitted bids and queues `event`.
    async fn cancel_entry(
        &self,
        entry: Uuid,
        reason: &str,
        event: &OutboxEvent,
        audit: AuditEvent,
    ) -> StoreResult<BoardEntry>;
    /// Moves an entry forward to its trip's `status` (never back), noting the pickup time.
    /// Returns whether it changed.
    async fn follow_trip(
        &self,
        entry: Uuid,
        status: TripStatus,
        reason: Option<&str>,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Leases the oldest pending event (of `entry` only, if given) whose entry has no older
    /// pending one, for `lease`; an event whose lease ran out is taken over. `None` when
    /// nothing is ready.
    async fn lease_event(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease: chrono::Duration,
        entry: Option<Uuid>,
    ) -> StoreResult<Option<LeasedEvent>>;
    /// Marks a leased event done (`error`: why its steps could not be done and never will), and
    /// drops a cancellation's free-text reason from it (the hospital's and the agency's
    /// databases keep it). Returns `false` when the lease was lost to another worker, which
    /// then finishes it.
    async fn finish_event(
        &self,
        id: Uuid,
        worker: &str,
        now: DateTime<Utc>,
        error: Option<&str>,
    ) -> StoreResult<bool>;
    /// Gives a leased event back to be retried after `retry_at`, noting the error.
    async fn retry_event(
        &self,
        id: Uuid,
        worker: &str,
        retry_at: DateTime<Utc>,
        error: &str,
    ) -> StoreResult<()>;
    /// Events not done yet.
    async fn pending_events(&self) -> StoreResult<i64>;
    /// Every event with who finished it and how many times it was taken (tests, status).
    async fn event_log(&self) -> StoreResult<Vec<EventLogRow>>;
}

/// One outbox event as [`BoardStore::event_log`] reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct EventLogRow {
    pub id: Uuid,
    pub entry_id: Uuid,
    pub kind: String,
    pub attempts: i32,
    pub done_by: Option<String>,
    pub last_error: Option<String>,
}

/// The columns of `board_entries` in the order [`BoardStore`] backends read them.
pub const ENTRY_COLUMNS: &str = "id, request_id, hospital_tenant_id, hospital, level, priority, \
     pickup_from, pickup_to, origin, origin_city, destination, destination_city, equipment, \
     isolation, status, cancel_reason, agency_tenant_id, agency, trip_id, published_at, \
     first_bid_at, accepted_at, picked_up_at, updated_at";

/// The columns of `trip_bids` in the order backends read them.
pub const BID_COLUMNS: &str = "id, entry_id, agency_tenant_id, agency, unit_id, unit, unit_level, \
     eta_minutes, notes, status, created_at, updated_at";

/// A value bound into board SQL.
#[derive(Debug, Clone, PartialEq)]
pub enum BoardArg {
    Text(String),
    Id(Uuid),
    Time(DateTime<Utc>),
}

/// The spelling of an enum as its JSON string (`"ALS"`, `"en_route"`): how the board stores it.
pub fn label<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        _ => String::new(),
    }
}

/// The enum a stored label spells.
pub fn from_label<T: serde::de::DeserializeOwned>(text: &str) -> StoreResult<T> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| crate::StoreError::Corrupt(format!("unknown board label {text:?}")))
}

/// Where a board scope's entries are: a condition and its arguments, numbered from `next`.
fn scope_condition(
    scope: BoardScope,
    at: impl Fn(usize) -> String,
    args: &mut Vec<BoardArg>,
) -> Option<String> {
    match scope {
        BoardScope::All => None,
        BoardScope::Hospital(tenant) => {
            args.push(BoardArg::Id(tenant.as_uuid()));
            Some(format!("hospital_tenant_id = {}", at(args.len())))
        }
        BoardScope::Agency(tenant) => {
            args.push(BoardArg::Id(tenant.as_uuid()));
            Some(format!(
                "(status = 'published' OR id IN (SELECT entry_id FROM trip_bids \
                 WHERE agency_tenant_id = {}))",
                at(args.len())
            ))
        }
    }
}

/// The SELECT of a board listing, for a backend whose `n`th placeholder `at(n)` spells.
pub fn entries_sql(query: &BoardQuery, at: impl Fn(usize) -> String) -> (String, Vec<BoardArg>) {
    let mut args = Vec::new();
    let mut conditions: Vec<String> = scope_condition(query.scope, &at, &mut args)
        .into_iter()
        .collect();
    let filter = &query.filter;
    let mut equal = |column: &str, value: Option<String>, args: &mut Vec<BoardArg>| {
        if let Some(value) = value {
            args.push(BoardArg::Text(value));
            conditions.push(format!("{column} = {}", at(args.len())));
        }
    };
    equal("level", filter.level.map(|l| label(&l)), &mut args);
    equal("priority", filter.priority.map(|p| label(&p)), &mut args);
    equal(
        "status",
        filter.status.map(|s| s.as_str().to_owned()),
        &mut args,
    );
    if let Some(city) = &filter.city {
        args.push(BoardArg::Text(city.trim().to_lowercase()));
        let n = at(args.len());
        conditions.push(format!(
            "(lower(origin_city) = {n} OR lower(destination_city) = {n})"
        ));
    }
    if let Some(from) = filter.from {
        args.push(BoardArg::Time(from));
        conditions.push(format!("pickup_from >= {}", at(args.len())));
    }
    if let Some(to) = filter.to {
        args.push(BoardArg::Time(to));
        conditions.push(format!("pickup_from < {}", at(args.len())));
    }
    if let Some((pickup, id)) = query.after {
        args.push(BoardArg::Time(pickup));
        let p = at(args.len());
        args.push(BoardArg::Id(id));
        let i = at(args.len());
        conditions.push(format!(
            "(pickup_from > {p} OR (pickup_from = {p} AND id > {i}))"
        ));
    }
    let mut sql = format!("SELECT {ENTRY_COLUMNS} FROM board_entries");
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    sql.push_str(&format!(
        " ORDER BY pickup_from, id LIMIT {}",
        query.limit.min(MAX_BOARD_PAGE) + 1
    ));
    (sql, args)
}

/// The SELECT of entries published in `[from, to)` (or of their bids, `bids`) in a scope.
pub fn period_sql(
    scope: BoardScope,
    bids: bool,
    at: impl Fn(usize) -> String,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> (String, Vec<BoardArg>) {
    let mut args = Vec::new();
    let mut conditions: Vec<String> = scope_condition(scope, &at, &mut args).into_iter().collect();
    args.push(BoardArg::Time(from));
    conditions.push(format!("published_at >= {}", at(args.len())));
    args.push(BoardArg::Time(to));
    conditions.push(format!("published_at < {}", at(args.len())));
    let entries = format!("FROM board_entries WHERE {}", conditions.join(" AND "));
    let sql = if bids {
        let columns = BID_COLUMNS
            .split(", ")
            .map(|c| format!("b.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "SELECT {columns} FROM trip_bids b WHERE b.entry_id IN (SELECT id {entries}) \
             ORDER BY b.created_at, b.id"
        )
    } else {
        format!("SELECT {ENTRY_COLUMNS} {entries} ORDER BY published_at, id")
    };
    (sql, args)
}
