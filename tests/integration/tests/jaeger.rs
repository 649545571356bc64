//! Integration tests against a real Jaeger v2 (installed and started by `scripts/test.sh`, which
//! sets `CROSSTRACE_JAEGER_QUERY`). Spans sent over OTLP gRPC and OTLP HTTP are read back through
//! Jaeger's own query API.
// Tests unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::http_get;

use crosstrace::{
    Backend, Compression, Context, Correlation, KeyValue, OtlpProtocol, SpanKind, Status, Tracing,
    TracingConfig,
};
use serde_json::Value;

fn query_base() -> String {
    std::env::var("CROSSTRACE_JAEGER_QUERY").expect(
        "CROSSTRACE_JAEGER_QUERY is not set: run these tests through `make test`, which starts Jaeger",
    )
}

/// Polls Jaeger until the trace has `want` spans.
fn fetch_trace(trace_id: &str, want: usize) -> Value {
    let url = format!("{}/api/traces/{trace_id}", query_base());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = http_get(&url);
        if status == 200 {
            let v: Value = serde_json::from_str(&body).unwrap();
            let n = v["data"][0]["spans"].as_array().map_or(0, Vec::len);
            if n >= want {
                return v["data"][0].clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "trace {trace_id} did not reach {want} spans in Jaeger (last status {status})"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn tag<'a>(span: &'a Value, key: &str) -> Option<&'a Value> {
    span["tags"]
        .as_array()?
        .iter()
        .find(|t| t["key"] == key)
        .map(|t| &t["value"])
}

fn send_and_check(protocol: OtlpProtocol, endpoint: &str, compression: Compression) {
    let service = format!(
        "crosstrace-it-{}-{compression:?}",
        protocol.as_str().replace('/', "-")
    );
    check_backend(TracingConfig {
        service_name: service,
        backend: Backend::Otlp,
        endpoint: Some(endpoint.into()),
        otlp_protocol: Some(protocol),
        compression,
        ..TracingConfig::default()
    });
}

/// Sends a server span with a database child and a failing child, and finds them in Jaeger
/// with names, tags, parent links, kinds, error status, logs and the process.
fn check_backend(config: TracingConfig) {
    let service = config.service_name.clone();
    let t = Tracing::new(TracingConfig {
        service_version: "9.9.9".into(),
        environment: "integration".into(),
        resource_attributes: [("service.namespace".to_owned(), "retail".to_owned())].into(),
        headers: [("x-crosstrace-test".to_owned(), "1".to_owned())].into(),
        ..config
    })
    .unwrap();

    let corr = Correlation::builder().id("it-corr-1").build().unwrap();
    let cx = Context::new().with_correlation(corr);
    let mut server = t
        .span("GET /orders/{id}")
        .kind(SpanKind::Server)
        .parent_context(&cx)
        .attribute(KeyValue::new("http.route", "/orders/{id}"))
        .start();
    let server_cx = server.context();
    let mut db = t
        .db_span("postgresql", "SELECT", "orders")
        .parent_context(&server_cx)
        .start();
    db.set_db_rows(1, false);
    db.end();
    let mut failing = t.span("enrich").parent_context(&server_cx).start();
    failing.record_exception("LookupError", "sku not found", Some("at enrich()"));
    failing.end();
    server.set_status(Status::Ok);
    let trace_id = server.trace_id_hex();
    let server_span_id = server.span_id_hex();
    server.end();

    t.force_flush(Duration::from_secs(20)).unwrap();
    let h = t.health();
    assert_eq!(h.counts.spans_exported, 3, "health: {}", h.to_json());
    assert_eq!(h.counts.spans_export_failed, 0, "health: {}", h.to_json());

    let trace = fetch_trace(&trace_id, 3);
    let spans = trace["spans"].as_array().unwrap();
    let by_name = |n: &str| {
        spans
            .iter()
            .find(|s| s["operationName"] == n)
            .unwrap_or_else(|| panic!("no span {n} in {trace}"))
    };
    let srv = by_name("GET /orders/{id}");
    assert_eq!(srv["spanID"], server_span_id.as_str());
    assert_eq!(tag(srv, "span.kind").unwrap(), "server");
    assert_eq!(tag(srv, "http.route").unwrap(), "/orders/{id}");
    assert_eq!(tag(srv, "correlation.id").unwrap(), "it-corr-1");
    assert!(srv["references"].as_array().is_none_or(Vec::is_empty));

    let q = by_name("SELECT orders");
    assert_eq!(q["references"][0]["refType"], "CHILD_OF");
    assert_eq!(q["references"][0]["spanID"], server_span_id.as_str());
    assert_eq!(tag(q, "span.kind").unwrap(), "client");
    assert_eq!(tag(q, "db.system.name").unwrap(), "postgresql");
    assert_eq!(tag(q, "db.response.returned_rows").unwrap(), 1);
    assert_eq!(tag(q, "correlation.id").unwrap(), "it-corr-1");

    let e = by_name("enrich");
    assert_eq!(e["references"][0]["spanID"], server_span_id.as_str());
    assert_eq!(tag(e, "error").unwrap(), true);
    assert_eq!(tag(e, "otel.status_description").unwrap(), "sku not found");
    let log = &e["logs"][0]["fields"];
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .any(|f| f["key"] == "exception.type" && f["value"] == "LookupError"),
        "{e}"
    );

    let process = &trace["processes"][srv["processID"].as_str().unwrap()];
    assert_eq!(process["serviceName"], service.as_str());
    let ptag = |k: &str| {
        process["tags"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["key"] == k)
            .map(|t| t["value"].clone())
    };
    assert_eq!(ptag("service.version").unwrap(), "9.9.9");
    assert_eq!(ptag("deployment.environment").unwrap(), "integration");
    assert_eq!(ptag("service.namespace").unwrap(), "retail");
    assert_eq!(ptag("telemetry.sdk.name").unwrap(), "crosstrace");

    t.shutdown(Duration::from_secs(10)).unwrap();
}

