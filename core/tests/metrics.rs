//! Span-derived metrics: exact counts and buckets for the shared span program (the same text
//! every binding must produce), exactness under sampling, cardinality bounds, the service map and
//! configuration errors.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crosstrace::span::Parent;
use crosstrace::SeriesKey;
use crosstrace::{KeyValue, SpanData, SpanKind, Status, Tracing, TracingConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::SpanExporter;
use serde_json::Value;

#[derive(Debug, Clone, Default)]
struct Collect(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Collect {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.lock().unwrap().extend(batch);
        Ok(())
    }
}

fn vector_dir() -> std::path::PathBuf {
    manifest_dir().join("../tests/vectors")
}

fn kv(key: &str, v: &Value) -> KeyValue {
    match v {
        Value::String(s) => KeyValue::new(key.to_owned(), s.clone()),
        Value::Bool(b) => KeyValue::new(key.to_owned(), *b),
        Value::Number(n) if n.is_i64() => KeyValue::new(key.to_owned(), n.as_i64().unwrap()),
        Value::Number(n) => KeyValue::new(key.to_owned(), n.as_f64().unwrap()),
        other => panic!("unsupported attribute value {other}"),
    }
}

fn attrs(span: &Value, field: &str) -> Vec<KeyValue> {
    span.get(field)
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| kv(k, v)).collect())
        .unwrap_or_default()
}

/// Runs tests/vectors/metrics_program.json; returns the tracing and what was exported.
fn run_program() -> (Tracing, Vec<SpanData>) {
    let program: Value = serde_json::from_str(
        &std::fs::read_to_string(vector_dir().join("metrics_program.json")).unwrap(),
    )
    .unwrap();
    let config: TracingConfig = serde_json::from_value(program["config"].clone()).unwrap();
    let collect = Collect::default();
    let t = Tracing::with_exporter(config, collect.clone()).unwrap();
    let base =
        SystemTime::UNIX_EPOCH + Duration::from_millis(program["base_unix_ms"].as_u64().unwrap());
    let headers: HashMap<String, String> = HashMap::from([(
        "traceparent".to_owned(),
        program["unsampled_parent_traceparent"]
            .as_str()
            .unwrap()
            .to_owned(),
    )]);
    let unsampled = t.extract(&headers);
    for s in program["spans"].as_array().unwrap() {
        let at = |f: &str| base + Duration::from_millis(s[f].as_u64().unwrap());
        let kind = crosstrace::binding::span::parse_kind(s["kind"].as_str().unwrap()).unwrap();
        let parent = if s["unsampled_parent"].as_bool() == Some(true) {
            Parent::Context(&unsampled)
        } else {
            Parent::Root
        };
        let mut span = t
            .span(s["name"].as_str().unwrap().to_owned())
            .kind(kind)
            .attributes(attrs(s, "attributes"))
            .parent(parent)
            .start_time(at("start_ms"))
            .start();
        span.set_attributes(attrs(s, "attributes_after"));
        let description = s["description"].as_str().unwrap_or("").to_owned();
        match s["status"].as_str() {
            Some("ok") => span.set_status(Status::Ok),
            Some("error") => span.set_status(Status::error(description)),
            _ => {}
        }
        span.end_at(at("end_ms"));
    }
    t.force_flush(Duration::from_secs(5)).unwrap();
    let spans = collect.0.lock().unwrap().clone();
    (t, spans)
}

#[test]
fn the_span_program_gives_the_shared_golden_text() {
    let (t, exported) = run_program();
    let want = std::fs::read_to_string(vector_dir().join("metrics_program.prom")).unwrap();
    let got = t.metrics_text();
    if got != want {
        let _ = std::fs::write(
            std::env::temp_dir().join("crosstrace-metrics_program.prom"),
            &got,
        );
    }
    assert_eq!(
        got, want,
        "left: ours, right: tests/vectors/metrics_program.prom"
    );
    // The three spans under the unsampled parent were counted but never exported.
    assert_eq!(exported.len(), 8);
    let m = t.metrics().unwrap();
    assert_eq!(m.count(|_| true), 11);
    assert_eq!((m.sampled, m.sampled_out), (8, 3));
}

