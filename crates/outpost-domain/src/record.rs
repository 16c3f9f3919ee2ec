//! A record of any kind as the engine moves it: its id, its fields as JSON (checked by its
//! kind's description), its version and bookkeeping. Typed records (`Patient`, `Appointment`)
//! are views of it with the same JSON.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use ts_rs::TS;

use crate::error::ValidationError;
use crate::ids::{DeviceId, RecordId, SessionId, UserId};

/// A stored record of any kind. Its JSON is the typed record's: `id`, the fields, `version`,
/// `created_at`, `updated_at`, `updated_by`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Record {
    pub id: RecordId,
    #[serde(flatten)]
    pub fields: Map<String, Value>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: Option<UserId>,
}

impl Record {
    /// The typed view of this record (`Patient`, `Appointment`, …).
    pub fn to_typed<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::to_value(self).and_then(serde_json::from_value)
    }

    /// The engine's view of a typed record.
    pub fn from_typed<T: Serialize>(typed: &T) -> Result<Self, serde_json::Error> {
        serde_json::to_value(typed).and_then(serde_json::from_value)
    }

    /// A text field's value, when it holds one.
    pub fn text(&self, field: &str) -> Option<&str> {
        self.fields.get(field).and_then(Value::as_str)
    }
}

/// The body of a `PATCH`: the version the client edited, and the fields it changed (`null`
/// clears an optional field).
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct RecordPatch {
    pub version: i64,
    #[serde(flatten)]
    pub changes: Map<String, Value>,
}

/// One changed field: its value before and after (`null` when absent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct FieldChange {
    pub old: Value,
    pub new: Value,
}

/// Field name → change; ordered so that stored history is deterministic.
pub type Changes = BTreeMap<String, FieldChange>;

/// One version of a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct HistoryEntry {
    #[ts(type = "number")]
    pub version: i64,
    /// `create`, `update` or `delete`.
    pub action: String,
    #[schema(value_type = std::collections::BTreeMap<String, FieldChange>)]
    pub changes: Changes,
    pub actor_user_id: Option<UserId>,
    pub session_id: Option<SessionId>,
    pub device_id: Option<DeviceId>,
    /// When the hub recorded the version (its own clock: versions are ordered by it).
    pub at: DateTime<Utc>,
    /// For a change a device made and its sync uploaded: the device's clock when it was made.
    /// Far before `at`, the change was made offline. `None` for changes made on the hub.
    #[serde(default)]
    pub client_time: Option<DateTime<Utc>>,
}

/// Why fields could not be taken or a partial update applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PatchError {
    /// Unknown field or wrong type: the request is malformed.
    #[error("invalid fields: {0}")]
    Shape(String),
    /// Well-formed but breaks a rule.
    #[error(transparent)]
    Invalid(ValidationError),
}

/// The typed fields of one kind: how its JSON is read, and the rules JSON types cannot express.
pub trait Fields: Serialize + DeserializeOwned {
    /// Lengths, formats, plausible ranges, fields that must agree. `today` comes from the
    /// caller's clock so that tests can pin it.
    fn validate(&self, today: NaiveDate) -> Result<(), ValidationError>;
}

/// Reads `fields` as `T`, checks its rules and answers the canonical JSON of it (defaults
/// filled in, absent optionals left out). The caller has checked the field names against the
/// kind (see [`crate::kind::Kind::canonical`]); a shape error never echoes a value (it may be
/// PHI).
pub fn canonical<T: Fields>(
    fields: &Map<String, Value>,
    today: NaiveDate,
) -> Result<Map<String, Value>, PatchError> {
    let typed: T = serde_json::from_value(Value::Object(fields.clone())).map_err(|_| {
        PatchError::Shape("a field is missing, has the wrong type or an invalid value".into())
    })?;
    typed.validate(today).map_err(PatchError::Invalid)?;
    Ok(to_map(&typed))
}

/// The function that turns a kind's fields into their canonical form (its [`canonical`]).
pub type Check = fn(&Map<String, Value>, NaiveDate) -> Result<Map<String, Value>, PatchError>;

/// Applies a partial update to `current` (canonical fields) with `check` and answers the new
/// fields with what changed. Wrongly typed values are refused, naming the field; the result is
/// checked as a whole.
pub fn apply(
    current: &Map<String, Value>,
    changes: &Map<String, Value>,
    today: NaiveDate,
    check: Check,
) -> Result<(Map<String, Value>, Changes), PatchError> {
    let mut merged = current.clone();
    for (key, value) in changes {
        merged.insert(key.clone(), value.clone());
    }
    let new = match check(&merged, today) {
        Err(PatchError::Shape(_)) => {
            return Err(PatchError::Shape(bad_change(
                current, changes, today, check,
            )));
        }
        other => other?,
    };
    let changed = changes
        .keys()
        .filter_map(|key| {
            let before = current.get(key).cloned().unwrap_or(Value::Null);
            let after = new.get(key).cloned().unwrap_or(Value::Null);
            (before != after).then(|| {
                (
                    key.clone(),
                    FieldChange {
                        old: before,
                        new: after,
                    },
                )
            })
        })
        .collect();
    Ok((new, changed))
}

/// Every field as a creation: each present field changes from `null`.
pub fn as_creation(fields: &Map<String, Value>) -> Changes {
    fields
        .iter()
        .map(|(key, new)| {
            (
                key.clone(),
                FieldChange {
                    old: Value::Null,
                    new: new.clone(),
                },
            )
        })
        .collect()
}

/// The JSON object of a typed value (empty when it is not an object).
pub fn to_map<T: Serialize>(typed: &T) -> Map<String, Value> {
    match serde_json::to_value(typed) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// Names the first change that does not fit `current`, without echoing its value.
fn bad_change(
    current: &Map<String, Value>,
    changes: &Map<String, Value>,
    today: NaiveDate,
    check: Check,
) -> String {
    for (key, value) in changes {
        let mut single = current.clone();
        single.insert(key.clone(), value.clone());
        if matches!(check(&single, today), Err(PatchError::Shape(_))) {
            return format!("field `{key}` has the wrong type or an invalid value");
        }
    }
    "the fields do not fit together".to_owned()
}

/// The status of a record's fields, read as its kind's status type (its default when absent
/// or unreadable: a creation that leaves it out).
pub(crate) fn status_of<S: DeserializeOwned + Default>(fields: &Map<String, Value>) -> S {
    fields
        .get("status")
        .cloned()
        .and_then(|s| serde_json::from_value(s).ok())
        .unwrap_or_default()
}
