use async_trait::async_trait;
use chrono::NaiveDate;
use serde_json::{Map, Value};

use outpost_domain::audit::{Actor, AuditEvent, AuditRecord, ChainReport};
use outpost_domain::page::Page;
use outpost_domain::patient::{Patient, PatientFields};
use outpost_domain::sync::{LocalAuditEvent, Op, OpResult, OpRules, PullResponse, SnapshotLine};
use outpost_domain::{LocalEventId, PatientId, UserId};

use crate::error::StoreResult;
use crate::records::{DatabaseStatus, HistoryEntry, PatientQuery, PatientReport, WriteOutcome};

/// One tenant's database. Every PHI read and every change appends its event to this tenant's
/// audit chain in the same transaction; changes also write a history row and a change-feed
/// entry (the sync cursor).
#[async_trait]
pub trait TenantStore: Send + Sync {
    /// Creates patients; `Invalid`/`AlreadyExists` (MRN) leave nothing written.
    async fn create_patients(
        &self,
        patients: Vec<PatientFields>,
        actor: &Actor,
    ) -> StoreResult<Vec<Patient>>;
    /// Reads one live patient (audited as `patient.read`).
    async fn patient(&self, id: PatientId, actor: &Actor) -> StoreResult<Option<Patient>>;
    /// Searches or lists live patients ordered by family name, given name, id (audited as
    /// `patient.search` with the ids returned).
    async fn search_patients(
        &self,
        query: &PatientQuery,
        actor: &Actor,
    ) -> StoreResult<Page<Patient>>;
    /// Applies a partial update if `base_version` is current.
    async fn update_patient(
        &self,
        id: PatientId,
        base_version: i64,
        changes: &Map<String, Value>,
        today: NaiveDate,
        actor: &Actor,
    ) -> StoreResult<WriteOutcome>;
    /// Tombstones a patient (history and audit stay) if `base_version` is current or `None`.
    async fn delete_patient(
        &self,
        id: PatientId,
        base_version: Option<i64>,
        actor: &Actor,
    ) -> StoreResult<WriteOutcome>;
    /// Every version of a patient, oldest first (audited as `patient.history`).
    async fn patient_history(
        &self,
        id: PatientId,
        actor: &Actor,
    ) -> StoreResult<Option<Vec<HistoryEntry>>>;
    /// Current record (even if deleted), every version and every access (audited).
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
    /// Changes after `cursor` in change-feed order (audited as `sync.pull`).
    async fn pull(&self, cursor: i64, limit: u32, actor: &Actor) -> StoreResult<PullResponse>;
    /// A consistent snapshot of every live patient and their versions, in batches, read on a
    /// connection of its own so that it does not hold up other requests (audited as
    /// `sync.snapshot`). The first line is `Begin`, the last `End`.
    async fn snapshot(
        &self,
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
