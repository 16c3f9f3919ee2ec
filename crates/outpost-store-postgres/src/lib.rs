//! The PostgreSQL backend of the hub: a central database plus one database per tenant, placed
//! on any of several PostgreSQL servers (DESIGN.md, "Tenancy and databases").
//!
//! What is here so far: the schema and its migrations (twins of the embedded backend's, by
//! name), the privileges of the hub's runtime role (which cannot change or remove audit
//! rows), and creating and dropping databases. The store traits come next.

pub mod admin;
pub mod grants;
pub mod migrate;

use outpost_store::StoreError;

/// PostgreSQL errors as store errors (the source is kept; messages carry no record values,
/// since parameters are never part of them).
pub(crate) trait OrBackend<T> {
    fn db(self) -> Result<T, StoreError>;
}

impl<T> OrBackend<T> for Result<T, tokio_postgres::Error> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(StoreError::backend)
    }
}
