//! The sync engine: first mirror, push, pull and following the hub's announcements, on a
//! cache connection of its own. The client's local reads and writes do not wait for the
//! network: in WAL mode they read the last committed state while a pull writes, and a local
//! write (a read's audit event included) waits only for the engine's current transaction — one
//! batch of a push or a pull. The exception is the first mirror, written all or nothing in one
//! transaction: local writes wait for it (up to the cache's lock wait), as there is nothing to
//! read before it anyway.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures_util::StreamExt;
use serde::Serialize;
use ts_rs::TS;

use outpost_domain::clock::Clock;
use outpost_domain::record::{HistoryEntry, Record};
use outpost_domain::sync::{
    Entity, Op, OpAction, OpStatus, PullResponse, PushRequest, PushResponse, SCHEMA_VERSION,
    SnapshotLine,
};
use outpost_domain::{OpId, RecordId};

use crate::api::HubApi;
use crate::cache::{Batch, Cache, StoredConflict};
use crate::catch_up::{self, CATCH_UP_KEY, CatchUp, Held, SCHEMA_CURSOR_KEY, SCHEMA_KEY};
use crate::error::{ClientError, ClientResult};
use crate::events::{Announcement, HubEvents};
use crate::retry::Backoff;
use crate::session::Session;
use crate::settle;

/// Ops and events per push; pulled changes per request.
const BATCH: u32 = 1000;

/// Where a pulled page goes: the feed the cursor follows (while a catch-up waits, or not), or
/// a catch-up (done with this page, or not), which leaves the cursor where it is.
#[derive(Debug, Clone, Copy)]
enum PullFor {
    Feed { catching_up: bool },
    CatchUp(CatchUp, bool),
}

/// Notes in the copy that this build's pulls reached `cursor` with every kind it knows.
fn note_caught_up(tx: &rusqlite::Connection, cursor: i64) -> ClientResult<()> {
    Cache::set_meta(tx, SCHEMA_KEY, &SCHEMA_VERSION.to_string())?;
    Cache::set_meta(tx, SCHEMA_CURSOR_KEY, &cursor.to_string())
}
/// A push on its way: its ops, whether more are waiting, and the hub's answer to come.
type InFlightPush = (
    Vec<Op>,
    bool,
    tokio::task::JoinHandle<ClientResult<PushResponse>>,
);

/// A batch read from the outbox and not sent yet.
struct PushBatch {
    ops: Vec<Op>,
    more: bool,
    request: PushRequest,
}

/// Sends a batch; the answer comes on the returned handle.
fn send_push(api: &HubApi, token: &str, batch: PushBatch) -> InFlightPush {
    let (api, token, request) = (api.clone(), token.to_owned(), batch.request);
    let answer = tokio::spawn(async move { api.push(&token, &request).await });
    (batch.ops, batch.more, answer)
}

/// Ops, and separately audit events, per push: two of these stay well under the hub's default
/// 1 MiB body limit.
const PUSH_BATCH: Batch = Batch {
    count: BATCH,
    bytes: 384 * 1024,
};

/// Progress of a first mirror: rows stored out of the total announced by the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
pub struct MirrorProgress {
    #[ts(type = "number")]
    pub done: u64,
    #[ts(type = "number")]
    pub total: u64,
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, TS)]
pub struct SyncReport {
    #[ts(type = "number")]
    pub mirrored_rows: u64,
    #[ts(type = "number")]
    pub pushed: usize,
    #[ts(type = "number")]
    pub applied: usize,
    #[ts(type = "number")]
    pub merged: usize,
    #[ts(type = "number")]
    pub conflicts: usize,
    #[ts(type = "number")]
    pub rejected: usize,
    #[ts(type = "number")]
    pub audit_uploaded: usize,
    #[ts(type = "number")]
    pub pulled: usize,
    #[ts(type = "number")]
    pub cursor: i64,
    /// Time spent pushing (including applying the answers locally), and pulling.
    pub push_seconds: f64,
    pub pull_seconds: f64,
}

