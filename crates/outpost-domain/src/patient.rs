//! Patient records: the fields of DESIGN.md, their validation, and how a partial update is
//! applied and described (which fields changed, from what, to what).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use ts_rs::TS;

use crate::error::ValidationError;
use crate::ids::{PatientId, UserId};
use crate::kind::{ClassAccess, Entity, Field, FieldClass, FieldType, Kind, SearchKey};
use crate::record::{Fields, canonical, to_map};
use crate::roles::Permission;

pub use crate::record::{Changes, FieldChange, HistoryEntry, PatchError};

/// The longest patient search query, in characters (hub and client alike).
pub const MAX_QUERY_CHARS: usize = 100;

/// Fields only roles with `patient.read_clinical` may see or change: the description's
/// clinical class.
pub fn clinical_fields() -> impl Iterator<Item = &'static str> {
    KIND.fields
        .iter()
        .filter(|f| f.class == FieldClass::Clinical)
        .map(|f| f.name)
}

const MAX_NAME: usize = 100;
const MAX_MRN: usize = 32;
const MAX_PHONE: usize = 32;
const MAX_EMAIL: usize = 254;
const MAX_ADDRESS: usize = 500;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, TS, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Female,
    Male,
    Other,
    #[default]
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkType {
    Private,
    SelfEmployed,
    GovtJob,
    Children,
    NeverWorked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResidenceType {
    Urban,
    Rural,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SmokingStatus {
    NeverSmoked,
    FormerlySmoked,
    Smokes,
    Unknown,
}

/// Every editable field of a patient. Unknown keys are refused so that a typo never
/// silently drops data. Absent optional fields are left out of the JSON, which is also how
/// clinical fields disappear for roles that may not read them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientFields {
    pub mrn: String,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: NaiveDate,
    #[serde(default)]
    pub sex: Sex,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The names are a pseudonym (a de-identified data set's record), not the person's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_is_pseudonym: Option<bool>,
    /// The birth date was estimated (from an age), not recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date_estimated: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hypertension: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heart_disease: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ever_married: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_type: Option<WorkType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub residence_type: Option<ResidenceType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avg_glucose_level: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bmi: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smoking_status: Option<SmokingStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stroke: Option<bool>,
}

/// A stored patient as the API answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct Patient {
    pub id: PatientId,
    #[serde(flatten)]
    pub fields: PatientFields,
    #[ts(type = "number")]
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: Option<UserId>,
}

/// The body of `PATCH /v1/patients/{id}`: the version the client edited, and the fields it
/// changed (`null` clears an optional field).
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct PatientPatch {
    pub version: i64,
    #[serde(flatten)]
    pub changes: Map<String, Value>,
}

impl PatientFields {
    /// Checks the rules JSON types cannot express: lengths, formats, plausible ranges.
    /// `today` comes from the caller's clock so that tests can pin it.
    pub fn validate(&self, today: NaiveDate) -> Result<(), ValidationError> {
        check_line("mrn", &self.mrn, MAX_MRN)?;
        if !self
            .mrn
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(ValidationError::new(
                "mrn",
                "may hold only letters, digits and '-'",
            ));
        }
        check_line("given_name", &self.given_name, MAX_NAME)?;
        check_line("family_name", &self.family_name, MAX_NAME)?;
        let earliest = NaiveDate::from_ymd_opt(1880, 1, 1).unwrap_or(NaiveDate::MIN);
        if self.birth_date > today || self.birth_date < earliest {
            return Err(ValidationError::new(
                "birth_date",
                "must lie between 1880-01-01 and today",
            ));
        }
        if let Some(phone) = &self.phone {
            check_line("phone", phone, MAX_PHONE)?;
            if !phone
                .chars()
                .all(|c| c.is_ascii_digit() || " +-().".contains(c))
            {
                return Err(ValidationError::new(
                    "phone",
                    "may hold only digits, spaces and + - ( ) .",
                ));
            }
        }
        if let Some(email) = &self.email {
            check_line("email", email, MAX_EMAIL)?;
            if !looks_like_email(email) {
                return Err(ValidationError::new("email", "is not an e-mail address"));
            }
        }
        if let Some(address) = &self.address {
            check_lines("address", address, MAX_ADDRESS)?;
        }
        check_range("avg_glucose_level", self.avg_glucose_level, 20.0, 1000.0)?;
        check_range("bmi", self.bmi, 5.0, 150.0)?;
        Ok(())
    }

    /// Whether any clinical field holds a value.
    pub fn has_clinical(&self) -> bool {
        self.hypertension.is_some()
            || self.heart_disease.is_some()
            || self.ever_married.is_some()
            || self.work_type.is_some()
            || self.residence_type.is_some()
            || self.avg_glucose_level.is_some()
            || self.bmi.is_some()
            || self.smoking_status.is_some()
            || self.stroke.is_some()
    }

    /// Clears the clinical fields, for roles that may not read them.
    pub fn redact_clinical(&mut self) {
        self.hypertension = None;
        self.heart_disease = None;
        self.ever_married = None;
        self.work_type = None;
        self.residence_type = None;
        self.avg_glucose_level = None;
        self.bmi = None;
        self.smoking_status = None;
        self.stroke = None;
    }

    /// Applies a partial update and returns the new fields with what changed. Unknown keys
    /// and wrongly typed values are refused; the result is validated as a whole.
    pub fn apply(
        &self,
        changes: &Map<String, Value>,
        today: NaiveDate,
    ) -> Result<(PatientFields, Changes), PatchError> {
        let (fields, changed) = KIND.apply(&to_map(self), changes, today)?;
        let updated = serde_json::from_value(Value::Object(fields))
            .map_err(|_| PatchError::Shape("the fields do not fit together".into()))?;
        Ok((updated, changed))
    }

    /// Every field as a creation record: each present field changes from `null`.
    pub fn as_creation(&self) -> Changes {
        crate::record::as_creation(&to_map(self))
    }
}

