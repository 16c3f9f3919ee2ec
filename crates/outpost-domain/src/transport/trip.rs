//! An EMS agency's trip: an accepted transport request as the crew needs it (where, when, what
//! level and equipment, and the minimum of the patient: name, birth date, weight class,
//! mobility, isolation, reason for transfer), the unit running it, and its steps. Made by the
//! hub when the hospital accepts the agency's bid; crews move it one step at a time, offline
//! too (each step's device time and hub time are in its history).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use ts_rs::TS;

use super::board::BoardEntry;
use super::facility::FacilityFields;
use super::request::TransportRequestFields;
use super::{Level, Mobility, Priority, TripStatus, check_cancel_reason, check_labels, check_step};
use crate::error::ValidationError;
use crate::ids::{TripId, UnitId, UserId};
use crate::kind::{
    ClassAccess, Entity, Field, FieldClass, FieldType, Kind, Reference, Refusal, RowRule,
};
use crate::patient::PatientFields;
use crate::record::{Fields, canonical};
use crate::roles::Permission;
use crate::roles::Role;
use crate::schedule::check_line;
use crate::user::Member;

/// A trip's fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TripFields {
    /// The board entry it was won on.
    #[ts(type = "string")]
    pub board_entry_id: uuid::Uuid,
    /// The requesting hospital's name.
    pub hospital: String,
    pub origin: String,
    pub origin_city: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_address: Option<String>,
    pub destination: String,
    pub destination_city: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_address: Option<String>,
    pub level: Level,
    pub priority: Priority,
    pub pickup_from: DateTime<Utc>,
    pub pickup_to: DateTime<Utc>,
    #[serde(default)]
    pub equipment: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobility: Option<Mobility>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The patient, for the crew alone (absent from the dispatcher's copy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient_birth_date: Option<NaiveDate>,
    pub unit_id: UnitId,
    /// The crew of the unit when it was assigned: their devices alone mirror the trip.
    #[serde(default)]
    pub crew_user_ids: Vec<UserId>,
    #[serde(default = "assigned")]
    pub status: TripStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<String>,
}

impl TripFields {
    /// The trip an accepted bid makes in the agency's database: the board entry's transport,
    /// the addresses the crew drives to, and the minimum of the patient (name, birth date,
    /// weight class, mobility, isolation, reason for transfer).
    pub fn accepted(
        entry: &BoardEntry,
        request: &TransportRequestFields,
        origin: &FacilityFields,
        destination: &FacilityFields,
        patient: &PatientFields,
        unit_id: UnitId,
        crew_user_ids: Vec<UserId>,
    ) -> Self {
        Self {
            board_entry_id: entry.id,
            hospital: entry.hospital.clone(),
            origin: origin.name.clone(),
            origin_city: origin.city.clone(),
            origin_address: origin.address.clone(),
            destination: destination.name.clone(),
            destination_city: destination.city.clone(),
            destination_address: destination.address.clone(),
            level: request.level,
            priority: request.priority,
            pickup_from: request.pickup_from,
            pickup_to: request.pickup_to,
            equipment: request.equipment.clone(),
            isolation: request.isolation.clone(),
            mobility: request.mobility,
            weight_class: request.weight_class.clone(),
            reason: request.reason.clone(),
            patient_name: Some(format!("{} {}", patient.given_name, patient.family_name)),
            patient_birth_date: Some(patient.birth_date),
            unit_id,
            crew_user_ids,
            status: TripStatus::Assigned,
            cancel_reason: None,
        }
    }
}

/// Who of a unit's `crew` ride its trip, and so receive its patient: the agency's enabled
/// `ems_crew` members among them. Anyone else named on the unit (a dispatcher who put
/// themself on it, a user since moved to another role or disabled) does not.
pub fn riders(crew: &[UserId], members: &[Member]) -> Vec<UserId> {
    crew.iter()
        .copied()
        .filter(|id| {
            members
                .iter()
                .any(|m| m.id == *id && m.role == Role::EmsCrew && !m.disabled)
        })
        .collect()
}

fn assigned() -> TripStatus {
    TripStatus::Assigned
}

/// A stored trip as the API answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct Trip {
    pub id: TripId,
    #[serde(flatten)]
    pub fields: TripFields,
    #[ts(type = "number")]
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: Option<UserId>,
}

