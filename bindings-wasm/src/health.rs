//! Health: the report, the queue's depth, the span-derived metrics.

use wasm_bindgen::prelude::*;

use crate::tracing;

/// The health report, as an object with the specification's field names.
#[wasm_bindgen]
pub fn health() -> JsValue {
    crate::to_js(&tracing().health().to_value())
}

/// Spans waiting for export (a replaced setup's too).
#[wasm_bindgen(js_name = queueDepth)]
pub fn queue_depth() -> u32 {
    let retired: u64 =
        crate::RETIRED.with(|r| r.borrow().iter().map(|s| s.tracing.queue_depth()).sum());
    (tracing().queue_depth() + retired) as u32
}

/// The span-derived metrics in the Prometheus text format (empty when metrics are off).
#[wasm_bindgen(js_name = metricsText)]
pub fn metrics_text() -> String {
    tracing().metrics_text()
}
