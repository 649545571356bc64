//! Configuration: the core's defaults, the environment's and a given configuration, each
//! normalised as JSON (the Python dataclass is made from it), and `init`.

use crosstrace::TracingConfig;
use pyo3::prelude::*;

use crate::errors::{config_err, guard, py_err};

/// The configuration read from the environment, normalised, as JSON.
#[pyfunction]
pub(crate) fn config_from_env() -> PyResult<String> {
    guard(|| {
        let c = TracingConfig::from_env().map_err(config_err)?;
        Ok(serde_json::to_string(&c).unwrap_or_default())
    })
}

/// The core's default configuration (`TracingConfig::default()`), as JSON: every default of the
/// Python dataclass `TracingConfig` is read from it, none is written in Python.
#[pyfunction]
pub(crate) fn config_defaults() -> String {
    serde_json::to_string(&TracingConfig::default()).unwrap_or_default()
}

/// Validates a configuration given as JSON (the TracingConfig field names) and returns it
/// normalised; a bad field raises ConfigError naming it.
#[pyfunction]
pub(crate) fn config_normalize(config_json: &str) -> PyResult<String> {
    guard(|| {
        let c = TracingConfig::from_json(config_json).map_err(config_err)?;
        Ok(serde_json::to_string(&c).unwrap_or_default())
    })
}

/// Configures tracing from a normalised configuration (JSON), replacing any earlier setup.
#[pyfunction]
pub(crate) fn init(config_json: &str) -> PyResult<()> {
    guard(|| {
        let c = TracingConfig::from_json(config_json).map_err(config_err)?;
        crosstrace::init(c).map_err(py_err)?;
        // This thread's copy holds the instance just replaced: let it go now (other threads
        // let theirs go at their next span, or when they exit).
        crate::current::let_go_of_this_thread();
        Ok(())
    })
}
