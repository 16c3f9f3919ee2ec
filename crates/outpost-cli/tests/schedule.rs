//! The schedule offline: two front desks book the same slot with the hub away; when it
//! returns one booking applies and the other is refused and surfaced, settled by moving it
//! (sent again) or cancelling it (discarded), and every copy ends the same as the hub's.

mod common;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use common::{Hub, PASSWORD, client, no_progress, run};
use outpost_client::{Client, ClientError, ErrorCode};
use outpost_domain::audit::Actor;
use outpost_domain::schedule::appointment::{AppointmentFields, AppointmentStatus};
use outpost_domain::tenant::Tenant;
use outpost_domain::{Entity, PatientId, PractitionerId, RecordId, Role, TenantKind};
use outpost_store::{RecordQuery, Store};

/// Monday 2027-01-04 at `hour:minute` UTC.
fn monday(hour: u32, minute: u32) -> DateTime<Utc> {
    format!("2027-01-04T{hour:02}:{minute:02}:00Z")
        .parse()
        .expect("time")
}

fn booking(
    patient: PatientId,
    practitioner: PractitionerId,
    start: DateTime<Utc>,
) -> AppointmentFields {
    AppointmentFields {
        patient_id: patient,
        practitioner_id: practitioner,
        start,
        end: start + Duration::minutes(15),
        reason: Some("check-up".into()),
        notes: None,
        status: AppointmentStatus::Booked,
        cancel_reason: None,
    }
}

async fn practitioner(hub: &Hub, clinic: &Tenant) -> PractitionerId {
    let hours: Vec<_> = ["mon", "tue", "wed", "thu", "fri"]
        .iter()
        .map(|day| json!({"day": day, "start": "08:00", "end": "17:00"}))
        .collect();
    let fields = json!({"name": "Dr Grace Hopper", "time_zone": "UTC", "working_hours": hours});
    let id = RecordId::generate();
    let mut actor = Actor::system(Utc::now());
    actor.tenant_id = Some(clinic.id);
    hub.store()
        .tenant(clinic.id)
        .await
        .expect("store")
        .create_records(
            Entity::Practitioner,
            vec![(id, fields.as_object().cloned().expect("object"))],
            &actor,
        )
        .await
        .expect("practitioner");
    id.into()
}

async fn desk(hub: &Hub, clinic: &Tenant, home: &std::path::Path) -> Client {
    let mut c = client(home, Arc::new(outpost_domain::clock::SystemClock));
    let email = hub.user(clinic, Role::FrontDesk).await;
    c.login(&hub.url(), None, &email, PASSWORD)
        .await
        .expect("login");
    c.sync(&mut no_progress()).await.expect("mirror");
    c
}

/// The day's bookings as (id, start, status), from a client.
fn day(c: &mut Client) -> Vec<(String, DateTime<Utc>, AppointmentStatus)> {
    c.appointments(monday(0, 0), monday(23, 59), None)
        .expect("appointments")
        .into_iter()
        .map(|a| {
            (
                a.appointment.id.to_string(),
                a.appointment.fields.start,
                a.appointment.fields.status,
            )
        })
        .collect()
}

/// The day's bookings as the hub holds them.
async fn hub_day(hub: &Hub, clinic: &Tenant) -> Vec<(String, DateTime<Utc>, AppointmentStatus)> {
    let query = RecordQuery {
        limit: 500,
        ..RecordQuery::default()
    };
    let page = hub
        .store()
        .tenant(clinic.id)
        .await
        .expect("store")
        .list_records(Entity::Appointment, &query, &Actor::system(Utc::now()))
        .await
        .expect("list");
    page.items
        .iter()
        .map(|r| {
            let a: outpost_domain::schedule::appointment::Appointment =
                r.to_typed().expect("typed");
            (a.id.to_string(), a.fields.start, a.fields.status)
        })
        .collect()
}

