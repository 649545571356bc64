//! Propagation: a span's (or the thread's current) headers out through a setter or as
//! `"name: value"` lines (`ct_inject*`), and a context in from a getter, a header array or
//! lines (`ct_extract*`). Contexts built and used by hand are in `context.rs`.

use std::ffi::{c_char, c_void};

use crate::ffi::{self, ct_result, guard, out, to_c_string, FfiError};
use crate::handles::{self, ct_context, ct_span};
use crate::{ct_string_free, tracing};

/// One header, as `name` and `value` (both NUL-terminated).
#[repr(C)]
#[derive(Debug)]
#[allow(non_camel_case_types)]
pub struct ct_header {
    /// Header name.
    pub name: *const c_char,
    /// Header value.
    pub value: *const c_char,
}

/// Called once per header to write: `(userdata, name, value)`. The strings are valid only
/// during the call.
#[allow(non_camel_case_types)]
pub type ct_header_setter =
    Option<unsafe extern "C" fn(userdata: *mut c_void, name: *const c_char, value: *const c_char)>;

/// Called to read a header: `(userdata, name)` returns the value or NULL. The name is lowercase;
/// match case-insensitively. The returned string must stay valid until the call returns. For a
/// header received on several lines, return them joined with `,` (RFC 9110 §5.3), or give the
/// lines to `ct_extract_headers`, which keeps them.
#[allow(non_camel_case_types)]
pub type ct_header_getter =
    Option<unsafe extern "C" fn(userdata: *mut c_void, name: *const c_char) -> *const c_char>;

fn context_of(span: *const ct_span) -> Result<crosstrace::Context, FfiError> {
    if span.is_null() {
        Ok(crosstrace::Context::current())
    } else {
        handles::span_ref(span)?.context()
    }
}

/// Writes the propagation headers of `span` (NULL: the thread's current context) through
/// `setter`.
///
/// # Safety
/// `span` NULL or live; `setter` a valid function.
#[no_mangle]
pub unsafe extern "C" fn ct_inject(
    span: *const ct_span,
    setter: ct_header_setter,
    userdata: *mut c_void,
) -> ct_result {
    guard(|| {
        let setter = setter.ok_or_else(|| ffi::null("setter"))?;
        let cx = context_of(span)?;
        let mut headers: Vec<(String, String)> = Vec::new();
        tracing().inject(&cx, &mut headers);
        for (k, v) in headers {
            let (k, v) = (ffi::cstring(k)?, ffi::cstring(v)?);
            // SAFETY: `setter` is a valid function for `userdata` (the caller's contract); `k`
            // and `v` are NUL-terminated and live through the call.
            unsafe { setter(userdata, k.as_ptr(), v.as_ptr()) };
        }
        Ok(())
    })
}

/// Writes the propagation headers of `span` (NULL: current) as `"name: value"` lines, the form
/// libcurl's header lists take: `*out_lines` gets an array of `*out_len` strings. Free it with
/// `ct_lines_free(lines, len)`.
///
/// # Safety
/// `span` NULL or live; `out_lines`, `out_len` valid pointers.
#[no_mangle]
pub unsafe extern "C" fn ct_inject_lines(
    span: *const ct_span,
    out_lines: *mut *mut *mut c_char,
    out_len: *mut usize,
) -> ct_result {
    guard(|| {
        // Both checked before anything is allocated: `out` cannot free an array of lines.
        if out_lines.is_null() {
            return Err(ffi::null("out_lines"));
        }
        if out_len.is_null() {
            return Err(ffi::null("out_len"));
        }
        let cx = context_of(span)?;
        let mut headers: Vec<(String, String)> = Vec::new();
        tracing().inject(&cx, &mut headers);
        let mut lines: Vec<*mut c_char> = Vec::with_capacity(headers.len());
        for (k, v) in headers {
            lines.push(to_c_string(format!("{k}: {v}"))?);
        }
        let len = lines.len();
        let ptr = Box::into_raw(lines.into_boxed_slice()).cast::<*mut c_char>();
        // SAFETY: `out_lines` is valid for writes (the caller's contract); the array is ours
        // and handed out nowhere else.
        unsafe { out(out_lines, ptr, "out_lines") }?;
        // SAFETY: not NULL (checked above), so valid for a write (the caller's contract).
        unsafe { *out_len = len };
        Ok(())
    })
}

