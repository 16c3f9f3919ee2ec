//! The client core: sign-in, offline unlock, idle lock, local reads and writes through the
//! outbox, conflicts, and remote wipe. Syncing is the [`SyncEngine`]'s, on a cache connection
//! of its own.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{Map, Value, json};
use ts_rs::TS;

use outpost_domain::auth::LoginRequest;
use outpost_domain::clock::Clock;
use outpost_domain::patient::{HistoryEntry, MAX_QUERY_CHARS, Patient, PatientFields};
use outpost_domain::record::Record;
use outpost_domain::sync::{Entity, LocalAuditEvent, Op, OpAction, SCHEMA_VERSION};
use outpost_domain::{LocalEventId, OpId, PatientId, RecordId};

use crate::api::HubApi;
use crate::cache::{Cache, LocalPatient};
use crate::error::{ClientError, ClientResult};
use crate::events::Listener;
use crate::grant;
use crate::home::{Home, Profile, remove_if_present};
use crate::keywrap::{self, Key};
use crate::session::Session;
use crate::settle;
use crate::sync::{MirrorProgress, SyncEngine, SyncReport};
use crate::transport::HubAddress;
use crate::vault::{self, VaultRecord};

pub mod board;
mod records;
pub mod schedule;
pub mod transport;
pub mod units;

/// Returned ids per search audit event: with the longest query this stays well inside
/// `MAX_AUDIT_DETAILS_BYTES`.
const IDS_PER_EVENT: usize = 100;

/// How the client runs.
#[derive(Clone)]
pub struct ClientOptions {
    pub home: Home,
    /// Inactivity after which the cache is closed and its key forgotten.
    pub idle_timeout: Duration,
    pub clock: Arc<dyn Clock>,
    pub device_name: Option<String>,
}

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
    /// The cache key while unlocked, for the sync engine's own connection (SQLCipher holds
    /// it in memory too for as long as the cache is open).
    key: Option<Key>,
    last_activity: DateTime<Utc>,
    /// The signed-in profile's link to its hub, shared with sync engines.
    session: Option<Arc<Session>>,
}

/// A new op made at `now` on this device.
pub(crate) fn new_op(
    now: DateTime<Utc>,
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
        client_time: now,
        schema_version: SCHEMA_VERSION,
    }
}

