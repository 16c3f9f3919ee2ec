//! The decisions of a write, made once for both backends and every kind: from what a backend
//! read (the record as it is, the fields others changed since the writer's version), what to
//! write or what to answer. Backends read, call these, and write what they say; nothing here
//! does I/O.
//!
//! One rule for a push on both backends: every refusal is decided before the op's first
//! write, or by that write's own statement (a unique key), so a refused op writes nothing and
//! the ops after it still apply.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};

use outpost_domain::Kind;
use outpost_domain::RecordId;
use outpost_domain::kind::{NoOverlap, Reference, Refusal};
use outpost_domain::record::{Changes, PatchError, Record};
use outpost_domain::sync::{Op, OpAction, OpError, OpResult, OpRules, OpStatus};

use crate::changes::{op_conflict, op_done, op_rejected};
use crate::error::StoreError;

/// A record as a backend read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub record: Record,
    /// A tombstone: deleted, with its history kept.
    pub deleted: bool,
}

/// What to do with an op or a change.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Write nothing; this is the answer.
    Answer(OpResult),
    /// Write the record with `fields`: a creation when `before` is `None`.
    Write(Write),
    /// Tombstone `current`.
    Delete { status: OpStatus, current: Record },
}

/// A record to write.
#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    pub status: OpStatus,
    pub before: Option<Record>,
    /// Every field after the write, canonical.
    pub fields: Map<String, Value>,
    /// What changed (every field, from `null`, for a creation).
    pub changes: Changes,
}

/// The version after which others' changes must be read to plan `op`: its base, when the
/// record has moved on since.
pub fn history_needed(op: &Op, current: Option<&Stored>) -> Option<i64> {
    match (op.action, op.base_version, current) {
        (OpAction::Create, _, _) | (_, None, _) | (_, _, None) => None,
        (_, Some(base), Some(stored)) => (base != stored.record.version).then_some(base),
    }
}

/// Decides an op. `others`: the fields changed on the hub after the op's base version by
/// anyone but this user on this device (see [`history_needed`]; empty when not needed).
/// `blocked`: an earlier op of this push on the same record did not apply, so this one, made
/// on top of it, cannot either.
pub fn op(
    kind: &Kind,
    op: &Op,
    rules: &OpRules,
    current: Option<Stored>,
    others: &BTreeSet<String>,
    blocked: bool,
) -> Step {
    if blocked {
        return Step::Answer(match current {
            Some(stored) => op_conflict(op, stored.record, stored.deleted),
            None => op_rejected(
                op,
                "not_found",
                "an earlier op on this record was not applied",
            ),
        });
    }
    if let Err(error) = rules.check(op) {
        return Step::Answer(OpResult {
            error: Some(error),
            ..op_rejected(op, "", "")
        });
    }
    if op.action == OpAction::Create && !kind.may_create_rows(rules.user, &rules.permissions) {
        return Step::Answer(op_rejected(
            op,
            "forbidden",
            format!("your role may not create {}", kind.table.replace('_', " ")),
        ));
    }
    if current
        .as_ref()
        .is_some_and(|s| !kind.row_visible(&s.record.fields, rules.user, &rules.permissions))
    {
        // Not one of the caller's: as if it were not there.
        return Step::Answer(op_rejected(op, "not_found", "no such record"));
    }
    match (op.action, current) {
        (OpAction::Create, Some(_)) => Step::Answer(op_rejected(
            op,
            "already_exists",
            "a record with this id already exists",
        )),
        (OpAction::Create, None) => match creation(kind, &op.fields, rules.today) {
            Ok(write) => Step::Write(write),
            Err(error) => Step::Answer(rejected(op, error)),
        },
        (_, None) => Step::Answer(op_rejected(op, "not_found", "no such record")),
        (OpAction::Update, Some(stored)) if stored.deleted => {
            Step::Answer(op_conflict(op, stored.record, true))
        }
        (OpAction::Update, Some(stored)) => {
            let Some(status) = merge_status(kind, others, op.fields.keys()) else {
                return Step::Answer(op_conflict(op, stored.record, false));
            };
            match update(kind, stored.record.clone(), &op.fields, rules.today, status) {
                Ok(write) if write.changes.is_empty() => {
                    Step::Answer(op_done(op, status, stored.record))
                }
                Ok(write) => Step::Write(write),
                Err(error) => Step::Answer(rejected(op, error)),
            }
        }
        (OpAction::Delete, Some(stored)) if stored.deleted => Step::Answer(OpResult {
            record: None,
            ..op_done(op, OpStatus::Applied, stored.record)
        }),
        (OpAction::Delete, Some(stored)) => {
            if let Some(refusal) = kind.deletion_refusal(&stored.record.fields) {
                Step::Answer(rejected(op, Refused::Rule(refusal)))
            } else if others.is_empty() {
                Step::Delete {
                    status: OpStatus::Applied,
                    current: stored.record,
                }
            } else {
                Step::Answer(op_conflict(op, stored.record, false))
            }
        }
    }
}

