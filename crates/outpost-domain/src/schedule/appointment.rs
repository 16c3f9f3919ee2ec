//! Appointments: a patient with a practitioner from `start` to `end` (UTC), and the status
//! machine `booked → arrived → in_progress → completed`, or `cancelled` (with a reason) or
//! `no_show`. Any other transition is refused (`invalid_transition`).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use ts_rs::TS;

use crate::error::ValidationError;
use crate::ids::{AppointmentId, PatientId, PractitionerId, UserId};
use crate::kind::{
    ClassAccess, Entity, Field, FieldClass, FieldType, Kind, NoOverlap, Reference, Refusal,
};
use crate::record::{Fields, canonical, status_of};
use crate::roles::Permission;

use super::{check_line, check_span, check_text};

/// The longest appointment, in minutes.
pub const MAX_MINUTES: i64 = 12 * 60;

/// Where an appointment stands.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, TS, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentStatus {
    #[default]
    Booked,
    Arrived,
    InProgress,
    Completed,
    Cancelled,
    NoShow,
}

impl AppointmentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Booked => "booked",
            Self::Arrived => "arrived",
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
            Self::NoShow => "no_show",
        }
    }

    /// Whether the appointment holds its slot (cancelled and missed ones free it).
    pub fn holds_slot(self) -> bool {
        !matches!(self, Self::Cancelled | Self::NoShow)
    }

    /// Whether `self → next` is a step of the status machine.
    pub fn may_become(self, next: AppointmentStatus) -> bool {
        use AppointmentStatus::*;
        self == next
            || matches!(
                (self, next),
                (Booked, Arrived | Cancelled | NoShow)
                    | (Arrived, InProgress | Cancelled)
                    | (InProgress, Completed)
            )
    }
}

/// An appointment's fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppointmentFields {
    pub patient_id: PatientId,
    pub practitioner_id: PractitionerId,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(default)]
    pub status: AppointmentStatus,
    /// Why it was cancelled: required for, and only for, a cancelled appointment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<String>,
}

/// A stored appointment as the API answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct Appointment {
    pub id: AppointmentId,
    #[serde(flatten)]
    pub fields: AppointmentFields,
    #[ts(type = "number")]
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: Option<UserId>,
}

impl Fields for AppointmentFields {
    fn validate(&self, _today: NaiveDate) -> Result<(), ValidationError> {
        check_span(
            self.start,
            self.end,
            MAX_MINUTES,
            &format!("{MAX_MINUTES} minutes"),
        )?;
        if let Some(reason) = &self.reason {
            check_line("reason", reason, 200)?;
        }
        if let Some(notes) = &self.notes {
            check_text("notes", notes, 2000)?;
        }
        match (&self.cancel_reason, self.status) {
            (Some(reason), AppointmentStatus::Cancelled) => {
                check_line("cancel_reason", reason, 200)?
            }
            (None, AppointmentStatus::Cancelled) => {
                return Err(ValidationError::new(
                    "cancel_reason",
                    "is required to cancel an appointment",
                ));
            }
            (Some(_), _) => {
                return Err(ValidationError::new(
                    "cancel_reason",
                    "belongs only to a cancelled appointment",
                ));
            }
            (None, _) => {}
        }
        Ok(())
    }
}

/// The status machine, and that only a booked appointment moves.
fn rule(before: Option<&Map<String, Value>>, after: &Map<String, Value>) -> Result<(), Refusal> {
    let next: AppointmentStatus = status_of(after);
    let Some(before) = before else {
        return match next {
            AppointmentStatus::Booked => Ok(()),
            other => Err(Refusal {
                code: "invalid_transition",
                message: format!("a new appointment is booked, not {}", other.as_str()),
            }),
        };
    };
    let current: AppointmentStatus = status_of(before);
    if !current.may_become(next) {
        return Err(Refusal {
            code: "invalid_transition",
            message: format!(
                "an appointment that is {} cannot become {}",
                current.as_str(),
                next.as_str()
            ),
        });
    }
    let moved = ["start", "end", "practitioner_id", "patient_id"]
        .iter()
        .any(|f| before.get(*f) != after.get(*f));
    if moved && !(current == AppointmentStatus::Booked && next == AppointmentStatus::Booked) {
        return Err(Refusal {
            code: "invalid_transition",
            message: "only a booked appointment can be moved".into(),
        });
    }
    Ok(())
}

const SLOT: &str = "slot";
const STATUS: &str = "status";

