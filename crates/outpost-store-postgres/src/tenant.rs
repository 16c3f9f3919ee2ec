//! One tenant's database: the PostgreSQL implementation of [`TenantStore`].

use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDate;
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use outpost_domain::audit::{Actor, AuditEvent, AuditRecord, ChainReport, Outcome};
use outpost_domain::page::Page;
use outpost_domain::record::Record;
use outpost_domain::sync::{
    LocalAuditEvent, Op, OpResult, OpRules, OpStatus, PullResponse, SnapshotLine,
};
use outpost_domain::{Entity, LocalEventId, PatientId, RecordId, TenantId, UserId};
use outpost_store::backup::Batch;
use outpost_store::changes::{search_event, stale_event};
use outpost_store::plan::{self, Refused};
use outpost_store::{
    DatabaseStatus, HistoryEntry, PatientReport, RecordCursor, RecordQuery, StoreError,
    StoreResult, TenantStore, WriteOutcome, typed,
};

use crate::router::{Conn, Router, Target, Use};
use crate::sql::begin;
use crate::{OrBackend, audit, constraints, copy, history, records, status, sync};

/// One tenant's database, reached through the router.
pub struct PgTenant {
    pub(crate) router: Arc<Router>,
    pub(crate) target: Target,
    pub(crate) tenant_id: TenantId,
    pub(crate) slug: String,
    /// The store's open handles, so that a handle whose database is gone (moved by another
    /// instance whose announcement did not arrive) drops out and the next request reads the
    /// registry again.
    pub(crate) open_tenants: std::sync::Weak<crate::OpenTenants>,
}

impl PgTenant {
    pub(crate) async fn conn(&self) -> StoreResult<Conn> {
        self.conn_for(Use::Request).await
    }

    pub(crate) async fn conn_for(&self, usage: Use) -> StoreResult<Conn> {
        let conn = self.router.get_for(&self.target, usage).await;
        if let Err(err) = &conn
            && missing_database(err)
            && let Some(open) = self.open_tenants.upgrade()
        {
            crate::forget(&open, self.tenant_id);
        }
        conn
    }
}

/// Whether connecting failed because the database no longer exists.
fn missing_database(err: &StoreError) -> bool {
    let StoreError::Backend(source) = err else {
        return false;
    };
    source
        .downcast_ref::<tokio_postgres::Error>()
        .and_then(tokio_postgres::Error::code)
        == Some(&tokio_postgres::error::SqlState::INVALID_CATALOG_NAME)
}

#[async_trait]
impl TenantStore for PgTenant {
    async fn create_records(
        &self,
        entity: Entity,
        new: Vec<(RecordId, Map<String, Value>)>,
        actor: &Actor,
    ) -> StoreResult<Vec<Record>> {
        let kind = entity.kind();
        let mut conn = self.conn().await?;
        let tx = begin(&mut conn).await?;
        let mut created = Vec::with_capacity(new.len());
        for (id, fields) in new {
            if records::load(&tx, kind, id).await?.is_some() {
                return Err(StoreError::AlreadyExists("id"));
            }
            let write = plan::creation(kind, &fields, actor.at.date_naive())?;
            if let Err(refusal) = constraints::check(&tx, kind, id, &write).await? {
                return Err(Refused::Rule(refusal).into());
            }
            created.push(records::insert(&tx, kind, id, write, actor, None).await?);
        }
        tx.commit().await.db()?;
        Ok(created)
    }

