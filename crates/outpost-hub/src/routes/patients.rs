//! Patient records in the caller's tenant. Clinical fields are removed from every answer for
//! roles without `patient.read_clinical`, and such roles may not write them either.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Value, json};

use outpost_domain::page::Page;
use outpost_domain::patient::{
    MAX_QUERY_CHARS, Patient, PatientFields, PatientPatch, touches_clinical,
};
use outpost_domain::{Entity, ErrorCode, PatientId, Permission, Record};
use outpost_store::{HistoryEntry, PatientQuery, TenantStore, WriteOutcome, typed};

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::principal::Principal;
use crate::routes::{records, views};
use crate::state::AppState;

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 500;

/// The caller's tenant store.
pub async fn tenant_store(
    state: &AppState,
    principal: &Principal,
) -> ApiResult<Arc<dyn TenantStore>> {
    Ok(state.store.tenant(principal.tenant()?).await?)
}

/// What the caller may see of a patient.
fn view(principal: &Principal, mut patient: Patient) -> Patient {
    if !principal.can(Permission::PatientReadClinical) {
        patient.fields.redact_clinical();
    }
    patient
}

/// What the caller may see of a version.
pub fn view_history(principal: &Principal, entry: HistoryEntry) -> HistoryEntry {
    views::history(principal, Entity::Patient, entry)
}

/// A stored record of the patient kind, typed.
fn patient(record: &Record) -> ApiResult<Patient> {
    Ok(typed(record)?)
}

fn clinical_write_denied() -> ApiError {
    ApiError::forbidden("your role may not write clinical fields")
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    q: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// `GET /v1/patients?q=&limit=&cursor=`.
#[utoipa::path(
    get,
    path = "/v1/patients",
    operation_id = "list_patients",
    tag = "patients",
    params(ListQuery),
    responses((status = 200, description = "Patients in name order", body = Page<Patient>))
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Json<Page<Patient>>> {
    principal.require(Permission::PatientRead)?;
    if query
        .q
        .as_ref()
        .is_some_and(|q| q.chars().count() > MAX_QUERY_CHARS)
    {
        return Err(ApiError::invalid(format!(
            "parameter `q`: at most {MAX_QUERY_CHARS} characters"
        )));
    }
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "parameter `limit`: between 1 and {MAX_LIMIT}"
        )));
    }
    let after = records::cursor(query.cursor.as_deref())?;
    let store = tenant_store(&state, &principal).await?;
    let page = store
        .search_patients(
            &PatientQuery {
                q: query.q.filter(|q| !q.trim().is_empty()),
                limit,
                after,
            },
            &principal.actor(),
        )
        .await?;
    Ok(Json(Page {
        items: page
            .items
            .into_iter()
            .map(|p| view(&principal, p))
            .collect(),
        next_cursor: page.next_cursor.map(|c| URL_SAFE_NO_PAD.encode(c)),
    }))
}

/// `POST /v1/patients`.
#[utoipa::path(
    post,
    path = "/v1/patients",
    operation_id = "create_patient",
    tag = "patients",
    request_body = PatientFields,
    responses((status = 201, description = "Created", body = Patient))
)]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(fields): ApiJson<PatientFields>,
) -> ApiResult<(StatusCode, Json<Patient>)> {
    principal.require(Permission::PatientWrite)?;
    principal.require_writable()?;
    if fields.has_clinical() && !principal.can(Permission::PatientReadClinical) {
        return Err(clinical_write_denied());
    }
    fields.validate(principal.now.date_naive())?;
    let store = tenant_store(&state, &principal).await?;
    let mut created = store
        .create_patients(vec![fields], &principal.actor())
        .await?;
    let patient = created.pop().ok_or_else(ApiError::internal)?;
    state.announce_changes(principal.tenant()?).await;
    Ok((StatusCode::CREATED, Json(view(&principal, patient))))
}

/// `GET /v1/patients/{id}`.
#[utoipa::path(
    get,
    path = "/v1/patients/{id}",
    operation_id = "get_patient",
    tag = "patients",
    params(("id" = PatientId, Path)),
    responses((status = 200, description = "The patient (clinical fields only for roles that may read them)", body = Patient))
)]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<PatientId>,
) -> ApiResult<Json<Patient>> {
    principal.require(Permission::PatientRead)?;
    let store = tenant_store(&state, &principal).await?;
    let patient = store.patient(id, &principal.actor()).await?;
    patient
        .map(|p| Json(view(&principal, p)))
        .ok_or_else(ApiError::not_found)
}

