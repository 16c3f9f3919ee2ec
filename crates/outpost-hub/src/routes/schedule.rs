//! The clinic's schedule (DESIGN.md, "The clinic's schedule"): practitioners, appointments and
//! the clinic calendar, through the handlers every kind shares. Booking, moving (a PATCH of
//! `start`, `end` or `practitioner_id`) and status changes (a PATCH of `status`) are refused
//! with `slot_taken`, `outside_working_hours`, `clinic_closed` or `invalid_transition` by the
//! store, in the writing transaction.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use outpost_domain::page::Page;
use outpost_domain::record::{HistoryEntry, RecordPatch, to_map};
use outpost_domain::schedule::appointment::{Appointment, AppointmentFields, AppointmentStatus};
use outpost_domain::schedule::calendar::{CalendarEntry, CalendarEntryFields};
use outpost_domain::schedule::practitioner::{Practitioner, PractitionerFields};
use outpost_domain::{AppointmentId, CalendarEntryId, Entity, PatientId, PractitionerId};
use outpost_store::{Filter, FilterOp, RecordQuery};

use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::principal::Principal;
use crate::routes::records;
use crate::state::AppState;

/// `?version=` of a delete.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    version: Option<i64>,
}

/// A listing's page.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Case-insensitive prefix of a word of the name.
    q: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

impl PageQuery {
    fn records(self) -> ApiResult<RecordQuery> {
        Ok(RecordQuery {
            q: self.q.filter(|q| !q.trim().is_empty()),
            filters: Vec::new(),
            limit: records::limit(self.limit)?,
            after: records::cursor(self.cursor.as_deref())?,
        })
    }
}

/// `GET /v1/practitioners`.
#[utoipa::path(get, path = "/v1/practitioners", operation_id = "list_practitioners", tag = "schedule",
    params(PageQuery),
    responses((status = 200, description = "Practitioners in name order", body = Page<Practitioner>)))]
pub async fn list_practitioners(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Practitioner>>> {
    if query.q.as_ref().is_some_and(|q| q.chars().count() > 100) {
        return Err(crate::error::ApiError::invalid(
            "parameter `q`: at most 100 characters",
        ));
    }
    let query = query.records()?;
    Ok(Json(
        records::list(&state, &principal, Entity::Practitioner, query).await?,
    ))
}

/// `POST /v1/practitioners`.
#[utoipa::path(post, path = "/v1/practitioners", operation_id = "create_practitioner", tag = "schedule",
    request_body = PractitionerFields,
    responses((status = 201, description = "Created", body = Practitioner)))]
pub async fn create_practitioner(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(fields): ApiJson<PractitionerFields>,
) -> ApiResult<(StatusCode, Json<Practitioner>)> {
    let created =
        records::create(&state, &principal, Entity::Practitioner, to_map(&fields)).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// `GET /v1/practitioners/{id}`.
#[utoipa::path(get, path = "/v1/practitioners/{id}", operation_id = "get_practitioner", tag = "schedule",
    params(("id" = PractitionerId, Path)),
    responses((status = 200, description = "The practitioner", body = Practitioner)))]
pub async fn get_practitioner(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<PractitionerId>,
) -> ApiResult<Json<Practitioner>> {
    Ok(Json(
        records::get(&state, &principal, Entity::Practitioner, id.into()).await?,
    ))
}

/// `PATCH /v1/practitioners/{id}` with `version`.
#[utoipa::path(patch, path = "/v1/practitioners/{id}", operation_id = "update_practitioner", tag = "schedule",
    params(("id" = PractitionerId, Path)), request_body = RecordPatch,
    responses((status = 200, description = "Updated", body = Practitioner)))]
pub async fn update_practitioner(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<PractitionerId>,
    ApiJson(patch): ApiJson<RecordPatch>,
) -> ApiResult<Json<Practitioner>> {
    let entity = Entity::Practitioner;
    let updated = records::update(
        &state,
        &principal,
        entity,
        id.into(),
        patch.version,
        patch.changes,
    )
    .await?;
    Ok(Json(updated))
}

