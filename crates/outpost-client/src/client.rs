//! The client engine: sign-in, offline unlock, idle lock, local reads and writes through the
//! outbox, sync (first mirror, push, pull), conflicts, and remote wipe.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Duration, Utc};
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::{Map, Value, json};
use ts_rs::TS;
use zeroize::Zeroizing;

use outpost_domain::auth::LoginRequest;
use outpost_domain::clock::Clock;
use outpost_domain::kind::Refusal;
use outpost_domain::patient::{HistoryEntry, MAX_QUERY_CHARS, PatchError, Patient, PatientFields};
use outpost_domain::record::Record;
use outpost_domain::sync::{
    Entity, LocalAuditEvent, Op, OpAction, OpStatus, PullResponse, PushRequest, PushResponse,
    SCHEMA_VERSION, SnapshotLine,
};
use outpost_domain::{LocalEventId, OpId, PatientId, RecordId};

use crate::api::HubApi;
use crate::cache::{Batch, Cache, LocalPatient, LocalRecord, StoredConflict};
use crate::error::{ClientError, ClientResult};
use crate::grant;
use crate::home::{Home, Profile, remove_if_present};
use crate::keywrap::{self, Key};
use crate::retry::Backoff;
use crate::settle;

mod records;
pub mod schedule;
use crate::transport::HubAddress;
use crate::vault::{self, VaultRecord};

/// Ops and events per push; pulled changes per request.
const BATCH: u32 = 1000;
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
/// Returned ids per search audit event: with the longest query this stays well inside
/// `MAX_AUDIT_DETAILS_BYTES`.
const IDS_PER_EVENT: usize = 100;
/// The hub sends a keep-alive every 15 s; three missed means the link is gone even if the
/// connection has not noticed.
const SILENCE_LIMIT: std::time::Duration = std::time::Duration::from_secs(45);

/// How the client runs.
#[derive(Clone)]
pub struct ClientOptions {
    pub home: Home,
    /// Inactivity after which the cache is closed and its key forgotten.
    pub idle_timeout: Duration,
    pub clock: Arc<dyn Clock>,
    pub device_name: Option<String>,
}

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
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct Status {
    pub profile: Option<Profile>,
    pub unlocked: bool,
    #[ts(type = "number")]
    pub pending_ops: i64,
    #[ts(type = "number")]
    pub pending_audit: i64,
    #[ts(type = "number")]
    pub conflicts: i64,
    #[ts(type = "number")]
    pub patients: i64,
    #[ts(type = "number | null")]
    pub cursor: Option<i64>,
    pub last_sync: Option<String>,
}

/// How to settle a conflict.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    KeepMine,
    TakeTheirs,
    /// Field → `true` for mine, `false` for theirs; fields left out are theirs.
    PerField(BTreeMap<String, bool>),
    /// For a refused change: change these fields of mine and send it again (a booking
    /// refused because its slot was taken, moved to another).
    Change(Map<String, Value>),
}

/// A conflict as shown to the user: both versions side by side.
#[derive(Debug, Clone, Serialize, TS)]
pub struct Conflict {
    pub entity: Entity,
    pub record_id: RecordId,
    pub rejected: bool,
    /// The hub's code for a refusal (`slot_taken`, `validation_failed`, …).
    pub code: Option<String>,
    pub error: Option<String>,
    /// The fields the local change touched.
    pub fields: Vec<String>,
    #[ts(type = "Record<string, unknown> | null")]
    pub mine: Option<Record>,
    #[ts(type = "Record<string, unknown> | null")]
    pub theirs: Option<Record>,
}

/// The client core.
pub struct Client {
    options: ClientOptions,
    profile: Option<Profile>,
    cache: Option<Cache>,
    access_token: Option<Zeroizing<String>>,
    last_activity: DateTime<Utc>,
    /// The hub's API and the address it was built for.
    api: Option<(HubAddress, HubApi)>,
}

fn json_map<T: Serialize>(value: &T) -> ClientResult<Map<String, Value>> {
    match serde_json::to_value(value).map_err(|e| ClientError::Corrupt(e.to_string()))? {
        Value::Object(map) => Ok(map),
        _ => Err(ClientError::Corrupt("not an object".into())),
    }
}