#[test]
fn exact_counts_and_buckets_of_the_program() {
    let (t, _) = run_program();
    let m = t.metrics().unwrap();
    assert_eq!(m.buckets_ms, vec![5.0, 50.0, 500.0, 1000.0]);
    let route = |k: &SeriesKey| k.http_route.as_deref() == Some("/orders/{id}");
    // Four server spans on the route: 12, 40, 700 (error) and 5 ms (unsampled).
    assert_eq!(m.count(route), 4);
    assert_eq!(m.count(|k| route(k) && k.status == "error"), 1);
    let ok = m
        .series
        .iter()
        .find(|(k, _)| route(k) && k.status == "ok")
        .unwrap();
    assert_eq!(ok.1.count, 3);
    assert_eq!(ok.1.sum_ms, 57.0);
    // le=5 holds the 5 ms span (bounds are inclusive), le=50 the 12 and 40 ms ones.
    assert_eq!(ok.1.buckets, vec![1, 2, 0, 0, 0]);
    // The name with an id in it lands on the templated name, without a route label.
    assert_eq!(
        m.count(|k| k.span_name == "GET /orders/{id}" && k.http_route.is_none()),
        1
    );
    // The service map: client calls by target, the unsampled one included.
    let inv = |k: &SeriesKey| k.target_service.as_deref() == Some("inventory-service");
    assert_eq!(m.count(inv), 2);
    assert_eq!(m.count(|k| inv(k) && k.status == "error"), 1);
    assert_eq!(
        m.count(|k| k.target_service.as_deref() == Some("db.internal")),
        1
    );
    assert_eq!(
        m.count(|k| k.target_service.as_deref() == Some("orders-queue")),
        1
    );
    // Quantiles merge the statuses of a route and are within 1%.
    let p50 = m.quantile(0.5, route).unwrap();
    assert!((p50 - 12.0).abs() <= 0.12, "p50 {p50}");
    let p99 = m.quantile(0.99, route).unwrap();
    assert!((p99 - 40.0).abs() <= 0.4, "p99 {p99}");
    assert_eq!(m.kept_ratio(), Some(8.0 / 11.0));
}

#[test]
fn at_one_percent_sampling_every_span_is_counted() {
    let config = TracingConfig {
        sampling_rate: 0.01,
        service_name: "sampled".into(),
        ..TracingConfig::default()
    };
    let collect = Collect::default();
    let t = Tracing::with_exporter(config, collect.clone()).unwrap();
    const TRACES: u64 = 5000;
    for i in 0..TRACES {
        let mut root = t
            .span("GET /orders/{id}")
            .kind(SpanKind::Server)
            .parent(Parent::Root)
            .start();
        root.set_attribute(KeyValue::new("http.route", "/orders/{id}"));
        let cx = root.context();
        let mut child = t
            .span("SELECT orders")
            .kind(SpanKind::Client)
            .parent_context(&cx)
            .attribute(KeyValue::new("peer.service", "postgres"))
            .start();
        if i % 10 == 0 {
            child.set_status(Status::error("deadlock"));
            root.set_status(Status::error("500"));
        }
        child.end();
        root.end();
    }
    t.force_flush(Duration::from_secs(5)).unwrap();
    let m = t.metrics().unwrap();
    assert_eq!(m.count(|_| true), 2 * TRACES);
    assert_eq!(m.count(|k| k.status == "error"), 2 * TRACES / 10);
    assert_eq!(
        m.count(|k| k.http_route.as_deref() == Some("/orders/{id}")),
        TRACES
    );
    assert_eq!(
        m.count(|k| k.target_service.as_deref() == Some("postgres")),
        TRACES
    );
    // Whole traces are kept or dropped: exported spans come in pairs.
    let exported = collect.0.lock().unwrap().len() as u64;
    assert_eq!(exported % 2, 0);
    assert_eq!(m.sampled, exported);
    // The kept share is 1% within five standard deviations (sd = sqrt(n p (1-p)) / n).
    let kept = m.kept_ratio().unwrap();
    let sd = (0.01_f64 * 0.99 / TRACES as f64).sqrt();
    assert!((kept - 0.01).abs() < 5.0 * sd, "kept {kept}");
    let text = t.metrics_text();
    assert!(text.contains("sampling_rate_configured{service_name=\"sampled\"} 0.01\n"));
    assert!(text.contains(&format!(
        "traces_total{{service_name=\"sampled\",span_name=\"SELECT orders\",span_kind=\"client\",status=\"error\",target_service=\"postgres\"}} {}\n",
        TRACES / 10
    )));
}

