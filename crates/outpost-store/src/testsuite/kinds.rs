//! The behaviour every backend must show for every kind of record, from one set of cases run
//! over [`Entity::ALL`]; and the schedule's constraints, which only the writing transaction
//! can enforce.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use serde_json::{Map, Value, json};

use outpost_domain::audit::Actor;
use outpost_domain::roles::Permission;
use outpost_domain::sync::{Op, OpAction, OpRules, OpStatus, SCHEMA_VERSION, SnapshotLine};
use outpost_domain::{Entity, OpId, RecordId};

use crate::{RecordQuery, Store, StoreError, TenantStore, WriteOutcome};

/// Monday 2026-12-07, 09:00 UTC: inside the sample practitioner's hours.
fn monday(hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 7, hour, minute, 0)
        .single()
        .expect("time")
}

fn actor() -> Actor {
    Actor::system(monday(8, 0))
}

fn today() -> NaiveDate {
    monday(8, 0).date_naive()
}

fn object(value: Value) -> Map<String, Value> {
    value.as_object().cloned().expect("an object")
}

/// A practitioner working 08:00–17:00 UTC on weekdays.
fn a_practitioner() -> Map<String, Value> {
    let hours: Vec<Value> = ["mon", "tue", "wed", "thu", "fri"]
        .iter()
        .map(|day| json!({"day": day, "start": "08:00", "end": "17:00"}))
        .collect();
    object(
        json!({"name": "Dr Grace Hopper", "specialty": "General practice", "time_zone": "UTC", "working_hours": hours}),
    )
}

fn appointment(
    practitioner: RecordId,
    patient: RecordId,
    start: DateTime<Utc>,
) -> Map<String, Value> {
    object(json!({
        "patient_id": patient, "practitioner_id": practitioner,
        "start": start, "end": start + Duration::minutes(15), "reason": "check-up",
    }))
}

/// Records the samples refer to, stored first.
struct Refs {
    patient: RecordId,
    practitioner: RecordId,
    origin: RecordId,
    destination: RecordId,
    unit: RecordId,
}

impl Refs {
    async fn store(db: &dyn TenantStore) -> Self {
        let facility =
            |name: &str| object(json!({"name": name, "kind": "hospital", "city": "Springfield"}));
        Refs {
            patient: create(db, Entity::Patient, object(json!({"mrn": "P-0", "given_name": "Alan", "family_name": "Turing", "birth_date": "1912-06-23"}))).await.expect("patient"),
            practitioner: create(db, Entity::Practitioner, a_practitioner()).await.expect("practitioner"),
            origin: create(db, Entity::Facility, facility("St Mary's")).await.expect("origin"),
            destination: create(db, Entity::Facility, facility("Oak Rehab")).await.expect("destination"),
            unit: create(db, Entity::Unit, object(json!({"call_sign": "Medic 1", "level": "ALS"}))).await.expect("unit"),
        }
    }
}

/// A valid record of `entity` (the records it names in `refs`), and a change of one of its
/// fields.
fn sample(entity: Entity, refs: &Refs) -> (Map<String, Value>, Map<String, Value>) {
    let (practitioner, patient) = (refs.practitioner, refs.patient);
    match entity {
        Entity::Patient => (
            object(
                json!({"mrn": "K-1", "given_name": "Ada", "family_name": "Byron", "birth_date": "1980-05-05"}),
            ),
            object(json!({"phone": "+1 555 0100"})),
        ),
        Entity::Practitioner => (
            a_practitioner(),
            object(json!({"specialty": "Paediatrics"})),
        ),
        Entity::CalendarEntry => (
            object(json!({"kind": "event", "title": "Team meeting", "date": "2026-12-09"})),
            object(json!({"title": "Team lunch"})),
        ),
        Entity::Appointment => (
            appointment(practitioner, patient, monday(9, 0)),
            object(json!({"status": "arrived"})),
        ),
        Entity::Facility => (
            object(
                json!({"name": "County Nursing Home", "kind": "nursing_home", "city": "Shelbyville"}),
            ),
            object(json!({"phone": "+1 555 0101"})),
        ),
        Entity::TransportRequest => (
            object(json!({
                "patient_id": patient, "origin_facility_id": refs.origin,
                "destination_facility_id": refs.destination, "level": "ALS", "priority": "urgent",
                "pickup_from": monday(14, 0), "pickup_to": monday(16, 0), "equipment": ["oxygen"],
            })),
            object(json!({"notes": "call the ward first"})),
        ),
        Entity::Unit => (
            object(
                json!({"call_sign": "Medic 2", "level": "BLS", "capabilities": ["stair chair"]}),
            ),
            object(json!({"status": "out_of_service"})),
        ),
        Entity::UnitShift => (
            object(json!({"unit_id": refs.unit, "start": monday(7, 0), "end": monday(19, 0)})),
            object(json!({"notes": "short one crew member until 09:00"})),
        ),
        Entity::Trip => (
            object(json!({
                "board_entry_id": RecordId::generate(), "hospital": "St Mary's",
                "origin": "St Mary's", "origin_city": "Springfield",
                "destination": "Oak Rehab", "destination_city": "Springfield",
                "level": "ALS", "priority": "urgent",
                "pickup_from": monday(14, 0), "pickup_to": monday(16, 0),
                "patient_name": "Alan Turing", "patient_birth_date": "1912-06-23",
                "unit_id": refs.unit,
            })),
            object(json!({"status": "en_route"})),
        ),
    }
}

