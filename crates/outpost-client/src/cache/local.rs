//! A record of any kind as the cache holds it, and the one way the sync engine reads and writes
//! it: patients live in their own table (ranked by name, indexed by words), every other kind in
//! `records`; the engine does not know which.

use rusqlite::Connection;

use serde::Deserialize;

use outpost_domain::patient::{Patient, PatientFields};
use outpost_domain::record::{HistoryEntry, Record};
use outpost_domain::{Entity, PatientId, RecordId};

use super::Cache;
use super::patients::LocalPatient;
use crate::error::{ClientError, ClientResult};

/// A record with its local bookkeeping.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalRecord {
    pub entity: Entity,
    pub record: Record,
    /// The last version the hub confirmed (`None`: created here, not confirmed yet).
    pub hub_version: Option<i64>,
    /// A tombstone until the hub confirms (or confirmed).
    pub deleted: bool,
    /// A change to it waits for the user (see the conflicts).
    pub conflict: bool,
    /// The hub's last confirmed record, when local changes are pending.
    pub hub_data: Option<Record>,
}

impl LocalRecord {
    /// A record as the hub confirmed it, with no local change pending.
    pub fn confirmed(entity: Entity, record: Record) -> Self {
        Self {
            entity,
            hub_version: Some(record.version),
            record,
            deleted: false,
            conflict: false,
            hub_data: None,
        }
    }

    /// The hub version a local change builds on: the last one the hub confirmed for the
    /// record, or, for a record created here and not confirmed yet, the version its create
    /// gets (1). Every change of a record made before the hub answers names the same base: the
    /// hub leaves the versions this user made on this device out of its comparison, so the
    /// changes stack on each other without conflicting, while any change made elsewhere since
    /// is still seen.
    pub fn base_version(&self) -> i64 {
        self.hub_version.unwrap_or(1)
    }
}

fn corrupt(err: serde_json::Error) -> ClientError {
    ClientError::Corrupt(format!(
        "a cached record does not read ({:?})",
        err.classify()
    ))
}

impl TryFrom<LocalRecord> for LocalPatient {
    type Error = ClientError;

    fn try_from(local: LocalRecord) -> ClientResult<Self> {
        Ok(Self {
            patient: local.record.to_typed().map_err(corrupt)?,
            hub_version: local.hub_version,
            deleted: local.deleted,
            conflict: local.conflict,
            hub_data: local
                .hub_data
                .map(|r| r.to_typed())
                .transpose()
                .map_err(corrupt)?,
        })
    }
}

impl TryFrom<LocalPatient> for LocalRecord {
    type Error = ClientError;

    fn try_from(local: LocalPatient) -> ClientResult<Self> {
        Ok(Self {
            entity: Entity::Patient,
            record: Record::from_typed(&local.patient).map_err(corrupt)?,
            hub_version: local.hub_version,
            deleted: local.deleted,
            conflict: local.conflict,
            hub_data: local
                .hub_data
                .as_ref()
                .map(Record::from_typed)
                .transpose()
                .map_err(corrupt)?,
        })
    }
}

/// The patient a record of the patient kind is: its fields read in place (a first mirror
/// converts every patient, so no copy of them is made).
pub fn patient_of(record: Record) -> ClientResult<Patient> {
    let fields =
        PatientFields::deserialize(serde_json::Value::Object(record.fields)).map_err(|e| {
            ClientError::Corrupt(format!(
                "a patient record does not read ({:?})",
                e.classify()
            ))
        })?;
    Ok(Patient {
        id: record.id.into(),
        fields,
        version: record.version,
        created_at: record.created_at,
        updated_at: record.updated_at,
        updated_by: record.updated_by,
    })
}

impl Cache {
    /// Snapshot records of one kind, confirmed, inside the caller's transaction.
    pub fn insert_snapshot_of(
        tx: &Connection,
        entity: Entity,
        records: Vec<Record>,
    ) -> ClientResult<()> {
        match entity {
            Entity::Patient => {
                let patients = records
                    .into_iter()
                    .map(patient_of)
                    .collect::<ClientResult<Vec<_>>>()?;
                Self::insert_snapshot(tx, &patients, &[])
            }
            _ => Self::insert_snapshot_records(tx, entity, &records, &[]),
        }
    }

    /// Snapshot versions of records of one kind, inside the caller's transaction.
    pub fn insert_history_of(
        tx: &Connection,
        entity: Entity,
        history: &[(RecordId, HistoryEntry)],
    ) -> ClientResult<()> {
        match entity {
            Entity::Patient => {
                let history: Vec<_> = history
                    .iter()
                    .map(|(id, entry)| (PatientId::from(*id), entry.clone()))
                    .collect();
                Self::insert_snapshot(tx, &[], &history)
            }
            _ => Self::insert_snapshot_records(tx, entity, &[], history),
        }
    }

    /// One record of any kind, live or a tombstone.
    pub fn local(
        conn: &Connection,
        entity: Entity,
        id: RecordId,
    ) -> ClientResult<Option<LocalRecord>> {
        match entity {
            Entity::Patient => Self::patient(conn, id.into())?
                .map(LocalRecord::try_from)
                .transpose(),
            _ => Self::record_row(conn, entity, id),
        }
    }

    /// Writes a record (insert or update).
    pub fn put_local(tx: &Connection, local: &LocalRecord) -> ClientResult<()> {
        match local.entity {
            Entity::Patient => Self::put(tx, &LocalPatient::try_from(local.clone())?),
            _ => Self::put_record_row(tx, local, true),
        }
    }

    /// Rewrites a record if it is still here (it may have been removed locally since).
    pub fn replace_local(tx: &Connection, local: &LocalRecord) -> ClientResult<()> {
        match local.entity {
            Entity::Patient => Self::replace(tx, &LocalPatient::try_from(local.clone())?),
            _ => Self::put_record_row(tx, local, false),
        }
    }

    /// Removes a record that never reached the hub.
    pub fn remove_local(tx: &Connection, entity: Entity, id: RecordId) -> ClientResult<()> {
        match entity {
            Entity::Patient => Self::remove(tx, id.into()),
            _ => Self::remove_record_row(tx, entity, id),
        }
    }

    /// Adds (or replaces) one version of a record.
    pub fn add_history_of(
        tx: &Connection,
        entity: Entity,
        id: RecordId,
        entry: &HistoryEntry,
    ) -> ClientResult<()> {
        match entity {
            Entity::Patient => Self::add_history(tx, id.into(), entry),
            _ => Self::add_record_history(tx, entity, id, entry),
        }
    }

    /// Every version of a record, oldest first.
    pub fn history_of(&self, entity: Entity, id: RecordId) -> ClientResult<Vec<HistoryEntry>> {
        match entity {
            Entity::Patient => self.history(id.into()),
            _ => self.record_history(entity, id),
        }
    }
}
