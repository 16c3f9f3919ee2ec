//! What each command does, over the client core. Thin on purpose: the rules live in
//! `outpost-client`.

pub mod board;
pub mod conflicts;
pub mod patients;
pub mod schedule;
pub mod session;
pub mod transport;
pub mod units;

pub use board::{
    accept_bid, board, board_bids, cancel_request, discard_draft, draft_request, draft_requests,
    facilities, place_bid, publish_request, transport_report, withdraw_bid,
};
pub use conflicts::{conflicts, resolve_conflict};
pub use patients::{create_patient, delete_patient, edit_patient, history, patient, search};
pub use schedule::{
    appointments, book, calendar, cancel_appointment, check_in, move_appointment,
    patient_appointments, practitioners,
};
pub use session::{
    app_info, install_update, lock, sign_in, sign_out, status, sync_now, touch, unlock,
};
pub use transport::{trip, trip_status, trips};
pub use units::{cancel_shift, plan_shift, roster, set_unit_status};
