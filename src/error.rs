//! Errors in two layers: [`Error`] carries the detail a developer needs to fix a call, and
//! [`ErrorCode`] is the small, stable set of kinds a caller branches on (and that the JS
//! boundary exposes as `AnaxError.code`).

use arrow_schema::ArrowError;

/// The stable kind of an [`Error`]: what the caller should do about it.
///
/// The string form (see [`ErrorCode::as_str`]) is part of the public API and never changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// A malformed call: a bad option, an unknown column, a value out of range. Fix the call.
    InvalidArgument,
    /// The data does not have the table's schema, or a reopen declared another schema or key.
    SchemaMismatch,
    /// A key column is null or missing. Every row needs its whole primary key.
    KeyNull,
    /// A value has the wrong type for its column.
    TypeMismatch,
    /// A concurrent commit won; re-read and retry.
    Conflict,
    /// The named object or version does not exist.
    NotFound,
    /// The storage backend failed; the operation may succeed if retried.
    Storage,
    /// Stored bytes (Parquet, manifest) failed validation. Malformed bytes a caller supplies
    /// (IPC) are `InvalidArgument`.
    Corrupt,
    /// The database handle was closed.
    Closed,
    /// The table cannot take the write now (L0 stayed full and nothing compacted it within the
    /// stall limit). Nothing was written; retry later, or run compaction.
    Busy,
    /// The caller stopped the call (`Control::cancel`, or a JS `AbortSignal`). What it had
    /// done is either published whole or left for GC; retry when wanted.
    Aborted,
    /// A bug in Anax. Please report it with the message.
    Internal,
}

impl ErrorCode {
    /// The stable string of this code, as seen by JS callers.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidArgument => "INVALID_ARGUMENT",
            ErrorCode::SchemaMismatch => "SCHEMA_MISMATCH",
            ErrorCode::KeyNull => "KEY_NULL",
            ErrorCode::TypeMismatch => "TYPE_MISMATCH",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::Storage => "STORAGE",
            ErrorCode::Corrupt => "CORRUPT",
            ErrorCode::Closed => "CLOSED",
            ErrorCode::Busy => "BUSY",
            ErrorCode::Aborted => "ABORTED",
            ErrorCode::Internal => "INTERNAL",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every failure Anax reports. Match on [`Error::code`] to decide what to do; the message says
/// what to fix.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// See [`ErrorCode::InvalidArgument`].
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// See [`ErrorCode::SchemaMismatch`].
    #[error("schema mismatch: {0}")]
    SchemaMismatch(String),
    /// A key column had no value in some row.
    #[error(
        "key column '{column}' is null in row {row}; every row needs a value for each key column"
    )]
    KeyNull {
        /// The key column.
        column: String,
        /// The row index within the written batch.
        row: usize,
    },
    /// A value did not fit its column's type.
    #[error("column '{column}' expects {expected}, got {got}")]
    TypeMismatch {
        /// The column.
        column: String,
        /// The column's type, as a user would write it.
        expected: String,
        /// A description of the offending value.
        got: String,
    },
    /// The object or version does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A compare-and-swap lost to a concurrent writer.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The storage backend failed.
    #[error("storage: {0}")]
    Storage(StorageError),
    /// Parquet encoding or decoding failed.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Stored bytes failed validation.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// The handle was closed.
    #[error("the database is closed; open it again to continue")]
    Closed,
    /// See [`ErrorCode::Busy`].
    #[error("busy: {0}")]
    Busy(String),
    /// See [`ErrorCode::Aborted`]; the message is the reason given.
    #[error("aborted: {0}")]
    Aborted(String),
    /// An Arrow kernel failed; treated as a bug unless the input was bad.
    #[error("arrow: {0}")]
    Arrow(#[from] ArrowError),
    /// A broken internal invariant.
    #[error("internal error (please report): {0}")]
    Internal(String),
}

impl Error {
    /// The stable kind of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::InvalidArgument(_) => ErrorCode::InvalidArgument,
            Error::SchemaMismatch(_) => ErrorCode::SchemaMismatch,
            Error::KeyNull { .. } => ErrorCode::KeyNull,
            Error::TypeMismatch { .. } => ErrorCode::TypeMismatch,
            Error::Corrupt(_) | Error::Parquet(_) => ErrorCode::Corrupt,
            Error::NotFound(_) => ErrorCode::NotFound,
            Error::Conflict(_) => ErrorCode::Conflict,
            Error::Storage(_) => ErrorCode::Storage,
            Error::Closed => ErrorCode::Closed,
            Error::Busy(_) => ErrorCode::Busy,
            Error::Aborted(_) => ErrorCode::Aborted,
            Error::Arrow(e) => match e {
                ArrowError::IpcError(_) | ArrowError::ParseError(_) | ArrowError::IoError(..) => {
                    ErrorCode::Corrupt
                }
                ArrowError::InvalidArgumentError(_) => ErrorCode::InvalidArgument,
                ArrowError::SchemaError(_) => ErrorCode::SchemaMismatch,
                ArrowError::CastError(_) => ErrorCode::TypeMismatch,
                _ => ErrorCode::Internal,
            },
            Error::Internal(_) => ErrorCode::Internal,
        }
    }
}

