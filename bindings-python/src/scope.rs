//! `Scope`: a tracer's instrumentation scope.

use pyo3::prelude::*;

/// An instrumentation scope: the name, version and schema URL of a tracer, which its spans
/// are exported under (OTLP groups spans by it). Made once per tracer; interned by the core
/// (the same three give the same scope), so a span takes it for free.
#[pyclass(frozen, module = "crosstrace._native")]
pub(crate) struct Scope {
    pub(crate) inner: crosstrace::Scope,
}

#[pymethods]
impl Scope {
    #[new]
    #[pyo3(signature = (name, version=None, schema_url=None))]
    fn new(name: &str, version: Option<&str>, schema_url: Option<&str>) -> Self {
        Scope {
            inner: crosstrace::Scope::new(name, version, schema_url),
        }
    }

    /// The tracer's name.
    #[getter]
    fn name(&self) -> &'static str {
        self.inner.instrumentation_scope().name()
    }

    /// The tracer's version, or None.
    #[getter]
    fn version(&self) -> Option<&'static str> {
        self.inner.instrumentation_scope().version()
    }

    /// The schema URL, or None.
    #[getter]
    fn schema_url(&self) -> Option<&'static str> {
        self.inner.instrumentation_scope().schema_url()
    }

    fn __repr__(&self) -> String {
        format!(
            "Scope(name={:?}, version={:?}, schema_url={:?})",
            self.name(),
            self.version(),
            self.schema_url()
        )
    }
}