/// `DELETE /v1/practitioners/{id}[?version=N]`.
#[utoipa::path(delete, path = "/v1/practitioners/{id}", operation_id = "delete_practitioner", tag = "schedule",
    params(("id" = PractitionerId, Path), DeleteQuery),
    responses((status = 204, description = "Deleted (a tombstone)")))]
pub async fn delete_practitioner(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<PractitionerId>,
    ApiQuery(query): ApiQuery<DeleteQuery>,
) -> ApiResult<StatusCode> {
    records::delete(
        &state,
        &principal,
        Entity::Practitioner,
        id.into(),
        query.version,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/appointments?from=&to=&practitioner_id=&patient_id=&status=`.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AppointmentQuery {
    /// Appointments starting at or after this time.
    from: Option<DateTime<Utc>>,
    /// Appointments starting before this time.
    to: Option<DateTime<Utc>>,
    practitioner_id: Option<PractitionerId>,
    patient_id: Option<PatientId>,
    status: Option<AppointmentStatus>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// `GET /v1/appointments`.
#[utoipa::path(get, path = "/v1/appointments", operation_id = "list_appointments", tag = "schedule",
    params(AppointmentQuery),
    responses((status = 200, description = "Appointments in order of their start", body = Page<Appointment>)))]
pub async fn list_appointments(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<AppointmentQuery>,
) -> ApiResult<Json<Page<Appointment>>> {
    let mut filters = Vec::new();
    let mut filter = |field, op, value: Option<Value>| {
        if let Some(value) = value {
            filters.push(Filter { field, op, value });
        }
    };
    let json = |v: Option<String>| v.map(Value::String);
    filter(
        "start",
        FilterOp::AtLeast,
        json(query.from.map(|t| t.to_rfc3339())),
    );
    filter(
        "start",
        FilterOp::Before,
        json(query.to.map(|t| t.to_rfc3339())),
    );
    filter(
        "practitioner_id",
        FilterOp::Equals,
        json(query.practitioner_id.map(|p| p.to_string())),
    );
    filter(
        "patient_id",
        FilterOp::Equals,
        json(query.patient_id.map(|p| p.to_string())),
    );
    filter(
        "status",
        FilterOp::Equals,
        json(query.status.map(|s| s.as_str().to_owned())),
    );
    let query = RecordQuery {
        q: None,
        filters,
        limit: records::limit(query.limit)?,
        after: records::cursor(query.cursor.as_deref())?,
    };
    Ok(Json(
        records::list(&state, &principal, Entity::Appointment, query).await?,
    ))
}

/// `POST /v1/appointments`: a booking.
#[utoipa::path(post, path = "/v1/appointments", operation_id = "book_appointment", tag = "schedule",
    request_body = AppointmentFields,
    responses((status = 201, description = "Booked", body = Appointment)))]
pub async fn book(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(fields): ApiJson<AppointmentFields>,
) -> ApiResult<(StatusCode, Json<Appointment>)> {
    let booked = records::create(&state, &principal, Entity::Appointment, to_map(&fields)).await?;
    Ok((StatusCode::CREATED, Json(booked)))
}

/// `GET /v1/appointments/{id}`.
#[utoipa::path(get, path = "/v1/appointments/{id}", operation_id = "get_appointment", tag = "schedule",
    params(("id" = AppointmentId, Path)),
    responses((status = 200, description = "The appointment", body = Appointment)))]
pub async fn get_appointment(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<AppointmentId>,
) -> ApiResult<Json<Appointment>> {
    Ok(Json(
        records::get(&state, &principal, Entity::Appointment, id.into()).await?,
    ))
}

/// `PATCH /v1/appointments/{id}` with `version`: a move or a status change.
#[utoipa::path(patch, path = "/v1/appointments/{id}", operation_id = "update_appointment", tag = "schedule",
    params(("id" = AppointmentId, Path)), request_body = RecordPatch,
    responses((status = 200, description = "Updated", body = Appointment)))]
pub async fn update_appointment(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<AppointmentId>,
    ApiJson(patch): ApiJson<RecordPatch>,
) -> ApiResult<Json<Appointment>> {
    let entity = Entity::Appointment;
    let updated = records::update(
        &state,
        &principal,
        entity,
        id.into(),
        patch.version,
        patch.changes,
    )
    .await?;
    Ok(Json(updated))
}

/// `DELETE /v1/appointments/{id}[?version=N]`: removes a booking made in error (a cancelled
/// appointment stays, with its reason).
#[utoipa::path(delete, path = "/v1/appointments/{id}", operation_id = "delete_appointment", tag = "schedule",
    params(("id" = AppointmentId, Path), DeleteQuery),
    responses((status = 204, description = "Deleted (a tombstone)")))]
pub async fn delete_appointment(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<AppointmentId>,
    ApiQuery(query): ApiQuery<DeleteQuery>,
) -> ApiResult<StatusCode> {
    records::delete(
        &state,
        &principal,
        Entity::Appointment,
        id.into(),
        query.version,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/appointments/{id}/history`.
#[utoipa::path(get, path = "/v1/appointments/{id}/history", operation_id = "appointment_history", tag = "schedule",
    params(("id" = AppointmentId, Path)),
    responses((status = 200, description = "Every version, oldest first", body = Page<HistoryEntry>)))]