#[test]
fn cardinality_is_capped_with_an_exact_overflow() {
    let config = TracingConfig {
        metrics_max_series: 5,
        backend: crosstrace::Backend::None,
        ..TracingConfig::default()
    };
    let t = Tracing::new(config).unwrap();
    for i in 0..50 {
        let mut s = t.start(format!("job-{}", i % 20));
        if i % 5 == 0 {
            s.set_status(Status::error("x"));
        }
        s.end();
    }
    let m = t.metrics().unwrap();
    assert_eq!(m.count(|_| true), 50, "totals stay exact");
    assert_eq!(m.count(|k| k.status == "error"), 10, "so do error counts");
    let named = m.series.iter().filter(|(k, _)| !k.overflow).count();
    assert_eq!(named, 5);
    let overflow: u64 = m.count(|k| k.overflow);
    assert_eq!(overflow, m.overflowed);
    assert!(overflow > 0);
    let h = t.health();
    assert_eq!(h.metrics_overflowed, overflow);
    assert!(h.metrics_series <= 5 + 2);
    assert!(t
        .metrics_text()
        .contains("span_name=\"_overflow\",span_kind=\"internal\",status=\"unset\",otel_metric_overflow=\"true\"}"));
}

#[test]
fn ids_in_server_span_names_do_not_explode_the_series() {
    let t = Tracing::new(TracingConfig {
        backend: crosstrace::Backend::None,
        ..TracingConfig::default()
    })
    .unwrap();
    for i in 0..500 {
        t.span(format!("GET /orders/{i}"))
            .kind(SpanKind::Server)
            .start()
            .end();
    }
    let m = t.metrics().unwrap();
    assert_eq!(m.series.len(), 1);
    assert_eq!(m.series[0].0.span_name, "GET /orders/{id}");
    assert_eq!(m.overflowed, 0);
}

#[test]
fn metrics_off_costs_nothing_and_says_so() {
    let t = Tracing::new(TracingConfig {
        backend: crosstrace::Backend::None,
        metrics_enabled: false,
        ..TracingConfig::default()
    })
    .unwrap();
    t.start("x").end();
    assert!(t.metrics().is_none());
    assert_eq!(t.metrics_text(), "");
    assert!(!t.health().metrics_enabled);
}

#[test]
fn bad_metrics_settings_name_the_variable() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    let e =
        TracingConfig::from_lookup(env(&[("CROSSTRACE_METRICS_BUCKETS_MS", "10,5")])).unwrap_err();
    assert_eq!(e.source_name, "CROSSTRACE_METRICS_BUCKETS_MS");
    assert!(e.to_string().contains("strictly increasing"), "{e}");
    let e = TracingConfig::from_lookup(env(&[("CROSSTRACE_METRICS", "maybe")])).unwrap_err();
    assert_eq!(e.source_name, "CROSSTRACE_METRICS");
    let e = TracingConfig::from_lookup(env(&[("CROSSTRACE_METRICS_MAX_SERIES", "0")])).unwrap_err();
    assert_eq!(e.source_name, "CROSSTRACE_METRICS_MAX_SERIES");
    let c = TracingConfig::from_lookup(env(&[
        ("CROSSTRACE_METRICS_BUCKETS_MS", "1, 10,100.5"),
        ("CROSSTRACE_METRICS", "false"),
    ]))
    .unwrap();
    assert_eq!(c.metrics_buckets_ms, vec![1.0, 10.0, 100.5]);
    assert!(!c.metrics_enabled);
    let bad = TracingConfig {
        metrics_buckets_ms: vec![],
        ..TracingConfig::default()
    };
    assert_eq!(
        bad.validate().unwrap_err().source_name,
        "metrics_buckets_ms"
    );
}

