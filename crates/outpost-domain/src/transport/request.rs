//! A hospital's transport request: a patient to move from one facility to another, at a level
//! of care, in a pickup window. Written as a draft, published to the board, assigned when the
//! hospital accepts a bid, then following its trip's steps; or cancelled with a reason.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use ts_rs::TS;

use super::{Level, Mobility, Priority, TripStatus, check_cancel_reason, check_labels, check_step};
use crate::error::ValidationError;
use crate::ids::{FacilityId, PatientId, TransportRequestId, UserId};
use crate::kind::{ClassAccess, Entity, Field, FieldClass, FieldType, Kind, Reference, Refusal};
use crate::record::{Fields, canonical};
use crate::roles::Permission;
use crate::schedule::{check_line, check_text};

/// The longest pickup window.
pub const MAX_WINDOW_HOURS: i64 = 7 * 24;

/// A transport request's fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransportRequestFields {
    pub patient_id: PatientId,
    pub origin_facility_id: FacilityId,
    pub destination_facility_id: FacilityId,
    pub level: Level,
    pub priority: Priority,
    /// The pickup window (UTC).
    pub pickup_from: DateTime<Utc>,
    pub pickup_to: DateTime<Utc>,
    /// Equipment the unit must carry (oxygen, ventilator, …).
    #[serde(default)]
    pub equipment: Vec<String>,
    /// Isolation precautions (contact, droplet, airborne, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobility: Option<Mobility>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_class: Option<String>,
    /// The reason for the transfer, for the crew.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(default)]
    pub status: TripStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<String>,
    /// The board entry once published (set by the hub).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(type = "string | null")]
    pub board_entry_id: Option<uuid::Uuid>,
    /// The agency and unit whose bid was accepted (set by the hub).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_agency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_unit: Option<String>,
}

/// A stored transport request as the API answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct TransportRequest {
    pub id: TransportRequestId,
    #[serde(flatten)]
    pub fields: TransportRequestFields,
    #[ts(type = "number")]
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: Option<UserId>,
}

impl Fields for TransportRequestFields {
    fn validate(&self, _today: NaiveDate) -> Result<(), ValidationError> {
        if self.origin_facility_id == self.destination_facility_id {
            return Err(ValidationError::new(
                "destination_facility_id",
                "must differ from the origin",
            ));
        }
        let hours = (self.pickup_to - self.pickup_from).num_minutes();
        if hours <= 0 || hours > MAX_WINDOW_HOURS * 60 {
            return Err(ValidationError::new(
                "pickup_to",
                format!("must come after pickup_from, at most {MAX_WINDOW_HOURS} hours later"),
            ));
        }
        check_labels("equipment", &self.equipment)?;
        for (field, value, max) in [
            ("isolation", &self.isolation, 60),
            ("weight_class", &self.weight_class, 40),
            ("reason", &self.reason, 200),
            ("assigned_agency", &self.assigned_agency, 120),
            ("assigned_unit", &self.assigned_unit, 40),
        ] {
            if let Some(value) = value {
                check_line(field, value, max)?;
            }
        }
        if let Some(notes) = &self.notes {
            check_text("notes", notes, 2000)?;
        }
        check_cancel_reason(self.status, self.cancel_reason.as_deref())
    }
}

/// Fields the hub changes (publishing, assigning, following the trip, cancelling: each through
/// its own route and step, never a plain write); every other field is the request's
/// substance, which changes only while it is a draft (the board shows what was published).
const PROGRESS: &[&str] = &[
    "status",
    "cancel_reason",
    "board_entry_id",
    "assigned_agency",
    "assigned_unit",
];

/// A new request is a draft; a status moves one step; a published request keeps its substance.
fn rule(before: Option<&Map<String, Value>>, after: &Map<String, Value>) -> Result<(), Refusal> {
    let Some(before) = before else {
        return match super::status_of(after) {
            TripStatus::Draft => Ok(()),
            other => Err(Refusal {
                code: "invalid_transition",
                message: format!("a new transport request is a draft, not {}", other.as_str()),
            }),
        };
    };
    check_step("transport request", before, after)?;
    let changed = after
        .keys()
        .chain(before.keys())
        .any(|f| !PROGRESS.contains(&f.as_str()) && before.get(f) != after.get(f));
    if changed && super::status_of(before) != TripStatus::Draft {
        return Err(Refusal {
            code: "invalid_transition",
            message: "only a draft transport request can be changed".into(),
        });
    }
    Ok(())
}

/// Only a draft is deleted; a request that reached the board is cancelled instead.
fn only_drafts(fields: &Map<String, Value>) -> Result<(), Refusal> {
    match super::status_of(fields) {
        TripStatus::Draft => Ok(()),
        other => Err(Refusal {
            code: "invalid_transition",
            message: format!(
                "a transport request that is {} is cancelled, not deleted",
                other.as_str()
            ),
        }),
    }
}

