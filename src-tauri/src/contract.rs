//! The IPC contract: every command the UI may call, declared once with its request and
//! response types. From this one list come the Tauri handlers (each delegating to the
//! function of the same name in [`crate::commands`], so a command without an implementation,
//! or with other types, does not compile) and, in tests, the TypeScript `Commands` type.

use std::sync::Arc;

use outpost_client::{Conflict, LocalAppointment, LocalRequest, LocalTrip, LocalUnit};
use outpost_domain::patient::{Patient, PatientFields};
use outpost_domain::schedule::appointment::{Appointment, AppointmentFields};
use outpost_domain::schedule::calendar::CalendarEntry;
use outpost_domain::schedule::practitioner::Practitioner;
use outpost_domain::transport::board::Bid;
use outpost_domain::transport::facility::Facility;
use outpost_domain::transport::report::TransportReport;
use outpost_domain::transport::request::{TransportRequest, TransportRequestFields};
use outpost_domain::transport::shift::{Shift, ShiftFields};
use outpost_domain::transport::trip::Trip;
use outpost_domain::transport::unit::Unit;

use crate::commands::{
    self, board::*, conflicts::*, patients::*, schedule::*, session::*, transport::*, units::*,
};
use crate::error::IpcResult;
use crate::state::{Desktop, SyncState};

macro_rules! contract {
    ($($(#[doc = $doc:literal])* $name:ident: $req:ty => $res:ty;)+) => {
        $(
            $(#[doc = $doc])*
            #[tauri::command]
            async fn $name(desktop: tauri::State<'_, Arc<Desktop>>, req: $req) -> IpcResult<$res> {
                commands::$name(&desktop, req).await
            }
        )+

        /// The handlers, for `Builder::invoke_handler`.
        pub fn handler() -> impl Fn(tauri::ipc::Invoke) -> bool + Send + Sync + 'static {
            tauri::generate_handler![$($name),+]
        }

        /// Every command as `[request, response]`, for the generated TypeScript.
        #[cfg(test)]
        #[derive(ts_rs::TS)]
        #[allow(dead_code, reason = "never built: it only describes the contract to ts-rs")]
        pub struct Commands {
            $($(#[doc = $doc])* pub $name: ($req, $res),)+
        }
    };
}

contract! {
    /// Who was signed in last (to prefill the forms) and whether the local data is open.
    app_info: () => AppInfo;
    /// Signs in online; when the hub cannot be reached and this computer has the data of the
    /// same sign-in, unlocks it offline instead.
    sign_in: SignIn => SignedIn;
    /// Opens the local data with the password (offline).
    unlock: Unlock => ();
    /// Closes the local data and forgets its key.
    lock: () => ();
    /// Ends the session on the hub; the local data stays, locked.
    sign_out: () => ();
    /// The user is active: pushes back the idle lock.
    touch: () => ();
    /// The status bar: link, sync under way, pending changes, conflicts, last sync.
    status: () => SyncState;
    /// Syncs now rather than at the next interval.
    sync_now: () => ();
    /// Patients whose names, MRN or phone start with the words typed, in name order.
    search: Search => Vec<Patient>;
    /// One patient, with what the user may do with it.
    patient: PatientRef => PatientDetail;
    /// Every version of a patient, newest last.
    history: PatientRef => PatientHistory;
    create_patient: PatientFields => Patient;
    edit_patient: Edit => Patient;
    delete_patient: PatientRef => ();
    /// The clinic's practitioners, in name order, with their weekly hours and time zone.
    practitioners: () => Vec<Practitioner>;
    /// The clinic calendar: closures, holidays, events.
    calendar: () => Vec<CalendarEntry>;
    /// Appointments starting in a time range, of one practitioner or all, in order.
    appointments: AppointmentRange => Vec<LocalAppointment>;
    /// A patient's past and coming appointments.
    patient_appointments: PatientAppointments => Vec<LocalAppointment>;
    /// Books a slot (checked against the mirror: taken slots, hours, closures).
    book: AppointmentFields => Appointment;
    /// Moves an appointment; a booking the hub refused is moved and sent again.
    move_appointment: MoveAppointment => Appointment;
    /// Checks the patient in.
    check_in: AppointmentRef => Appointment;
    /// Cancels with a reason; a booking the hub refused is discarded (`null`).
    cancel_appointment: CancelAppointment => Option<Appointment>;
    /// The crew's trips (those of its unit), in order of pickup.
    trips: () => Vec<LocalTrip>;
    /// One trip with its steps and their times.
    trip: TripRef => TripDetail;
    /// Takes the trip's next step (or cancels it with a reason), offline too.
    trip_status: TripStatusChange => Trip;
    /// A page of the transport board as the hub shows it to this tenant now (needs the link).
    board: BoardRead => BoardPage;
    /// The bids on an entry this tenant sees (an agency: its own).
    board_bids: EntryRef => Vec<Bid>;
    /// A dispatcher's bid with one of the agency's units.
    place_bid: PlaceBid => Bid;
    withdraw_bid: BidRef => Bid;
    /// The agency's units in the local copy (offline too), in call-sign order, with their
    /// shifts to come.
    roster: () => Vec<LocalUnit>;
    /// Takes a unit out of service or puts it back (offline too).
    set_unit_status: UnitStatusChange => Unit;
    /// Plans a unit's shift (offline too); one overlapping another is `slot_taken`.
    plan_shift: ShiftFields => Shift;
    /// Cancels a shift that will not happen (offline too).
    cancel_shift: ShiftRef => Shift;
    /// The hospital's draft requests in the local copy.
    draft_requests: () => Vec<LocalRequest>;
    /// The hospital's facilities in the local copy, in name order.
    facilities: () => Vec<Facility>;
    /// Drafts a transport request here (offline too); it reaches the hub with the next sync.
    draft_request: TransportRequestFields => TransportRequest;
    /// Discards a draft.
    discard_draft: RequestRef => ();
    /// Cancels a request with a reason (needs the link): off the board, its trip cancelled.
    cancel_request: CancelRequest => TransportRequest;
    /// Puts a draft on the board.
    publish_request: RequestRef => TransportRequest;
    /// Accepts a bid: the other bids are declined, the trip goes to the agency's unit.
    accept_bid: AcceptBid => TransportRequest;
    /// Requests by level, priority and status, times, punctuality and agencies over a period.
    transport_report: ReportRange => TransportReport;
    /// Changes the hub did not apply, both versions side by side.
    conflicts: () => Vec<Conflict>;
    resolve_conflict: Resolve => ();
    /// Installs the update the hub offered and restarts into it; refused while changes wait
    /// to sync.
    install_update: () => ();
}

/// The generated TypeScript stays in step with the Rust types: this test writes
/// `ui/src/bindings/`, and CI fails when that changes a committed file.
#[cfg(test)]
mod bindings {
    use ts_rs::TS;

    #[test]
    fn export_bindings() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/src/bindings");
        let config = ts_rs::Config::new().with_out_dir(dir);
        super::Commands::export_all(&config).expect("export Commands");
        crate::error::ErrorCode::export_all(&config).expect("export ErrorCode");
    }
}