fn refusal_error(refusal: Refusal) -> ClientError {
    ClientError::Refused {
        code: refusal.code,
        message: refusal.message,
    }
}

fn patch_error(err: PatchError) -> ClientError {
    match err {
        PatchError::Invalid(v) => ClientError::Invalid(v),
        PatchError::Shape(message) => ClientError::InvalidInput(message),
    }
}

impl Client {
    /// A client over `options.home`, with the profile last signed in (if any), locked.
    pub fn new(options: ClientOptions) -> ClientResult<Self> {
        let profile = options.home.current_profile()?;
        let now = options.clock.now();
        Ok(Self {
            options,
            profile,
            cache: None,
            access_token: None,
            last_activity: now,
            api: None,
        })
    }

    pub fn profile(&self) -> Option<&Profile> {
        self.profile.as_ref()
    }

    fn profile_or_err(&self) -> ClientResult<&Profile> {
        self.profile.as_ref().ok_or(ClientError::NotSignedIn)
    }

    /// The signed-in hub's API, built once per address (building it loads the trusted roots).
    fn api(&mut self) -> ClientResult<HubApi> {
        let address = self.profile_or_err()?.address();
        match &self.api {
            Some((built_for, api)) if *built_for == address => Ok(api.clone()),
            _ => {
                let api = HubApi::new(&address)?;
                self.api = Some((address, api.clone()));
                Ok(api)
            }
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.options.clock.now()
    }

    // --- sign-in, unlock, lock ---

    /// Signs in online: creates the cache (and its key, wrapped by `password`, in the keyring)
    /// on first sign-in, or opens the existing one. A hub given without a CA file uses the one
    /// last used with it on this computer.
    pub async fn login(
        &mut self,
        hub: impl Into<HubAddress>,
        tenant: Option<&str>,
        email: &str,
        password: &str,
    ) -> ClientResult<Profile> {
        let mut address = hub.into();
        if address.ca_file.is_none() {
            address.ca_file = self.options.home.remembered_ca_file(&address.url);
        }
        let api = HubApi::new(&address)?;
        let device_id = self.options.home.device_id()?;
        let login = api
            .login(&LoginRequest {
                email: email.to_owned(),
                password: password.to_owned(),
                tenant: tenant.map(str::to_owned),
                device_id: Some(device_id),
                device_name: self.options.device_name.clone(),
            })
            .await?;
        let profile = Profile::from_login(&address, &login)?;
        let jwks = api.jwks().await?;
        let existing = vault::load(&profile.id)?;
        let cache_path = self.options.home.cache_path(&profile.id);
        let (key, wrapped) = match existing {
            Some(record) if cache_path.exists() => {
                let key = keywrap::unwrap(password, &record.wrapped_key, &profile.id).map_err(
                    |e| match e {
                        ClientError::WrongPassword => ClientError::CacheKeyMismatch,
                        other => other,
                    },
                )?;
                let wrapped = if record.wrapped_key.outdated() {
                    keywrap::wrap(password, &key, &profile.id)?
                } else {
                    record.wrapped_key
                };
                (key, wrapped)
            }
            _ => {
                // A key without its cache (or neither): start a fresh cache.
                remove_cache_files(&cache_path)?;
                let key = keywrap::random_key();
                let wrapped = keywrap::wrap(password, &key, &profile.id)?;
                (key, wrapped)
            }
        };
        vault::save(
            &profile.id,
            &VaultRecord {
                wrapped_key: wrapped,
                refresh_token: Some(login.refresh_token.clone()),
                offline_grant: login.offline_grant.clone(),
                jwks,
            },
        )?;
        self.options.home.save_profile(&profile)?;
        self.options
            .home
            .remember_ca_file(&address.url, address.ca_file.as_deref())?;
        self.open_cache(&profile, &key)?;
        self.profile = Some(profile.clone());
        self.access_token = Some(Zeroizing::new(login.access_token));
        Ok(profile)
    }

    fn open_cache(&mut self, profile: &Profile, key: &Key) -> ClientResult<()> {
        self.options.home.prepare_caches()?;
        self.cache = Some(Cache::open(
            &self.options.home.cache_path(&profile.id),
            key,
        )?);
        self.last_activity = self.now();
        Ok(())
    }

    /// Unlocks offline: the hub's offline grant must still be valid, and the password must
    /// unwrap the cache key (a wrong one is refused before the cache is touched).
    pub fn unlock(&mut self, password: &str) -> ClientResult<()> {
        let profile = self.profile_or_err()?.clone();
        let record = vault::load(&profile.id)?.ok_or(ClientError::NotSignedIn)?;
        let grant = record
            .offline_grant
            .as_deref()
            .ok_or(ClientError::OfflineGrantExpired)?;
        grant::verify(grant, &record.jwks, &profile, self.now())?;
        let key = keywrap::unwrap(password, &record.wrapped_key, &profile.id)?;
        if record.wrapped_key.outdated() {
            // Wrapped again with today's parameters, recorded in the entry. Best effort: a
            // keyring that refuses the write must not keep the user from their data offline.
            let rewrapped = keywrap::wrap(password, &key, &profile.id).and_then(|wrapped_key| {
                vault::save(
                    &profile.id,
                    &VaultRecord {
                        wrapped_key,
                        ..record
                    },
                )
            });
            if let Err(err) = rewrapped {
                tracing::warn!(error = %err, "the keyring entry could not be rewritten; it still opens");
            }
        }
        self.open_cache(&profile, &key)
    }

    /// Closes the cache; SQLCipher wipes its key material, and the client keeps none.
    pub fn lock(&mut self) {
        self.cache = None;
        self.access_token = None;
    }

    pub fn is_unlocked(&self) -> bool {
        self.cache.is_some()
    }

    /// Locks when idle for longer than the timeout; returns whether the client is locked.
    pub fn check_idle(&mut self) -> bool {
        if self.cache.is_some() && self.now() - self.last_activity >= self.options.idle_timeout {
            tracing::info!("idle: locking the local data");
            self.lock();
        }
        self.cache.is_none()
    }

    /// The open cache, counting this as activity.
    fn cache(&mut self) -> ClientResult<&mut Cache> {
        if self.check_idle() {
            return Err(ClientError::Locked);
        }
        self.last_activity = self.now();
        self.cache.as_mut().ok_or(ClientError::Locked)
    }

    /// A local audit event about a record of `entity` (`<kind>.<action>`).
    fn local_event_of(
        &self,
        entity: Entity,
        action: &str,
        id: Option<RecordId>,
        details: Value,
    ) -> LocalAuditEvent {
        LocalAuditEvent {
            event_id: LocalEventId::generate(),
            action: format!("{}.{action}", entity.as_str()),
            entity: id.map(|_| entity.as_str().to_owned()),
            entity_id: id.map(|i| i.to_string()),
            client_time: self.now(),
            details,
        }
    }

    // --- reads (from the local mirror, each audited locally) ---

    /// Searches the mirror. The audit records the query and every returned id; a long result
    /// list is split over several events (`part` of `parts`) so that each stays within what
    /// the hub accepts from a device.
    pub fn search(&mut self, q: &str, limit: u32) -> ClientResult<Vec<Patient>> {
        if q.chars().count() > MAX_QUERY_CHARS {
            return Err(ClientError::InvalidInput(format!(
                "a search is at most {MAX_QUERY_CHARS} characters"
            )));
        }
        let found = self.cache()?.search(q, limit)?;
        let ids: Vec<String> = found.iter().map(|p| p.id.to_string()).collect();
        let chunks: Vec<&[String]> = if ids.is_empty() {
            vec![&[]]
        } else {
            ids.chunks(IDS_PER_EVENT).collect()
        };
        let parts = chunks.len();
        let events: Vec<_> = chunks
            .into_iter()
            .enumerate()
            .map(|(part, returned)| {
                let details = if parts == 1 {
                    json!({ "query": q, "returned": returned })
                } else {
                    json!({ "query": q, "returned": returned, "part": part + 1, "parts": parts })
                };
                self.local_event_of(Entity::Patient, "search", None, details)
            })
            .collect();
        self.cache()?.audit_reads(&events)?;
        Ok(found)
    }

    pub fn show(&mut self, id: PatientId) -> ClientResult<LocalPatient> {
        LocalPatient::try_from(self.record(Entity::Patient, id.into())?)
    }

    pub fn history(&mut self, id: PatientId) -> ClientResult<Vec<HistoryEntry>> {
        self.record_history(Entity::Patient, id.into())
    }

    /// Whether this computer holds changes to the patient the hub has not confirmed yet. Not
    /// audited: it reveals no record data.
    pub fn has_pending(&mut self, id: PatientId) -> ClientResult<bool> {
        Ok(Cache::pending_ops_for(self.cache()?.conn(), id.into())? > 0)
    }

    // --- local changes (each with its outbox op, in one transaction) ---

    fn new_op(
        &self,
        entity: Entity,
        record_id: RecordId,
        action: OpAction,
        base_version: Option<i64>,
        fields: Map<String, Value>,
    ) -> Op {
        Op {
            op_id: OpId::generate(),
            entity,
            record_id,
            action,
            base_version,
            fields,
            client_time: self.now(),
            schema_version: SCHEMA_VERSION,
        }
    }

    /// Adds a patient here, with its create op.
    pub fn add(&mut self, fields: PatientFields) -> ClientResult<Patient> {
        let record = self.create_record(Entity::Patient, json_map(&fields)?)?;
        crate::cache::patient_of(record)
    }

    /// Edits a patient here: `changes` maps fields to new values (`null` clears).
    pub fn edit(&mut self, id: PatientId, changes: &Map<String, Value>) -> ClientResult<Patient> {
        let record = self.change_record(Entity::Patient, id.into(), changes)?;
        crate::cache::patient_of(record)
    }

    /// Deletes a patient here (a tombstone until the hub confirms).
    pub fn delete(&mut self, id: PatientId) -> ClientResult<()> {
        self.delete_record(Entity::Patient, id.into())
    }

    // --- sync ---

    /// A valid access token: the one in memory, or a new one from the refresh token in the
    /// keyring (rotated, and stored back with the new offline grant).
    async fn token(&mut self) -> ClientResult<String> {
        if let Some(token) = &self.access_token {
            return Ok(token.to_string());
        }
        let profile = self.profile_or_err()?.clone();
        let mut record = vault::load(&profile.id)?.ok_or(ClientError::NotSignedIn)?;
        let refresh = record
            .refresh_token
            .clone()
            .ok_or(ClientError::NotSignedIn)?;
        let answer = match self.api()?.refresh(&refresh).await {
            Err(ClientError::DeviceRevoked) => return Err(self.remote_wipe()),
            other => other?,
        };
        record.refresh_token = Some(answer.refresh_token.clone());
        record.offline_grant = answer.offline_grant.clone();
        vault::save(&profile.id, &record)?;
        self.access_token = Some(Zeroizing::new(answer.access_token.clone()));
        Ok(answer.access_token)
    }

    /// Wipes everything after the hub said the device is revoked, and returns that error.
    fn remote_wipe(&mut self) -> ClientError {
        if self.profile.is_none() {
            return ClientError::DeviceRevoked;
        }
        match self.wipe() {
            Ok(()) => ClientError::DeviceRevoked,
            Err(err) => err,
        }
    }

    /// Mirrors (first time), pushes the outbox and offline audit events, then pulls. Not
    /// counted as activity: a sync running in the background must not keep an idle session
    /// unlocked.
    pub async fn sync(
        &mut self,
        progress: &mut (dyn FnMut(MirrorProgress) + Send),
    ) -> ClientResult<SyncReport> {
        let idle_since = self.last_activity;
        self.cache()?;
        let result = self.sync_once(progress).await;
        self.last_activity = idle_since;
        result
    }

    async fn sync_once(
        &mut self,
        progress: &mut (dyn FnMut(MirrorProgress) + Send),
    ) -> ClientResult<SyncReport> {
        match self.sync_inner(progress).await {
            Err(ClientError::DeviceRevoked) => Err(self.remote_wipe()),
            Err(ClientError::Hub { status: 401, .. }) if self.access_token.is_some() => {
                // The access token expired mid-way: once more with a fresh one.
                self.access_token = None;
                match self.sync_inner(progress).await {
                    Err(ClientError::DeviceRevoked) => Err(self.remote_wipe()),
                    other => other,
                }
            }
            other => other,
        }
    }

    async fn sync_inner(
        &mut self,
        progress: &mut (dyn FnMut(MirrorProgress) + Send),
    ) -> ClientResult<SyncReport> {
        let token = self.token().await?;
        let api = self.api()?;
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
        loop {
            let cursor = self.cache()?.cursor()?.unwrap_or(0);
            let page = api.pull(&token, cursor, BATCH).await?;
            report.pulled += page.changes.len();
            let more = page.has_more;
            self.apply_pull(&page)?;
            report.cursor = page.cursor;
            if !more {
                break;
            }
        }
        report.pull_seconds = pulling.elapsed().as_secs_f64();
        let now = self.now().to_rfc3339();
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
        let at = self.now().to_rfc3339();
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

    fn apply_pull(&mut self, page: &PullResponse) -> ClientResult<()> {
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
        Cache::set_meta(&tx, "cursor", &page.cursor.to_string())?;
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
                Err(ClientError::Hub { status: 401, .. }) if self.access_token.is_some() => {
                    self.access_token = None;
                }
                Err(ClientError::DeviceRevoked) => return Err(self.remote_wipe()),
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
        let token = self.token().await?;
        let arrivals = Arc::new(AtomicU64::new(0));
        let mut events = Box::pin(self.api()?.events(&token, arrivals.clone()).await?);
        backoff.reset();
        let mut seen = 0;
        while max.is_none_or(|m| *synced < m) {
            match tokio::time::timeout(SILENCE_LIMIT, events.next()).await {
                // Bytes arrived meanwhile (keep-alives the parser does not hand over): alive.
                Err(_) if arrivals.load(Ordering::Relaxed) != seen => {
                    seen = arrivals.load(Ordering::Relaxed);
                }
                Err(_) => return Err(ClientError::Offline("the hub went silent".into())),
                Ok(None) => return Ok(()),
                Ok(Some(Ok(None))) => {}
                Ok(Some(Ok(Some(_cursor)))) => {
                    self.sync(progress).await?;
                    *synced += 1;
                }
                Ok(Some(Err(err))) => return Err(err),
            }
        }
        Ok(())
    }

    // --- conflicts ---

    pub fn conflicts(&mut self) -> ClientResult<Vec<Conflict>> {
        let stored = self.cache()?.conflicts()?;
        let cache = self.cache()?;
        stored
            .into_iter()
            .map(|c| {
                let mine = Cache::local(cache.conn(), c.entity, c.record_id)?.map(|l| l.record);
                Ok(Conflict {
                    entity: c.entity,
                    record_id: c.record_id,
                    rejected: c.rejected,
                    code: c.code,
                    error: c.error,
                    fields: c.local_op.fields.keys().cloned().collect(),
                    mine,
                    theirs: c.hub_record,
                })
            })
            .collect()
    }

    /// Settles a conflict; keeping local values sends them as a new op on the hub's version.
    /// A refused change is discarded (take theirs) or changed and sent again.
    pub fn resolve(&mut self, id: RecordId, resolution: &Resolution) -> ClientResult<()> {
        let conflict = self
            .cache()?
            .conflicts()?
            .into_iter()
            .find(|c| c.record_id == id)
            .ok_or(ClientError::NotFound)?;
        let entity = conflict.entity;
        let kind = entity.kind();
        let local = Cache::local(self.cache()?.conn(), entity, id)?.ok_or(ClientError::NotFound)?;
        let now = self.now();
        if let Resolution::Change(changes) = resolution {
            return self.send_again(&conflict, local, changes);
        }
        let mine: Vec<String> = match resolution {
            Resolution::KeepMine => conflict.local_op.fields.keys().cloned().collect(),
            Resolution::TakeTheirs | Resolution::Change(_) => Vec::new(),
            Resolution::PerField(choice) => {
                if let Some(unknown) = choice
                    .keys()
                    .find(|f| !conflict.local_op.fields.contains_key(*f))
                {
                    return Err(ClientError::InvalidInput(format!(
                        "`{unknown}` is not a field of this conflict"
                    )));
                }
                choice
                    .iter()
                    .filter(|(_, m)| **m)
                    .map(|(f, _)| f.clone())
                    .collect()
            }
        };
        let keep_delete =
            conflict.local_op.action == OpAction::Delete && *resolution == Resolution::KeepMine;
        let mut op = None;
        let settled = match (&conflict.hub_record, conflict.rejected) {
            (_, true) => {
                if *resolution != Resolution::TakeTheirs {
                    return Err(ClientError::InvalidInput(
                        "the hub refused this change; it can be discarded (take theirs) or changed and sent again".into(),
                    ));
                }
                match (local.hub_version, local.hub_data.clone()) {
                    (None, _) => None,
                    (Some(v), Some(hub)) => Some(LocalRecord {
                        record: hub,
                        hub_version: Some(v),
                        deleted: false,
                        conflict: false,
                        hub_data: None,
                        ..local.clone()
                    }),
                    (Some(v), None) => Some(LocalRecord {
                        hub_version: Some(v),
                        conflict: false,
                        ..local.clone()
                    }),
                }
            }
            (None, false) => {
                if !mine.is_empty() || keep_delete {
                    return Err(ClientError::InvalidInput(
                        "the record was deleted on the hub: take theirs".into(),
                    ));
                }
                Some(LocalRecord {
                    deleted: true,
                    conflict: false,
                    hub_data: None,
                    hub_version: conflict.hub_version,
                    ..local.clone()
                })
            }
            (Some(hub), false) if keep_delete => {
                op = Some(self.new_op(entity, id, OpAction::Delete, Some(hub.version), Map::new()));
                let mut record = hub.clone();
                record.version += 1;
                Some(LocalRecord {
                    record,
                    hub_version: Some(hub.version),
                    deleted: true,
                    conflict: false,
                    hub_data: Some(hub.clone()),
                    ..local.clone()
                })
            }
            (Some(hub), false) => {
                let values: Map<String, Value> = mine
                    .iter()
                    .map(|f| {
                        let value = local.record.fields.get(f).cloned().unwrap_or(Value::Null);
                        (f.clone(), value)
                    })
                    .collect();
                let (fields, changed) = kind
                    .apply(&hub.fields, &values, now.date_naive())
                    .map_err(patch_error)?;
                kind.check_rule(Some(&hub.fields), &fields)
                    .map_err(refusal_error)?;
                if changed.is_empty() {
                    Some(LocalRecord::confirmed(entity, hub.clone()))
                } else {
                    op = Some(self.new_op(entity, id, OpAction::Update, Some(hub.version), values));
                    let record = Record {
                        fields,
                        version: hub.version + 1,
                        updated_at: now,
                        ..hub.clone()
                    };
                    Some(LocalRecord {
                        record,
                        hub_version: Some(hub.version),
                        deleted: false,
                        conflict: false,
                        hub_data: Some(hub.clone()),
                        ..local.clone()
                    })
                }
            }
        };
        let tx = self.cache()?.transaction()?;
        match settled {
            Some(local) => Cache::put_local(&tx, &local)?,
            None => Cache::remove_local(&tx, entity, id)?,
        }
        if let Some(op) = &op {
            Cache::enqueue(&tx, op)?;
        }
        Cache::remove_conflict(&tx, id)?;
        tx.commit()?;
        Ok(())
    }

    /// Settles a refused change by changing it (a booking moved to a free slot) and sending it
    /// again: a record the hub never created is created anew with every field; one it has gets
    /// the refused fields and the changes on top of its version.
    fn send_again(
        &mut self,
        conflict: &StoredConflict,
        local: LocalRecord,
        changes: &Map<String, Value>,
    ) -> ClientResult<()> {
        if !conflict.rejected {
            return Err(ClientError::InvalidInput(
                "this is a conflict with the hub's version: keep mine, take theirs or choose per field".into(),
            ));
        }
        let (entity, id) = (conflict.entity, conflict.record_id);
        self.may_write(entity, changes.keys())?;
        let kind = entity.kind();
        let now = self.now();
        let (fields, _) = kind
            .apply(&local.record.fields, changes, now.date_naive())
            .map_err(patch_error)?;
        let before = local.hub_data.as_ref().map(|h| &h.fields);
        kind.check_rule(before, &fields).map_err(refusal_error)?;
        let op = match local.hub_version {
            None => self.new_op(entity, id, OpAction::Create, None, fields.clone()),
            Some(version) => {
                let mut values = conflict.local_op.fields.clone();
                values.extend(changes.clone());
                self.new_op(entity, id, OpAction::Update, Some(version), values)
            }
        };
        let record = Record {
            fields,
            updated_at: now,
            ..local.record.clone()
        };
        self.check_constraints(entity, &record, changes)?;
        let tx = self.cache()?.transaction()?;
        Cache::put_local(
            &tx,
            &LocalRecord {
                record,
                conflict: false,
                ..local
            },
        )?;
        Cache::enqueue(&tx, &op)?;
        Cache::remove_conflict(&tx, id)?;
        tx.commit()?;
        Ok(())
    }

    // --- status, sign-out, wipe ---

    /// Where this sign-in stands, from the local copy alone. Not counted as activity: a
    /// status bar polling it must not keep an idle session unlocked.
    pub fn status(&mut self) -> ClientResult<Status> {
        let profile = self.profile.clone();
        if self.check_idle() {
            return Ok(Status {
                profile,
                unlocked: false,
                pending_ops: 0,
                pending_audit: 0,
                conflicts: 0,
                patients: 0,
                cursor: None,
                last_sync: None,
            });
        }
        let cache = self.cache.as_ref().ok_or(ClientError::Locked)?;
        Ok(Status {
            profile,
            unlocked: true,
            pending_ops: cache.count("outbox")?,
            pending_audit: cache.count("local_audit")?,
            conflicts: cache.count("conflicts")?,
            patients: cache.count("patients")?,
            cursor: cache.cursor()?,
            last_sync: cache.meta("last_sync")?,
        })
    }

    /// Whether the hub answers its health check (a few seconds at most); `TlsUntrusted` when it
    /// answers with a certificate this computer does not trust.
    pub async fn hub_reachable(&mut self) -> ClientResult<bool> {
        self.api()?.reachable().await
    }

    /// The user did something (typed, clicked): pushes back the idle lock.
    pub fn touch(&mut self) {
        if !self.check_idle() {
            self.last_activity = self.now();
        }
    }

    /// Ends the session on the hub (when reachable) and forgets the refresh token and offline
    /// grant: the next use needs the hub. The cache and its wrapped key stay for next time.
    pub async fn logout(&mut self) -> ClientResult<()> {
        let profile = self.profile_or_err()?.clone();
        if let Ok(token) = self.token().await {
            let _ = self.api()?.logout(&token).await;
        }
        if let Some(mut record) = vault::load(&profile.id)? {
            record.refresh_token = None;
            record.offline_grant = None;
            vault::save(&profile.id, &record)?;
        }
        self.lock();
        Ok(())
    }

    /// Deletes the keyring entry, then the cache files (db, -wal, -shm), then the profile.
    pub fn wipe(&mut self) -> ClientResult<()> {
        let profile = self.profile_or_err()?.clone();
        self.lock();
        vault::delete(&profile.id)?;
        remove_cache_files(&self.options.home.cache_path(&profile.id))?;
        self.options.home.remove_profile(&profile.id)?;
        self.profile = None;
        Ok(())
    }
}

fn remove_cache_files(path: &std::path::Path) -> ClientResult<()> {
    for suffix in ["", "-wal", "-shm"] {
        remove_if_present(std::path::Path::new(&format!("{}{suffix}", path.display())))?;
    }
    Ok(())
}