/// Why a write of a kind's fields is refused: the fields themselves, or the kind's rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Refused {
    Fields(PatchError),
    Rule(Refusal),
}

/// A creation of `fields`: canonical, valid, allowed by the kind's rule.
pub fn creation(
    kind: &Kind,
    fields: &Map<String, Value>,
    today: NaiveDate,
) -> Result<Write, Refused> {
    let fields = kind.canonical(fields, today).map_err(Refused::Fields)?;
    kind.check_rule(None, &fields).map_err(Refused::Rule)?;
    Ok(Write {
        status: OpStatus::Applied,
        before: None,
        changes: outpost_domain::record::as_creation(&fields),
        fields,
    })
}

/// An update of `current` by `changes`: valid as a whole and allowed by the kind's rule. A
/// write with no changes writes nothing (the caller answers the record as it is).
pub fn update(
    kind: &Kind,
    current: Record,
    changes: &Map<String, Value>,
    today: NaiveDate,
    status: OpStatus,
) -> Result<Write, Refused> {
    let (fields, changed) = kind
        .apply(&current.fields, changes, today)
        .map_err(Refused::Fields)?;
    kind.check_rule(Some(&current.fields), &fields)
        .map_err(Refused::Rule)?;
    Ok(Write {
        status,
        before: Some(current),
        fields,
        changes: changed,
    })
}

/// `Applied` when nobody else changed the record since the op's base, `Merged` when others
/// changed only other fields (and other merge groups), `None` (a conflict) otherwise.
pub fn merge_status<'a>(
    kind: &Kind,
    others: &BTreeSet<String>,
    fields: impl Iterator<Item = &'a String>,
) -> Option<OpStatus> {
    if others.is_empty() {
        return Some(OpStatus::Applied);
    }
    let theirs = kind.merge_groups(others.iter());
    let mine = kind.merge_groups(fields);
    mine.is_disjoint(&theirs).then_some(OpStatus::Merged)
}

/// The op's answer to a refused write.
pub fn rejected(op: &Op, refused: Refused) -> OpResult {
    let error = refusal(refused);
    OpResult {
        error: Some(error),
        ..op_rejected(op, "", "")
    }
}

/// The code and sentence of a refused write (never a value).
pub fn refusal(refused: Refused) -> OpError {
    match refused {
        Refused::Fields(PatchError::Shape(message)) => OpError {
            code: "invalid_input".into(),
            message,
        },
        Refused::Fields(PatchError::Invalid(v)) => OpError {
            code: if v.malformed {
                "invalid_input"
            } else {
                "validation_failed"
            }
            .into(),
            message: v.to_string(),
        },
        Refused::Rule(Refusal { code, message }) => OpError {
            code: code.into(),
            message,
        },
    }
}

impl From<Refused> for StoreError {
    /// A refused creation or change outside a push, as the store's error.
    fn from(refused: Refused) -> Self {
        match refused {
            Refused::Fields(err) => crate::changes::patch_error(err),
            Refused::Rule(refusal) => StoreError::Refused {
                code: refusal.code,
                message: refusal.message,
            },
        }
    }
}

