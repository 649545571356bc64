//! `Context`: the immutable propagation context (parent span, baggage, correlation) that the
//! package keeps in OpenTelemetry's context, and correlation-id validation.

use crosstrace::Correlation;
use pyo3::prelude::*;

use crate::errors::{guard, invalid_argument, py_err};

/// An immutable propagation context: parent span, baggage, correlation.
#[pyclass(frozen, module = "crosstrace._native")]
#[derive(Clone, Default)]
pub(crate) struct Context {
    pub(crate) inner: crosstrace::Context,
}

#[pymethods]
impl Context {
    /// An empty context (spans under it start new traces).
    #[new]
    fn new() -> Self {
        Context::default()
    }

    /// The correlation id, or None.
    #[getter]
    fn correlation_id(&self) -> Option<String> {
        self.inner.correlation().map(|c| c.id().to_owned())
    }

    /// The correlation context as a dict (id, user_id, operation, fields), or None.
    fn correlation(&self) -> Option<String> {
        self.inner
            .correlation()
            .map(|c| crosstrace::binding::interop::correlation_to_json(Some(c)).to_string())
    }

    /// The parent trace id, or None.
    #[getter]
    fn trace_id(&self) -> Option<String> {
        self.inner.span_context().map(|s| s.trace_id().to_string())
    }

    /// The parent span id, or None.
    #[getter]
    fn span_id(&self) -> Option<String> {
        self.inner.span_context().map(|s| s.span_id().to_string())
    }

    /// Whether the parent is sampled (False without a parent).
    #[getter]
    fn sampled(&self) -> bool {
        self.inner.span_context().is_some_and(|s| s.is_sampled())
    }

    /// The parent's trace flags (sampled 0x01, random 0x02); 0 without a parent.
    #[getter]
    fn trace_flags(&self) -> u8 {
        self.inner
            .span_context()
            .map_or(0, |s| s.trace_flags().to_u8())
    }

    /// The `tracestate` passed on with the parent (as received with its trace), or None.
    #[getter]
    fn tracestate(&self) -> Option<String> {
        self.inner.trace_state_header().map(|h| h.into_owned())
    }

    /// Whether the parent's trace came with a B3 or Jaeger debug flag.
    #[getter]
    fn debug(&self) -> bool {
        self.inner.debug()
    }

    /// A copy carrying a correlation context (a UUID v4 when `id` is None).
    #[pyo3(signature = (id=None, user_id=None, operation=None, fields=None))]
    fn with_correlation(
        &self,
        id: Option<String>,
        user_id: Option<String>,
        operation: Option<String>,
        fields: Option<Vec<(String, String)>>,
    ) -> PyResult<Context> {
        guard(|| {
            let c = Correlation::new(id, user_id, operation, fields.unwrap_or_default())
                .map_err(py_err)?;
            Ok(Context {
                inner: self.inner.with_correlation(c),
            })
        })
    }

    /// The baggage entries, in order (correlation fields apart: see `correlation`).
    fn baggage(&self) -> Vec<(String, String)> {
        self.inner.baggage().to_vec()
    }

    /// A copy with these baggage entries instead (correlation and parent kept). The W3C
    /// limits apply when it is injected.
    fn with_baggage(&self, entries: Vec<(String, String)>) -> Context {
        Context {
            inner: self.inner.with_baggage(entries),
        }
    }

    /// A copy whose parent span is `other`'s, with its trace's tracestate and debug flag
    /// (baggage and correlation kept from this one).
    fn with_parent_of(&self, other: &Context) -> Context {
        Context {
            inner: self.inner.with_parent_of(&other.inner),
        }
    }

    /// A copy with a remote parent given as OpenTelemetry's API carries it: ids, the sampled
    /// bit, the whole flags byte (the random flag is kept) and its `tracestate` header.
    #[pyo3(signature = (trace_id, span_id, sampled, trace_flags=None, tracestate=None))]
    fn with_remote_parent(
        &self,
        trace_id: &str,
        span_id: &str,
        sampled: bool,
        trace_flags: Option<u8>,
        tracestate: Option<&str>,
    ) -> PyResult<Context> {
        let sc =
            crosstrace::binding::parse_span_context(trace_id, span_id, sampled).map_err(py_err)?;
        let flags =
            crosstrace::TraceFlags::new((trace_flags.unwrap_or(0) & !1) | u8::from(sampled));
        let sc = crosstrace::SpanContext::new(
            sc.trace_id(),
            sc.span_id(),
            flags,
            true,
            Default::default(),
        );
        Ok(Context {
            inner: self
                .inner
                .with_span_context(sc)
                .with_propagated(tracestate, false),
        })
    }

    /// The shared vectors' JSON shape of this context.
    fn to_json(&self) -> String {
        crosstrace::binding::interop::context_to_json(&self.inner).to_string()
    }

    /// A context from the shared vectors' JSON shape.
    #[staticmethod]
    fn from_json(json: &str) -> PyResult<Context> {
        guard(|| {
            let v: serde_json::Value = serde_json::from_str(json)
                .map_err(|e| invalid_argument(format!("context json: {e}")))?;
            crosstrace::binding::interop::context_from_json(&v)
                .map(|inner| Context { inner })
                .map_err(py_err)
        })
    }
}

/// The current correlation context of the thread is Python's business (contextvars); this
/// module only offers validation.
#[pyfunction]
pub(crate) fn validate_correlation_id(id: &str) -> PyResult<()> {
    crosstrace::context::correlation::validate_id(id).map_err(py_err)
}