#[tokio::test]
async fn two_desks_book_one_slot_offline_and_end_with_one_booking_each_settled_their_way() {
    let mut hub = Hub::start().await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    let patients: Vec<PatientId> = hub
        .patients(&clinic, "SL", 4)
        .await
        .iter()
        .map(|p| p.id)
        .collect();
    let doctor = practitioner(&hub, &clinic).await;
    let (a_home, b_home) = (
        tempfile::tempdir().expect("a"),
        tempfile::tempdir().expect("b"),
    );
    let mut a = desk(&hub, &clinic, a_home.path()).await;
    let mut b = desk(&hub, &clinic, b_home.path()).await;
    assert_eq!(a.practitioners().expect("mirrored").len(), 1);

    // The hub goes away; both desks book 09:00 (B a few minutes later, overlapping).
    hub.pause().await;
    let mine = a
        .book(booking(patients[0], doctor, monday(9, 0)))
        .expect("a books offline");
    let theirs = b
        .book(booking(patients[1], doctor, monday(9, 5)))
        .expect("b books offline");
    // Each desk's own copy refuses a second booking of a slot it knows is taken.
    let again = a.book(booking(patients[2], doctor, monday(9, 10)));
    assert!(
        matches!(again, Err(ClientError::SlotTaken(ref id)) if *id == mine.id.to_string()),
        "{again:?}"
    );
    let closed = a.book(booking(patients[2], doctor, monday(7, 0)));
    assert!(
        matches!(&closed, Err(e) if e.code() == ErrorCode::OutsideWorkingHours),
        "{closed:?}"
    );

    // The hub returns: A's booking applies, B's is refused and shown, never dropped.
    hub.resume().await;
    let report = a.sync(&mut no_progress()).await.expect("a sync");
    assert_eq!(report.applied, 1, "{report:?}");
    let report = b.sync(&mut no_progress()).await.expect("b sync");
    assert_eq!(report.rejected, 1, "{report:?}");
    let conflicts = b.conflicts().expect("conflicts");
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].entity, Entity::Appointment);
    assert_eq!(conflicts[0].code.as_deref(), Some("slot_taken"));
    assert!(
        day(&mut b)
            .iter()
            .any(|(id, ..)| *id == theirs.id.to_string()),
        "kept locally"
    );

    // B moves its booking to a free slot: it is sent again and applies.
    b.move_appointment(theirs.id, monday(9, 30), monday(9, 45), None)
        .expect("move");
    assert!(b.conflicts().expect("none").is_empty());
    let report = b.sync(&mut no_progress()).await.expect("b sync the move");
    assert_eq!(report.applied, 1, "{report:?}");
    a.sync(&mut no_progress()).await.expect("a pulls");
    let expected = vec![
        (mine.id.to_string(), monday(9, 0), AppointmentStatus::Booked),
        (
            theirs.id.to_string(),
            monday(9, 30),
            AppointmentStatus::Booked,
        ),
    ];
    assert_eq!(day(&mut a), expected);
    assert_eq!(day(&mut b), expected);
    assert_eq!(hub_day(&hub, &clinic).await, expected);

    // Again offline, B books over A's slot; this time B cancels its refused booking: it is
    // discarded here and the hub never had it.
    hub.pause().await;
    let clash = b
        .book(booking(patients[3], doctor, monday(11, 0)))
        .expect("b books");
    a.check_in(mine.id).expect("a checks in");
    let late = a
        .book(booking(patients[3], doctor, monday(11, 0)))
        .expect("a books");
    hub.resume().await;
    a.sync(&mut no_progress()).await.expect("a sync");
    let report = b.sync(&mut no_progress()).await.expect("b sync");
    assert_eq!(report.rejected, 1, "{report:?}");
    let cancelled = b
        .cancel_appointment(clash.id, "booked twice")
        .expect("cancel");
    assert!(cancelled.is_none(), "discarded, not cancelled on the hub");
    b.sync(&mut no_progress()).await.expect("b settles");
    a.sync(&mut no_progress()).await.expect("a settles");
    let expected = vec![
        (
            mine.id.to_string(),
            monday(9, 0),
            AppointmentStatus::Arrived,
        ),
        (
            theirs.id.to_string(),
            monday(9, 30),
            AppointmentStatus::Booked,
        ),
        (
            late.id.to_string(),
            monday(11, 0),
            AppointmentStatus::Booked,
        ),
    ];
    assert_eq!(day(&mut a), expected);
    assert_eq!(day(&mut b), expected);
    assert_eq!(hub_day(&hub, &clinic).await, expected);
    assert!(b.conflicts().expect("none").is_empty());
    let status = b.status().expect("status");
    assert_eq!((status.pending_ops, status.conflicts), (0, 0));
    hub.pause().await;
}