    async fn record(
        &self,
        entity: Entity,
        id: RecordId,
        actor: &Actor,
    ) -> StoreResult<Option<Record>> {
        let kind = entity.kind();
        let mut conn = self.conn().await?;
        let tx = begin(&mut conn).await?;
        let record = records::load_live(&tx, kind, id).await?;
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
        )
        .await?;
        tx.commit().await.db()?;
        Ok(record)
    }

    async fn list_records(
        &self,
        entity: Entity,
        query: &RecordQuery,
        actor: &Actor,
    ) -> StoreResult<Page<Record>> {
        let kind = entity.kind();
        let mut conn = self.conn().await?;
        let tx = begin(&mut conn).await?;
        let (items, more) = records::list(&tx, kind, query).await?;
        let next = more
            .then(|| items.last().map(|r| RecordCursor::after(kind, r)))
            .flatten();
        let ids: Vec<String> = items.iter().map(|r| r.id.to_string()).collect();
        audit::append(&tx, &search_event(actor, kind, query.q.as_deref(), &ids)).await?;
        tx.commit().await.db()?;
        Ok(Page {
            items,
            next_cursor: next.map(|c| serde_json::to_string(&c).unwrap_or_default()),
        })
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
        let kind = entity.kind();
        let mut conn = self.conn().await?;
        let tx = begin(&mut conn).await?;
        let Some(current) = records::load_live(&tx, kind, id).await? else {
            return Ok(WriteOutcome::NotFound);
        };
        if current.version != base_version {
            audit::append(
                &tx,
                &stale_event(actor, kind, "update", &current, base_version),
            )
            .await?;
            tx.commit().await.db()?;
            return Ok(WriteOutcome::Stale(current));
        }
        let write = plan::update(kind, current.clone(), changes, today, OpStatus::Applied)?;
        if write.changes.is_empty() {
            return Ok(WriteOutcome::Done(current));
        }
        if let Err(refusal) = constraints::check(&tx, kind, id, &write).await? {
            return Err(Refused::Rule(refusal).into());
        }
        let record = records::update(&tx, kind, current, write, actor, None).await?;
        tx.commit().await.db()?;
        Ok(WriteOutcome::Done(record))
    }

    async fn delete_record(
        &self,
        entity: Entity,
        id: RecordId,
        base_version: Option<i64>,
        actor: &Actor,
    ) -> StoreResult<WriteOutcome> {
        let kind = entity.kind();
        let mut conn = self.conn().await?;
        let tx = begin(&mut conn).await?;
        let Some(current) = records::load_live(&tx, kind, id).await? else {
            return Ok(WriteOutcome::NotFound);
        };
        if let Some(base) = base_version.filter(|v| *v != current.version) {
            audit::append(&tx, &stale_event(actor, kind, "delete", &current, base)).await?;
            tx.commit().await.db()?;
            return Ok(WriteOutcome::Stale(current));
        }
        if let Some(refusal) = kind.deletion_refusal(&current.fields) {
            return Err(StoreError::Refused {
                code: refusal.code,
                message: refusal.message,
            });
        }
        let record = records::delete(&tx, kind, current, actor, None).await?;
        tx.commit().await.db()?;
        Ok(WriteOutcome::Done(record))
    }

    async fn existing(
        &self,
        entity: Entity,
        ids: &[RecordId],
    ) -> StoreResult<std::collections::BTreeSet<RecordId>> {
        let uuids: Vec<uuid::Uuid> = ids.iter().map(RecordId::as_uuid).collect();
        let conn = self.conn().await?;
        let rows = conn
            .query(
                &format!("SELECT id FROM {} WHERE id = ANY($1)", entity.kind().table),
                &[&uuids],
            )
            .await
            .db()?;
        rows.iter().map(|row| crate::sql::id(row, 0)).collect()
    }

    async fn record_history(
        &self,
        entity: Entity,
        id: RecordId,
        actor: &Actor,
    ) -> StoreResult<Option<Vec<HistoryEntry>>> {
        let kind = entity.kind();
        let mut conn = self.conn().await?;
        let tx = begin(&mut conn).await?;
        if records::load_live(&tx, kind, id).await?.is_none() {
            return Ok(None);
        }
        let entries = history::of_record(&tx, kind, id).await?;
        audit::append(
            &tx,
            &actor
                .event(format!("{}.history", kind.name), Outcome::Success)
                .entity(kind.name, id),
        )
        .await?;
        tx.commit().await.db()?;
        Ok(Some(entries))
    }

    async fn patient_report(
        &self,
        id: PatientId,
        actor: &Actor,
    ) -> StoreResult<Option<PatientReport>> {
        let kind = Entity::Patient.kind();
        let mut conn = self.conn().await?;
        let tx = begin(&mut conn).await?;
        let Some(stored) = records::load(&tx, kind, id.into()).await? else {
            return Ok(None);
        };
        let versions = history::of_record(&tx, kind, id.into()).await?;
        let accesses = audit::of_entity(&tx, kind.name, &id.to_string()).await?;
        audit::append(
            &tx,
            &actor
                .event("report.patient", Outcome::Success)
                .entity(kind.name, id),
        )
        .await?;
        tx.commit().await.db()?;
        Ok(Some(PatientReport {
            patient: typed(&stored.record)?,
            deleted_at: stored.deleted.then_some(stored.record.updated_at),
            versions,
            accesses,
        }))
    }

    async fn apply_ops(
        &self,
        ops: Vec<Op>,
        rules: OpRules,
        actor: &Actor,
    ) -> StoreResult<Vec<OpResult>> {
        let mut conn = self.conn().await?;
        sync::apply_batch(&mut conn, &ops, &rules, actor).await
    }

    async fn append_local_audit(
        &self,
        events: Vec<LocalAuditEvent>,
        actor: &Actor,
    ) -> StoreResult<Vec<LocalEventId>> {
        let mut conn = self.conn().await?;
        sync::append_local(&mut conn, &events, actor).await
    }

    async fn pull(
        &self,
        cursor: i64,
        limit: u32,
        kinds: &[Entity],
        actor: &Actor,
    ) -> StoreResult<PullResponse> {
        let mut conn = self.conn().await?;
        sync::pull(&mut conn, cursor, limit, kinds, actor).await
    }

    async fn snapshot(
        &self,
        kinds: &[Entity],
        actor: &Actor,
    ) -> StoreResult<mpsc::Receiver<StoreResult<Vec<SnapshotLine>>>> {
        let conn = self.conn_for(Use::Stream).await?;
        sync::snapshot(conn, kinds.to_vec(), actor).await
    }

    async fn export(&self) -> StoreResult<mpsc::Receiver<StoreResult<Batch>>> {
        let mut conn = self.conn_for(Use::Stream).await?;
        conn.enter("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?;
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            if let Err(err) = copy::send_all(&*conn, &tx).await {
                let _ = tx.send(Err(err)).await;
            }
            let _ = conn.leave("COMMIT").await;
        });
        Ok(rx)
    }

    async fn cursor(&self) -> StoreResult<i64> {
        let conn = self.conn().await?;
        sync::cursor(&*conn).await
    }

    async fn append_audit(&self, event: AuditEvent) -> StoreResult<i64> {
        let mut conn = self.conn().await?;
        let tx = begin(&mut conn).await?;
        let seq = audit::append(&tx, &event).await?;
        tx.commit().await.db()?;
        Ok(seq)
    }

    async fn verify_audit(&self) -> StoreResult<ChainReport> {
        let conn = self.conn().await?;
        audit::verify(&*conn, &self.slug).await
    }

    async fn audit_of_user(&self, user: UserId, limit: u32) -> StoreResult<Vec<AuditRecord>> {
        let conn = self.conn().await?;
        audit::of_actor(&*conn, user, limit).await
    }

    async fn status(&self) -> DatabaseStatus {
        status::of(&self.router, &self.target, &self.slug, Some(self.tenant_id)).await
    }
}
