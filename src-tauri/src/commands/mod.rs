//! What each command does, over the client core. Thin on purpose: the rules live in
//! `outpost-client`.

pub mod conflicts;
pub mod patients;
pub mod session;

pub use conflicts::{conflicts, resolve_conflict};
pub use patients::{create_patient, delete_patient, edit_patient, history, patient, search};
pub use session::{
    app_info, install_update, lock, sign_in, sign_out, status, sync_now, touch, unlock,
};