#[test]
fn a_long_route_lands_in_one_series_sampled_or_not() {
    let route = format!("/{}", "r".repeat(2000));
    let t = Tracing::new(TracingConfig {
        backend: crosstrace::Backend::None,
        sampling_rate: 0.5,
        ..TracingConfig::default()
    })
    .unwrap();
    for _ in 0..200 {
        let mut s = t
            .span("GET /long")
            .kind(SpanKind::Server)
            .parent(Parent::Root)
            .start();
        s.set_attribute(KeyValue::new("http.route", route.clone()));
        s.end();
    }
    let m = t.metrics().unwrap();
    assert!(m.sampled > 0 && m.sampled_out > 0);
    // Both kinds of span cut the route to the value-length limit: one series.
    assert_eq!(
        m.series.len(),
        1,
        "{:?}",
        m.series
            .iter()
            .map(|(k, _)| k.http_route.as_ref().map(String::len))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        m.series[0].0.http_route.as_ref().map(String::len),
        Some(1024)
    );
}

/// `&'static` span names (literals, and the names bindings intern) are found by their address;
/// owned names by their text. Both must give the same series, sampled or not, and the cap must
/// still count every overflowing span.
#[test]
fn static_and_owned_names_land_in_the_same_series() {
    for sampler in [
        crosstrace::SamplerKind::AlwaysOn,
        crosstrace::SamplerKind::AlwaysOff,
    ] {
        let t = Tracing::new(TracingConfig {
            backend: crosstrace::Backend::None,
            metrics_max_series: 6,
            sampler,
            ..TracingConfig::default()
        })
        .unwrap();
        let server = |name: std::borrow::Cow<'static, str>, route: Option<&'static str>| {
            let mut b = t.span(name).kind(SpanKind::Server);
            if let Some(r) = route {
                b = b.attributes([KeyValue::new("http.route", r)]);
            }
            b.start().end();
        };
        for _ in 0..3 {
            server("GET /orders/1".into(), None);
        }
        server("GET /orders/2".into(), None);
        server("GET /orders/2".into(), None);
        server(format!("GET /orders/{}", 3).into(), None);
        server("GET /x".into(), Some("/x"));
        server("GET /x".into(), None);
        for status in [Status::Ok, Status::Ok, Status::error("e"), Status::Unset] {
            let mut s = t.start("load");
            s.set_status(status);
            s.end();
        }
        t.start(String::from("load")).end();
        // Six series now; the seventh name overflows on every span.
        for _ in 0..3 {
            t.start("late").end();
        }
        let m = t.metrics().unwrap();
        let count = |name: &str, status: &str, route: Option<&str>| {
            m.count(|k| {
                k.span_name == name && k.status == status && k.http_route.as_deref() == route
            })
        };
        assert_eq!(count("GET /orders/{id}", "unset", None), 6, "{sampler:?}");
        assert_eq!(count("GET /x", "unset", Some("/x")), 1, "{sampler:?}");
        assert_eq!(count("GET /x", "unset", None), 1, "{sampler:?}");
        assert_eq!(count("load", "ok", None), 2, "{sampler:?}");
        assert_eq!(count("load", "error", None), 1, "{sampler:?}");
        assert_eq!(count("load", "unset", None), 2, "{sampler:?}");
        assert_eq!(m.overflowed, 3, "{sampler:?}");
        assert_eq!(m.count(|k| k.overflow), 3, "{sampler:?}");
        assert_eq!(m.count(|_| true), 16, "{sampler:?}");
    }
}

