//! The specification's helpers: ETL operation spans (`ct_etl_span_start`,
//! `ct_span_set_etl_records`) and database client spans (`ct_db_span_start`,
//! `ct_span_set_db_rows`).

use std::ffi::c_char;
use std::os::raw::c_int;

use crosstrace::{Context, Span, SpanBuilder};

use crate::ffi::{self, ct_result, guard, out, str_arg, FfiError};
use crate::handles::{self, ct_span};

/// Starts `b` under `parent`, or under the thread's current context when `None`.
fn start_under(b: SpanBuilder<'_>, parent: Option<&Context>) -> Span {
    match parent {
        Some(cx) => b.parent_context(cx).start(),
        None => b.start(),
    }
}

/// Starts an ETL operation span (`etl.operation`, `etl.stage`); parent as `ct_span_start`.
///
/// # Safety
/// As `ct_span_start`.
#[no_mangle]
pub unsafe extern "C" fn ct_etl_span_start(
    operation: *const c_char,
    stage: *const c_char,
    parent: *const ct_span,
    out_span: *mut *mut ct_span,
) -> ct_result {
    guard(|| {
        // Before anything starts: a span nobody can end must not be started.
        ffi::out_arg(out_span, "out_span")?;
        // SAFETY: `operation` is NUL-terminated (the caller's contract).
        let op = unsafe { str_arg(operation, "operation") }?;
        // SAFETY: as `operation`.
        let stage = unsafe { str_arg(stage, "stage") }?;
        let parent = handles::parent_context(parent)?;
        let span = handles::new_span(|t| start_under(t.etl_span(op, stage), parent.as_ref()))?;
        // SAFETY: `out_span` is valid for writes (the caller's contract); the handle is ours
        // and handed out nowhere else.
        unsafe { out(out_span, span, "out_span") }
    })
}

/// A record count from C: `None` for -1 (unknown); another negative number is refused, naming
/// the count (`argument`) and its value.
fn count(n: i64, argument: &'static str) -> Result<Option<u64>, FfiError> {
    match n {
        -1 => Ok(None),
        n => u64::try_from(n).map(Some).map_err(|_| {
            ffi::invalid(
                argument,
                &n.to_string(),
                "a count of 0 or more, or -1 for unknown",
            )
        }),
    }
}

/// Records ETL record counts; pass -1 for an unknown count. Another negative count is refused
/// with CT_ERR_INVALID_ARGUMENT, and nothing is recorded.
///
/// # Safety
/// `span` a live span.
#[no_mangle]
pub unsafe extern "C" fn ct_span_set_etl_records(
    span: *const ct_span,
    input: i64,
    output: i64,
    rejected: i64,
) -> ct_result {
    guard(|| {
        let (input, output, rejected) = (
            count(input, "input")?,
            count(output, "output")?,
            count(rejected, "rejected")?,
        );
        handles::span_ref(span)?.with(|s| s.set_etl_records(input, output, rejected))
    })
}

/// Starts a database client span named `"{operation} {collection}"` with `db.system.name`,
/// `db.operation.name`, `db.collection.name`; parent as `ct_span_start`.
///
/// # Safety
/// As `ct_span_start`; `collection` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn ct_db_span_start(
    system: *const c_char,
    operation: *const c_char,
    collection: *const c_char,
    parent: *const ct_span,
    out_span: *mut *mut ct_span,
) -> ct_result {
    guard(|| {
        // Before anything starts: a span nobody can end must not be started.
        ffi::out_arg(out_span, "out_span")?;
        // SAFETY: `system` is NUL-terminated (the caller's contract).
        let system = unsafe { str_arg(system, "system") }?;
        // SAFETY: as `system`.
        let op = unsafe { str_arg(operation, "operation") }?;
        // SAFETY: NULL or NUL-terminated (the caller's contract).
        let coll = unsafe { ffi::opt_str_arg(collection, "collection") }?.unwrap_or("");
        let parent = handles::parent_context(parent)?;
        let span =
            handles::new_span(|t| start_under(t.db_span(system, op, coll), parent.as_ref()))?;
        // SAFETY: `out_span` is valid for writes (the caller's contract); the handle is ours
        // and handed out nowhere else.
        unsafe { out(out_span, span, "out_span") }
    })
}

/// Records rows a database operation returned (`is_write` 0) or affected (non-zero).
///
/// # Safety
/// `span` a live span.
#[no_mangle]
pub unsafe extern "C" fn ct_span_set_db_rows(
    span: *const ct_span,
    rows: u64,
    is_write: c_int,
) -> ct_result {
    guard(|| handles::span_ref(span)?.with(|s| s.set_db_rows(rows, is_write != 0)))
}