fn json_map<T: Serialize>(value: &T) -> ClientResult<Map<String, Value>> {
    match serde_json::to_value(value).map_err(|e| ClientError::Corrupt(e.to_string()))? {
        Value::Object(map) => Ok(map),
        _ => Err(ClientError::Corrupt("not an object".into())),
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
            key: None,
            last_activity: now,
            session: None,
        })
    }

    pub fn profile(&self) -> Option<&Profile> {
        self.profile.as_ref()
    }

    fn profile_or_err(&self) -> ClientResult<&Profile> {
        self.profile.as_ref().ok_or(ClientError::NotSignedIn)
    }

    /// The signed-in profile's session, made once per sign-in (building its API loads the
    /// trusted roots).
    fn session(&mut self) -> ClientResult<Arc<Session>> {
        let profile = self.profile_or_err()?;
        match &self.session {
            Some(session) if session.profile.id == profile.id => Ok(session.clone()),
            _ => {
                let api = HubApi::new(&profile.address())?;
                let session = Arc::new(Session::new(profile.clone(), api, None));
                self.session = Some(session.clone());
                Ok(session)
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
        self.open_cache(&profile, key)?;
        // One session per profile: a sync engine still running with it sees the new token,
        // and no second session refreshes beside it.
        self.session = Some(match self.session.take() {
            Some(session)
                if session.profile.id == profile.id && session.profile.address() == address =>
            {
                session.set_token(login.access_token);
                session
            }
            _ => Arc::new(Session::new(profile.clone(), api, Some(login.access_token))),
        });
        self.profile = Some(profile.clone());
        Ok(profile)
    }

    fn open_cache(&mut self, profile: &Profile, key: Key) -> ClientResult<()> {
        self.options.home.prepare_caches()?;
        self.cache = Some(Cache::open(
            &self.options.home.cache_path(&profile.id),
            &key,
        )?);
        self.key = Some(key);
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
        self.open_cache(&profile, key)
    }

    /// Closes the cache and forgets its key (SQLCipher wipes its own copy) and the access
    /// token. A sync engine already running keeps its connection until it is dropped.
    pub fn lock(&mut self) {
        self.cache = None;
        self.key = None;
        if let Some(session) = &self.session {
            session.forget_token();
        }
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

    /// Whether this computer holds changes to the record (a patient, a trip, …) the hub has
    /// not confirmed yet. Not audited: it reveals no record data.
    pub fn has_pending(&mut self, id: impl Into<RecordId>) -> ClientResult<bool> {
        Ok(Cache::pending_ops_for(self.cache()?.conn(), id.into())? > 0)
    }

    // --- local changes (each with its outbox op, in one transaction) ---

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

    /// A sync engine for this unlocked cache, on a connection of its own: it syncs while
    /// this client goes on reading and writing. Not counted as activity.
    pub fn sync_engine(&mut self) -> ClientResult<SyncEngine> {
        if self.check_idle() {
            return Err(ClientError::Locked);
        }
        let key = self.key.as_ref().ok_or(ClientError::Locked)?;
        let path = self.options.home.cache_path(&self.profile_or_err()?.id);
        let cache = Cache::open(&path, key)?;
        Ok(SyncEngine::new(
            self.session()?,
            cache,
            self.options.clock.clone(),
        ))
    }

    /// Closes `engine` and passes on what it answered, wiping the engine's profile first when
    /// the hub said this device is revoked (the client may have signed in as someone else
    /// while the engine ran: their data stays).
    pub fn end_sync<T>(&mut self, engine: SyncEngine, result: ClientResult<T>) -> ClientResult<T> {
        let synced = engine.profile().id.clone();
        drop(engine);
        match result {
            Err(ClientError::DeviceRevoked)
                if self.profile.as_ref().is_some_and(|p| p.id == synced) =>
            {
                Err(self.remote_wipe())
            }
            Err(ClientError::DeviceRevoked) => match wipe_files(&self.options.home, &synced) {
                Ok(()) => Err(ClientError::DeviceRevoked),
                Err(err) => Err(err),
            },
            other => other,
        }
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

    /// Every value the open local data holds, decrypted, one per line: for tests that prove
    /// what a computer's copy does not hold.
    #[cfg(feature = "test-support")]
    pub fn cache_text(&mut self) -> ClientResult<String> {
        self.cache()?.every_value()
    }

    /// Makes the local copy as a build of sync schema `schema` left it (tests of the catch-up
    /// after an update).
    #[cfg(feature = "test-support")]
    pub fn as_left_by_schema(&mut self, schema: i64) -> ClientResult<()> {
        self.cache()?.as_left_by_schema(schema)
    }

    /// Writes `value` into a cached record's `field`, as an older build's copy held it.
    #[cfg(feature = "test-support")]
    pub fn plant_field(
        &mut self,
        entity: Entity,
        id: outpost_domain::RecordId,
        field: &str,
        value: &str,
    ) -> ClientResult<()> {
        self.cache()?.plant_field(entity, id, field, value)
    }

    /// The way to the hub's announcements for this unlocked sign-in; the connection itself
    /// is made by [`Listener::connect`], without holding the client.
    pub fn listener(&mut self) -> ClientResult<Listener> {
        if self.check_idle() || self.key.is_none() {
            return Err(ClientError::Locked);
        }
        Ok(Listener::new(self.session()?))
    }

    /// One sync on an engine of its own ([`SyncEngine::sync`]), waiting for it.
    pub async fn sync(
        &mut self,
        progress: &mut (dyn FnMut(MirrorProgress) + Send),
    ) -> ClientResult<SyncReport> {
        let mut engine = self.sync_engine()?;
        let result = engine.sync(progress).await;
        self.end_sync(engine, result)
    }

    // --- conflicts ---

    /// Every conflict with both sides (each audited locally as a read of its record).
    pub fn conflicts(&mut self) -> ClientResult<Vec<Conflict>> {
        let cache = self.cache()?;
        let stored = Cache::conflicts(cache.conn())?;
        let conflicts = stored
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
            .collect::<ClientResult<Vec<_>>>()?;
        let events: Vec<_> = conflicts
            .iter()
            .map(|c| {
                let details = json!({ "conflict": true });
                self.local_event_of(c.entity, "read", Some(c.record_id), details)
            })
            .collect();
        if !events.is_empty() {
            self.cache()?.audit_reads(&events)?;
        }
        Ok(conflicts)
    }

    /// Settles a conflict; keeping local values sends them as a new op on the hub's version.
    /// A refused change is discarded (take theirs) or changed and sent again. Decided inside
    /// one transaction, so a pull refreshing the conflict meanwhile is never settled blind.
    pub fn resolve(&mut self, id: RecordId, resolution: &Resolution) -> ClientResult<()> {
        let entity = Cache::conflict(self.cache()?.conn(), id)?
            .ok_or(ClientError::NotFound)?
            .entity;
        if let Resolution::Change(changes) = resolution {
            self.may_write(entity, changes.keys())?;
        }
        let now = self.now();
        let tx = self.cache()?.transaction()?;
        let conflict = Cache::conflict(&tx, id)?.ok_or(ClientError::NotFound)?;
        let local = Cache::local(&tx, entity, id)?.ok_or(ClientError::NotFound)?;
        let settled = settle::resolved(now, &conflict, local, resolution)?;
        if let Resolution::Change(changes) = resolution
            && let Some(local) = &settled.local
        {
            records::check_constraints(&tx, entity, &local.record, changes)?;
        }
        match &settled.local {
            Some(local) => Cache::put_local(&tx, local)?,
            None => Cache::remove_local(&tx, entity, id)?,
        }
        if let Some(op) = &settled.op {
            Cache::enqueue(&tx, op)?;
        }
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
        self.session()?.api.reachable().await
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
        let session = self.session()?;
        match session.token().await {
            Ok(token) => {
                let _ = session.api.logout(&token).await;
            }
            // Revoked: nothing is left to sign out of once the wipe is done.
            Err(ClientError::DeviceRevoked) => {
                return match self.remote_wipe() {
                    ClientError::DeviceRevoked => Ok(()),
                    err => Err(err),
                };
            }
            Err(_) => {}
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
        self.session = None;
        wipe_files(&self.options.home, &profile.id)?;
        self.profile = None;
        Ok(())
    }
}

/// Deletes a profile's keyring entry, then its cache files (db, -wal, -shm), then the profile.
fn wipe_files(home: &Home, profile: &str) -> ClientResult<()> {
    vault::delete(profile)?;
    remove_cache_files(&home.cache_path(profile))?;
    home.remove_profile(profile)
}

fn remove_cache_files(path: &std::path::Path) -> ClientResult<()> {
    for suffix in ["", "-wal", "-shm"] {
        remove_if_present(std::path::Path::new(&format!("{}{suffix}", path.display())))?;
    }
    Ok(())
}