pub async fn appointment_history(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<AppointmentId>,
) -> ApiResult<Json<Page<HistoryEntry>>> {
    Ok(Json(
        records::history(&state, &principal, Entity::Appointment, id.into()).await?,
    ))
}

/// `GET /v1/calendar`.
#[utoipa::path(get, path = "/v1/calendar", operation_id = "list_calendar", tag = "schedule",
    params(PageQuery),
    responses((status = 200, description = "Calendar entries in order of creation", body = Page<CalendarEntry>)))]
pub async fn list_calendar(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<CalendarEntry>>> {
    let query = query.records()?;
    Ok(Json(
        records::list(&state, &principal, Entity::CalendarEntry, query).await?,
    ))
}

/// `POST /v1/calendar`.
#[utoipa::path(post, path = "/v1/calendar", operation_id = "create_calendar_entry", tag = "schedule",
    request_body = CalendarEntryFields,
    responses((status = 201, description = "Created", body = CalendarEntry)))]
pub async fn create_calendar_entry(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(fields): ApiJson<CalendarEntryFields>,
) -> ApiResult<(StatusCode, Json<CalendarEntry>)> {
    let created =
        records::create(&state, &principal, Entity::CalendarEntry, to_map(&fields)).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// `GET /v1/calendar/{id}`.
#[utoipa::path(get, path = "/v1/calendar/{id}", operation_id = "get_calendar_entry", tag = "schedule",
    params(("id" = CalendarEntryId, Path)),
    responses((status = 200, description = "The entry", body = CalendarEntry)))]
pub async fn get_calendar_entry(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<CalendarEntryId>,
) -> ApiResult<Json<CalendarEntry>> {
    Ok(Json(
        records::get(&state, &principal, Entity::CalendarEntry, id.into()).await?,
    ))
}

/// `PATCH /v1/calendar/{id}` with `version`.
#[utoipa::path(patch, path = "/v1/calendar/{id}", operation_id = "update_calendar_entry", tag = "schedule",
    params(("id" = CalendarEntryId, Path)), request_body = RecordPatch,
    responses((status = 200, description = "Updated", body = CalendarEntry)))]
pub async fn update_calendar_entry(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<CalendarEntryId>,
    ApiJson(patch): ApiJson<RecordPatch>,
) -> ApiResult<Json<CalendarEntry>> {
    let entity = Entity::CalendarEntry;
    let updated = records::update(
        &state,
        &principal,
        entity,
        id.into(),
        patch.version,
        patch.changes,
    )
    .await?;
    Ok(Json(updated))
}

/// `DELETE /v1/calendar/{id}[?version=N]`.
#[utoipa::path(delete, path = "/v1/calendar/{id}", operation_id = "delete_calendar_entry", tag = "schedule",
    params(("id" = CalendarEntryId, Path), DeleteQuery),
    responses((status = 204, description = "Deleted (a tombstone)")))]
pub async fn delete_calendar_entry(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<CalendarEntryId>,
    ApiQuery(query): ApiQuery<DeleteQuery>,
) -> ApiResult<StatusCode> {
    records::delete(
        &state,
        &principal,
        Entity::CalendarEntry,
        id.into(),
        query.version,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