const STATUS: &str = "status";
const WINDOW: &str = "window";
const CLASS: FieldClass = FieldClass::Transport;

/// The transport request kind.
pub static KIND: Kind = Kind {
    entity: Entity::TransportRequest,
    name: "transport_request",
    table: "transport_requests",
    history_table: "transport_request_history",
    history_key: "transport_request_id",
    fields: &[
        Field::new("patient_id", FieldType::Id, CLASS).required(),
        Field::new("origin_facility_id", FieldType::Id, CLASS).required(),
        Field::new("destination_facility_id", FieldType::Id, CLASS).required(),
        Field::new("level", FieldType::Text, CLASS).required(),
        Field::new("priority", FieldType::Text, CLASS).required(),
        Field::new("pickup_from", FieldType::Timestamp, CLASS)
            .required()
            .group(WINDOW),
        Field::new("pickup_to", FieldType::Timestamp, CLASS)
            .required()
            .group(WINDOW),
        Field::new("equipment", FieldType::Json, CLASS),
        Field::new("isolation", FieldType::Text, CLASS),
        Field::new("mobility", FieldType::Text, CLASS),
        Field::new("weight_class", FieldType::Text, CLASS),
        Field::new("reason", FieldType::Text, CLASS),
        Field::new("notes", FieldType::Text, CLASS),
        Field::new("status", FieldType::Text, CLASS)
            .group(STATUS)
            .by_hub(),
        Field::new("cancel_reason", FieldType::Text, CLASS)
            .group(STATUS)
            .by_hub(),
        Field::new("board_entry_id", FieldType::Id, CLASS).by_hub(),
        Field::new("assigned_agency", FieldType::Text, CLASS).by_hub(),
        Field::new("assigned_unit", FieldType::Text, CLASS).by_hub(),
    ],
    access: &[ClassAccess {
        class: CLASS,
        read: &[Permission::TripRead],
        write: &[Permission::TripCreate],
    }],
    delete: &[Permission::TripCreate],
    search: &[],
    order: &["pickup_from"],
    unique: &[],
    no_overlap: None,
    references: &[
        Reference {
            field: "patient_id",
            to: Entity::Patient,
        },
        Reference {
            field: "origin_facility_id",
            to: Entity::Facility,
        },
        Reference {
            field: "destination_facility_id",
            to: Entity::Facility,
        },
    ],
    rows: None,
    check: canonical::<TransportRequestFields>,
    rule: Some(rule),
    deletable: Some(only_drafts),
};

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn draft() -> Map<String, Value> {
        let fields = json!({
            "patient_id": PatientId::generate(),
            "origin_facility_id": FacilityId::generate(),
            "destination_facility_id": FacilityId::generate(),
            "level": "ALS", "priority": "urgent",
            "pickup_from": "2026-12-07T14:00:00Z", "pickup_to": "2026-12-07T16:00:00Z",
            "equipment": ["oxygen"], "status": "draft"
        });
        fields.as_object().expect("object").clone()
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 6).expect("date")
    }

    #[test]
    fn a_request_is_drafted_published_and_then_keeps_what_the_board_shows() {
        let before = KIND.canonical(&draft(), today()).expect("a draft");
        assert!(KIND.check_rule(None, &before).is_ok());
        let mut edited = before.clone();
        edited.insert("notes".into(), json!("call the ward first"));
        assert!(
            KIND.check_rule(Some(&before), &edited).is_ok(),
            "a draft changes"
        );
        let mut published = before.clone();
        published.insert("status".into(), json!("published"));
        assert!(KIND.check_rule(Some(&before), &published).is_ok());
        let mut changed = published.clone();
        changed.insert("level".into(), json!("CCT"));
        let refused = KIND
            .check_rule(Some(&published), &changed)
            .expect_err("frozen");
        assert_eq!(refused.code, "invalid_transition");
        let mut skipped = published.clone();
        skipped.insert("status".into(), json!("at_destination"));
        assert!(KIND.check_rule(Some(&published), &skipped).is_err());
        let mut born_published = draft();
        born_published.insert("status".into(), json!("published"));
        assert!(KIND.check_rule(None, &born_published).is_err());
    }

    #[test]
    fn a_request_goes_somewhere_else_in_a_window_and_cancels_with_a_reason() {
        let mut same = draft();
        same.insert(
            "destination_facility_id".into(),
            same["origin_facility_id"].clone(),
        );
        assert!(KIND.canonical(&same, today()).is_err());
        let mut backwards = draft();
        backwards.insert("pickup_to".into(), json!("2026-12-07T13:00:00Z"));
        assert!(KIND.canonical(&backwards, today()).is_err());
        let mut cancelled = draft();
        cancelled.insert("status".into(), json!("cancelled"));
        assert!(KIND.canonical(&cancelled, today()).is_err(), "no reason");
        cancelled.insert("cancel_reason".into(), json!("patient discharged home"));
        assert!(KIND.canonical(&cancelled, today()).is_ok());
    }
}
