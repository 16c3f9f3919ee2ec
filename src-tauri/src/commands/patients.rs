//! Patients, read from and written to the local mirror; each change wakes the background
//! sync.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use ts_rs::TS;

use outpost_domain::patient::{HistoryEntry, Patient, PatientFields};
use outpost_domain::{PatientId, Permission};

use crate::error::IpcResult;
use crate::state::Desktop;

#[derive(Debug, Clone, Deserialize, TS)]
pub struct Search {
    pub query: String,
    pub limit: u32,
}

#[derive(Debug, Clone, Deserialize, TS)]
pub struct PatientRef {
    pub id: PatientId,
}

#[derive(Debug, Clone, Deserialize, TS)]
pub struct Edit {
    pub id: PatientId,
    /// Field name → new value; `null` clears an optional field.
    #[ts(type = "Record<string, unknown>")]
    pub changes: Map<String, Value>,
}

/// The versions the hub has confirmed, oldest first, and whether changes made here are still
/// on their way.
#[derive(Debug, Clone, Serialize, TS)]
pub struct PatientHistory {
    pub entries: Vec<HistoryEntry>,
    pub pending: bool,
}

/// A patient and what the signed-in user may do with it.
#[derive(Debug, Clone, Serialize, TS)]
pub struct PatientDetail {
    pub patient: Patient,
    /// Local changes not yet on the hub.
    pub pending: bool,
    /// The hub did not apply a local change: see the conflicts screen.
    pub conflict: bool,
    pub can_edit: bool,
    pub can_delete: bool,
    /// Whether clinical fields are shown and editable for this role.
    pub clinical: bool,
}

/// Most rows a search answers.
const MAX_RESULTS: u32 = 200;

pub async fn search(desktop: &Desktop, req: Search) -> IpcResult<Vec<Patient>> {
    let limit = req.limit.clamp(1, MAX_RESULTS);
    Ok(desktop.client.lock().await.search(&req.query, limit)?)
}

pub async fn patient(desktop: &Desktop, req: PatientRef) -> IpcResult<PatientDetail> {
    let mut client = desktop.client.lock().await;
    let local = client.show(req.id)?;
    let can = |p: Permission| client.profile().is_some_and(|profile| profile.can(p));
    Ok(PatientDetail {
        pending: local.hub_version != Some(local.patient.version),
        conflict: local.conflict,
        can_edit: can(Permission::PatientWrite),
        can_delete: can(Permission::PatientDelete),
        clinical: can(Permission::PatientReadClinical),
        patient: local.patient,
    })
}

pub async fn history(desktop: &Desktop, req: PatientRef) -> IpcResult<PatientHistory> {
    let mut client = desktop.client.lock().await;
    Ok(PatientHistory {
        entries: client.history(req.id)?,
        pending: client.has_pending(req.id)?,
    })
}

pub async fn create_patient(desktop: &Desktop, req: PatientFields) -> IpcResult<Patient> {
    desktop.write(|client| client.add(req)).await
}

pub async fn edit_patient(desktop: &Desktop, req: Edit) -> IpcResult<Patient> {
    desktop
        .write(|client| client.edit(req.id, &req.changes))
        .await
}

pub async fn delete_patient(desktop: &Desktop, req: PatientRef) -> IpcResult<()> {
    desktop.write(|client| client.delete(req.id)).await
}
