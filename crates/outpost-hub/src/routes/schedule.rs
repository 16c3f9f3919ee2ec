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
use crate::routes::records::{self, DeleteQuery, PageQuery, record_routes};
use crate::state::AppState;

/// `GET /v1/practitioners`.
#[utoipa::path(get, path = "/v1/practitioners", operation_id = "list_practitioners", tag = "schedule",
    params(PageQuery),
    responses((status = 200, description = "Practitioners in name order", body = Page<Practitioner>)))]
pub async fn list_practitioners(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Practitioner>>> {
    let query = query.records()?;
    Ok(Json(
        records::list(&state, &principal, Entity::Practitioner, query).await?,
    ))
}

record_routes!(
    "schedule",
    Entity::Practitioner,
    Practitioner,
    PractitionerFields,
    PractitionerId,
    "/v1/practitioners",
    "/v1/practitioners/{id}",
    "The practitioner",
    create_practitioner,
    get_practitioner,
    update_practitioner,
    delete_practitioner
);
record_routes!(
    "schedule",
    Entity::Appointment,
    Appointment,
    AppointmentFields,
    AppointmentId,
    "/v1/appointments",
    "/v1/appointments/{id}",
    "The appointment",
    book_appointment,
    get_appointment,
    update_appointment,
    delete_appointment
);
record_routes!(
    "schedule",
    Entity::CalendarEntry,
    CalendarEntry,
    CalendarEntryFields,
    CalendarEntryId,
    "/v1/calendar",
    "/v1/calendar/{id}",
    "The entry",
    create_calendar_entry,
    get_calendar_entry,
    update_calendar_entry,
    delete_calendar_entry
);

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
