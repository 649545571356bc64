//! Integration tests against the real Zipkin server (the exec jar from Maven Central, started by
//! `scripts/test.sh`, which sets `CROSSTRACE_ZIPKIN`). Spans are read back through Zipkin's
//! own API (`GET /api/v2/trace/{traceId}`).
// Tests unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::http_get;
use crosstrace::{Backend, Compression, KeyValue, SpanKind, Status, Tracing, TracingConfig};
use serde_json::Value;

fn base() -> String {
    std::env::var("CROSSTRACE_ZIPKIN")
        .expect("CROSSTRACE_ZIPKIN is not set: run these tests through `make test`")
}

fn fetch(trace_id: &str, want: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = http_get(&format!("{}/api/v2/trace/{trace_id}", base()));
        if status == 200 {
            let spans: Vec<Value> = serde_json::from_str(&body).unwrap();
            if spans.len() >= want {
                return spans;
            }
        }
        assert!(
            Instant::now() < deadline,
            "trace {trace_id} not in Zipkin ({status})"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn send(compression: Compression) {
    let t = Tracing::new(TracingConfig {
        service_name: format!("Crosstrace-Zipkin-{compression:?}"),
        backend: Backend::Zipkin,
        endpoint: Some(format!("{}/api/v2/spans", base())),
        compression,
        ..TracingConfig::default()
    })
    .unwrap();
    let mut server = t.span("GET /orders").kind(SpanKind::Server).start();
    let cx = server.context();
    let mut client = t
        .span("call inventory")
        .kind(SpanKind::Client)
        .parent_context(&cx)
        .attributes([
            KeyValue::new("peer.service", "Inventory"),
            KeyValue::new("server.address", "127.0.0.1"),
            KeyValue::new("server.port", 8081_i64),
        ])
        .start();
    client.add_event("retrying", vec![KeyValue::new("attempt", 2_i64)]);
    client.set_status(Status::error("upstream 502"));
    client.end();
    let mut internal = t.span("compute").parent_context(&cx).start();
    internal.set_attribute(KeyValue::new("items", 3_i64));
    internal.end();
    let trace_id = server.trace_id_hex();
    let server_id = server.span_id_hex();
    server.end();
    t.force_flush(Duration::from_secs(20)).unwrap();
    let h = t.health();
    assert_eq!(h.counts.spans_exported, 3, "{}", h.to_json());

    let spans = fetch(&trace_id, 3);
    let by = |n: &str| {
        spans
            .iter()
            .find(|s| s["name"] == n)
            .unwrap_or_else(|| panic!("{n}"))
    };
    let srv = by("get /orders");
    assert_eq!(srv["kind"], "SERVER");
    assert_eq!(srv["id"], server_id.as_str());
    assert!(srv.get("parentId").is_none());
    let service = format!("crosstrace-zipkin-{compression:?}").to_lowercase();
    assert_eq!(srv["localEndpoint"]["serviceName"], service.as_str());
    let cl = by("call inventory");
    assert_eq!(cl["kind"], "CLIENT");
    assert_eq!(cl["parentId"], server_id.as_str());
    assert_eq!(cl["remoteEndpoint"]["serviceName"], "inventory");
    assert_eq!(cl["remoteEndpoint"]["ipv4"], "127.0.0.1");
    assert_eq!(cl["remoteEndpoint"]["port"], 8081);
    assert_eq!(cl["tags"]["error"], "upstream 502");
    assert!(cl["annotations"][0]["value"]
        .as_str()
        .unwrap()
        .starts_with("retrying"));
    let c = by("compute");
    assert!(c.get("kind").is_none(), "internal spans have no kind");
    assert_eq!(c["tags"]["items"], "3");
    assert!(c["duration"].as_u64().unwrap() >= 1);
    t.shutdown(Duration::from_secs(5)).unwrap();
}

#[test]
fn zipkin_v2_json_spans_arrive_in_zipkin() {
    send(Compression::None);
}

#[test]
fn zipkin_gzip_spans_arrive_in_zipkin() {
    send(Compression::Gzip);
}