fn conflict(principal: &Principal, current: &Record) -> ApiError {
    let current = patient(current)
        .ok()
        .and_then(|p| serde_json::to_value(view(principal, p)).ok())
        .unwrap_or(Value::Null);
    ApiError::new(
        ErrorCode::VersionConflict,
        "the patient was changed since the version you edited",
    )
    .with("current", current)
}

/// `PATCH /v1/patients/{id}` with `version`; 409 with the current record when stale.
#[utoipa::path(
    patch,
    path = "/v1/patients/{id}",
    operation_id = "update_patient",
    tag = "patients",
    params(("id" = PatientId, Path)),
    request_body = PatientPatch,
    responses((status = 200, description = "Updated", body = Patient))
)]
pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<PatientId>,
    ApiJson(patch): ApiJson<PatientPatch>,
) -> ApiResult<Json<Patient>> {
    principal.require(Permission::PatientWrite)?;
    principal.require_writable()?;
    if touches_clinical(patch.changes.keys()) && !principal.can(Permission::PatientReadClinical) {
        return Err(clinical_write_denied());
    }
    if let Some(unknown) = patch
        .changes
        .keys()
        .find(|k| outpost_domain::patient::KIND.field(k).is_none())
    {
        return Err(ApiError::invalid(format!("unknown field `{unknown}`")));
    }
    let store = tenant_store(&state, &principal).await?;
    let outcome = store
        .update_patient(
            id,
            patch.version,
            &patch.changes,
            principal.now.date_naive(),
            &principal.actor(),
        )
        .await?;
    match outcome {
        WriteOutcome::Done(record) => {
            state.announce_changes(principal.tenant()?).await;
            Ok(Json(view(&principal, patient(&record)?)))
        }
        WriteOutcome::Stale(current) => Err(conflict(&principal, &current)),
        WriteOutcome::NotFound => Err(ApiError::not_found()),
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    version: Option<i64>,
}

/// `DELETE /v1/patients/{id}[?version=N]`: a tombstone; history and audit stay.
#[utoipa::path(
    delete,
    path = "/v1/patients/{id}",
    operation_id = "delete_patient",
    tag = "patients",
    params(("id" = PatientId, Path), DeleteQuery),
    responses((status = 204, description = "Deleted (a tombstone)"))
)]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<PatientId>,
    ApiQuery(query): ApiQuery<DeleteQuery>,
) -> ApiResult<StatusCode> {
    principal.require(Permission::PatientDelete)?;
    principal.require_writable()?;
    let store = tenant_store(&state, &principal).await?;
    match store
        .delete_patient(id, query.version, &principal.actor())
        .await?
    {
        WriteOutcome::Done(_) => {
            state.announce_changes(principal.tenant()?).await;
            Ok(StatusCode::NO_CONTENT)
        }
        WriteOutcome::Stale(current) => Err(conflict(&principal, &current)),
        WriteOutcome::NotFound => Err(ApiError::not_found()),
    }
}

/// `GET /v1/patients/{id}/history`.
#[utoipa::path(
    get,
    path = "/v1/patients/{id}/history",
    operation_id = "patient_history",
    tag = "patients",
    params(("id" = PatientId, Path)),
    responses((status = 200, description = "Every version, oldest first", body = Page<HistoryEntry>))
)]
pub async fn history(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<PatientId>,
) -> ApiResult<Json<Value>> {
    principal.require(Permission::PatientRead)?;
    let store = tenant_store(&state, &principal).await?;
    let entries = store
        .patient_history(id, &principal.actor())
        .await?
        .ok_or_else(ApiError::not_found)?;
    let items: Vec<HistoryEntry> = entries
        .into_iter()
        .map(|e| view_history(&principal, e))
        .collect();
    Ok(Json(json!({ "items": items, "next_cursor": null })))
}

/// Used by the patient report.
pub fn patient_view(principal: &Principal, patient: Patient) -> Patient {
    view(principal, patient)
}
