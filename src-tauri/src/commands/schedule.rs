//! The clinic's schedule, read from and written to the local mirror (offline or not); each
//! change wakes the background sync.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use ts_rs::TS;

use outpost_client::LocalAppointment;
use outpost_domain::schedule::appointment::{Appointment, AppointmentFields};
use outpost_domain::schedule::calendar::CalendarEntry;
use outpost_domain::schedule::practitioner::Practitioner;
use outpost_domain::{AppointmentId, PatientId, PractitionerId};

use crate::error::IpcResult;
use crate::state::Desktop;

/// Appointments starting in `from..to` (UTC), of one practitioner or all.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct AppointmentRange {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub practitioner_id: Option<PractitionerId>,
}

#[derive(Debug, Clone, Deserialize, TS)]
pub struct AppointmentRef {
    pub id: AppointmentId,
}

#[derive(Debug, Clone, Deserialize, TS)]
pub struct PatientAppointments {
    pub patient_id: PatientId,
}

/// A move to another slot (and practitioner).
#[derive(Debug, Clone, Deserialize, TS)]
pub struct MoveAppointment {
    pub id: AppointmentId,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub practitioner_id: Option<PractitionerId>,
}

#[derive(Debug, Clone, Deserialize, TS)]
pub struct CancelAppointment {
    pub id: AppointmentId,
    pub reason: String,
}

pub async fn practitioners(desktop: &Desktop, (): ()) -> IpcResult<Vec<Practitioner>> {
    Ok(desktop.client.lock().await.practitioners()?)
}

pub async fn calendar(desktop: &Desktop, (): ()) -> IpcResult<Vec<CalendarEntry>> {
    Ok(desktop.client.lock().await.calendar()?)
}

pub async fn appointments(
    desktop: &Desktop,
    req: AppointmentRange,
) -> IpcResult<Vec<LocalAppointment>> {
    Ok(desktop
        .client
        .lock()
        .await
        .appointments(req.from, req.to, req.practitioner_id)?)
}

pub async fn patient_appointments(
    desktop: &Desktop,
    req: PatientAppointments,
) -> IpcResult<Vec<LocalAppointment>> {
    Ok(desktop
        .client
        .lock()
        .await
        .patient_appointments(req.patient_id)?)
}

pub async fn book(desktop: &Desktop, req: AppointmentFields) -> IpcResult<Appointment> {
    desktop.write(|client| client.book(req)).await
}

pub async fn move_appointment(desktop: &Desktop, req: MoveAppointment) -> IpcResult<Appointment> {
    desktop
        .write(|client| client.move_appointment(req.id, req.start, req.end, req.practitioner_id))
        .await
}

pub async fn check_in(desktop: &Desktop, req: AppointmentRef) -> IpcResult<Appointment> {
    desktop.write(|client| client.check_in(req.id)).await
}

/// The cancelled appointment, or `None` when a booking the hub had refused was discarded.
pub async fn cancel_appointment(
    desktop: &Desktop,
    req: CancelAppointment,
) -> IpcResult<Option<Appointment>> {
    desktop
        .write(|client| client.cancel_appointment(req.id, &req.reason))
        .await
}
