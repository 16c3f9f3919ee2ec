//! The demo's transport records: the hospital's facilities and a few draft requests for its
//! patients, and the EMS agency's units, one of them crewed by the demo crew, with two trips. All written
//! through the store's generic path, as the routes would.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};

use outpost_domain::audit::Actor;
use outpost_domain::{Entity, PatientId, RecordId, UserId};
use outpost_store::TenantStore;

use crate::error::ApiError;

fn object(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

/// The hospital's sites and the places it sends patients to.
const FACILITIES: &[(&str, &str, &str)] = &[
    ("St. Mary Emergency Department", "hospital", "Springfield"),
    ("St. Mary Main Campus", "hospital", "Springfield"),
    ("Oak Ridge Rehabilitation", "rehabilitation", "Shelbyville"),
    ("Riverside Nursing Home", "nursing_home", "Capital City"),
    (
        "Shelbyville Regional Medical Center",
        "hospital",
        "Shelbyville",
    ),
];

/// Stores the facilities and one draft request for each of the first `patients` (up to
/// three), with pickup windows from `now` on. Returns how many requests.
pub async fn hospital(
    db: &dyn TenantStore,
    patients: &[PatientId],
    now: DateTime<Utc>,
    actor: &Actor,
) -> Result<usize, ApiError> {
    let facilities: Vec<(RecordId, Map<String, Value>)> = FACILITIES
        .iter()
        .map(|(name, kind, city)| {
            let fields = json!({"name": name, "kind": kind, "city": city});
            (RecordId::generate(), object(fields))
        })
        .collect();
    let ids: Vec<RecordId> = facilities.iter().map(|(id, _)| *id).collect();
    db.create_records(Entity::Facility, facilities, actor)
        .await?;
    let needs = [
        (
            "ALS",
            "urgent",
            vec!["oxygen", "cardiac monitor"],
            "stretcher",
        ),
        ("BLS", "scheduled", vec![], "wheelchair"),
        (
            "CCT",
            "emergent",
            vec!["ventilator", "infusion pumps"],
            "stretcher",
        ),
    ];
    let requests: Vec<(RecordId, Map<String, Value>)> = patients
        .iter()
        .zip(needs)
        .enumerate()
        .map(|(n, (patient, (level, priority, equipment, mobility)))| {
            let from = (now + Duration::hours(2 + 3 * n as i64))
                .format("%Y-%m-%dT%H:00:00Z")
                .to_string();
            let to = (now + Duration::hours(4 + 3 * n as i64))
                .format("%Y-%m-%dT%H:00:00Z")
                .to_string();
            let fields = json!({
                "patient_id": patient, "origin_facility_id": ids[n % 2],
                "destination_facility_id": ids[2 + n], "level": level, "priority": priority,
                "pickup_from": from, "pickup_to": to, "equipment": equipment,
                "mobility": mobility, "reason": "continued care closer to home",
            });
            (RecordId::generate(), object(fields))
        })
        .collect();
    let count = requests.len();
    db.create_records(Entity::TransportRequest, requests, actor)
        .await?;
    Ok(count)
}

/// Stores the agency's units, the first carrying `crew`, and two trips assigned to it (as the
/// hub makes them when a hospital accepts the agency's bid), their pickups from `now` on.
pub async fn agency(
    db: &dyn TenantStore,
    crew: &[UserId],
    now: DateTime<Utc>,
    actor: &Actor,
) -> Result<(), ApiError> {
    let medic_1 = RecordId::generate();
    let units = [
        json!({"call_sign": "Medic 1", "level": "ALS", "capabilities": ["oxygen", "cardiac monitor"], "crew_user_ids": crew}),
        json!({"call_sign": "Medic 2", "level": "BLS", "capabilities": ["oxygen", "stair chair"]}),
        json!({"call_sign": "Critical 1", "level": "CCT", "capabilities": ["ventilator", "infusion pumps", "oxygen"]}),
        json!({"call_sign": "Medic 3", "level": "BLS", "status": "out_of_service", "notes": "brakes in the shop"}),
    ]
    .into_iter()
    .enumerate()
    .map(|(n, fields)| {
        let id = if n == 0 { medic_1 } else { RecordId::generate() };
        (id, object(fields))
    })
    .collect();
    db.create_records(Entity::Unit, units, actor).await?;
    let at = |hours: i64| {
        (now + Duration::hours(hours))
            .format("%Y-%m-%dT%H:%M:00Z")
            .to_string()
    };
    let window = |hours: i64| (at(hours), at(hours + 1));
    let trips = [
        (
            window(1),
            json!({"origin": "St. Mary Emergency Department", "origin_city": "Springfield",
                   "destination": "Oak Ridge Rehabilitation", "destination_city": "Shelbyville",
                   "level": "ALS", "priority": "urgent", "equipment": ["oxygen", "cardiac monitor"],
                   "mobility": "stretcher", "reason": "rehabilitation after a stroke",
                   "patient_name": "Harold Finch", "patient_birth_date": "1948-03-12"}),
        ),
        (
            window(4),
            json!({"origin": "St. Mary Main Campus", "origin_city": "Springfield",
                   "destination": "Riverside Nursing Home", "destination_city": "Capital City",
                   "level": "BLS", "priority": "scheduled", "mobility": "wheelchair",
                   "isolation": "contact", "reason": "return to residence",
                   "patient_name": "Margaret Ossington", "patient_birth_date": "1936-11-02"}),
        ),
    ]
    .into_iter()
    .map(|((from, to), fields)| {
        let mut fields = object(fields);
        for (key, value) in [
            ("board_entry_id", json!(RecordId::generate())),
            ("hospital", json!("St. Mary General Hospital")),
            ("pickup_from", json!(from)),
            ("pickup_to", json!(to)),
            ("unit_id", json!(medic_1)),
            ("crew_user_ids", json!(crew)),
        ] {
            fields.insert(key.into(), value);
        }
        (RecordId::generate(), fields)
    })
    .collect();
    db.create_records(Entity::Trip, trips, actor).await?;
    Ok(())
}
