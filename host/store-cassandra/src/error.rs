//! Driver errors as storage errors.

use scylla::errors::{DbError, ExecutionError, PrepareError, RequestAttemptError};
use vessel_store::StoreError;

/// What failed, for messages: `"<doing what> in keyspace 'ks'"`, and the table the request
/// touched, if any (so that an unknown table becomes [`StoreError::NoSuchTable`]).
pub(crate) struct Ctx<'a> {
    pub what: &'a str,
    pub table: Option<&'a str>,
}

fn from_db(ctx: &Ctx<'_>, db: &DbError, msg: &str) -> StoreError {
    let text = format!("{}: {msg}", ctx.what);
    match db {
        DbError::Invalid | DbError::SyntaxError
            if msg.contains("unconfigured table") || msg.contains("does not exist") =>
        {
            match ctx.table {
                Some(t) => StoreError::NoSuchTable(t.to_string()),
                None => StoreError::Backend(text),
            }
        }
        DbError::Unavailable { .. }
        | DbError::Overloaded
        | DbError::IsBootstrapping
        | DbError::ReadTimeout { .. }
        | DbError::WriteTimeout { .. }
        | DbError::ReadFailure { .. }
        | DbError::WriteFailure { .. }
        | DbError::RateLimitReached { .. }
        | DbError::TruncateError
        | DbError::ServerError => StoreError::Unavailable(text),
        _ => StoreError::Backend(text),
    }
}

fn from_attempt(ctx: &Ctx<'_>, e: &RequestAttemptError) -> StoreError {
    match e {
        RequestAttemptError::DbError(db, msg) => from_db(ctx, db, msg),
        RequestAttemptError::BrokenConnectionError(_)
        | RequestAttemptError::UnableToAllocStreamId => {
            StoreError::Unavailable(format!("{}: {e}", ctx.what))
        }
        _ => StoreError::Backend(format!("{}: {e}", ctx.what)),
    }
}

/// A failed request.
pub(crate) fn exec(ctx: &Ctx<'_>, e: &ExecutionError) -> StoreError {
    match e {
        ExecutionError::LastAttemptError(a) => from_attempt(ctx, a),
        ExecutionError::PrepareError(p) => prepare(ctx, p),
        ExecutionError::ConnectionPoolError(_)
        | ExecutionError::RequestTimeout(_)
        | ExecutionError::EmptyPlan
        | ExecutionError::SchemaAgreementError(_) => {
            StoreError::Unavailable(format!("{}: {e}", ctx.what))
        }
        _ => StoreError::Backend(format!("{}: {e}", ctx.what)),
    }
}

/// A failed preparation.
pub(crate) fn prepare(ctx: &Ctx<'_>, e: &PrepareError) -> StoreError {
    match e {
        PrepareError::AllAttemptsFailed { first_attempt } => from_attempt(ctx, first_attempt),
        PrepareError::ConnectionPoolError(_) => {
            StoreError::Unavailable(format!("{}: {e}", ctx.what))
        }
        _ => StoreError::Backend(format!("{}: {e}", ctx.what)),
    }
}

/// A result that does not have the shape the statement promises.
pub(crate) fn shape(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("{what}: unexpected result: {e}"))
}
