//! `tenants/<id>.db`: the embedded implementation of [`TenantStore`].

use async_trait::async_trait;
use chrono::NaiveDate;
use rusqlite::OptionalExtension;
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use outpost_domain::LocalEventId;
use outpost_domain::audit::{Actor, AuditEvent, AuditRecord, ChainReport, Outcome};
use outpost_domain::page::Page;
use outpost_domain::record::Record;
use outpost_domain::sync::{
    LocalAuditEvent, Op, OpResult, OpRules, OpStatus, PullResponse, SnapshotLine,
};
use outpost_domain::{Entity, PatientId, RecordId, TenantId, UserId};
use outpost_store::backup::Batch;
use outpost_store::changes::{search_event, snapshot_event, stale_event};
use outpost_store::plan::{self, Refused};
use outpost_store::{
    DatabaseStatus, HistoryEntry, PatientReport, RecordCursor, RecordQuery, StoreError,
    StoreResult, TenantStore, WriteOutcome, typed,
};

use crate::conn::Db;
use crate::sql::OrBackend;
use crate::{audit, constraints, copy, history, open_encrypted, records, status, sync};

/// One tenant's database file.
pub struct SqliteTenant {
    pub(crate) db: Db,
    /// Kept to open extra read connections (snapshots) on the same file.
    pub(crate) key: crate::keys::Key,
    pub(crate) tenant_id: TenantId,
    pub(crate) slug: String,
}

#[async_trait]
impl TenantStore for SqliteTenant {
    async fn create_records(
        &self,
        entity: Entity,
        records: Vec<(RecordId, Map<String, Value>)>,
        actor: &Actor,
    ) -> StoreResult<Vec<Record>> {
        let actor = actor.clone();
        let kind = entity.kind();
        self.db
            .call(move |conn| {
                let tx = conn.transaction().db()?;
                let mut created = Vec::with_capacity(records.len());
                for (id, fields) in records {
                    if records::load(&tx, kind, id)?.is_some() {
                        return Err(StoreError::AlreadyExists("id"));
                    }
                    let write = plan::creation(kind, &fields, actor.at.date_naive())?;
                    if let Err(refusal) = constraints::check(&tx, kind, id, &write)? {
                        return Err(Refused::Rule(refusal).into());
                    }
                    created.push(records::insert(&tx, kind, id, write, &actor, None)?);
                }
                tx.commit().db()?;
                Ok(created)
            })
            .await
    }

    async fn record(
        &self,
        entity: Entity,
        id: RecordId,
        actor: &Actor,
    ) -> StoreResult<Option<Record>> {
        let actor = actor.clone();
        let kind = entity.kind();
        self.db
            .call(move |conn| {
                let tx = conn.transaction().db()?;
                let record = records::load_live(&tx, kind, id)?;
                let outcome = if record.is_some() {
                    Outcome::Success
                } else {
                    Outcome::Failure
                };
                audit::append(
                    &tx,
                    &actor
                        .event(format!("{}.read", kind.name), outcome)
                        .entity(kind.name, id),
                )?;
                tx.commit().db()?;
                Ok(record)
            })
            .await
    }

    async fn list_records(
        &self,
        entity: Entity,
        query: &RecordQuery,
        actor: &Actor,
    ) -> StoreResult<Page<Record>> {
        let query = query.clone();
        let actor = actor.clone();
        let kind = entity.kind();
        self.db
            .call(move |conn| {
                let tx = conn.transaction().db()?;
                let (items, more) = records::list(&tx, kind, &query)?;
                let next = more
                    .then(|| items.last().map(|r| RecordCursor::after(kind, r)))
                    .flatten();
                let ids: Vec<String> = items.iter().map(|r| r.id.to_string()).collect();
                audit::append(&tx, &search_event(&actor, kind, query.q.as_deref(), &ids))?;
                tx.commit().db()?;
                Ok(Page {
                    items,
                    next_cursor: next.map(|c| serde_json::to_string(&c).unwrap_or_default()),
                })
            })
            .await
    }

