//! The clinic's schedule on this computer: practitioners, the calendar, and appointments read
//! by day and booked, moved, checked in and cancelled in the mirror, offline or not. A booking
//! the hub refused (its slot was taken meanwhile by another device) is settled here by moving
//! it to another slot (sent again) or cancelling it (discarded: the hub never had it); a
//! refused change of an appointment the hub has is moved again, or cancelled on the hub.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value, json};
use ts_rs::TS;

use outpost_domain::schedule::appointment::{Appointment, AppointmentFields};
use outpost_domain::schedule::calendar::CalendarEntry;
use outpost_domain::schedule::practitioner::Practitioner;
use outpost_domain::{AppointmentId, Entity, PatientId, PractitionerId, RecordId};

use super::records::typed;
use super::{Client, Resolution};
use crate::cache::{Cache, records::time_key};
use crate::error::{ClientError, ClientResult};

/// An appointment as this computer holds it.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct LocalAppointment {
    pub appointment: Appointment,
    /// Changes to it wait to reach the hub.
    pub pending: bool,
    /// The hub refused or conflicted with a change to it: the user settles it.
    pub conflict: bool,
}

fn map(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

impl Client {
    /// Every practitioner of the tenant, in name order.
    pub fn practitioners(&mut self) -> ClientResult<Vec<Practitioner>> {
        self.records(Entity::Practitioner)?
            .iter()
            .map(|l| typed(&l.record))
            .collect()
    }

    /// The clinic calendar: closures, holidays and events.
    pub fn calendar(&mut self) -> ClientResult<Vec<CalendarEntry>> {
        self.records(Entity::CalendarEntry)?
            .iter()
            .map(|l| typed(&l.record))
            .collect()
    }

    /// Appointments starting in `from..to`, of one practitioner or all, in order of start.
    pub fn appointments(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        practitioner: Option<PractitionerId>,
    ) -> ClientResult<Vec<LocalAppointment>> {
        let group = practitioner.map(|p| p.to_string());
        let found = self.records_between(
            Entity::Appointment,
            group.as_deref(),
            &time_key(from),
            &time_key(to),
        )?;
        found
            .iter()
            .map(|local| {
                let pending = Cache::pending_ops_for(self.cache()?.conn(), local.record.id)? > 0;
                Ok(LocalAppointment {
                    appointment: typed(&local.record)?,
                    pending,
                    conflict: local.conflict,
                })
            })
            .collect()
    }

    /// A patient's appointments, past and coming, in order of start.
    pub fn patient_appointments(
        &mut self,
        patient: PatientId,
    ) -> ClientResult<Vec<LocalAppointment>> {
        let found = self.cache()?.appointments_of(&patient.to_string())?;
        let ids: Vec<String> = found.iter().map(|l| l.record.id.to_string()).collect();
        let mut event = self.local_event_of(
            Entity::Appointment,
            "search",
            None,
            json!({ "patient_id": patient, "returned": ids }),
        );
        // Filed under the patient, so that their report shows who listed their appointments.
        event.entity = Some(Entity::Patient.as_str().to_owned());
        event.entity_id = Some(patient.to_string());
        self.cache()?.audit_reads(std::slice::from_ref(&event))?;
        found
            .iter()
            .map(|local| {
                let pending = Cache::pending_ops_for(self.cache()?.conn(), local.record.id)? > 0;
                Ok(LocalAppointment {
                    appointment: typed(&local.record)?,
                    pending,
                    conflict: local.conflict,
                })
            })
            .collect()
    }

    /// Books an appointment here (checked against the mirror: the slot, the practitioner's
    /// hours, the calendar).
    pub fn book(&mut self, fields: AppointmentFields) -> ClientResult<Appointment> {
        let fields = outpost_domain::record::to_map(&fields);
        typed(&self.create_record(Entity::Appointment, fields)?)
    }

    /// Moves an appointment to another slot (and practitioner, when given). A booking the hub
    /// refused is moved and sent again.
    pub fn move_appointment(
        &mut self,
        id: AppointmentId,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        practitioner: Option<PractitionerId>,
    ) -> ClientResult<Appointment> {
        let mut changes = map(json!({ "start": start, "end": end }));
        if let Some(practitioner) = practitioner {
            changes.insert("practitioner_id".into(), json!(practitioner));
        }
        let id = RecordId::from(id);
        if self.refused(id)? {
            self.resolve(id, &Resolution::Change(changes))?;
            let local = Cache::local(self.cache()?.conn(), Entity::Appointment, id)?
                .ok_or(ClientError::NotFound)?;
            return typed(&local.record);
        }
        typed(&self.change_record(Entity::Appointment, id, &changes)?)
    }

    /// Checks a patient in for their appointment.
    pub fn check_in(&mut self, id: AppointmentId) -> ClientResult<Appointment> {
        let changes = map(json!({ "status": "arrived" }));
        typed(&self.change_record(Entity::Appointment, id.into(), &changes)?)
    }

    /// Cancels an appointment with a reason. A booking the hub refused (it never had it) is
    /// discarded instead; an appointment whose change the hub refused goes back to the hub's
    /// version and is cancelled there. Returns the cancelled appointment (`None` when
    /// discarded).
    pub fn cancel_appointment(
        &mut self,
        id: AppointmentId,
        reason: &str,
    ) -> ClientResult<Option<Appointment>> {
        let id = RecordId::from(id);
        if self.refused(id)? {
            let local = Cache::local(self.cache()?.conn(), Entity::Appointment, id)?;
            let never_on_hub = local.as_ref().is_none_or(|l| l.hub_version.is_none());
            self.resolve(id, &Resolution::TakeTheirs)?;
            if never_on_hub {
                let event = self.local_event_of(
                    Entity::Appointment,
                    "discard",
                    Some(id),
                    json!({ "reason": reason }),
                );
                self.cache()?.audit_reads(std::slice::from_ref(&event))?;
                return Ok(None);
            }
        }
        let changes = map(json!({ "status": "cancelled", "cancel_reason": reason }));
        typed(&self.change_record(Entity::Appointment, id, &changes)?).map(Some)
    }

    /// Whether the hub refused a change to the record (a conflict of the refused kind).
    fn refused(&mut self, id: RecordId) -> ClientResult<bool> {
        Ok(Cache::conflict(self.cache()?.conn(), id)?.is_some_and(|c| c.rejected))
    }
}
