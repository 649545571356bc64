//! Contexts by hand: from a traceparent or the shared vectors' JSON, with a correlation of the
//! caller's own, written as JSON or headers, and freed (`ct_context_*`). Contexts from headers
//! come from `propagation.rs`.

use std::ffi::{c_char, c_void};

use crosstrace::Correlation;

use crate::ffi::{self, ct_result, guard, out, str_arg, to_c_string};
use crate::handles::ct_context;
use crate::propagation::ct_header_setter;
use crate::tracing;

/// Parses a traceparent (`00-<trace>-<span>-<flags>`) into a context; a malformed one gives
/// `CT_ERR_INVALID_ARGUMENT` (unlike header extraction, which ignores it).
///
/// # Safety
/// `traceparent` a NUL-terminated string; `out_context` valid.
#[no_mangle]
pub unsafe extern "C" fn ct_context_from_traceparent(
    traceparent: *const c_char,
    out_context: *mut *mut ct_context,
) -> ct_result {
    guard(|| {
        // SAFETY: `traceparent` is NUL-terminated (the caller's contract).
        let tp = unsafe { str_arg(traceparent, "traceparent") }?;
        let headers = vec![("traceparent".to_owned(), tp.to_owned())];
        let cx = crosstrace::Propagators::new(&[crosstrace::PropagatorKind::TraceContext])
            .extract(&headers);
        if cx.span_context().is_none() {
            return Err(ffi::invalid(
                "traceparent",
                tp,
                "00-<32 hex trace id>-<16 hex span id>-<2 hex flags>, ids not all zero",
            ));
        }
        let cx = Box::into_raw(Box::new(ct_context(cx)));
        // SAFETY: `out_context` is valid for writes (the caller's contract); the context is
        // ours and handed out nowhere else.
        unsafe { out(out_context, cx, "out_context") }
    })
}

/// Writes to `*out_context` a copy of `context` (NULL: an empty context, whose spans start a
/// new trace) carrying a correlation context of your own: `correlation.id` (the given id,
/// validated, or a new UUID v4 when `id` is NULL), `user.id` and `correlation.operation` (each
/// NULL to omit). The way to continue a caller's trace in a correlation its headers did not
/// carry: `ct_span_start_from` takes the correlation from the context alone. Free the copy
/// with `ct_context_free`.
///
/// # Safety
/// `context` NULL or from `ct_extract*`/`ct_context_*`; each string NULL or NUL-terminated;
/// `out_context` valid.
#[no_mangle]
pub unsafe extern "C" fn ct_context_with_correlation(
    context: *const ct_context,
    id: *const c_char,
    user_id: *const c_char,
    operation: *const c_char,
    out_context: *mut *mut ct_context,
) -> ct_result {
    guard(|| {
        let owned = |s: Option<&str>| s.map(str::to_owned);
        // SAFETY: each string is NULL or NUL-terminated (the caller's contract).
        let (id, user_id, operation) = unsafe {
            (
                ffi::opt_str_arg(id, "id")?,
                ffi::opt_str_arg(user_id, "user_id")?,
                ffi::opt_str_arg(operation, "operation")?,
            )
        };
        let c = Correlation::new(owned(id), owned(user_id), owned(operation), [])?;
        let cx = if context.is_null() {
            crosstrace::Context::new().with_correlation(c)
        } else {
            // SAFETY: not NULL (checked): a live context of this library (the caller's
            // contract).
            unsafe { ffi::handle(context, "context") }?
                .0
                .with_correlation(c)
        };
        let cx = Box::into_raw(Box::new(ct_context(cx)));
        // SAFETY: `out_context` is valid for writes (the caller's contract); the context is
        // ours and handed out nowhere else.
        unsafe { out(out_context, cx, "out_context") }
    })
}

/// Builds a context from the shared vectors' JSON shape (see `tests/vectors/`).
///
/// # Safety
/// `json` NUL-terminated; `out_context` valid.
#[no_mangle]
pub unsafe extern "C" fn ct_context_from_json(
    json: *const c_char,
    out_context: *mut *mut ct_context,
) -> ct_result {
    guard(|| {
        // SAFETY: `json` is NUL-terminated (the caller's contract).
        let text = unsafe { str_arg(json, "json") }?;
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|_| ffi::invalid("json", text, "a JSON object"))?;
        let cx = crosstrace::binding::interop::context_from_json(&v)?;
        let cx = Box::into_raw(Box::new(ct_context(cx)));
        // SAFETY: `out_context` is valid for writes (the caller's contract); the context is
        // ours and handed out nowhere else.
        unsafe { out(out_context, cx, "out_context") }
    })
}

/// Writes a context as JSON (`{"span": {...} | null, "baggage": {...}, "correlation": ...}`).
/// Free with `ct_string_free`.
///
/// # Safety
/// `context` from this library; `out_json` valid.
#[no_mangle]
pub unsafe extern "C" fn ct_context_to_json(
    context: *const ct_context,
    out_json: *mut *mut c_char,
) -> ct_result {
    guard(|| {
        // SAFETY: NULL or a live context of this library (the caller's contract).
        let cx = unsafe { ffi::handle(context, "context") }?;
        let json = to_c_string(crosstrace::binding::interop::context_to_json(&cx.0).to_string())?;
        // SAFETY: `out_json` is valid for writes (the caller's contract); the string is ours and
        // handed out nowhere else.
        unsafe { out(out_json, json, "out_json") }
    })
}

/// Writes the headers of an extracted or built context through `setter`.
///
/// # Safety
/// `context` from this library; `setter` valid.
#[no_mangle]
pub unsafe extern "C" fn ct_context_inject(
    context: *const ct_context,
    setter: ct_header_setter,
    userdata: *mut c_void,
) -> ct_result {
    guard(|| {
        let setter = setter.ok_or_else(|| ffi::null("setter"))?;
        // SAFETY: NULL or a live context of this library (the caller's contract).
        let cx = unsafe { ffi::handle(context, "context") }?;
        let mut headers: Vec<(String, String)> = Vec::new();
        tracing().inject(&cx.0, &mut headers);
        for (k, v) in headers {
            let (k, v) = (ffi::cstring(k)?, ffi::cstring(v)?);
            // SAFETY: `setter` is a valid function for `userdata` (the caller's contract); `k`
            // and `v` are NUL-terminated and live through the call.
            unsafe { setter(userdata, k.as_ptr(), v.as_ptr()) };
        }
        Ok(())
    })
}

/// Frees a context. NULL is a no-op.
///
/// # Safety
/// `context` NULL or from this library, not freed before.
#[no_mangle]
pub unsafe extern "C" fn ct_context_free(context: *mut ct_context) {
    if !context.is_null() {
        // SAFETY: not NULL (checked): a `Box` this library made, not freed before (the
        // caller's contract).
        drop(unsafe { Box::from_raw(context) });
    }
}