fn op(
    entity: Entity,
    id: RecordId,
    action: OpAction,
    base: Option<i64>,
    fields: Map<String, Value>,
) -> Op {
    Op {
        op_id: OpId::generate(),
        entity,
        record_id: id,
        action,
        base_version: base,
        fields,
        client_time: monday(7, 0),
        schema_version: SCHEMA_VERSION,
    }
}

fn everything() -> OpRules {
    OpRules {
        permissions: Permission::ALL.iter().copied().collect(),
        user: None,
        today: today(),
    }
}

async fn clinic(store: &dyn Store, slug: &str) -> std::sync::Arc<dyn TenantStore> {
    let t = super::tenant(store, slug).await;
    store.tenant(t.id).await.expect("tenant store")
}

async fn create(
    db: &dyn TenantStore,
    entity: Entity,
    fields: Map<String, Value>,
) -> Result<RecordId, StoreError> {
    let id = RecordId::generate();
    db.create_records(entity, vec![(id, fields)], &actor())
        .await?;
    Ok(id)
}

/// Every kind: created, read, listed, changed (a stale version refused), its versions kept,
/// pushed and pulled, in the snapshot, deleted — the same way.
pub async fn every_kind_is_stored_versioned_and_synced(store: &dyn Store) {
    let db = clinic(store, "kinds-clinic").await;
    let db = db.as_ref();
    let refs = Refs::store(db).await;
    let (practitioner, patient) = (refs.practitioner, refs.patient);
    let start = db.cursor().await.expect("cursor");
    for entity in Entity::ALL {
        let (fields, change) = sample(*entity, &refs);
        let id = create(db, *entity, fields.clone())
            .await
            .unwrap_or_else(|e| panic!("{entity}: {e}"));
        let read = db
            .record(*entity, id, &actor())
            .await
            .expect("read")
            .expect("live");
        assert_eq!(read.version, 1, "{entity}");
        for (key, value) in &fields {
            assert_eq!(read.fields.get(key), Some(value), "{entity}.{key}");
        }
        let listed = db
            .list_records(
                *entity,
                &RecordQuery {
                    limit: 500,
                    ..RecordQuery::default()
                },
                &actor(),
            )
            .await
            .expect("list");
        assert!(listed.items.iter().any(|r| r.id == id), "{entity} listed");
        let updated = db
            .update_record(*entity, id, 1, &change, today(), &actor())
            .await
            .expect("update");
        assert!(
            matches!(updated, WriteOutcome::Done(ref r) if r.version == 2),
            "{entity}: {updated:?}"
        );
        let stale = db
            .update_record(*entity, id, 1, &change, today(), &actor())
            .await
            .expect("stale");
        assert!(
            matches!(stale, WriteOutcome::Stale(ref r) if r.version == 2),
            "{entity}"
        );
        let pushed = db
            .apply_ops(
                vec![op(*entity, id, OpAction::Update, Some(2), change.clone())],
                everything(),
                &actor(),
            )
            .await
            .expect("push");
        assert_eq!(pushed[0].status, OpStatus::Applied, "{entity}: {pushed:?}");
        let history = db
            .record_history(*entity, id, &actor())
            .await
            .expect("history")
            .expect("live");
        assert_eq!(
            history
                .iter()
                .map(|h| h.action.as_str())
                .collect::<Vec<_>>(),
            ["create", "update"],
            "{entity}"
        );
        let deleted = db
            .delete_record(*entity, id, Some(2), &actor())
            .await
            .expect("delete");
        assert!(matches!(deleted, WriteOutcome::Done(_)), "{entity}");
        assert!(
            db.record(*entity, id, &actor())
                .await
                .expect("read")
                .is_none(),
            "{entity} gone"
        );
        let pulled = db
            .pull(start, 1000, Entity::ALL, &actor())
            .await
            .expect("pull");
        let mine: Vec<_> = pulled
            .changes
            .iter()
            .filter(|c| c.record_id == id)
            .collect();
        assert_eq!(mine.len(), 3, "{entity}: create, update, delete");
        assert!(mine.iter().all(|c| c.entity == *entity), "{entity}");
        assert!(mine[2].record.is_none(), "{entity}: a tombstone");
    }
    // The snapshot holds every live record of every kind, each under its kind.
    for entity in Entity::ALL {
        let (fields, _) = sample(*entity, &refs);
        let fields = if *entity == Entity::Appointment {
            appointment(practitioner, patient, monday(10, 0))
        } else if *entity == Entity::Patient {
            object(
                json!({"mrn": "K-2", "given_name": "Ada", "family_name": "Byron", "birth_date": "1980-05-05"}),
            )
        } else {
            fields
        };
        create(db, *entity, fields)
            .await
            .unwrap_or_else(|e| panic!("{entity}: {e}"));
    }
    let mut lines = Vec::new();
    let mut rx = db.snapshot(Entity::ALL, &actor()).await.expect("snapshot");
    while let Some(batch) = rx.recv().await {
        lines.extend(batch.expect("batch"));
    }
    assert!(
        // The five records the samples refer to, and one of each kind.
        matches!(lines.first(), Some(SnapshotLine::Begin { records: 14, .. })),
        "{:?}",
        lines.first()
    );
    assert!(matches!(lines.last(), Some(SnapshotLine::End)));
    for entity in Entity::ALL {
        assert!(
            lines
                .iter()
                .any(|l| matches!(l, SnapshotLine::Record { entity: e, .. } if e == entity)),
            "{entity} in the snapshot"
        );
    }
    assert!(db.verify_audit().await.expect("verify").valid);
}

