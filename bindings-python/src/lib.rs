//! `crosstrace._native`: the Python boundary over the core: conversion, ownership and error
//! mapping, and the span object itself (the OpenTelemetry API's Span interface, so that no
//! Python object wraps it); the pure-Python package `crosstrace` builds the specification's
//! API on it.
//! Export runs on the core's own thread, which never needs the GIL; `force_flush` and
//! `shutdown` release the GIL while they wait.
//!
//! One module per concern (as rustls-ffi has one per C object); this file keeps the module
//! list of `crosstrace._native`:
//! - [`errors`]: the exception classes, the one mapping of core errors to them, the panic guard;
//! - [`convert`]: Python values into the core's (attributes, links, kinds, times, headers);
//! - [`config`]: configuration (defaults, environment, validation) and `init`;
//! - [`context`]: `Context`, the immutable propagation context; [`scope`]: a tracer's `Scope`;
//! - [`span`]: `Span`, the span object Python code and the OpenTelemetry API see;
//! - [`start`]: starting a span under an explicit parent; [`current`]: the package's
//!   `start_span`, under OpenTelemetry's current context (and the per-thread parent cache);
//! - [`domain`]: the ETL and database spans; [`propagation`]: inject and extract;
//! - [`redaction`]: the redaction policy for Python's own recording; [`export`]: metrics,
//!   health, flush and shutdown.

use crosstrace::Tracing;
use pyo3::prelude::*;

mod config;
mod context;
mod convert;
mod current;
mod domain;
mod errors;
mod export;
mod propagation;
mod redaction;
mod scope;
#[cfg(unix)]
mod sigterm;
mod span;
mod start;

/// See Cargo.toml: cross-thread frees without an arena lock.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The global tracing instance (the last `init`'s).
fn tracing() -> Tracing {
    crosstrace::global()
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // The runtime calling the core, for the resource (`telemetry.sdk.language`).
    crosstrace::binding::resource::set_sdk_language("python");
    errors::make_exceptions(m)?;
    m.add_class::<context::Context>()?;
    m.add_class::<scope::Scope>()?;
    m.add_class::<span::Span>()?;
    m.add_class::<current::SpanBlock>()?;
    m.add_class::<current::ApiSpanBlock>()?;
    for f in [
        // Configuration.
        wrap_pyfunction!(config::config_defaults, m)?,
        wrap_pyfunction!(config::config_from_env, m)?,
        wrap_pyfunction!(config::config_normalize, m)?,
        wrap_pyfunction!(config::init, m)?,
        // Spans.
        wrap_pyfunction!(current::set_context_keys, m)?,
        wrap_pyfunction!(current::start_span, m)?,
        wrap_pyfunction!(current::call_traced, m)?,
        wrap_pyfunction!(current::call_in_span, m)?,
        wrap_pyfunction!(current::set_api_hooks, m)?,
        wrap_pyfunction!(start::start_span_under, m)?,
        wrap_pyfunction!(domain::start_etl_span, m)?,
        wrap_pyfunction!(domain::start_db_span, m)?,
        wrap_pyfunction!(domain::set_etl_records, m)?,
        // Propagation and correlation.
        wrap_pyfunction!(propagation::inject, m)?,
        wrap_pyfunction!(propagation::extract, m)?,
        wrap_pyfunction!(propagation::propagation_fields, m)?,
        wrap_pyfunction!(propagation::extraction_fields, m)?,
        wrap_pyfunction!(propagation::inject_format, m)?,
        wrap_pyfunction!(propagation::extract_format, m)?,
        wrap_pyfunction!(context::validate_correlation_id, m)?,
        // Redaction.
        wrap_pyfunction!(redaction::redact_url, m)?,
        wrap_pyfunction!(redaction::redact_query, m)?,
        wrap_pyfunction!(redaction::redact_text, m)?,
        wrap_pyfunction!(redaction::redact_body, m)?,
        // Export and health.
        wrap_pyfunction!(export::health, m)?,
        wrap_pyfunction!(export::add_warning, m)?,
        wrap_pyfunction!(export::metrics_text, m)?,
        wrap_pyfunction!(export::force_flush, m)?,
        wrap_pyfunction!(export::shutdown, m)?,
        // The panic guard, proved.
        wrap_pyfunction!(errors::_debug_panic, m)?,
    ] {
        m.add_function(f)?;
    }
    #[cfg(unix)]
    m.add_function(wrap_pyfunction!(sigterm::flush_on_sigterm, m)?)?;
    m.add("VERSION", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