/// The common span is counted in a per-thread ring that readers fold: a reader sees every span
/// ended before it read, from threads still running (rings part full, some folded by their
/// thread) and from threads that have exited; spans of several tracings on one thread (more
/// than a thread keeps rings for) land in their own metrics.
#[test]
fn spans_from_many_threads_and_tracings_are_all_counted() {
    let new = |sampler| {
        Tracing::new(TracingConfig {
            backend: crosstrace::Backend::None,
            sampler,
            ..TracingConfig::default()
        })
        .unwrap()
    };
    let t = new(crosstrace::SamplerKind::ParentBasedAlwaysOn);
    let off = new(crosstrace::SamplerKind::AlwaysOff);
    let ended = Arc::new(std::sync::Barrier::new(5));
    let read = Arc::new(std::sync::Barrier::new(5));
    let threads: Vec<_> = (0..4_u64)
        .map(|n| {
            let (t, off, ended, read) = (t.clone(), off.clone(), ended.clone(), read.clone());
            std::thread::spawn(move || {
                // 300 + 77n: past one ring's 256 for every thread, never a multiple of it.
                for i in 0..300 + 77 * n {
                    let mut s = t.start("step");
                    if i % 3 == 0 {
                        s.set_status(Status::error("x"));
                    }
                    s.end();
                    off.start("step").end();
                }
                ended.wait();
                read.wait();
                for _ in 0..10 {
                    t.start("after").end();
                }
            })
        })
        .collect();
    ended.wait();
    let spans: u64 = (0..4).map(|n| 300 + 77 * n).sum();
    let errors: u64 = (0..4).map(|n| (300 + 77 * n as u64).div_ceil(3)).sum();
    let m = t.metrics().unwrap();
    assert_eq!(
        m.count(|k| k.span_name == "step"),
        spans,
        "threads still running"
    );
    assert_eq!(m.count(|k| k.status == "error"), errors);
    assert_eq!(off.metrics().unwrap().count(|_| true), spans);
    read.wait();
    for th in threads {
        th.join().unwrap();
    }
    let m = t.metrics().unwrap();
    assert_eq!(m.count(|k| k.span_name == "after"), 40, "threads gone");
    assert_eq!(m.count(|_| true), spans + 40);

    assert_eq!(off.health().counts.spans_sampled_out, spans);

    // Unsampled spans started on threads that exit before the spans end here: each thread's
    // count of them outlives it, and the spans find their metrics from this thread.
    let moved: Vec<crosstrace::Span> = (0..3)
        .map(|_| {
            let off = off.clone();
            std::thread::spawn(move || off.start("moved"))
                .join()
                .unwrap()
        })
        .collect();
    for mut s in moved {
        s.end();
    }
    let m = off.metrics().unwrap();
    assert_eq!(m.count(|k| k.span_name == "moved"), 3);
    assert_eq!(m.sampled_out, spans + 3);
    assert_eq!(off.health().counts.spans_sampled_out, spans + 3);
    // A span that outlives its tracing ends quietly.
    let mut late = off.start("late");
    drop(off);
    late.end();

    // Six tracings in turns on one thread: a thread keeps rings for four at a time.
    let many: Vec<Tracing> = (0..6)
        .map(|_| new(crosstrace::SamplerKind::AlwaysOff))
        .collect();
    for round in 0..500 {
        for (i, t) in many.iter().enumerate() {
            if round % (i + 1) == 0 {
                t.start("turn").end();
            }
        }
    }
    for (i, t) in many.iter().enumerate() {
        let want = (0..500).filter(|r| r % (i + 1) == 0).count() as u64;
        assert_eq!(t.metrics().unwrap().count(|_| true), want, "tracing {i}");
    }
}

/// The crate's directory, as cargo says when it runs the test (the path compiled in may be
/// another checkout's when a shared target directory served it).
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
}