    async fn update_record(
        &self,
        entity: Entity,
        id: RecordId,
        base_version: i64,
        changes: &Map<String, Value>,
        today: NaiveDate,
        actor: &Actor,
    ) -> StoreResult<WriteOutcome> {
        let (changes, actor) = (changes.clone(), actor.clone());
        let kind = entity.kind();
        self.db
            .call(move |conn| {
                let tx = conn.transaction().db()?;
                let Some(current) = records::load_live(&tx, kind, id)? else {
                    return Ok(WriteOutcome::NotFound);
                };
                if current.version != base_version {
                    audit::append(
                        &tx,
                        &stale_event(&actor, kind, "update", &current, base_version),
                    )?;
                    tx.commit().db()?;
                    return Ok(WriteOutcome::Stale(current));
                }
                let write =
                    plan::update(kind, current.clone(), &changes, today, OpStatus::Applied)?;
                if write.changes.is_empty() {
                    return Ok(WriteOutcome::Done(current));
                }
                if let Err(refusal) = constraints::check(&tx, kind, id, &write)? {
                    return Err(Refused::Rule(refusal).into());
                }
                let record = records::update(&tx, kind, current, write, &actor, None)?;
                tx.commit().db()?;
                Ok(WriteOutcome::Done(record))
            })
            .await
    }

    async fn delete_record(
        &self,
        entity: Entity,
        id: RecordId,
        base_version: Option<i64>,
        actor: &Actor,
    ) -> StoreResult<WriteOutcome> {
        let actor = actor.clone();
        let kind = entity.kind();
        self.db
            .call(move |conn| {
                let tx = conn.transaction().db()?;
                let Some(current) = records::load_live(&tx, kind, id)? else {
                    return Ok(WriteOutcome::NotFound);
                };
                if let Some(base) = base_version.filter(|v| *v != current.version) {
                    audit::append(&tx, &stale_event(&actor, kind, "delete", &current, base))?;
                    tx.commit().db()?;
                    return Ok(WriteOutcome::Stale(current));
                }
                if let Some(refusal) = kind.deletion_refusal(&current.fields) {
                    return Err(StoreError::Refused {
                        code: refusal.code,
                        message: refusal.message,
                    });
                }
                let record = records::delete(&tx, kind, current, &actor, None)?;
                tx.commit().db()?;
                Ok(WriteOutcome::Done(record))
            })
            .await
    }

    async fn existing(
        &self,
        entity: Entity,
        ids: &[RecordId],
    ) -> StoreResult<std::collections::BTreeSet<RecordId>> {
        let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let kind = entity.kind();
        self.db
            .call(move |conn| {
                let mut stmt = conn
                    .prepare_cached(&format!("SELECT id FROM {} WHERE id = ?1", kind.table))
                    .db()?;
                let mut found = std::collections::BTreeSet::new();
                for id in &ids {
                    if let Some(id) = stmt
                        .query_row([id], |r| r.get::<_, String>(0))
                        .optional()
                        .db()?
                    {
                        found.insert(
                            id.parse()
                                .map_err(|_| StoreError::Corrupt("a record id".into()))?,
                        );
                    }
                }
                Ok(found)
            })
            .await
    }

    async fn record_history(
        &self,
        entity: Entity,
        id: RecordId,
        actor: &Actor,
    ) -> StoreResult<Option<Vec<HistoryEntry>>> {
        let actor = actor.clone();
        let kind = entity.kind();
        self.db
            .call(move |conn| {
                let tx = conn.transaction().db()?;
                if records::load_live(&tx, kind, id)?.is_none() {
                    return Ok(None);
                }
                let entries = history::of_record(&tx, kind, id)?;
                audit::append(
                    &tx,
                    &actor
                        .event(format!("{}.history", kind.name), Outcome::Success)
                        .entity(kind.name, id),
                )?;
                tx.commit().db()?;
                Ok(Some(entries))
            })
            .await
    }