/// The state shown to the user.
/// Syncs one unlocked sign-in's cache with its hub. Made by [`crate::Client::sync_engine`];
/// it holds a connection of its own to the cache, so a sync runs while the client reads and
/// writes. A sync that has begun runs to its end even if the client locks meanwhile (the
/// connection closes when the engine is dropped). Not counted as activity: a sync running in
/// the background must not keep an idle session unlocked.
pub struct SyncEngine {
    session: Arc<Session>,
    /// `None` only while a first mirror writes on a blocking thread.
    cache: Option<Cache>,
    clock: Arc<dyn Clock>,
}

impl SyncEngine {
    pub(crate) fn new(session: Arc<Session>, cache: Cache, clock: Arc<dyn Clock>) -> Self {
        Self {
            session,
            cache: Some(cache),
            clock,
        }
    }

    fn cache(&mut self) -> ClientResult<&mut Cache> {
        self.cache.as_mut().ok_or(ClientError::Locked)
    }

    /// The profile this engine syncs (whose data a revoked device wipes).
    pub(crate) fn profile(&self) -> &crate::home::Profile {
        &self.session.profile
    }

    /// Mirrors (first time), pushes the outbox and offline audit events, then pulls.
    /// `DeviceRevoked` when the hub revoked this device: the client then wipes
    /// ([`crate::Client::end_sync`]).
    pub async fn sync(
        &mut self,
        progress: &mut (dyn FnMut(MirrorProgress) + Send),
    ) -> ClientResult<SyncReport> {
        let first = self.sync_inner(progress).await;
        // The access token expired mid-way: once more with a fresh one.
        if matches!(first, Err(ClientError::Hub { status: 401, .. })) && self.session.forget_token()
        {
            return self.sync_inner(progress).await;
        }
        first
    }

    async fn sync_inner(
        &mut self,
        progress: &mut (dyn FnMut(MirrorProgress) + Send),
    ) -> ClientResult<SyncReport> {
        let token = self.session.token().await?;
        let api = self.session.api.clone();
        let mut report = SyncReport::default();
        if self.cache()?.cursor()?.is_none() {
            report.mirrored_rows = self.mirror(&api, &token, progress).await?;
        }
        // Pipelined: the next batch is read from the outbox while the hub applies this one,
        // and goes out as soon as this one is answered, while the answer is applied locally.
        // Never two batches at the hub at once: it applies them in the order they were made.
        let pushing = std::time::Instant::now();
        let mut after = (0, 0);
        let mut in_flight = self
            .next_push(&mut after)?
            .map(|batch| send_push(&api, &token, batch));
        while let Some((ops, more, answer)) = in_flight.take() {
            let next = if more {
                self.next_push(&mut after)?
            } else {
                None
            };
            let answer = answer
                .await
                .map_err(|e| ClientError::Offline(e.to_string()))??;
            in_flight = next.map(|batch| send_push(&api, &token, batch));
            report.pushed += ops.len();
            self.apply_push(&ops, &answer, &mut report)?;
        }
        report.push_seconds = pushing.elapsed().as_secs_f64();
        let pulling = std::time::Instant::now();
        // Decided before the pull moves the cursor; read after it, so that new changes come
        // first on a link that may not last.
        let catching_up = self.plan_catch_up()?;
        loop {
            let cursor = self.cache()?.cursor()?.unwrap_or(0);
            let page = api.pull(&token, cursor, BATCH, None).await?;
            report.pulled += page.changes.len();
            let more = page.has_more;
            let into = PullFor::Feed {
                catching_up: catching_up.is_some(),
            };
            self.apply_pull(&page, into)?;
            report.cursor = page.cursor;
            if !more {
                break;
            }
        }
        if let Some(plan) = catching_up {
            self.catch_up(&api, &token, plan, &mut report).await?;
        }
        report.pull_seconds = pulling.elapsed().as_secs_f64();
        let now = self.clock.now().to_rfc3339();
        self.cache()?.store_meta("last_sync", &now)?;
        Ok(report)
    }

