//! No secret leaves the process: a request's secrets in span attributes (URL, query, body,
//! headers, an exception message), an exporter endpoint's userinfo and secret query in health,
//! export errors and config errors. Every secret below contains `S3CR3T`; none may come out.

// Tests unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crosstrace::{Backend, KeyValue, OtlpProtocol, SpanData, Tracing, TracingConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::SpanExporter;

#[derive(Debug, Clone, Default)]
struct Collect(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Collect {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.lock().unwrap().extend(batch);
        Ok(())
    }
}

fn assert_clean(what: &str, text: &str) {
    assert!(!text.contains("S3CR3T"), "a secret in {what}: {text}");
}

#[test]
fn a_requests_secrets_are_redacted_in_every_attribute() {
    let c = Collect::default();
    let t = Tracing::with_exporter(TracingConfig::default(), c.clone()).unwrap();
    let mut span = t
        .span("POST /login")
        .attribute(KeyValue::new(
            "url.full",
            "https://user:S3CR3T-1@shop.example/login?next=/a&token=S3CR3T-2#access_token=S3CR3T-3",
        ))
        .attribute(KeyValue::new("url.query", "sig=S3CR3T-4&page=2"))
        .start();
    span.set_attribute(KeyValue::new(
        "http.request.body",
        r#"{"user":"ann","password":"S3CR3T-5","card":{"cvv":"1","api_key":"S3CR3T-6"}}"#,
    ));
    span.set_attribute(KeyValue::new("http.request.header.cookie", "sid=S3CR3T-7"));
    span.set_attribute(KeyValue::new(
        "http.request.header.authorization",
        "Bearer S3CR3T-8",
    ));
    span.record_exception(
        "HTTPError",
        "GET https://api.example/v1?apikey=S3CR3T-9 failed: 401",
        None,
    );
    span.end();
    t.force_flush(Duration::from_secs(5)).unwrap();
    let spans = c.0.lock().unwrap();
    let span = &spans[0];
    for kv in &span.attributes {
        assert_clean(kv.key.as_str(), &kv.value.to_string());
    }
    for e in &span.events.events {
        for kv in &e.attributes {
            assert_clean(kv.key.as_str(), &kv.value.to_string());
        }
    }
    assert_clean("the status", &format!("{:?}", span.status));
    // What is not secret stays: the reader still sees what was sent.
    let attr = |k: &str| {
        span.attributes
            .iter()
            .find(|kv| kv.key.as_str() == k)
            .unwrap()
            .value
            .to_string()
    };
    assert!(
        attr("url.full").contains("next=/a&token=REDACTED"),
        "{}",
        attr("url.full")
    );
    assert!(attr("http.request.body").contains(r#""user":"ann""#));
    assert_eq!(t.health().counts.attributes_redacted, 6);
}

#[test]
fn start_attributes_are_redacted_and_cut_once_when_a_key_repeats() {
    // The repeat comes after the secrets and the long values, which are sanitized on the way
    // to it: they must not be again (the URL is cut inside `REDACTED`, which a second
    // redaction would not recognise) nor counted twice.
    let c = Collect::default();
    let config = TracingConfig {
        attribute_value_length_limit: 32,
        ..TracingConfig::default()
    };
    let t = Tracing::with_exporter(config, c.clone()).unwrap();
    let mut span = t
        .span("GET /")
        .attributes([
            KeyValue::new("url.full", "https://shop.example/a?token=S3CR3T-1"),
            KeyValue::new("http.request.header.authorization", "Bearer S3CR3T-2"),
            KeyValue::new("note", "x".repeat(100)),
            KeyValue::new("store", "berlin-01"),
            KeyValue::new("store", "hamburg-02"),
            KeyValue::new("url.query", "page=2&sig=S3CR3T-3"),
        ])
        .start();
    span.end();
    t.force_flush(Duration::from_secs(5)).unwrap();
    let spans = c.0.lock().unwrap();
    let attrs: Vec<(String, String)> = spans[0]
        .attributes
        .iter()
        .map(|kv| (kv.key.to_string(), kv.value.to_string()))
        .collect();
    for (k, v) in &attrs {
        assert_clean(k, v);
    }
    let keys: Vec<&str> = attrs.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "url.full",
            "http.request.header.authorization",
            "note",
            "store",
            "url.query"
        ]
    );
    assert_eq!(attrs[0].1, "https://shop.example/a?token=RED");
    assert_eq!(attrs[2].1.len(), 32);
    assert_eq!(attrs[3].1, "hamburg-02", "the later value wins");
    assert_eq!(attrs[4].1, "page=2&sig=REDACTED");
    let counts = t.health().counts;
    assert_eq!(
        (counts.attributes_redacted, counts.attributes_truncated),
        (3, 2)
    );
}