impl Fields for PatientFields {
    fn validate(&self, today: NaiveDate) -> Result<(), ValidationError> {
        PatientFields::validate(self, today)
    }
}

const DEMOGRAPHIC: FieldClass = FieldClass::Demographic;
const CLINICAL: FieldClass = FieldClass::Clinical;

/// The patient kind (DESIGN.md, "The HTTP API": patient fields).
pub static KIND: Kind = Kind {
    entity: Entity::Patient,
    name: "patient",
    table: "patients",
    history_table: "patient_history",
    history_key: "patient_id",
    fields: &[
        Field::new("mrn", FieldType::Text, DEMOGRAPHIC).required(),
        Field::new("given_name", FieldType::Text, DEMOGRAPHIC).required(),
        Field::new("family_name", FieldType::Text, DEMOGRAPHIC).required(),
        Field::new("birth_date", FieldType::Date, DEMOGRAPHIC).required(),
        Field::new("sex", FieldType::Text, DEMOGRAPHIC),
        Field::new("phone", FieldType::Text, DEMOGRAPHIC),
        Field::new("email", FieldType::Text, DEMOGRAPHIC),
        Field::new("address", FieldType::Text, DEMOGRAPHIC),
        Field::new("name_is_pseudonym", FieldType::Bool, DEMOGRAPHIC),
        Field::new("birth_date_estimated", FieldType::Bool, DEMOGRAPHIC),
        Field::new("hypertension", FieldType::Bool, CLINICAL),
        Field::new("heart_disease", FieldType::Bool, CLINICAL),
        Field::new("ever_married", FieldType::Bool, CLINICAL),
        Field::new("work_type", FieldType::Text, CLINICAL),
        Field::new("residence_type", FieldType::Text, CLINICAL),
        Field::new("avg_glucose_level", FieldType::Real, CLINICAL),
        Field::new("bmi", FieldType::Real, CLINICAL),
        Field::new("smoking_status", FieldType::Text, CLINICAL),
        Field::new("stroke", FieldType::Bool, CLINICAL),
    ],
    access: &[
        ClassAccess {
            class: DEMOGRAPHIC,
            read: &[Permission::PatientRead],
            write: &[Permission::PatientWrite],
        },
        ClassAccess {
            class: CLINICAL,
            read: &[Permission::PatientRead, Permission::PatientReadClinical],
            write: &[Permission::PatientWrite, Permission::PatientReadClinical],
        },
    ],
    delete: &[Permission::PatientDelete],
    search: &[
        SearchKey {
            column: "family_key",
            field: "family_name",
        },
        SearchKey {
            column: "given_key",
            field: "given_name",
        },
        SearchKey {
            column: "mrn_key",
            field: "mrn",
        },
    ],
    order: &["family_key", "given_key"],
    unique: &[SearchKey {
        column: "mrn_key",
        field: "mrn",
    }],
    no_overlap: None,
    references: &[],
    rows: None,
    check: canonical::<PatientFields>,
    rule: None,
    deletable: None,
};

