//! The ETL and database spans (the core's `domain` helpers), and ETL record counts.

use pyo3::prelude::*;

use crate::context::Context;
use crate::span::Span;

/// Starts an ETL operation span (`etl.operation`, `etl.stage`).
#[pyfunction]
pub(crate) fn start_etl_span(operation: &str, stage: &str, parent: &Context) -> Span {
    crosstrace::binding::with_global(|t| {
        Span::from_builder(t.etl_span(operation, stage).parent_context(&parent.inner))
    })
}

/// Starts a database client span named `"{operation} {table}"`.
#[pyfunction]
pub(crate) fn start_db_span(system: &str, operation: &str, table: &str, parent: &Context) -> Span {
    crosstrace::binding::with_global(|t| {
        Span::from_builder(
            t.db_span(system, operation, table)
                .parent_context(&parent.inner),
        )
    })
}

/// Sets ETL record counts on a span.
#[pyfunction]
#[pyo3(signature = (span, input=None, output=None, rejected=None))]
pub(crate) fn set_etl_records(
    span: &Span,
    input: Option<u64>,
    output: Option<u64>,
    rejected: Option<u64>,
) {
    span.with(|s| s.set_etl_records(input, output, rejected));
}