/// A practitioner's slot is held by one appointment; the schedule's rules refuse with their
/// codes and write nothing, over the API's path and over sync alike; a refused op leaves the
/// rest of its push to apply.
pub async fn the_schedule_refuses_what_it_must_and_writes_nothing(store: &dyn Store) {
    let db = clinic(store, "schedule-clinic").await;
    let db = db.as_ref();
    let patient = create(db, Entity::Patient, object(json!({"mrn": "P-1", "given_name": "Ada", "family_name": "Byron", "birth_date": "1980-05-05"}))).await.expect("patient");
    let practitioner = create(db, Entity::Practitioner, a_practitioner())
        .await
        .expect("practitioner");
    let booked = create(
        db,
        Entity::Appointment,
        appointment(practitioner, patient, monday(9, 0)),
    )
    .await
    .expect("booking");
    let code = |result: Result<RecordId, StoreError>| match result {
        Err(StoreError::Refused { code, .. }) => code.to_owned(),
        other => format!("{other:?}"),
    };
    assert_eq!(
        code(
            create(
                db,
                Entity::Appointment,
                appointment(practitioner, patient, monday(9, 10))
            )
            .await
        ),
        "slot_taken"
    );
    assert_eq!(
        code(
            create(
                db,
                Entity::Appointment,
                appointment(practitioner, patient, monday(7, 0))
            )
            .await
        ),
        "outside_working_hours"
    );
    // A booking for a patient or a practitioner that is not there.
    assert_eq!(
        code(
            create(
                db,
                Entity::Appointment,
                appointment(practitioner, RecordId::generate(), monday(11, 0))
            )
            .await
        ),
        "validation_failed"
    );
    assert_eq!(
        code(
            create(
                db,
                Entity::Appointment,
                appointment(RecordId::generate(), patient, monday(11, 0))
            )
            .await
        ),
        "validation_failed"
    );
    let holiday = create(
        db,
        Entity::CalendarEntry,
        object(json!({"kind": "holiday", "title": "Founders' day", "date": "2026-12-08"})),
    )
    .await
    .expect("holiday");
    let tuesday = monday(10, 0) + Duration::days(1);
    assert_eq!(
        code(
            create(
                db,
                Entity::Appointment,
                appointment(practitioner, patient, tuesday)
            )
            .await
        ),
        "clinic_closed"
    );
    // Back to back is not an overlap.
    create(
        db,
        Entity::Appointment,
        appointment(practitioner, patient, monday(9, 15)),
    )
    .await
    .expect("back to back");
    assert_eq!(bookings(db).await, 2, "nothing written by the refusals");
    // The status machine.
    let refused = db
        .update_record(
            Entity::Appointment,
            booked,
            1,
            &object(json!({"status": "completed"})),
            today(),
            &actor(),
        )
        .await;
    assert!(
        matches!(
            refused,
            Err(StoreError::Refused {
                code: "invalid_transition",
                ..
            })
        ),
        "{refused:?}"
    );
    // A cancellation frees the slot.
    let cancel = object(json!({"status": "cancelled", "cancel_reason": "patient called"}));
    let cancelled = db
        .update_record(Entity::Appointment, booked, 1, &cancel, today(), &actor())
        .await
        .expect("cancel");
    assert!(matches!(cancelled, WriteOutcome::Done(_)));
    create(
        db,
        Entity::Appointment,
        appointment(practitioner, patient, monday(9, 0)),
    )
    .await
    .expect("the freed slot");
    // Over sync: the overlapping booking is rejected with its code; the ops after it apply.
    let first = op(
        Entity::Appointment,
        RecordId::generate(),
        OpAction::Create,
        None,
        appointment(practitioner, patient, monday(11, 0)),
    );
    let clash = op(
        Entity::Appointment,
        RecordId::generate(),
        OpAction::Create,
        None,
        appointment(practitioner, patient, monday(11, 5)),
    );
    let later = op(
        Entity::Appointment,
        RecordId::generate(),
        OpAction::Create,
        None,
        appointment(practitioner, patient, monday(12, 0)),
    );
    let moved = op(
        Entity::CalendarEntry,
        holiday,
        OpAction::Update,
        Some(1),
        object(json!({"title": "Founders' day (closed)"})),
    );
    let results = db
        .apply_ops(
            vec![first, clash.clone(), later, moved],
            everything(),
            &actor(),
        )
        .await
        .expect("push");
    let statuses: Vec<_> = results
        .iter()
        .map(|r| (r.status, r.error.as_ref().map(|e| e.code.clone())))
        .collect();
    assert_eq!(
        statuses,
        [
            (OpStatus::Applied, None),
            (OpStatus::Rejected, Some("slot_taken".into())),
            (OpStatus::Applied, None),
            (OpStatus::Applied, None),
        ]
    );
    assert!(
        db.record(Entity::Appointment, clash.record_id, &actor())
            .await
            .expect("read")
            .is_none()
    );
    // A duplicate MRN is refused by the write's own statement: that op alone.
    let a = op(
        Entity::Patient,
        RecordId::generate(),
        OpAction::Create,
        None,
        object(
            json!({"mrn": "DUP-1", "given_name": "A", "family_name": "A", "birth_date": "1990-01-01"}),
        ),
    );
    let b = op(
        Entity::Patient,
        RecordId::generate(),
        OpAction::Create,
        None,
        object(
            json!({"mrn": "dup-1", "given_name": "B", "family_name": "B", "birth_date": "1990-01-01"}),
        ),
    );
    let c = op(
        Entity::Patient,
        a.record_id,
        OpAction::Update,
        Some(1),
        object(json!({"phone": "+1 555 0101"})),
    );
    let results = db
        .apply_ops(vec![a, b.clone(), c], everything(), &actor())
        .await
        .expect("push");
    let statuses: Vec<_> = results
        .iter()
        .map(|r| (r.status, r.error.as_ref().map(|e| e.code.clone())))
        .collect();
    assert_eq!(
        statuses,
        [
            (OpStatus::Applied, None),
            (OpStatus::Rejected, Some("already_exists".into())),
            (OpStatus::Applied, None),
        ]
    );
    assert!(
        db.record(Entity::Patient, b.record_id, &actor())
            .await
            .expect("read")
            .is_none()
    );
    assert!(db.verify_audit().await.expect("verify").valid);
}