impl Fields for TripFields {
    fn validate(&self, today: NaiveDate) -> Result<(), ValidationError> {
        for (field, value, max) in [
            ("hospital", &self.hospital, 120),
            ("origin", &self.origin, 120),
            ("origin_city", &self.origin_city, 80),
            ("destination", &self.destination, 120),
            ("destination_city", &self.destination_city, 80),
        ] {
            check_line(field, value, max)?;
        }
        for (field, value, max) in [
            ("patient_name", &self.patient_name, 200),
            ("origin_address", &self.origin_address, 200),
            ("destination_address", &self.destination_address, 200),
            ("isolation", &self.isolation, 60),
            ("weight_class", &self.weight_class, 40),
            ("reason", &self.reason, 200),
        ] {
            if let Some(value) = value {
                check_line(field, value, max)?;
            }
        }
        if self.patient_birth_date.is_some_and(|born| born > today) {
            return Err(ValidationError::new(
                "patient_birth_date",
                "must not be in the future",
            ));
        }
        if self.pickup_to <= self.pickup_from {
            return Err(ValidationError::new(
                "pickup_to",
                "must come after pickup_from",
            ));
        }
        check_labels("equipment", &self.equipment)?;
        check_cancel_reason(self.status, self.cancel_reason.as_deref())
    }
}

/// Fields that change after the trip is made: its steps. Its unit and crew are those of the
/// accepted bid (the crew alone reads the patient, so nobody moves it to another).
const PROGRESS: &[&str] = &["status", "cancel_reason"];

/// A trip starts assigned (the hub makes it on acceptance), moves one step at a time, and
/// keeps what was accepted.
fn rule(before: Option<&Map<String, Value>>, after: &Map<String, Value>) -> Result<(), Refusal> {
    let Some(before) = before else {
        return match super::status_of(after) {
            TripStatus::Assigned => Ok(()),
            other => Err(Refusal {
                code: "invalid_transition",
                message: format!("a new trip is assigned, not {}", other.as_str()),
            }),
        };
    };
    check_step("trip", before, after)?;
    if super::status_of(before).is_final() && before != after {
        return Err(Refusal {
            code: "invalid_transition",
            message: "a trip that is over does not change".into(),
        });
    }
    if after
        .keys()
        .chain(before.keys())
        .any(|f| !PROGRESS.contains(&f.as_str()) && before.get(f) != after.get(f))
    {
        return Err(Refusal {
            code: "invalid_transition",
            message: "a trip keeps what was accepted; only its steps change".into(),
        });
    }
    Ok(())
}

const STATUS: &str = "status";
const CLASS: FieldClass = FieldClass::Transport;

