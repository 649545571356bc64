//! `libcrosstrace`: the C API over the `crosstrace` core.
//!
//! Conventions (after rustls-ffi): every function is `ct_<object>_<verb>`; handles are opaque;
//! `_free(NULL)` is a no-op; fallible calls return a `ct_result` whose numbers never change and
//! write outputs to trailing out-parameters only on success; callbacks take `userdata` first;
//! every exported body runs inside a panic boundary; strings the library returns are freed with
//! `ct_string_free`. The last error message of the calling thread is `ct_last_error()`.
//!
//! Unsafe code: every unsafe operation sits in its own small `unsafe {}` block (the workspace
//! denies `unsafe_op_in_unsafe_fn`) under a `// SAFETY:` comment saying why it holds, mostly
//! the caller's contract, which each unsafe function states under `# Safety`.
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

// One module per concern (as rustls-ffi has one per C object). cbindgen writes the functions
// into include/crosstrace.h in the order it reads them: this file's, then each module's in the
// order declared here, so the order is kept (a comment on each declaration stops rustfmt from
// sorting them). A module moved changes the committed header.
// ct_config_*, ct_init*, ct_force_flush, ct_shutdown.
mod config;
// ct_metrics_text, ct_health_json.
mod health;
// ct_span_* and ct_intern: starting, attributes, events, status, ending, ids, the current span.
mod span;
// ct_etl_span_start, ct_db_span_start and their setters: the specification's helpers.
mod domain;
// ct_correlation_*: the thread's correlation context.
mod correlation;
// ct_inject*, ct_extract*, ct_lines_free: headers out and in.
mod propagation;
// ct_context_*: contexts from a traceparent or JSON, with a correlation, to JSON or headers.
mod context;
// ct_result, the panic guard, the last error, argument conversion; ct_debug_panic,
// ct_result_name.
mod ffi;
// The opaque handles: ct_config, ct_context, the span slab; the thread's context stack.
mod handles;
// ct_intern's table: names and keys by number.
mod interned;

use std::ffi::c_char;

use crosstrace::Tracing;

// The C API is the exported symbols; Rust code linking the rlib (the C bench) finds the same
// items at the crate root, where they were before the split.
pub use config::*;
pub use context::*;
pub use correlation::*;
pub use domain::*;
pub use ffi::{ct_debug_panic, ct_result, ct_result_name};
pub use health::*;
pub use propagation::*;
pub use span::*;

/// The process-wide tracing instance.
pub(crate) fn tracing() -> Tracing {
    crosstrace::global()
}

// The library itself: its version, the thread's last error, strings it returned.

/// The library version, e.g. `"0.1.0"`. Static; never free it.
#[no_mangle]
pub extern "C" fn ct_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The calling thread's last error message (at most 1,023 bytes), or NULL if the last call
/// succeeded. Owned by the library; valid until the next crosstrace call on this thread.
#[no_mangle]
pub extern "C" fn ct_last_error() -> *const c_char {
    ffi::last_error_ptr()
}

/// Frees a string returned by the library. NULL is a no-op.
///
/// # Safety
/// `s` must be NULL or a string this library returned and not yet freed.
#[no_mangle]
pub unsafe extern "C" fn ct_string_free(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: not NULL (checked): a string this library returned (`CString::into_raw`) and
        // not yet freed (the caller's contract).
        drop(unsafe { std::ffi::CString::from_raw(s) });
    }
}
