use async_trait::async_trait;
use chrono::NaiveDate;
use serde_json::{Map, Value};

use outpost_domain::audit::{Actor, AuditEvent, AuditRecord, ChainReport};
use outpost_domain::page::Page;
use outpost_domain::patient::{Patient, PatientFields};
use outpost_domain::record::{Record, to_map};
use outpost_domain::sync::{LocalAuditEvent, Op, OpResult, OpRules, PullResponse, SnapshotLine};
use outpost_domain::{Entity, LocalEventId, PatientId, RecordId, UserId};

use crate::error::{StoreError, StoreResult};
use crate::records::{
    DatabaseStatus, HistoryEntry, PatientQuery, PatientReport, RecordQuery, WriteOutcome,
};

/// One tenant's database. Every read of records and every change appends its event to this
/// tenant's audit chain in the same transaction; changes also write a history row and a
/// change-feed entry (the sync cursor). Every method works for any kind of record, from its
/// description ([`outpost_domain::Kind`]).
#[async_trait]
pub trait TenantStore: Send + Sync {
    /// Creates records of one kind, each with its id, checked as [`crate::plan::creation`]
    /// says and against the kind's constraints. A refusal (`Invalid`, `AlreadyExists`,
    /// `Refused`) leaves nothing written.
    /// Dates are judged by the actor's day (`actor.at`).
    async fn create_records(
        &self,
        entity: Entity,
        records: Vec<(RecordId, Map<String, Value>)>,
        actor: &Actor,
    ) -> StoreResult<Vec<Record>>;
    /// Reads one live record (audited as `<kind>.read`).
    async fn record(
        &self,
        entity: Entity,
        id: RecordId,
        actor: &Actor,
    ) -> StoreResult<Option<Record>>;
    /// Searches or lists live records in the kind's order (audited as `<kind>.search` with
    /// the ids returned).
    async fn list_records(
        &self,
        entity: Entity,
        query: &RecordQuery,
        actor: &Actor,
    ) -> StoreResult<Page<Record>>;
    /// Applies a partial update if `base_version` is current (a stale version is audited as
    /// a failure and answered with the current record).
    async fn update_record(
        &self,
        entity: Entity,
        id: RecordId,
        base_version: i64,
        changes: &Map<String, Value>,
        today: NaiveDate,
        actor: &Actor,
    ) -> StoreResult<WriteOutcome>;
    /// Tombstones a record (history and audit stay) if `base_version` is current or `None`.
    async fn delete_record(
        &self,
        entity: Entity,
        id: RecordId,
        base_version: Option<i64>,
        actor: &Actor,
    ) -> StoreResult<WriteOutcome>;
    /// Which of `ids` name a record of the kind (live or not). Not audited: it reveals no
    /// record data (a bulk import asks it to skip what it already imported).
    async fn existing(
        &self,
        entity: Entity,
        ids: &[RecordId],
    ) -> StoreResult<std::collections::BTreeSet<RecordId>>;
    /// Every version of a live record, oldest first (audited as `<kind>.history`).
    async fn record_history(
        &self,
        entity: Entity,
        id: RecordId,
        actor: &Actor,
    ) -> StoreResult<Option<Vec<HistoryEntry>>>;
    /// A patient's current record (even if deleted), every version and every access
    /// (audited as `report.patient`).
    async fn patient_report(
        &self,
        id: PatientId,
        actor: &Actor,
    ) -> StoreResult<Option<PatientReport>>;

