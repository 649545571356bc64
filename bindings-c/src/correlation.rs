//! The thread's correlation context: `ct_correlation_begin`, `_set_field`, `_end` (on the
//! same stack as `ct_span_enter`) and `ct_correlation_id`.

use std::ffi::c_char;

use crosstrace::Correlation;

use crate::ffi::{self, ct_result, guard, out, str_arg, to_c_string};
use crate::handles;

/// Begins a correlation context on this thread: spans started until `ct_correlation_end` carry
/// `correlation.id` (the given id, validated, or a new UUID v4 when `id` is NULL), `user.id` and
/// `correlation.operation` (each NULL to omit). Nests; `ct_correlation_end` restores the outer.
///
/// # Safety
/// Each argument NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ct_correlation_begin(
    id: *const c_char,
    user_id: *const c_char,
    operation: *const c_char,
) -> ct_result {
    guard(|| {
        let owned = |s: Option<&str>| s.map(str::to_owned);
        // SAFETY: each argument is NULL or NUL-terminated (the caller's contract).
        let (id, user_id, operation) = unsafe {
            (
                ffi::opt_str_arg(id, "id")?,
                ffi::opt_str_arg(user_id, "user_id")?,
                ffi::opt_str_arg(operation, "operation")?,
            )
        };
        let c = Correlation::new(owned(id), owned(user_id), owned(operation), [])?;
        handles::push_context(crosstrace::Context::current().with_correlation(c), true)
    })
}

/// Adds a field (`job_id`) to the current correlation context; spans started afterwards carry
/// it as `correlation.<name>`, until that correlation ends (`ct_correlation_end`): a field set
/// while a span is entered outlives its `ct_span_exit`. `CT_ERR_INVALID_ARGUMENT` when no
/// correlation context is open.
///
/// # Safety
/// `name` and `value` NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn ct_correlation_set_field(
    name: *const c_char,
    value: *const c_char,
) -> ct_result {
    guard(|| {
        // SAFETY: `name` is NUL-terminated (the caller's contract).
        let name = unsafe { str_arg(name, "name") }?;
        // SAFETY: as `name`.
        let value = unsafe { str_arg(value, "value") }?;
        handles::change_correlation(|c| Ok(c.with_field(name, value)?))
    })
}

/// Ends the innermost correlation context (same stack as `ct_span_enter`/`ct_span_exit`).
#[no_mangle]
pub extern "C" fn ct_correlation_end() -> ct_result {
    guard(handles::pop_context)
}

/// The current correlation id (free with `ct_string_free`), or NULL in `*out_id` when none.
///
/// # Safety
/// `out_id` a valid pointer.
#[no_mangle]
pub unsafe extern "C" fn ct_correlation_id(out_id: *mut *mut c_char) -> ct_result {
    guard(|| {
        let id = match crosstrace::correlation_id() {
            Some(id) => to_c_string(id)?,
            None => std::ptr::null_mut(),
        };
        // SAFETY: `out_id` is valid for writes (the caller's contract); the string (or NULL)
        // is ours and handed out nowhere else.
        unsafe { out(out_id, id, "out_id") }
    })
}
