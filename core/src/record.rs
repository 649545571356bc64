//! The span record: what a recording span writes into and crosstrace's exporters read.
//!
//! It has the fields of the SDK's `SpanData` but refers to its instrumentation scope (interned
//! for the process, see [`Scope`](crate::Scope)) instead of owning a copy. Ending a span moves
//! the record into the queue and frees its box on the span's thread; batches hold records by
//! value (a box made on one thread and freed on the other cost 45% more CPU time with glibc's
//! malloc, for 7% fewer instructions). `SpanData` is made only on the export thread, for
//! an SDK exporter (`Tracing::with_exporter`), the console (an SDK exporter too) and the OTLP
//! transports that go through `opentelemetry-proto` (gRPC, OTLP/JSON).

use std::borrow::Cow;
use std::time::SystemTime;

use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};

/// One span as crosstrace records and exports it.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanRecord {
    /// The span's identity.
    pub span_context: SpanContext,
    /// The parent's span id (`SpanId::INVALID` for a root).
    pub parent_span_id: SpanId,
    /// Whether the parent came from another process.
    pub parent_span_is_remote: bool,
    /// The span kind.
    pub span_kind: SpanKind,
    /// The span name.
    pub name: Cow<'static, str>,
    /// When it started.
    pub start_time: SystemTime,
    /// When it ended (the start time while it runs).
    pub end_time: SystemTime,
    /// Attributes, after limits and redaction.
    pub attributes: Vec<KeyValue>,
    /// Attributes left out at the count limit.
    pub dropped_attributes_count: u32,
    /// Events, and how many were left out at the limit.
    pub events: SpanEvents,
    /// Links, and how many were left out at the limit.
    pub links: SpanLinks,
    /// The status.
    pub status: Status,
    /// The library (tracer) that made the span; interned, never freed.
    pub instrumentation_scope: &'static InstrumentationScope,
}

/// A batch of ended spans, as the queue hands them to an exporter (by value: moved out of its
/// box on the span's thread, see the module's docs).
pub type Batch = Vec<SpanRecord>;

impl SpanRecord {
    /// The SDK's form of the record, for an SDK `SpanExporter` (the scope copied: it owns it).
    pub fn into_span_data(self) -> SpanData {
        SpanData {
            span_context: self.span_context,
            parent_span_id: self.parent_span_id,
            parent_span_is_remote: self.parent_span_is_remote,
            span_kind: self.span_kind,
            name: self.name,
            start_time: self.start_time,
            end_time: self.end_time,
            attributes: self.attributes,
            dropped_attributes_count: self.dropped_attributes_count,
            events: self.events,
            links: self.links,
            status: self.status,
            instrumentation_scope: self.instrumentation_scope.clone(),
        }
    }
}

impl SpanRecord {
    /// The SDK's form of the record, copied (the OTLP/JSON body, encoded again on a retry).
    pub fn to_span_data(&self) -> SpanData {
        SpanData {
            span_context: self.span_context.clone(),
            parent_span_id: self.parent_span_id,
            parent_span_is_remote: self.parent_span_is_remote,
            span_kind: self.span_kind.clone(),
            name: self.name.clone(),
            start_time: self.start_time,
            end_time: self.end_time,
            attributes: self.attributes.clone(),
            dropped_attributes_count: self.dropped_attributes_count,
            events: self.events.clone(),
            links: self.links.clone(),
            status: self.status.clone(),
            instrumentation_scope: self.instrumentation_scope.clone(),
        }
    }
}

/// The SDK's form of a batch.
pub(crate) fn to_span_data(batch: Batch) -> Vec<SpanData> {
    batch.into_iter().map(|r| r.into_span_data()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{TraceFlags, TraceId, TraceState};

    #[test]
    fn converts_to_the_sdks_span_data_field_for_field() {
        let scope = crate::Scope::new("records.test", Some("1.2"), None);
        let record = SpanRecord {
            span_context: SpanContext::new(
                TraceId::from(7),
                SpanId::from(9),
                TraceFlags::SAMPLED,
                false,
                TraceState::NONE,
            ),
            parent_span_id: SpanId::from(3),
            parent_span_is_remote: true,
            span_kind: SpanKind::Client,
            name: "get".into(),
            start_time: SystemTime::UNIX_EPOCH,
            end_time: SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(5),
            attributes: vec![KeyValue::new("k", 1)],
            dropped_attributes_count: 2,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::error("boom"),
            instrumentation_scope: scope.instrumentation_scope(),
        };
        assert_eq!(record.to_span_data(), record.clone().into_span_data());
        let data = record.clone().into_span_data();
        assert_eq!(data.span_context, record.span_context);
        assert_eq!(data.parent_span_id, SpanId::from(3));
        assert!(data.parent_span_is_remote);
        assert_eq!(data.span_kind, SpanKind::Client);
        assert_eq!(data.name, "get");
        assert_eq!(data.end_time, record.end_time);
        assert_eq!(data.attributes, record.attributes);
        assert_eq!(data.dropped_attributes_count, 2);
        assert_eq!(data.status, Status::error("boom"));
        assert_eq!(data.instrumentation_scope.name(), "records.test");
        assert_eq!(data.instrumentation_scope.version(), Some("1.2"));
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn the_record_is_smaller_than_the_sdks_span_data() {
        // The scope by reference: 96 bytes of owned scope become a pointer (what each record's
        // single copy, into its box, moves).
        assert_eq!(std::mem::size_of::<SpanData>(), 352);
        assert_eq!(std::mem::size_of::<SpanRecord>(), 256);
    }
}