/// The appointment kind.
pub static KIND: Kind = Kind {
    entity: Entity::Appointment,
    name: "appointment",
    table: "appointments",
    history_table: "appointment_history",
    history_key: "appointment_id",
    fields: &[
        Field::new("patient_id", FieldType::Id, FieldClass::Demographic)
            .required()
            .group(SLOT),
        Field::new("practitioner_id", FieldType::Id, FieldClass::Demographic)
            .required()
            .group(SLOT),
        Field::new("start", FieldType::Timestamp, FieldClass::Demographic)
            .required()
            .group(SLOT),
        Field::new("end", FieldType::Timestamp, FieldClass::Demographic)
            .required()
            .group(SLOT),
        Field::new("reason", FieldType::Text, FieldClass::Demographic),
        Field::new("notes", FieldType::Text, FieldClass::Demographic),
        Field::new("status", FieldType::Text, FieldClass::Demographic).group(STATUS),
        Field::new("cancel_reason", FieldType::Text, FieldClass::Demographic).group(STATUS),
    ],
    access: &[ClassAccess {
        class: FieldClass::Demographic,
        read: &[Permission::AppointmentRead],
        write: &[Permission::AppointmentWrite],
    }],
    delete: &[Permission::ScheduleManage],
    search: &[],
    order: &["start"],
    unique: &[],
    no_overlap: Some(NoOverlap {
        group: "practitioner_id",
        owner: Some(Entity::Practitioner),
        start: "start",
        end: "end",
        longest_minutes: MAX_MINUTES,
        status: "status",
        inactive: &["cancelled", "no_show"],
    }),
    references: &[
        Reference {
            field: "patient_id",
            to: Entity::Patient,
        },
        Reference {
            field: "practitioner_id",
            to: Entity::Practitioner,
        },
    ],
    rows: None,
    check: canonical::<AppointmentFields>,
    rule: Some(rule),
    deletable: None,
};

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 6).expect("date")
    }

    fn booked() -> Map<String, Value> {
        let fields = json!({
            "patient_id": PatientId::generate(), "practitioner_id": PractitionerId::generate(),
            "start": "2026-12-07T09:00:00Z", "end": "2026-12-07T09:15:00Z",
        });
        KIND.canonical(fields.as_object().expect("object"), today())
            .expect("valid")
    }

    fn change(from: &Map<String, Value>, patch: Value) -> Result<Map<String, Value>, String> {
        let (after, _) = KIND
            .apply(from, patch.as_object().expect("object"), today())
            .map_err(|e| e.to_string())?;
        KIND.check_rule(Some(from), &after)
            .map_err(|r| r.code.to_owned())?;
        Ok(after)
    }

    #[test]
    fn every_step_of_the_status_machine_and_every_refusal() {
        use AppointmentStatus::*;
        let all = [Booked, Arrived, InProgress, Completed, Cancelled, NoShow];
        let allowed = [
            (Booked, Arrived),
            (Booked, Cancelled),
            (Booked, NoShow),
            (Arrived, InProgress),
            (Arrived, Cancelled),
            (InProgress, Completed),
        ];
        for from in all {
            for to in all {
                let expected = from == to || allowed.contains(&(from, to));
                assert_eq!(from.may_become(to), expected, "{from:?} -> {to:?}");
            }
        }
        let arrived = change(&booked(), json!({"status": "arrived"})).expect("check in");
        assert_eq!(
            change(&arrived, json!({"status": "booked"})),
            Err("invalid_transition".into())
        );
        assert_eq!(
            change(
                &arrived,
                json!({"start": "2026-12-07T10:00:00Z", "end": "2026-12-07T10:15:00Z"})
            ),
            Err("invalid_transition".into())
        );
    }

    #[test]
    fn cancelling_needs_a_reason_and_a_booking_starts_booked() {
        assert!(change(&booked(), json!({"status": "cancelled"})).is_err());
        let cancelled = change(
            &booked(),
            json!({"status": "cancelled", "cancel_reason": "patient called"}),
        )
        .expect("cancel");
        assert_eq!(cancelled["status"], json!("cancelled"));
        let mut arrived = booked();
        arrived.insert("status".into(), json!("arrived"));
        assert_eq!(
            KIND.check_rule(None, &arrived).map_err(|r| r.code),
            Err("invalid_transition")
        );
    }

    #[test]
    fn times_are_whole_minutes_and_end_after_start() {
        for (start, end) in [
            ("2026-12-07T09:00:00Z", "2026-12-07T09:00:00Z"),
            ("2026-12-07T09:00:30Z", "2026-12-07T09:15:00Z"),
            ("2026-12-07T09:00:00Z", "2026-12-07T22:00:00Z"),
        ] {
            assert!(
                change(&booked(), json!({"start": start, "end": end})).is_err(),
                "{start} {end}"
            );
        }
    }
}
