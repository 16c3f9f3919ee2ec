use outpost_domain::ValidationError;

/// What can go wrong in a store. Messages never contain record values (they may be PHI).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was violated; names the rule (e.g. `email`, `slug`, `mrn`).
    #[error("{0} already exists")]
    AlreadyExists(&'static str),
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// A well-formed change a kind's rule or constraint refuses (`slot_taken`,
    /// `invalid_transition`, …): the code clients decide by, and a sentence without values.
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    /// The database engine is not SQLCipher, so files would be written in plain text.
    #[error("the SQLite library is not SQLCipher; refusing to store data unencrypted")]
    NotEncrypted,
    /// A key does not open a database (wrong key or not a database).
    #[error("the database cannot be opened with this key")]
    WrongKey,
    #[error("the database schema is newer than this program (found {found}, know {known})")]
    SchemaTooNew { found: i64, known: i64 },
    /// A migration this database applied has different SQL in this build.
    #[error(
        "migration {version} ({name}) is not the one this database applied: an applied \
         migration was edited; restore it and add a new migration instead"
    )]
    MigrationEdited { version: i64, name: &'static str },
    /// The operation is not available on this backend; says why.
    #[error("{0}")]
    Unsupported(&'static str),
    /// A backup file that cannot be restored: cut short, altered, out of order, or made under
    /// another master key; says which.
    #[error("not a usable backup file: {0}")]
    UnusableBackup(&'static str),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error("storage backend error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("storage I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl StoreError {
    /// Wraps any backend error, keeping it as the source.
    pub fn backend(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreError::Backend(Box::new(err))
    }
}

pub type StoreResult<T> = Result<T, StoreError>;