/// The slot a write holds under a no-overlap rule: its start, end and group, read from
/// canonical fields.
pub fn slot(
    rule: &NoOverlap,
    fields: &Map<String, Value>,
) -> Result<(DateTime<Utc>, DateTime<Utc>, String), StoreError> {
    let text = |name: &str| {
        fields
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| StoreError::Corrupt(format!("a slot lacks its {name}")))
    };
    let at = |name: &str| -> Result<DateTime<Utc>, StoreError> {
        DateTime::parse_from_rfc3339(text(name)?)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| StoreError::Corrupt(format!("a slot's {name} is not a time")))
    };
    Ok((at(rule.start)?, at(rule.end)?, text(rule.group)?.to_owned()))
}

/// The records a write names in its changed reference fields (an appointment's patient):
/// each must be live, or the write is refused with [`missing_reference`].
pub fn references(
    kind: &Kind,
    write: &Write,
) -> Result<Vec<(&'static Reference, RecordId)>, StoreError> {
    kind.references
        .iter()
        .filter(|r| write.changes.contains_key(r.field))
        .filter_map(|r| {
            let id = write.fields.get(r.field)?.as_str()?;
            Some(
                id.parse::<RecordId>()
                    .map(|id| (r, id))
                    .map_err(|_| StoreError::Corrupt(format!("`{}` is not an id", r.field))),
            )
        })
        .collect()
}

/// The refusal of a write naming a record that is not there (or deleted).
pub fn missing_reference(reference: &Reference) -> Refusal {
    Refusal {
        code: "validation_failed",
        message: format!(
            "`{}` names no {}",
            reference.field,
            reference.to.as_str().replace('_', " ")
        ),
    }
}

/// Ops of one push on records that an earlier op of the push left unapplied.
#[derive(Debug, Default)]
pub struct Blocked(BTreeSet<RecordId>);

impl Blocked {
    pub fn contains(&self, op: &Op) -> bool {
        self.0.contains(&op.record_id)
    }

    /// Notes the answer to `op`: later ops on its record are blocked unless it applied.
    pub fn note(&mut self, op: &Op, result: &OpResult) {
        if matches!(result.status, OpStatus::Conflict | OpStatus::Rejected) {
            self.0.insert(op.record_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone, Utc};
    use serde_json::json;

    use outpost_domain::roles::Permission;
    use outpost_domain::sync::SCHEMA_VERSION;
    use outpost_domain::{Entity, OpId};

    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 6).expect("date")
    }

    fn rules(permissions: &[Permission]) -> OpRules {
        OpRules {
            permissions: permissions.iter().copied().collect(),
            user: None,
            today: today(),
        }
    }

    fn front_desk() -> OpRules {
        rules(&[
            Permission::PatientRead,
            Permission::PatientWrite,
            Permission::AppointmentRead,
            Permission::AppointmentWrite,
        ])
    }

    fn op(entity: Entity, action: OpAction, base: Option<i64>, fields: serde_json::Value) -> Op {
        Op {
            op_id: OpId::generate(),
            entity,
            record_id: RecordId::generate(),
            action,
            base_version: base,
            fields: fields.as_object().cloned().unwrap_or_default(),
            client_time: Utc
                .with_ymd_and_hms(2026, 12, 6, 9, 0, 0)
                .single()
                .expect("time"),
            schema_version: SCHEMA_VERSION,
        }
    }

    fn stored(entity: Entity, fields: serde_json::Value, version: i64, deleted: bool) -> Stored {
        let fields = entity
            .kind()
            .canonical(fields.as_object().expect("object"), today())
            .expect("valid fields");
        Stored {
            record: Record {
                id: RecordId::generate(),
                fields,
                version,
                created_at: Utc::now(),
                updated_at: Utc::now(),
                updated_by: None,
            },
            deleted,
        }
    }

    fn patient() -> serde_json::Value {
        json!({"mrn": "MRN-1", "given_name": "Ada", "family_name": "Lovelace", "birth_date": "1990-12-10"})
    }

    fn appointment() -> serde_json::Value {
        json!({
            "patient_id": RecordId::generate(), "practitioner_id": RecordId::generate(),
            "start": "2026-12-07T09:00:00Z", "end": "2026-12-07T09:15:00Z",
        })
    }

