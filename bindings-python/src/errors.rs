//! The exception classes of `crosstrace._native`, the one mapping of the core's error kinds to
//! them, and the guard that turns a panic into one.

use crosstrace::ErrorKind;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

/// The exception classes, made when the module is imported (`make_exceptions`): the error
/// kinds of `tests/vectors/error_kinds.json`, each shown as `crosstrace.<name>` (the package
/// re-exports them), under `CrosstraceError`, and under the builtin whose meaning it shares:
/// a bad configuration value is a `ValueError`, a timeout a `TimeoutError` (so `except
/// ValueError` around a `TracingConfig(...)` catches it). No class is named like a builtin.
struct Exceptions {
    base: Py<PyType>,
    config: Py<PyType>,
    exporter_setup: Py<PyType>,
    export: Py<PyType>,
    timeout: Py<PyType>,
    already_shutdown: Py<PyType>,
    invalid_argument: Py<PyType>,
}

static EXCEPTIONS: PyOnceLock<Exceptions> = PyOnceLock::new();

/// Makes the exception classes (with `type(name, bases, namespace)`: PyO3's own exceptions take
/// one base) and adds them to `m`.
pub(crate) fn make_exceptions(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let builtins = py.import("builtins")?;
    let make = |name: &str, bases: Vec<Bound<'_, PyAny>>, doc: &str| -> PyResult<Py<PyType>> {
        let namespace = PyDict::new(py);
        namespace.set_item("__module__", "crosstrace")?;
        namespace.set_item("__qualname__", name)?;
        namespace.set_item("__doc__", doc)?;
        let class = builtins
            .getattr("type")?
            .call1((name, PyTuple::new(py, bases)?, namespace))?
            .cast_into::<PyType>()?;
        m.add(name, &class)?;
        Ok(class.unbind())
    };
    let base = make(
        "CrosstraceError",
        vec![py.get_type::<PyException>().into_any()],
        "Base of every crosstrace error.",
    )?;
    let under = |also: Option<&str>| -> PyResult<Vec<Bound<'_, PyAny>>> {
        let mut bases = vec![base.bind(py).clone().into_any()];
        if let Some(b) = also {
            bases.push(builtins.getattr(b)?);
        }
        Ok(bases)
    };
    let exceptions = Exceptions {
        config: make(
            "ConfigError",
            under(Some("ValueError"))?,
            "A configuration value is invalid (also a ValueError).",
        )?,
        exporter_setup: make(
            "ExporterSetupError",
            under(None)?,
            "The exporter could not be set up.",
        )?,
        export: make("ExportError", under(None)?, "Exporting failed.")?,
        timeout: make(
            "CrosstraceTimeoutError",
            under(Some("TimeoutError"))?,
            "An operation (a flush, a shutdown) ran out of time (also the builtin TimeoutError).",
        )?,
        already_shutdown: make(
            "AlreadyShutdownError",
            under(None)?,
            "Tracing was already shut down.",
        )?,
        invalid_argument: make(
            "InvalidArgumentError",
            under(None)?,
            "An argument was invalid.",
        )?,
        base,
    };
    // A second import of the module (a subinterpreter) keeps the first classes.
    let _ = EXCEPTIONS.set(py, exceptions);
    Ok(())
}

/// An exception of the class `pick` chooses, with `msg`.
fn raise(pick: impl FnOnce(&Exceptions) -> &Py<PyType>, msg: String) -> PyErr {
    Python::attach(|py| match EXCEPTIONS.get(py) {
        Some(e) => PyErr::from_type(pick(e).bind(py).clone(), msg),
        None => PyException::new_err(msg),
    })
}

/// `CrosstraceError(msg)`.
pub(crate) fn crosstrace_error(msg: impl Into<String>) -> PyErr {
    raise(|e| &e.base, msg.into())
}

/// `InvalidArgumentError(msg)`.
pub(crate) fn invalid_argument(msg: impl Into<String>) -> PyErr {
    raise(|e| &e.invalid_argument, msg.into())
}

/// The one place where core errors become Python exceptions (the table of
/// `tests/vectors/error_kinds.json`).
pub(crate) fn py_err(e: crosstrace::Error) -> PyErr {
    let msg = e.to_string();
    match e.kind() {
        ErrorKind::Config => raise(|e| &e.config, msg),
        ErrorKind::ExporterSetup => raise(|e| &e.exporter_setup, msg),
        ErrorKind::Export => raise(|e| &e.export, msg),
        ErrorKind::Timeout => raise(|e| &e.timeout, msg),
        ErrorKind::AlreadyShutdown => raise(|e| &e.already_shutdown, msg),
        ErrorKind::InvalidArgument => invalid_argument(msg),
    }
}

/// Runs `f`, turning a panic (a bug in crosstrace) into `CrosstraceError`: PyO3 would raise
/// `PanicException`, a `BaseException` that `except Exception` does not catch.
pub(crate) fn guard<T>(f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(crosstrace_error(format!(
                "internal error in crosstrace (please report it): {msg}"
            )))
        }
    }
}

pub(crate) fn config_err(e: crosstrace::ConfigError) -> PyErr {
    py_err(e.into())
}

/// Panics inside the native module, to prove the boundary: raises CrosstraceError (an
/// `Exception`), never a `BaseException`.
#[pyfunction]
pub(crate) fn _debug_panic() -> PyResult<()> {
    guard(|| panic!("_debug_panic was called"))
}