    async fn patient_report(
        &self,
        id: PatientId,
        actor: &Actor,
    ) -> StoreResult<Option<PatientReport>> {
        let actor = actor.clone();
        let kind = Entity::Patient.kind();
        self.db
            .call(move |conn| {
                let tx = conn.transaction().db()?;
                let Some(stored) = records::load(&tx, kind, id.into())? else {
                    return Ok(None);
                };
                let versions = history::of_record(&tx, kind, id.into())?;
                let accesses = audit::of_entity(&tx, kind.name, &id.to_string())?;
                audit::append(
                    &tx,
                    &actor
                        .event("report.patient", Outcome::Success)
                        .entity(kind.name, id),
                )?;
                tx.commit().db()?;
                Ok(Some(PatientReport {
                    patient: typed(&stored.record)?,
                    deleted_at: stored.deleted.then_some(stored.record.updated_at),
                    versions,
                    accesses,
                }))
            })
            .await
    }

    async fn apply_ops(
        &self,
        ops: Vec<Op>,
        rules: OpRules,
        actor: &Actor,
    ) -> StoreResult<Vec<OpResult>> {
        let actor = actor.clone();
        self.db
            .call(move |conn| sync::apply_batch(conn, &ops, &rules, &actor))
            .await
    }

    async fn append_local_audit(
        &self,
        events: Vec<LocalAuditEvent>,
        actor: &Actor,
    ) -> StoreResult<Vec<LocalEventId>> {
        let actor = actor.clone();
        self.db
            .call(move |conn| sync::append_local(conn, &events, &actor))
            .await
    }

    async fn pull(
        &self,
        cursor: i64,
        limit: u32,
        kinds: &[Entity],
        actor: &Actor,
    ) -> StoreResult<PullResponse> {
        let (kinds, actor) = (kinds.to_vec(), actor.clone());
        self.db
            .call(move |conn| sync::pull(conn, cursor, limit, &kinds, &actor))
            .await
    }

    async fn snapshot(
        &self,
        kinds: &[Entity],
        actor: &Actor,
    ) -> StoreResult<mpsc::Receiver<StoreResult<Vec<SnapshotLine>>>> {
        let (path, key) = (self.db.path().to_path_buf(), self.key.clone());
        let kinds = kinds.to_vec();
        let counted = kinds.clone();
        let (conn, begin) =
            tokio::task::spawn_blocking(move || sync::begin_snapshot(&path, &key, &counted))
                .await
                .map_err(StoreError::backend)??;
        if let SnapshotLine::Begin {
            cursor, records, ..
        } = &begin
        {
            self.append_audit(snapshot_event(actor, *cursor, *records))
                .await?;
        }
        let (tx, rx) = mpsc::channel(8);
        tx.send(Ok(vec![begin]))
            .await
            .map_err(|_| StoreError::Corrupt("snapshot receiver closed".into()))?;
        tokio::task::spawn_blocking(move || sync::stream_snapshot(conn, &kinds, tx));
        Ok(rx)
    }

    async fn export(&self) -> StoreResult<mpsc::Receiver<StoreResult<Batch>>> {
        let (path, key) = (self.db.path().to_path_buf(), self.key.clone());
        let (tx, rx) = mpsc::channel(4);
        tokio::task::spawn_blocking(move || {
            let begun = open_encrypted(&path, &key)
                .and_then(|conn| conn.execute_batch("BEGIN").db().map(|()| conn));
            match begun {
                Ok(conn) => copy::export(conn, tx),
                Err(err) => drop(tx.blocking_send(Err(err))),
            }
        });
        Ok(rx)
    }

    async fn cursor(&self) -> StoreResult<i64> {
        self.db.call(|conn| sync::cursor(conn)).await
    }

    async fn append_audit(&self, event: AuditEvent) -> StoreResult<i64> {
        self.db
            .call(move |conn| audit::append_alone(conn, &event))
            .await
    }

    async fn verify_audit(&self) -> StoreResult<ChainReport> {
        let slug = self.slug.clone();
        self.db.call(move |conn| audit::verify(conn, &slug)).await
    }

    async fn audit_of_user(&self, user: UserId, limit: u32) -> StoreResult<Vec<AuditRecord>> {
        self.db
            .call(move |conn| audit::of_actor(conn, user, limit))
            .await
    }

    async fn status(&self) -> DatabaseStatus {
        status::of(&self.db, &self.slug, Some(self.tenant_id)).await
    }
}