/// Whether a set of field names touches a clinical field.
pub fn touches_clinical<'a>(mut keys: impl Iterator<Item = &'a String>) -> bool {
    keys.any(|k| {
        KIND.field(k)
            .is_some_and(|f| f.class == FieldClass::Clinical)
    })
}

/// A one-line field: not blank, at most `max` characters, no control character.
fn check_line(field: &str, value: &str, max: usize) -> Result<(), ValidationError> {
    crate::text::check_line(field, value)?;
    check_length(field, value, max)
}

/// A multi-line field (the address): line breaks allowed, no other control character.
fn check_lines(field: &str, value: &str, max: usize) -> Result<(), ValidationError> {
    crate::text::check_text(field, value)?;
    check_length(field, value, max)
}

fn check_length(field: &str, value: &str, max: usize) -> Result<(), ValidationError> {
    if value.trim().is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(())
}

fn check_range(field: &str, value: Option<f64>, min: f64, max: f64) -> Result<(), ValidationError> {
    match value {
        Some(v) if !(min..=max).contains(&v) => Err(ValidationError::new(
            field,
            format!("must lie between {min} and {max}"),
        )),
        _ => Ok(()),
    }
}

fn looks_like_email(email: &str) -> bool {
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.contains(char::is_whitespace)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 21).expect("date")
    }

    fn sample() -> PatientFields {
        serde_json::from_value(json!({
            "mrn": "MRN-1", "given_name": "Ada", "family_name": "Lovelace",
            "birth_date": "1990-12-10", "sex": "female", "bmi": 22.5
        }))
        .expect("sample")
    }

    #[test]
    fn patch_reports_exactly_the_changed_fields() {
        let mut changes = Map::new();
        changes.insert("phone".into(), json!("+1 555 0100"));
        changes.insert("bmi".into(), Value::Null);
        changes.insert("given_name".into(), json!("Ada"));
        let (updated, changed) = sample().apply(&changes, today()).expect("apply");
        assert_eq!(updated.phone.as_deref(), Some("+1 555 0100"));
        assert_eq!(updated.bmi, None);
        assert_eq!(
            changed.keys().map(String::as_str).collect::<Vec<_>>(),
            ["bmi", "phone"]
        );
        assert_eq!(changed["bmi"].old, json!(22.5));
    }

    #[test]
    fn patch_refuses_unknown_fields_wrong_types_and_bad_values() {
        for (key, value) in [
            ("version_x", json!(1)),
            ("bmi", json!("heavy")),
            ("birth_date", json!("1990-02-30")),
        ] {
            let mut changes = Map::new();
            changes.insert(key.into(), value);
            assert!(matches!(
                sample().apply(&changes, today()),
                Err(PatchError::Shape(_))
            ));
        }
        let mut changes = Map::new();
        changes.insert("given_name".into(), json!("x".repeat(101)));
        assert!(matches!(
            sample().apply(&changes, today()),
            Err(PatchError::Invalid(_))
        ));
    }

    #[test]
    fn validation_messages_never_echo_the_value() {
        let mut fields = sample();
        fields.email = Some("not-an-address".into());
        let err = fields.validate(today()).expect_err("invalid email");
        assert!(!err.to_string().contains("not-an-address"));
    }

    #[test]
    fn redaction_removes_clinical_keys_from_json() {
        let mut fields = sample();
        fields.redact_clinical();
        let json = serde_json::to_value(&fields).expect("json");
        assert_eq!(clinical_fields().count(), 9);
        for key in clinical_fields() {
            assert!(json.get(key).is_none(), "{key} still present");
        }
    }
}
