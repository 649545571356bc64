//! The floor under the wasm package's size: a tracer provider of `opentelemetry_sdk` with one
//! span processor and an exporter that only counts, and one function that starts a span, sets
//! an attribute and ends it. No configuration, propagation, encoding, batching or `fetch`.
//! Whatever crosstrace adds, a package built on the SDK cannot be smaller than this.

use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry::trace::{Span, Tracer, TracerProvider};
use opentelemetry::KeyValue;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SimpleSpanProcessor, SpanData, SpanExporter};
use wasm_bindgen::prelude::*;

static EXPORTED: AtomicU64 = AtomicU64::new(0);

#[derive(Debug)]
struct Count;

impl SpanExporter for Count {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        EXPORTED.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// Starts and ends one span with one attribute; returns the spans exported so far.
#[wasm_bindgen]
pub fn span(name: String, key: String, value: String) -> u64 {
    let provider = SdkTracerProvider::builder()
        .with_span_processor(SimpleSpanProcessor::new(Count))
        .build();
    let mut s = provider.tracer("size-floor").start(name);
    s.set_attribute(KeyValue::new(key, value));
    s.end();
    EXPORTED.load(Ordering::Relaxed)
}
