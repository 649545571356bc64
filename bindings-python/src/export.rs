//! The pipeline's outputs besides spans, and its end: span metrics, the health report and its
//! warnings, flush and shutdown (the GIL released while they wait).

use std::time::Duration;

use pyo3::prelude::*;

use crate::errors::{guard, invalid_argument, py_err};
use crate::tracing;

/// The span-derived metrics in the Prometheus text format (empty when metrics are off); with
/// `metrics_dir`, those of every process sharing it (files are written and read: the GIL is
/// released meanwhile).
#[pyfunction]
pub(crate) fn metrics_text(py: Python<'_>) -> String {
    let t = tracing();
    py.detach(|| t.metrics_text())
}

/// The health report as JSON.
#[pyfunction]
pub(crate) fn health() -> String {
    tracing().health().to_json()
}

/// Adds a warning to the health report's `warnings` and logs it on stderr, once per message
/// (a problem found while running: another SDK took the OpenTelemetry API's provider, say).
/// Whether it was new.
#[pyfunction]
pub(crate) fn add_warning(message: &str) -> bool {
    tracing().add_warning(message)
}

/// Exports everything queued (the GIL is released while waiting): whether every span was
/// exported. `False` when some could not be (lost, counted in health, whose last export error
/// says why), as OpenTelemetry's `force_flush` answers: a backend that is down does not raise
/// into the program. A timeout raises.
#[pyfunction]
pub(crate) fn force_flush(py: Python<'_>, timeout_seconds: f64) -> PyResult<bool> {
    guard(|| {
        let timeout = timeout_arg(timeout_seconds)?;
        let t = tracing();
        match py.detach(|| t.force_flush(timeout)) {
            Ok(()) => Ok(true),
            Err(crosstrace::Error::Export(_)) => Ok(false),
            Err(e) => Err(py_err(e)),
        }
    })
}

/// A call's timeout: 0 to an hour of seconds (NaN, negative or infinite refused, naming it).
pub(crate) fn timeout_arg(seconds: f64) -> PyResult<Duration> {
    if (0.0..=3600.0).contains(&seconds) {
        Ok(Duration::from_secs_f64(seconds))
    } else {
        Err(invalid_argument(format!(
            "invalid timeout={seconds:?}: expected a number of seconds from 0 to 3600"
        )))
    }
}

/// Exports what is queued within the timeout, then stops; returns how many spans could not be
/// sent. Idempotent: a second call returns 0.
#[pyfunction]
pub(crate) fn shutdown(py: Python<'_>, timeout_seconds: f64) -> PyResult<u64> {
    guard(|| {
        let timeout = timeout_arg(timeout_seconds)?;
        let t = tracing();
        match py.detach(|| t.shutdown(timeout)) {
            Ok(report) => Ok(report.unsent),
            Err(crosstrace::Error::AlreadyShutdown) => Ok(0),
            Err(e) => Err(py_err(e)),
        }
    })
}