/// A unit's planned shifts never overlap, over the API's path and over sync alike; another
/// unit's, a cancelled one's and a back-to-back shift are no overlap; a shift names a live
/// unit; a cancelled shift stays cancelled. Refusals write nothing.
pub async fn a_units_planned_shifts_never_overlap(store: &dyn Store) {
    let db = clinic(store, "shifts-agency").await;
    let db = db.as_ref();
    let unit = |call_sign: &str| {
        create(
            db,
            Entity::Unit,
            object(json!({"call_sign": call_sign, "level": "ALS"})),
        )
    };
    let (medic1, medic2) = (
        unit("Medic 1").await.expect("unit"),
        unit("Medic 2").await.expect("unit"),
    );
    let shift = |unit: RecordId, start: u32, end: u32| {
        object(json!({"unit_id": unit, "start": monday(start, 0), "end": monday(end, 0)}))
    };
    let code = |result: Result<RecordId, StoreError>| match result {
        Err(StoreError::Refused { code, .. }) => code.to_owned(),
        other => format!("{other:?}"),
    };
    let day = create(db, Entity::UnitShift, shift(medic1, 7, 19))
        .await
        .expect("day shift");
    assert_eq!(
        code(create(db, Entity::UnitShift, shift(medic1, 18, 22)).await),
        "slot_taken"
    );
    assert_eq!(
        code(create(db, Entity::UnitShift, shift(medic1, 8, 9)).await),
        "slot_taken"
    );
    assert_eq!(
        code(create(db, Entity::UnitShift, shift(RecordId::generate(), 7, 19)).await),
        "validation_failed"
    );
    create(db, Entity::UnitShift, shift(medic2, 7, 19))
        .await
        .expect("another unit's");
    create(db, Entity::UnitShift, shift(medic1, 19, 23))
        .await
        .expect("back to back");
    assert_eq!(shifts(db).await, 3, "nothing written by the refusals");
    // Over sync: the overlapping shift is rejected with its code; the op after it applies.
    let clash = op(
        Entity::UnitShift,
        RecordId::generate(),
        OpAction::Create,
        None,
        shift(medic2, 12, 20),
    );
    let later = op(
        Entity::UnitShift,
        RecordId::generate(),
        OpAction::Create,
        None,
        shift(medic2, 19, 23),
    );
    let statuses: Vec<_> = db
        .apply_ops(vec![clash, later], everything(), &actor())
        .await
        .expect("push")
        .iter()
        .map(|r| (r.status, r.error.as_ref().map(|e| e.code.clone())))
        .collect();
    assert_eq!(
        statuses,
        [
            (OpStatus::Rejected, Some("slot_taken".into())),
            (OpStatus::Applied, None),
        ]
    );
    // A cancelled shift frees its time and is not planned again.
    let cancel = object(json!({"status": "cancelled"}));
    let cancelled = db
        .update_record(Entity::UnitShift, day, 1, &cancel, today(), &actor())
        .await
        .expect("cancel");
    assert!(matches!(cancelled, WriteOutcome::Done(_)));
    create(db, Entity::UnitShift, shift(medic1, 8, 16))
        .await
        .expect("in the freed time");
    let again = db
        .update_record(
            Entity::UnitShift,
            day,
            2,
            &object(json!({"status": "planned"})),
            today(),
            &actor(),
        )
        .await;
    assert!(
        matches!(
            again,
            Err(StoreError::Refused {
                code: "invalid_transition",
                ..
            })
        ),
        "{again:?}"
    );
    assert_eq!(shifts(db).await, 5);
    assert!(db.verify_audit().await.expect("verify").valid);
}

async fn shifts(db: &dyn TenantStore) -> usize {
    let query = RecordQuery {
        limit: 500,
        ..RecordQuery::default()
    };
    db.list_records(Entity::UnitShift, &query, &actor())
        .await
        .expect("list")
        .items
        .len()
}

async fn bookings(db: &dyn TenantStore) -> usize {
    let query = RecordQuery {
        limit: 500,
        ..RecordQuery::default()
    };
    db.list_records(Entity::Appointment, &query, &actor())
        .await
        .expect("list")
        .items
        .len()
}