    /// Reads the next batch of ops and offline audit events (those after the `after`
    /// sequences: the previous batch may not be answered or applied yet); `None` when the
    /// outbox and the local audit log hold nothing more.
    fn next_push(&mut self, after: &mut (i64, i64)) -> ClientResult<Option<PushBatch>> {
        let cache = self.cache()?;
        let (ops, more_ops, last_op) = cache.take_outbox(PUSH_BATCH, after.0)?;
        let (audit, more_audit, last_event) = cache.local_events(PUSH_BATCH, after.1)?;
        *after = (last_op, last_event);
        if ops.is_empty() && audit.is_empty() {
            return Ok(None);
        }
        Ok(Some(PushBatch {
            request: PushRequest {
                schema_version: SCHEMA_VERSION,
                ops: ops.clone(),
                audit,
            },
            ops,
            more: more_ops || more_audit,
        }))
    }

    /// Streams the hub's snapshot into the cache in one transaction (all or nothing), the
    /// network and the inserts running side by side.
    async fn mirror(
        &mut self,
        api: &HubApi,
        token: &str,
        progress: &mut (dyn FnMut(MirrorProgress) + Send),
    ) -> ClientResult<u64> {
        let mut cache = self.cache.take().ok_or(ClientError::Locked)?;
        let (sender, receiver) = std::sync::mpsc::sync_channel::<Vec<SnapshotLine>>(32);
        let writer = tokio::task::spawn_blocking(move || {
            let result = (|| -> ClientResult<()> {
                let tx = cache.transaction()?;
                let mut cursor = None;
                let mut complete = false;
                for batch in receiver {
                    // Kind by kind, in the order the lines came (the hub sends each kind's
                    // records in the order the cache appends them).
                    let mut records: BTreeMap<Entity, Vec<Record>> = BTreeMap::new();
                    let mut history: BTreeMap<Entity, Vec<(RecordId, HistoryEntry)>> =
                        BTreeMap::new();
                    for line in batch {
                        match line {
                            SnapshotLine::Begin { cursor: c, .. } => cursor = Some(c),
                            SnapshotLine::Record { entity, record } => {
                                records.entry(entity).or_default().push(record)
                            }
                            SnapshotLine::History {
                                entity,
                                record_id,
                                entry,
                            } => history.entry(entity).or_default().push((record_id, entry)),
                            SnapshotLine::End => complete = true,
                        }
                    }
                    for (entity, records) in records {
                        Cache::insert_snapshot_of(&tx, entity, records)?;
                    }
                    for (entity, history) in &history {
                        Cache::insert_history_of(&tx, *entity, history)?;
                    }
                }
                match (complete, cursor) {
                    (true, Some(cursor)) => {
                        Cache::set_meta(&tx, "cursor", &cursor.to_string())?;
                        note_caught_up(&tx, cursor)?;
                        tx.commit()?;
                        Ok(())
                    }
                    _ => Err(ClientError::Offline("the snapshot was cut short".into())),
                }
            })();
            (cache, result)
        });
        let mut stream = match api.snapshot(token).await {
            Ok(stream) => Some(stream),
            Err(err) => {
                drop(sender);
                let (cache, _) = writer
                    .await
                    .map_err(|e| ClientError::Corrupt(e.to_string()))?;
                self.cache = Some(cache);
                return Err(err);
            }
        };
        let mut state = MirrorProgress { done: 0, total: 0 };
        let mut failure = None;
        while let Some(next) = stream.as_mut().map(|s| s.next()) {
            let Some(item) = next.await else { break };
            match item {
                Ok(lines) => {
                    for line in &lines {
                        match line {
                            SnapshotLine::Begin {
                                records, history, ..
                            } => state.total = records + history,
                            SnapshotLine::Record { .. } | SnapshotLine::History { .. } => {
                                state.done += 1
                            }
                            SnapshotLine::End => {}
                        }
                    }
                    if sender.send(lines).is_err() {
                        break;
                    }
                    progress(state);
                }
                Err(err) => {
                    failure = Some(err);
                    break;
                }
            }
        }
        drop(stream);
        drop(sender);
        let (cache, written) = writer
            .await
            .map_err(|e| ClientError::Corrupt(e.to_string()))?;
        self.cache = Some(cache);
        if let Some(err) = failure {
            return Err(err);
        }
        written?;
        Ok(state.done)
    }