    /// What a step comes to, for comparing: an answer's status and code, or the write.
    fn outcome(step: &Step) -> String {
        match step {
            Step::Answer(result) => match &result.error {
                Some(error) => format!("{:?} {}", result.status, error.code),
                None => format!("{:?}", result.status),
            },
            Step::Write(write) if write.before.is_none() => "insert".into(),
            Step::Write(write) => format!("update {:?}", write.status),
            Step::Delete { .. } => "delete".into(),
        }
    }

    fn others(fields: &[&str]) -> BTreeSet<String> {
        fields.iter().map(|f| (*f).to_owned()).collect()
    }

    #[test]
    fn every_op_gets_its_step() {
        use Entity::{Appointment, Patient};
        use OpAction::{Create, Delete, Update};
        let doctor = rules(&[
            Permission::PatientRead,
            Permission::PatientReadClinical,
            Permission::PatientWrite,
            Permission::PatientDelete,
        ]);
        // (case, op, rules, the record as stored, fields others changed, blocked, outcome)
        type Case = (
            &'static str,
            Op,
            OpRules,
            Option<Stored>,
            Vec<&'static str>,
            bool,
            &'static str,
        );
        let cases: Vec<Case> = vec![
            (
                "a new patient",
                op(Patient, Create, None, patient()),
                front_desk(),
                None,
                vec![],
                false,
                "insert",
            ),
            (
                "an id already taken",
                op(Patient, Create, None, patient()),
                front_desk(),
                Some(stored(Patient, patient(), 1, false)),
                vec![],
                false,
                "Rejected already_exists",
            ),
            (
                "fields of no patient",
                op(Patient, Create, None, json!({"mrn": "X"})),
                front_desk(),
                None,
                vec![],
                false,
                "Rejected invalid_input",
            ),
            (
                "an unknown field",
                op(Patient, Create, None, json!({"mrn": "X", "colour": "red"})),
                front_desk(),
                None,
                vec![],
                false,
                "Rejected invalid_input",
            ),
            (
                "a rule broken",
                op(
                    Patient,
                    Create,
                    None,
                    json!({"mrn": "X", "given_name": "A", "family_name": "B", "birth_date": "2999-01-01"}),
                ),
                front_desk(),
                None,
                vec![],
                false,
                "Rejected validation_failed",
            ),
            (
                "clinical fields by the front desk",
                op(Patient, Update, Some(1), json!({"bmi": 22.0})),
                front_desk(),
                Some(stored(Patient, patient(), 1, false)),
                vec![],
                false,
                "Rejected forbidden",
            ),
            (
                "a delete by the front desk",
                op(Patient, Delete, Some(1), json!({})),
                front_desk(),
                Some(stored(Patient, patient(), 1, false)),
                vec![],
                false,
                "Rejected forbidden",
            ),
            (
                "an update without a base",
                op(Patient, Update, None, json!({"phone": "1"})),
                front_desk(),
                Some(stored(Patient, patient(), 1, false)),
                vec![],
                false,
                "Rejected invalid_input",
            ),
            (
                "an update of no record",
                op(Patient, Update, Some(1), json!({"phone": "1"})),
                front_desk(),
                None,
                vec![],
                false,
                "Rejected not_found",
            ),
            (
                "an update of a deleted record",
                op(Patient, Update, Some(1), json!({"phone": "1"})),
                front_desk(),
                Some(stored(Patient, patient(), 2, true)),
                vec![],
                false,
                "Conflict",
            ),
            (
                "an update on the current version",
                op(Patient, Update, Some(1), json!({"phone": "1"})),
                front_desk(),
                Some(stored(Patient, patient(), 1, false)),
                vec![],
                false,
                "update Applied",
            ),
            (
                "others changed other fields",
                op(Patient, Update, Some(1), json!({"phone": "1"})),
                front_desk(),
                Some(stored(Patient, patient(), 2, false)),
                vec!["address"],
                false,
                "update Merged",
            ),
            (
                "others changed the same field",
                op(Patient, Update, Some(1), json!({"phone": "1"})),
                front_desk(),
                Some(stored(Patient, patient(), 2, false)),
                vec!["phone"],
                false,
                "Conflict",
            ),
            (
                "nothing changes",
                op(Patient, Update, Some(1), json!({"given_name": "Ada"})),
                front_desk(),
                Some(stored(Patient, patient(), 1, false)),
                vec![],
                false,
                "Applied",
            ),
            (
                "a delete of a deleted record",
                op(Patient, Delete, Some(1), json!({})),
                doctor.clone(),
                Some(stored(Patient, patient(), 2, true)),
                vec![],
                false,
                "Applied",
            ),
            (
                "a delete on the current version",
                op(Patient, Delete, Some(1), json!({})),
                doctor.clone(),
                Some(stored(Patient, patient(), 1, false)),
                vec![],
                false,
                "delete",
            ),
            (
                "a delete after others changed it",
                op(Patient, Delete, Some(1), json!({})),
                doctor,
                Some(stored(Patient, patient(), 2, false)),
                vec!["phone"],
                false,
                "Conflict",
            ),
            (
                "after an earlier op did not apply",
                op(Patient, Update, Some(1), json!({"phone": "1"})),
                front_desk(),
                Some(stored(Patient, patient(), 1, false)),
                vec![],
                true,
                "Conflict",
            ),
            (
                "after an earlier create did not apply",
                op(Patient, Update, Some(1), json!({"phone": "1"})),
                front_desk(),
                None,
                vec![],
                true,
                "Rejected not_found",
            ),
            (
                "a booking",
                op(Appointment, Create, None, appointment()),
                front_desk(),
                None,
                vec![],
                false,
                "insert",
            ),
            (
                "a booking made as arrived",
                op(
                    Appointment,
                    Create,
                    None,
                    json!({"status": "arrived"})
                        .as_object()
                        .map(|s| {
                            let mut a = appointment();
                            a.as_object_mut().expect("object").extend(s.clone());
                            a
                        })
                        .expect("fields"),
                ),
                front_desk(),
                None,
                vec![],
                false,
                "Rejected invalid_transition",
            ),
            (
                "a check-in",
                op(Appointment, Update, Some(1), json!({"status": "arrived"})),
                front_desk(),
                Some(stored(Appointment, appointment(), 1, false)),
                vec![],
                false,
                "update Applied",
            ),
            (
                "a booking by a role without the schedule",
                op(Appointment, Create, None, appointment()),
                rules(&[Permission::PatientRead]),
                None,
                vec![],
                false,
                "Rejected forbidden",
            ),
            (
                "a move while others moved it",
                op(
                    Appointment,
                    Update,
                    Some(1),
                    json!({"end": "2026-12-07T09:30:00Z"}),
                ),
                front_desk(),
                Some(stored(Appointment, appointment(), 2, false)),
                vec!["start"],
                false,
                "Conflict",
            ),
            (
                "a check-in while others moved it",
                op(Appointment, Update, Some(1), json!({"status": "arrived"})),
                front_desk(),
                Some(stored(Appointment, appointment(), 2, false)),
                vec!["start", "end"],
                false,
                "update Merged",
            ),
            (
                "a cancel while others checked in",
                op(
                    Appointment,
                    Update,
                    Some(1),
                    json!({"status": "cancelled", "cancel_reason": "ill"}),
                ),
                front_desk(),
                Some(stored(Appointment, appointment(), 2, false)),
                vec!["status"],
                false,
                "Conflict",
            ),
        ];
        for (name, op, rules, current, changed, blocked, expected) in cases {
            let kind = op.entity.kind();
            let step = super::op(kind, &op, &rules, current, &others(&changed), blocked);
            assert_eq!(outcome(&step), expected, "{name}");
        }
    }