impl Error {
    /// A storage failure that retrying will not fix (a refused credential, a full disk, a
    /// missing browser API).
    pub fn storage(message: impl Into<String>) -> Error {
        Error::Storage(StorageError {
            message: message.into(),
            operation: None,
            path: None,
            status: None,
            retryable: false,
            code: None,
            cause: None,
        })
    }

    /// A storage failure with the backend's own code for it (see [`StorageError::code`]).
    pub fn with_backend_code(mut self, code: Option<String>) -> Error {
        if let Error::Storage(e) = &mut self {
            e.code = code.filter(|c| !c.is_empty());
        }
        self
    }

    /// A storage failure with the JS exception behind it (see [`StorageError::cause`]).
    pub fn with_cause(mut self, cause: Option<CauseId>) -> Error {
        if let Error::Storage(e) = &mut self {
            e.cause = cause;
        }
        self
    }

    /// A storage failure that may pass if retried: a 5xx, 429 or 408 answer (`status`), a
    /// request with no answer, a binding that threw.
    pub fn transient(message: impl Into<String>, status: Option<u16>) -> Error {
        Error::Storage(StorageError {
            message: message.into(),
            operation: None,
            path: None,
            status,
            retryable: true,
            code: None,
            cause: None,
        })
    }

    /// Whether retrying the same operation may succeed. Lost compare-and-swap races are not
    /// retryable as such (the caller must re-read first).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Storage(e) if e.retryable) || matches!(self, Error::Busy(_))
    }

    /// Names the storage call a storage failure came from and the object it was about, unless
    /// the backend already did: one place (the request counter every table's storage passes
    /// through) records them for every backend, so JS callers and logs get them as fields.
    pub fn during(mut self, operation: &'static str, path: &str) -> Error {
        if let Error::Storage(e) = &mut self {
            e.operation.get_or_insert(operation);
            if e.path.is_none() {
                e.path = Some(path.to_owned());
            }
        }
        self
    }

    /// The storage failure's details, for a storage error.
    pub fn storage_details(&self) -> Option<&StorageError> {
        match self {
            Error::Storage(e) => Some(e),
            _ => None,
        }
    }

    /// The HTTP status behind a storage failure, where there was one.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Error::Storage(e) => e.status,
            _ => None,
        }
    }

    /// An error with the same code and message, for reporting one failure to several callers
    /// (a group commit fails every commit in the group).
    pub fn duplicate(&self) -> Error {
        let msg = self.to_string();
        match self.code() {
            ErrorCode::InvalidArgument => Error::InvalidArgument(msg),
            ErrorCode::SchemaMismatch => Error::SchemaMismatch(msg),
            ErrorCode::KeyNull | ErrorCode::TypeMismatch => Error::InvalidArgument(msg),
            ErrorCode::Conflict => Error::Conflict(msg),
            ErrorCode::NotFound => Error::NotFound(msg),
            ErrorCode::Storage => match self {
                Error::Storage(e) => Error::Storage(e.clone()),
                _ => Error::storage(msg),
            },
            ErrorCode::Corrupt => Error::Corrupt(msg),
            ErrorCode::Closed => Error::Closed,
            ErrorCode::Busy => Error::Busy(msg),
            ErrorCode::Aborted => Error::Aborted(msg),
            ErrorCode::Internal => Error::Internal(msg),
        }
    }
}

/// What a storage backend reports about a failed call, as data: retry decisions and the JS
/// error's details read the fields, never the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageError {
    /// What failed, for people (operation, object, the backend's own words).
    pub message: String,
    /// The storage call that failed (`get`, `get_range`, `get_object`, `put`, `list`,
    /// `delete`, `head`, `append`, `sync`), when known.
    pub operation: Option<&'static str>,
    /// The object (or, for `list`, the prefix) within the table, when known.
    pub path: Option<String>,
    /// The HTTP status, for HTTP-based backends that got an answer.
    pub status: Option<u16>,
    /// Whether the same call may succeed if tried again.
    pub retryable: bool,
    /// The backend's own name for the failure, when it gave one: S3's `<Code>`
    /// (`AccessDenied`, `SlowDown`, `NoSuchBucket`), a file system's errno (`ENOSPC`,
    /// `EACCES`), a JS exception's `name` (`QuotaExceededError`, `TypeError`).
    pub code: Option<String>,
    /// The JS exception behind the failure (wasm), which the JS error carries as `cause`.
    pub cause: Option<CauseId>,
}

/// A JS exception kept for the error a JS caller receives (see `StorageError::cause`): an
/// index into a small, bounded table of recent exceptions, so that errors stay plain data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CauseId(pub(crate) u32);

impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Shorthand used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