// Several threads: the hub serves the `outpost` processes the test waits for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_lists_the_day_and_books_moves_checks_in_and_cancels() {
    let hub = Hub::start().await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    let patients: Vec<PatientId> = hub
        .patients(&clinic, "CL", 2)
        .await
        .iter()
        .map(|p| p.id)
        .collect();
    let doctor = practitioner(&hub, &clinic).await;
    let home = tempfile::tempdir().expect("home");
    desk(&hub, &clinic, home.path()).await;
    let home = home.path();

    let (ok, listed) = run(home, &["practitioner", "list"]);
    assert!(ok, "{listed}");
    assert_eq!(listed[0]["name"], "Dr Grace Hopper");
    let (patient, other, doctor) = (
        patients[0].to_string(),
        patients[1].to_string(),
        doctor.to_string(),
    );
    let book = |start: &str, patient: &str| {
        run(
            home,
            &[
                "appointment",
                "book",
                "--patient",
                patient,
                "--practitioner",
                &doctor,
                "--start",
                start,
                "--minutes",
                "20",
            ],
        )
    };
    let (ok, booked) = book("2027-01-04T09:00", &patient);
    assert!(ok, "{booked}");
    assert_eq!(booked["end"], "2027-01-04T09:20:00Z");
    let id = booked["id"].as_str().expect("id").to_owned();
    let (ok, taken) = book("2027-01-04T09:10", &other);
    assert!(!ok);
    assert_eq!(taken["error"]["code"], "slot_taken", "{taken}");
    let (ok, moved) = run(
        home,
        &["appointment", "move", &id, "--start", "2027-01-04T10:00"],
    );
    assert!(ok, "{moved}");
    assert_eq!(moved["start"], "2027-01-04T10:00:00Z");
    let (ok, arrived) = run(home, &["appointment", "check-in", &id]);
    assert!(ok, "{arrived}");
    assert_eq!(arrived["status"], "arrived");
    let (ok, refused) = run(home, &["appointment", "cancel", &id, "--reason", ""]);
    assert!(!ok, "an empty reason is refused: {refused}");
    let (ok, second) = book("2027-01-04T11:00", &other);
    assert!(ok, "{second}");
    let second = second["id"].as_str().expect("id").to_owned();
    let (ok, cancelled) = run(
        home,
        &[
            "appointment",
            "cancel",
            &second,
            "--reason",
            "patient called",
        ],
    );
    assert!(ok, "{cancelled}");
    assert_eq!(cancelled["discarded"], false);
    let (ok, day) = run(home, &["appointment", "list", "--day", "2027-01-04"]);
    assert!(ok, "{day}");
    let statuses: Vec<&str> = day
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|a| a["appointment"]["status"].as_str())
        .collect();
    assert_eq!(statuses, ["arrived", "cancelled"]);
    assert!(
        day[0]["pending"].as_bool().expect("pending"),
        "not synced yet"
    );
    let (ok, report) = run(home, &["sync"]);
    assert!(ok, "{report}");
    assert_eq!(
        report["applied"], 5,
        "a booking, a move, a check-in, a booking, a cancellation"
    );
    let (_, day) = run(
        home,
        &[
            "appointment",
            "list",
            "--day",
            "2027-01-04",
            "--practitioner",
            &doctor,
        ],
    );
    assert!(
        day.as_array()
            .expect("list")
            .iter()
            .all(|a| a["pending"] == false)
    );
}