fn port(var: &str, default: u16) -> u16 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn otlp_grpc_spans_arrive_in_jaeger() {
    let p = port("JAEGER_OTLP_GRPC_PORT", 4317);
    send_and_check(
        OtlpProtocol::Grpc,
        &format!("http://127.0.0.1:{p}"),
        Compression::None,
    );
}

#[test]
fn otlp_grpc_gzip_spans_arrive_in_jaeger() {
    let p = port("JAEGER_OTLP_GRPC_PORT", 4317);
    send_and_check(
        OtlpProtocol::Grpc,
        &format!("http://127.0.0.1:{p}"),
        Compression::Gzip,
    );
}

#[test]
fn otlp_http_gzip_spans_arrive_in_jaeger() {
    let p = port("JAEGER_OTLP_HTTP_PORT", 4318);
    send_and_check(
        OtlpProtocol::HttpProtobuf,
        &format!("http://127.0.0.1:{p}/v1/traces"),
        Compression::Gzip,
    );
}

#[test]
fn otlp_http_json_spans_arrive_in_jaeger() {
    let p = port("JAEGER_OTLP_HTTP_PORT", 4318);
    send_and_check(
        OtlpProtocol::HttpJson,
        &format!("http://127.0.0.1:{p}/v1/traces"),
        Compression::None,
    );
}

#[test]
fn otlp_http_spans_arrive_in_jaeger() {
    let p = port("JAEGER_OTLP_HTTP_PORT", 4318);
    send_and_check(
        OtlpProtocol::HttpProtobuf,
        &format!("http://127.0.0.1:{p}/v1/traces"),
        Compression::None,
    );
}

#[test]
fn jaeger_thrift_spans_arrive_in_jaeger() {
    let p = port("JAEGER_THRIFT_HTTP_PORT", 14268);
    check_backend(TracingConfig {
        service_name: "crosstrace-it-thrift".into(),
        backend: Backend::Jaeger,
        endpoint: Some(format!("http://127.0.0.1:{p}/api/traces")),
        ..TracingConfig::default()
    });
}

/// The backend goes down mid-run and comes back: the application keeps running, spans sent
/// while it is down are counted as failed, and once it is back spans flow again.
#[test]
fn backend_stopped_and_restarted_during_a_run() {
    let script = std::env::var("CROSSTRACE_JAEGER_SCRIPT")
        .expect("CROSSTRACE_JAEGER_SCRIPT is not set: run through `make test`");
    let jaeger = |cmd: &str| {
        let ok = std::process::Command::new("bash")
            .arg(&script)
            .arg(cmd)
            .status()
            .unwrap()
            .success();
        assert!(ok, "jaeger.sh {cmd} failed");
    };
    let p = port("JAEGER_OTLP_HTTP_PORT", 4318);
    let t = Tracing::new(TracingConfig {
        service_name: "crosstrace-it-restart".into(),
        backend: Backend::Otlp,
        endpoint: Some(format!("http://127.0.0.1:{p}/v1/traces")),
        export_timeout_seconds: 2.0,
        export_max_batch_size: 10,
        schedule_delay_millis: 100,
        ..TracingConfig::default()
    })
    .unwrap();
    let burst = |label: &str| {
        for i in 0..20 {
            let mut s = t.start(format!("{label}-{i}"));
            s.end();
        }
        t.force_flush(Duration::from_secs(30))
    };
    burst("before").unwrap();
    assert_eq!(t.health().counts.spans_exported, 20);

    jaeger("stop");
    // The flush says the spans were lost (health counts them below).
    match burst("while-down") {
        Err(crosstrace::Error::Export(m)) => assert!(m.contains("could not be exported"), "{m}"),
        other => panic!("a flush while the backend is down: {other:?}"),
    }
    let h = t.health();
    assert_eq!(h.counts.spans_exported, 20);
    assert_eq!(h.counts.spans_export_failed, 20, "{}", h.to_json());
    let kind = h.last_export_error.unwrap().kind;
    assert!(kind == "connection" || kind == "timeout", "{kind}");

    jaeger("start");
    let mut marker = t.start("after-restart");
    let trace_id = marker.trace_id_hex();
    marker.end();
    burst("after").unwrap();
    let h = t.health();
    assert_eq!(h.counts.spans_exported, 41, "{}", h.to_json());
    assert_eq!(
        h.counts.spans_ended,
        h.counts.spans_exported + h.counts.spans_export_failed + h.counts.spans_dropped_queue_full
    );
    fetch_trace(&trace_id, 1);
}
