//! The specification's domain helpers: ETL operations and database operations, with attribute
//! names every binding shares (pinned by `tests/vectors/attributes.json`).

use opentelemetry::trace::SpanKind;
use opentelemetry::KeyValue;

use crate::span::Span;
use crate::tracing::{SpanBuilder, Tracing};

/// ETL attribute names.
pub mod etl {
    /// The operation (`bronze_ingestion`).
    pub const OPERATION: &str = "etl.operation";
    /// The medallion stage (`bronze`, `silver`, `gold`).
    pub const STAGE: &str = "etl.stage";
    /// Records read.
    pub const RECORDS_INPUT: &str = "etl.records.input";
    /// Records written.
    pub const RECORDS_OUTPUT: &str = "etl.records.output";
    /// Records rejected (invalid, filtered out).
    pub const RECORDS_REJECTED: &str = "etl.records.rejected";
    /// Set to true when the operation failed.
    pub const FAILED: &str = "etl.failed";
    /// The attempt number when an operation is retried (1-based).
    pub const ATTEMPT: &str = "etl.attempt";
}

/// Database attribute names (OpenTelemetry semantic conventions, stable v1.26+ names).
pub mod db {
    /// The database system (`postgresql`, `sqlite`, `redis`).
    pub const SYSTEM_NAME: &str = "db.system.name";
    /// The operation (`INSERT`, `SELECT`).
    pub const OPERATION_NAME: &str = "db.operation.name";
    /// The table or collection.
    pub const COLLECTION_NAME: &str = "db.collection.name";
    /// The database name.
    pub const NAMESPACE: &str = "db.namespace";
    /// Rows a read returned (semantic conventions).
    pub const RETURNED_ROWS: &str = "db.response.returned_rows";
    /// Rows a write affected (no semantic convention exists yet; named to sit beside
    /// `db.response.returned_rows`).
    pub const AFFECTED_ROWS: &str = "db.response.affected_rows";
}

impl Tracing {
    /// A span for an ETL operation: named after the operation, with `etl.operation` and
    /// `etl.stage`.
    pub fn etl_span(&self, operation: &str, stage: &str) -> SpanBuilder<'_> {
        self.span(operation.to_owned()).attributes([
            KeyValue::new(etl::OPERATION, operation.to_owned()),
            KeyValue::new(etl::STAGE, stage.to_owned()),
        ])
    }

    /// A client span for a database operation, named `"{operation} {collection}"` as the
    /// semantic conventions say.
    pub fn db_span(&self, system: &str, operation: &str, collection: &str) -> SpanBuilder<'_> {
        let name = if collection.is_empty() {
            operation.to_owned()
        } else {
            format!("{operation} {collection}")
        };
        let mut attrs = vec![
            KeyValue::new(db::SYSTEM_NAME, system.to_owned()),
            KeyValue::new(db::OPERATION_NAME, operation.to_owned()),
        ];
        if !collection.is_empty() {
            attrs.push(KeyValue::new(db::COLLECTION_NAME, collection.to_owned()));
        }
        self.span(name).kind(SpanKind::Client).attributes(attrs)
    }
}

impl Span {
    /// Records ETL record counts: read, written and rejected (each when known).
    pub fn set_etl_records(
        &mut self,
        input: Option<u64>,
        output: Option<u64>,
        rejected: Option<u64>,
    ) {
        for (key, n) in [
            (etl::RECORDS_INPUT, input),
            (etl::RECORDS_OUTPUT, output),
            (etl::RECORDS_REJECTED, rejected),
        ] {
            if let Some(n) = n {
                self.set_attribute(KeyValue::new(key, i64::try_from(n).unwrap_or(i64::MAX)));
            }
        }
    }

    /// Marks an ETL operation failed: `etl.failed=true`, an exception event, error status.
    pub fn set_etl_failed(&mut self, error_type: &str, message: &str) {
        self.set_attribute(KeyValue::new(etl::FAILED, true));
        self.record_exception(error_type, message, None);
    }

    /// Records the rows a database operation returned (reads) or affected (writes).
    pub fn set_db_rows(&mut self, rows: u64, write: bool) {
        let key = if write {
            db::AFFECTED_ROWS
        } else {
            db::RETURNED_ROWS
        };
        self.set_attribute(KeyValue::new(key, i64::try_from(rows).unwrap_or(i64::MAX)));
    }
}