/// A server that answers every request with `503` and records the request heads.
fn refusing_server() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let heads: Arc<Mutex<Vec<String>>> = Arc::default();
    let h = heads.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let mut w = conn.try_clone().unwrap();
            let mut r = BufReader::new(conn);
            let (mut head, mut len) = (String::new(), 0);
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                head.push_str(&line.to_ascii_lowercase());
            }
            let _ = r.read_exact(&mut vec![0; len]);
            h.lock().unwrap().push(head);
            let _ = w
                .write_all(b"HTTP/1.1 503 X\r\ncontent-length: 4\r\nconnection: close\r\n\r\nbusy");
        }
    });
    (port, heads)
}

#[test]
fn an_endpoints_credentials_are_used_and_never_shown() {
    let (port, heads) = refusing_server();
    let url = format!("http://exporter:S3CR3T-A@127.0.0.1:{port}/v1/traces?api_key=S3CR3T-B");
    let t = Tracing::new(TracingConfig {
        backend: Backend::Otlp,
        endpoint: Some(url),
        otlp_protocol: Some(OtlpProtocol::HttpProtobuf),
        export_timeout_seconds: 1.0,
        log_level: crosstrace::LogLevel::Off,
        ..TracingConfig::default()
    })
    .unwrap();
    t.start("work").end();
    // The flush's error quotes the last export error: redacted as health's is.
    let flushed = t.force_flush(Duration::from_secs(10)).unwrap_err();
    assert_clean("the flush's error", &flushed.to_string());
    let health = t.health();
    assert_clean("health", &health.to_json());
    let error = health.last_export_error.unwrap();
    assert!(error.message.contains("REDACTED"), "{}", error.message);
    assert!(health.endpoint.unwrap().contains("REDACTED:REDACTED@"));
    // The credentials still authenticate: Basic, as the URL's userinfo asks.
    let seen = heads.lock().unwrap().join("\n");
    // (The server keeps heads lowercased.) "exporter:S3CR3T-A", base64.
    assert!(
        seen.contains(&"authorization: Basic ZXhwb3J0ZXI6UzNDUjNULUE=".to_ascii_lowercase()),
        "{seen}"
    );
}

#[test]
fn config_errors_do_not_repeat_secrets() {
    let env = |k: &str, v: &str| {
        let (k, v) = (k.to_owned(), v.to_owned());
        TracingConfig::from_lookup(move |name| (name == k).then(|| v.clone())).unwrap_err()
    };
    for e in [
        env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://u:S3CR3T@collector:99999",
        ),
        env("OTEL_EXPORTER_OTLP_HEADERS", "api-key=S3CR3T%01,broken"),
    ] {
        let text = crosstrace::Error::from(e).to_string();
        assert_clean("a config error", &text);
        assert!(text.contains("REDACTED"), "{text}");
    }
    let e = TracingConfig {
        endpoint: Some("http://u:S3CR3T@collector:99999".into()),
        ..TracingConfig::default()
    }
    .validate()
    .unwrap_err();
    assert_clean("a config error", &e.to_string());
}

#[test]
fn the_redaction_names_are_configurable() {
    let c = Collect::default();
    let config = TracingConfig {
        redact_keys: vec!["default".into(), "ssn".into()],
        ..TracingConfig::default()
    };
    let t = Tracing::with_exporter(config, c.clone()).unwrap();
    t.span("q")
        .attribute(KeyValue::new("url.query", "ssn=S3CR3T&token=S3CR3T&q=1"))
        .start()
        .end();
    t.force_flush(Duration::from_secs(5)).unwrap();
    let value = c.0.lock().unwrap()[0].attributes[0].value.to_string();
    assert_eq!(value, "ssn=REDACTED&token=REDACTED&q=1");
    let bad = TracingConfig {
        redact_keys: vec!["none".into(), "ssn".into()],
        ..TracingConfig::default()
    };
    assert!(bad
        .validate()
        .unwrap_err()
        .to_string()
        .contains("redact_keys"));
}
