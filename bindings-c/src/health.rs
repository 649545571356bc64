//! What the library reports about itself: span metrics as Prometheus text
//! (`ct_metrics_text`) and the health report (`ct_health_json`).

use std::ffi::c_char;

use crate::ffi::{ct_result, guard, out, to_c_string};
use crate::tracing;

/// The span-derived metrics (every span, sampled or not) in the Prometheus text format; empty
/// when metrics are off. Free with `ct_string_free`.
///
/// # Safety
/// `out_text` must be a valid pointer.
#[no_mangle]
pub unsafe extern "C" fn ct_metrics_text(out_text: *mut *mut c_char) -> ct_result {
    guard(|| {
        let text = to_c_string(tracing().metrics_text())?;
        // SAFETY: `out_text` is valid for writes (the caller's contract); the string is ours and
        // handed out nowhere else.
        unsafe { out(out_text, text, "out_text") }
    })
}

/// The health report as JSON (the specification's field names). Free with `ct_string_free`.
///
/// # Safety
/// `out_json` must be a valid pointer.
#[no_mangle]
pub unsafe extern "C" fn ct_health_json(out_json: *mut *mut c_char) -> ct_result {
    guard(|| {
        let json = to_c_string(tracing().health().to_json())?;
        // SAFETY: `out_json` is valid for writes (the caller's contract); the string is ours and
        // handed out nowhere else.
        unsafe { out(out_json, json, "out_json") }
    })
}