    /// Applies pushed ops in order, each in its own transaction with its history row, audit
    /// event and change-feed entry. Idempotent by `op_id`: a replay returns the stored answer.
    async fn apply_ops(
        &self,
        ops: Vec<Op>,
        rules: OpRules,
        actor: &Actor,
    ) -> StoreResult<Vec<OpResult>>;
    /// Appends events recorded offline to the chain (once per `event_id`), stamped with the
    /// hub's time and keeping the device's time in the details. Returns the ids now in the chain.
    async fn append_local_audit(
        &self,
        events: Vec<LocalAuditEvent>,
        actor: &Actor,
    ) -> StoreResult<Vec<LocalEventId>>;
    /// Changes to records of `kinds` (those the caller reads) after `cursor`, in change-feed
    /// order, at most `limit` of the feed scanned; the returned cursor is the last scanned, so
    /// changes of other kinds are passed over (audited as `sync.pull`, with the ids returned).
    async fn pull(
        &self,
        cursor: i64,
        limit: u32,
        kinds: &[Entity],
        actor: &Actor,
    ) -> StoreResult<PullResponse>;
    /// A consistent snapshot of every live patient and their versions, in batches, read on a
    /// connection of its own so that it does not hold up other requests (audited as
    /// `sync.snapshot`). The first line is `Begin`, the last `End`.
    async fn snapshot(
        &self,
        kinds: &[Entity],
        actor: &Actor,
    ) -> StoreResult<tokio::sync::mpsc::Receiver<StoreResult<Vec<SnapshotLine>>>>;
    /// Every row of the tenant's database, table by table in [`crate::backup::TABLES`] order,
    /// from one consistent snapshot read on a connection of its own: what a backup holds. The
    /// caller audits the copy (it is one operation, not a read per patient).
    async fn export(
        &self,
    ) -> StoreResult<tokio::sync::mpsc::Receiver<StoreResult<crate::backup::Batch>>>;
    /// The newest change-feed sequence number.
    async fn cursor(&self) -> StoreResult<i64>;

    async fn append_audit(&self, event: AuditEvent) -> StoreResult<i64>;
    async fn verify_audit(&self) -> StoreResult<ChainReport>;
    /// Events performed by a user, newest last.
    async fn audit_of_user(&self, user: UserId, limit: u32) -> StoreResult<Vec<AuditRecord>>;

    async fn status(&self) -> DatabaseStatus;
}

/// Patients through the generic methods, typed, for the hub's patient routes, the demo and
/// the tools.
impl dyn TenantStore {
    /// Creates patients with fresh ids.
    pub async fn create_patients(
        &self,
        patients: Vec<PatientFields>,
        actor: &Actor,
    ) -> StoreResult<Vec<Patient>> {
        let records = patients
            .iter()
            .map(|fields| (PatientId::generate().into(), to_map(fields)))
            .collect();
        self.create_records(Entity::Patient, records, actor)
            .await?
            .iter()
            .map(typed)
            .collect()
    }

    /// Reads one live patient (audited as `patient.read`).
    pub async fn patient(&self, id: PatientId, actor: &Actor) -> StoreResult<Option<Patient>> {
        self.record(Entity::Patient, id.into(), actor)
            .await?
            .as_ref()
            .map(typed)
            .transpose()
    }

    /// Searches or lists live patients by name (audited as `patient.search`).
    pub async fn search_patients(
        &self,
        query: &PatientQuery,
        actor: &Actor,
    ) -> StoreResult<Page<Patient>> {
        let page = self
            .list_records(Entity::Patient, &query.to_records(), actor)
            .await?;
        Ok(Page {
            items: page.items.iter().map(typed).collect::<StoreResult<_>>()?,
            next_cursor: page.next_cursor,
        })
    }

    /// Applies a partial update to a patient if `base_version` is current.
    pub async fn update_patient(
        &self,
        id: PatientId,
        base_version: i64,
        changes: &Map<String, Value>,
        today: NaiveDate,
        actor: &Actor,
    ) -> StoreResult<WriteOutcome> {
        self.update_record(
            Entity::Patient,
            id.into(),
            base_version,
            changes,
            today,
            actor,
        )
        .await
    }

    /// Tombstones a patient if `base_version` is current or `None`.
    pub async fn delete_patient(
        &self,
        id: PatientId,
        base_version: Option<i64>,
        actor: &Actor,
    ) -> StoreResult<WriteOutcome> {
        self.delete_record(Entity::Patient, id.into(), base_version, actor)
            .await
    }

    /// Every version of a live patient, oldest first (audited as `patient.history`).
    pub async fn patient_history(
        &self,
        id: PatientId,
        actor: &Actor,
    ) -> StoreResult<Option<Vec<HistoryEntry>>> {
        self.record_history(Entity::Patient, id.into(), actor).await
    }
}

/// The typed view of a stored record.
pub fn typed<T: serde::de::DeserializeOwned>(record: &Record) -> StoreResult<T> {
    record.to_typed().map_err(|e| {
        StoreError::Corrupt(format!(
            "a stored record does not read ({:?})",
            e.classify()
        ))
    })
}