/// Frees lines from `ct_inject_lines`. NULL is a no-op.
///
/// # Safety
/// `lines` and `len` exactly as returned by `ct_inject_lines`.
#[no_mangle]
pub unsafe extern "C" fn ct_lines_free(lines: *mut *mut c_char, len: usize) {
    if lines.is_null() {
        return;
    }
    // SAFETY: not NULL (checked): `lines` and `len` are a boxed slice `ct_inject_lines` handed
    // out, not yet freed (the caller's contract).
    let boxed = unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(lines, len)) };
    for &line in boxed.iter() {
        // SAFETY: each line is a string `ct_inject_lines` made, freed once, here.
        unsafe { ct_string_free(line) };
    }
}

/// Reads a context from headers through `getter`. Never fails on bad headers: they give an
/// empty context. Free the result with `ct_context_free`. (`uberctx-*` baggage needs the
/// header names, and repeated lines the whole list: use `ct_extract_headers` for them.)
///
/// # Safety
/// `getter` a valid function; `out_context` a valid pointer.
#[no_mangle]
pub unsafe extern "C" fn ct_extract(
    getter: ct_header_getter,
    userdata: *mut c_void,
    out_context: *mut *mut ct_context,
) -> ct_result {
    guard(|| {
        let getter = getter.ok_or_else(|| ffi::null("getter"))?;
        // SAFETY: `getter` is a valid function for `userdata` on `ct_header_getter`'s terms
        // (the caller's contract).
        let carrier = unsafe { ffi::fetch_headers(getter, userdata, tracing().propagators()) };
        let cx = tracing().extract(&carrier);
        let cx = Box::into_raw(Box::new(ct_context(cx)));
        // SAFETY: `out_context` is valid for writes (the caller's contract); the context is
        // ours and handed out nowhere else.
        unsafe { out(out_context, cx, "out_context") }
    })
}

/// Reads a context from an array of `len` headers, in the order received: a name may repeat
/// (`tracestate` and `baggage` lines are one list; two `traceparent` lines are invalid). Free
/// it with `ct_context_free`.
///
/// # Safety
/// `headers` points to `len` entries with NUL-terminated (or NULL, skipped) names and values.
#[no_mangle]
pub unsafe extern "C" fn ct_extract_headers(
    headers: *const ct_header,
    len: usize,
    out_context: *mut *mut ct_context,
) -> ct_result {
    guard(|| {
        // SAFETY: `len` entries with NULL or NUL-terminated names and values (the caller's
        // contract).
        let pairs = unsafe { ffi::header_pairs(headers, len) }?;
        let cx = tracing().extract(&pairs);
        let cx = Box::into_raw(Box::new(ct_context(cx)));
        // SAFETY: `out_context` is valid for writes (the caller's contract); the context is
        // ours and handed out nowhere else.
        unsafe { out(out_context, cx, "out_context") }
    })
}

/// Reads a context from `"name: value"` lines (a libcurl header list's strings).
///
/// # Safety
/// `lines` points to `len` NUL-terminated strings (NULL entries skipped).
#[no_mangle]
pub unsafe extern "C" fn ct_extract_lines(
    lines: *const *const c_char,
    len: usize,
    out_context: *mut *mut ct_context,
) -> ct_result {
    guard(|| {
        // SAFETY: `len` entries, each NULL or NUL-terminated (the caller's contract).
        let pairs = unsafe { ffi::line_pairs(lines, len) }?;
        let cx = tracing().extract(&pairs);
        let cx = Box::into_raw(Box::new(ct_context(cx)));
        // SAFETY: `out_context` is valid for writes (the caller's contract); the context is
        // ours and handed out nowhere else.
        unsafe { out(out_context, cx, "out_context") }
    })
}