    #[test]
    fn a_write_records_exactly_what_changed() {
        let current = stored(Entity::Patient, patient(), 1, false);
        let update = op(
            Entity::Patient,
            OpAction::Update,
            Some(1),
            json!({"phone": "+1 555", "given_name": "Ada"}),
        );
        let Step::Write(write) = super::op(
            Entity::Patient.kind(),
            &update,
            &front_desk(),
            Some(current),
            &BTreeSet::new(),
            false,
        ) else {
            panic!("a write");
        };
        assert_eq!(write.changes.keys().collect::<Vec<_>>(), ["phone"]);
        assert_eq!(write.fields["given_name"], json!("Ada"));
    }

    #[test]
    fn a_record_is_blocked_after_an_op_on_it_did_not_apply() {
        let mut blocked = Blocked::default();
        let first = op(Entity::Patient, OpAction::Update, Some(1), json!({}));
        let mut second = op(Entity::Patient, OpAction::Update, Some(2), json!({}));
        second.record_id = first.record_id;
        assert!(!blocked.contains(&second));
        blocked.note(&first, &op_rejected(&first, "validation_failed", "x"));
        assert!(blocked.contains(&second));
        let other = op(Entity::Patient, OpAction::Update, Some(1), json!({}));
        blocked.note(
            &other,
            &op_done(
                &other,
                OpStatus::Applied,
                stored(Entity::Patient, patient(), 1, false).record,
            ),
        );
        assert!(!blocked.contains(&other));
    }