    fn apply_push(
        &mut self,
        ops: &[Op],
        answer: &PushResponse,
        report: &mut SyncReport,
    ) -> ClientResult<()> {
        let at = self.clock.now().to_rfc3339();
        let sent: HashMap<OpId, &Op> = ops.iter().map(|op| (op.op_id, op)).collect();
        let tx = self.cache()?.transaction()?;
        for result in &answer.results {
            let Some(&op) = sent.get(&result.op_id) else {
                continue;
            };
            let (entity, id) = (op.entity, op.record_id);
            Cache::remove_op(&tx, &op.op_id.to_string())?;
            match result.status {
                OpStatus::Applied | OpStatus::Merged => {
                    if result.status == OpStatus::Applied {
                        report.applied += 1;
                    } else {
                        report.merged += 1;
                    }
                    let settled = Cache::pending_ops_for(&tx, id)? == 0;
                    let conflicted = Cache::has_conflict(&tx, id)?;
                    // The hub's record is the whole new state: the local one is not read.
                    if let Some(confirmed) = settle::confirmed(entity, result, settled, conflicted)
                    {
                        Cache::replace_local(&tx, &confirmed)?;
                        continue;
                    }
                    let Some(local) = Cache::local(&tx, entity, id)? else {
                        continue;
                    };
                    let deleted = op.action == OpAction::Delete;
                    let applied = settle::applied(local, result, deleted, settled, conflicted);
                    if let Some((hub_record, version)) = &applied.refresh {
                        Cache::refresh_conflict(&tx, id, hub_record.as_ref(), *version)?;
                    }
                    Cache::put_local(&tx, &applied.local)?;
                }
                OpStatus::Conflict | OpStatus::Rejected => {
                    let rejected = result.status == OpStatus::Rejected;
                    if rejected {
                        report.rejected += 1;
                    } else {
                        report.conflicts += 1;
                    }
                    Cache::put_conflict(
                        &tx,
                        &StoredConflict {
                            entity,
                            record_id: id,
                            rejected,
                            local_op: op.clone(),
                            hub_record: result.record.clone(),
                            hub_version: result.version,
                            error: result.error.as_ref().map(|e| e.message.clone()),
                            code: result.error.as_ref().map(|e| e.code.clone()),
                            at: at.clone(),
                        },
                    )?;
                    if let Some(local) = Cache::local(&tx, entity, id)? {
                        Cache::put_local(&tx, &settle::refused(local))?;
                    }
                }
            }
        }
        for id in &answer.audit_accepted {
            Cache::remove_local_event(&tx, &id.to_string())?;
        }
        report.audit_uploaded += answer.audit_accepted.len();
        tx.commit()?;
        Ok(())
    }

    /// The catch-up under way, or the one the copy needs now ([`catch_up::needed`]), noted
    /// in the cache so that an interrupted one resumes where it stopped.
    fn plan_catch_up(&mut self) -> ClientResult<Option<CatchUp>> {
        let cache = self.cache()?;
        if let Some(plan) = cache
            .meta(CATCH_UP_KEY)?
            .and_then(|text| CatchUp::from_meta(&text))
        {
            return Ok(Some(plan));
        }
        let number = |text: Option<String>| text.and_then(|t| t.parse().ok());
        let held = Held {
            schema: number(cache.meta(SCHEMA_KEY)?),
            upto: number(cache.meta(SCHEMA_CURSOR_KEY)?),
            cursor: cache.cursor()?.unwrap_or(0),
        };
        let plan = catch_up::needed(held);
        if let Some(plan) = plan {
            cache.store_meta(CATCH_UP_KEY, &plan.to_meta())?;
        }
        Ok(plan)
    }

    /// Reads the kinds of `plan` again from its cursor to the feed's end, each change
    /// settling over the copy's as a pulled one does (a change already held settles to the
    /// same record); the copy's cursor stays.
    async fn catch_up(
        &mut self,
        api: &HubApi,
        token: &str,
        mut plan: CatchUp,
        report: &mut SyncReport,
    ) -> ClientResult<()> {
        loop {
            let page = api
                .pull(token, plan.from, BATCH, Some(plan.learned_after))
                .await?;
            report.pulled += page.changes.len();
            plan.from = page.cursor;
            let done = !page.has_more;
            self.apply_pull(&page, PullFor::CatchUp(plan, done))?;
            if done {
                return Ok(());
            }
        }
    }