/// The trip kind.
pub static KIND: Kind = Kind {
    entity: Entity::Trip,
    name: "trip",
    table: "trips",
    history_table: "trip_history",
    history_key: "trip_id",
    fields: &[
        Field::new("board_entry_id", FieldType::Id, CLASS).required(),
        Field::new("hospital", FieldType::Text, CLASS).required(),
        Field::new("origin", FieldType::Text, CLASS).required(),
        Field::new("origin_city", FieldType::Text, CLASS).required(),
        Field::new("origin_address", FieldType::Text, CLASS),
        Field::new("destination", FieldType::Text, CLASS).required(),
        Field::new("destination_city", FieldType::Text, CLASS).required(),
        Field::new("destination_address", FieldType::Text, CLASS),
        Field::new("level", FieldType::Text, CLASS).required(),
        Field::new("priority", FieldType::Text, CLASS).required(),
        Field::new("pickup_from", FieldType::Timestamp, CLASS).required(),
        Field::new("pickup_to", FieldType::Timestamp, CLASS).required(),
        Field::new("equipment", FieldType::Json, CLASS),
        Field::new("isolation", FieldType::Text, CLASS),
        Field::new("mobility", FieldType::Text, CLASS),
        Field::new("weight_class", FieldType::Text, CLASS),
        Field::new("reason", FieldType::Text, CLASS),
        Field::new("patient_name", FieldType::Text, CLASS).required(),
        Field::new("patient_birth_date", FieldType::Date, CLASS).required(),
        Field::new("unit_id", FieldType::Id, CLASS)
            .required()
            .written_with(&[Permission::TripAssign]),
        // Who mirrors the trip and reads its patient: set by the hub from the unit's riders.
        Field::new("crew_user_ids", FieldType::Json, CLASS).by_hub(),
        Field::new("status", FieldType::Text, CLASS).group(STATUS),
        Field::new("cancel_reason", FieldType::Text, CLASS).group(STATUS),
    ],
    access: &[ClassAccess {
        class: CLASS,
        read: &[Permission::TripRead],
        write: &[Permission::TripUpdateStatus],
    }],
    delete: &[Permission::TripAssign],
    search: &[],
    order: &["pickup_from"],
    unique: &[],
    no_overlap: None,
    references: &[Reference {
        field: "unit_id",
        to: Entity::Unit,
    }],
    rows: Some(RowRule {
        members: "crew_user_ids",
        all: Permission::TripAssign,
        private: &["patient_name", "patient_birth_date"],
    }),
    check: canonical::<TripFields>,
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

    fn trip() -> Map<String, Value> {
        let fields = json!({
            "board_entry_id": uuid::Uuid::now_v7(), "hospital": "St Mary's",
            "origin": "St Mary's ED", "origin_city": "Springfield",
            "destination": "Oak Rehab", "destination_city": "Shelbyville",
            "level": "BLS", "priority": "scheduled",
            "pickup_from": "2026-12-07T14:00:00Z", "pickup_to": "2026-12-07T16:00:00Z",
            "patient_name": "Ada Byron", "patient_birth_date": "1950-02-03",
            "unit_id": UnitId::generate()
        });
        fields.as_object().expect("object").clone()
    }

    #[test]
    fn a_crew_moves_its_trip_one_step_at_a_time_and_changes_nothing_else() {
        let made = KIND.canonical(&trip(), today()).expect("a trip");
        assert_eq!(made["status"], "assigned");
        assert!(KIND.check_rule(None, &made).is_ok());
        let step = |from: &Map<String, Value>, to: &str| {
            let mut next = from.clone();
            next.insert("status".into(), json!(to));
            (KIND.check_rule(Some(from), &next), next)
        };
        let (ok, en_route) = step(&made, "en_route");
        assert!(ok.is_ok());
        let (refused, _) = step(&en_route, "at_destination");
        assert_eq!(refused.expect_err("skip").code, "invalid_transition");
        let (ok, _) = step(&en_route, "at_pickup");
        assert!(ok.is_ok());
        let mut renamed = en_route.clone();
        renamed.insert("patient_name".into(), json!("Someone Else"));
        assert!(KIND.check_rule(Some(&en_route), &renamed).is_err());
    }

    #[test]
    fn only_the_crew_reads_the_patient_and_the_dispatchers_copy_still_reads_as_a_trip() {
        let crew = UserId::generate();
        let mut fields = trip();
        fields.insert("crew_user_ids".into(), json!([crew]));
        let made = KIND.canonical(&fields, today()).expect("a trip");

        let mut crews = made.clone();
        KIND.hide_private(&mut crews, Some(crew));
        assert_eq!(crews["patient_name"], "Ada Byron");
        let mut hubs = made.clone();
        KIND.hide_private(&mut hubs, None);
        assert_eq!(hubs, made, "the hub keeps everything");

        let mut dispatchers = made.clone();
        KIND.hide_private(&mut dispatchers, Some(UserId::generate()));
        assert!(!dispatchers.contains_key("patient_name"));
        assert!(!dispatchers.contains_key("patient_birth_date"));
        assert_eq!(dispatchers["origin"], "St Mary's ED", "the transport stays");
        let read: TripFields =
            serde_json::from_value(Value::Object(dispatchers)).expect("a trip without a patient");
        assert_eq!(read.patient_name, None);
        assert!(KIND.is_private("patient_birth_date") && !KIND.is_private("reason"));
    }

    #[test]
    fn only_the_agencys_enabled_crew_ride_a_trip() {
        let member = |role, disabled| Member {
            id: UserId::generate(),
            email: "m@example.org".into(),
            full_name: "M".into(),
            tenant_id: None,
            role,
            disabled,
            created_at: chrono::Utc::now(),
        };
        let crew = member(Role::EmsCrew, false);
        let dispatcher = member(Role::EmsDispatcher, false);
        let gone = member(Role::EmsCrew, true);
        let stranger = UserId::generate();
        let named = [crew.id, dispatcher.id, gone.id, stranger];
        assert_eq!(riders(&named, &[crew.clone(), dispatcher, gone]), [crew.id]);
    }
}