    #[test]
    fn a_crew_reaches_only_its_unit_s_trips_and_creates_none() {
        let crew_member = outpost_domain::UserId::generate();
        let crew = OpRules {
            user: Some(crew_member),
            ..rules(&[Permission::TripRead, Permission::TripUpdateStatus])
        };
        let trip = |crew: &[outpost_domain::UserId]| {
            json!({
                "board_entry_id": RecordId::generate(), "hospital": "St Mary's",
                "origin": "St Mary's", "origin_city": "Springfield",
                "destination": "Oak Rehab", "destination_city": "Springfield",
                "level": "BLS", "priority": "scheduled",
                "pickup_from": "2026-12-07T14:00:00Z", "pickup_to": "2026-12-07T16:00:00Z",
                "patient_name": "Ada Byron", "patient_birth_date": "1950-02-03",
                "unit_id": RecordId::generate(), "crew_user_ids": crew,
            })
        };
        let step = json!({"status": "en_route"});
        let kind = Entity::Trip.kind();
        let mine = stored(Entity::Trip, trip(&[crew_member]), 1, false);
        let theirs = stored(Entity::Trip, trip(&[]), 1, false);
        let on = |rules: &OpRules, stored: Stored| {
            let update = op(Entity::Trip, OpAction::Update, Some(1), step.clone());
            outcome(&super::op(
                kind,
                &update,
                rules,
                Some(stored),
                &BTreeSet::new(),
                false,
            ))
        };
        assert_eq!(on(&crew, mine.clone()), "update Applied");
        assert_eq!(on(&crew, theirs.clone()), "Rejected not_found");
        let dispatcher = OpRules {
            user: Some(outpost_domain::UserId::generate()),
            ..rules(&[
                Permission::TripRead,
                Permission::TripAssign,
                Permission::TripUpdateStatus,
            ])
        };
        assert_eq!(on(&dispatcher, theirs), "update Applied");
        let create = op(Entity::Trip, OpAction::Create, None, trip(&[crew_member]));
        assert_eq!(
            outcome(&super::op(
                kind,
                &create,
                &crew,
                None,
                &BTreeSet::new(),
                false
            )),
            "Rejected forbidden"
        );
        // Who rides a trip (and reads its patient) is the hub's to set, not the dispatcher's.
        let creating = |fields: Value| {
            let create = op(Entity::Trip, OpAction::Create, None, fields);
            outcome(&super::op(
                kind,
                &create,
                &dispatcher,
                None,
                &BTreeSet::new(),
                false,
            ))
        };
        assert_eq!(creating(trip(&[crew_member])), "Rejected forbidden");
        assert_eq!(creating(trip(&[])), "insert");
        let ride = op(
            Entity::Trip,
            OpAction::Update,
            Some(1),
            json!({"crew_user_ids": [dispatcher.user]}),
        );
        assert_eq!(
            outcome(&super::op(
                kind,
                &ride,
                &dispatcher,
                Some(mine),
                &BTreeSet::new(),
                false
            )),
            "Rejected forbidden"
        );
    }
}