    fn apply_pull(&mut self, page: &PullResponse, into: PullFor) -> ClientResult<()> {
        let tx = self.cache()?.transaction()?;
        for change in &page.changes {
            let (entity, id) = (change.entity, change.record_id);
            if let Some(entry) = &change.history {
                Cache::add_history_of(&tx, entity, id, entry)?;
            }
            let local = Cache::local(&tx, entity, id)?;
            let pending = local.is_some() && Cache::pending_ops_for(&tx, id)? > 0;
            match settle::pulled(change, local, pending) {
                settle::Pulled::Keep => {}
                settle::Pulled::RefreshConflict(local) => {
                    Cache::refresh_conflict(&tx, id, change.record.as_ref(), change.version)?;
                    Cache::put_local(&tx, &local)?;
                }
                settle::Pulled::Put(local) => Cache::put_local(&tx, &local)?,
            }
        }
        match into {
            PullFor::Feed { catching_up } => {
                Cache::set_meta(&tx, "cursor", &page.cursor.to_string())?;
                if !catching_up {
                    note_caught_up(&tx, page.cursor)?;
                }
            }
            PullFor::CatchUp(plan, false) => Cache::set_meta(&tx, CATCH_UP_KEY, &plan.to_meta())?,
            PullFor::CatchUp(_, true) => {
                Cache::delete_meta(&tx, CATCH_UP_KEY)?;
                note_caught_up(&tx, Cache::cursor_in(&tx)?.unwrap_or(0))?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Syncs, retrying after failures that may pass (hub unreachable, overloaded or failing)
    /// up to `retries` more times with `backoff` between attempts.
    pub async fn sync_retrying(
        &mut self,
        retries: u32,
        backoff: &mut Backoff,
        progress: &mut (dyn FnMut(MirrorProgress) + Send),
    ) -> ClientResult<SyncReport> {
        loop {
            match self.sync(progress).await {
                Err(err) if err.is_transient() && backoff.failures() < retries => {
                    tracing::info!(code = %err.code().as_str(), "sync failed; retrying");
                    tokio::time::sleep(backoff.next_delay()).await;
                }
                other => {
                    backoff.reset();
                    return other;
                }
            }
        }
    }

    /// Follows the hub's announcements and syncs after each, `max` times (or until a final
    /// error when `None`). When the link drops it reconnects after `backoff`, doubling the
    /// wait while the hub stays away; the hub's first announcement on a new connection (its
    /// current cursor) makes it catch up at once.
    pub async fn listen(
        &mut self,
        max: Option<usize>,
        backoff: &mut Backoff,
        progress: &mut (dyn FnMut(MirrorProgress) + Send),
    ) -> ClientResult<usize> {
        let mut synced = 0;
        while max.is_none_or(|m| synced < m) {
            match self
                .follow_events(max, &mut synced, backoff, progress)
                .await
            {
                Ok(()) => {}
                Err(err @ ClientError::Hub { status: 401, .. }) => {
                    // The access token expired: once more with a fresh one.
                    if !self.session.forget_token() {
                        return Err(err);
                    }
                }
                Err(err) if err.is_transient() => {
                    tracing::info!(code = %err.code().as_str(), "lost the hub; reconnecting");
                    tokio::time::sleep(backoff.next_delay()).await;
                }
                Err(err) => return Err(err),
            }
        }
        Ok(synced)
    }

    /// One connection to `/v1/events`, until it ends, fails or `max` syncs are done.
    async fn follow_events(
        &mut self,
        max: Option<usize>,
        synced: &mut usize,
        backoff: &mut Backoff,
        progress: &mut (dyn FnMut(MirrorProgress) + Send),
    ) -> ClientResult<()> {
        let mut events = HubEvents::open(&self.session).await?;
        backoff.reset();
        while max.is_none_or(|m| *synced < m) {
            match events.next().await? {
                None => return Ok(()),
                Some(Announcement::Changes(_)) => {
                    self.sync(progress).await?;
                    *synced += 1;
                }
                Some(Announcement::Board | Announcement::Other) => {}
            }
        }
        Ok(())
    }
}
