//! crosstrace as the OpenTelemetry API's tracer provider and propagator: the global provider,
//! `in_span` nesting, attributes, events, status, links, scopes, the API's current context,
//! and propagation through the API.

// Tests unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crosstrace::{Context, Correlation, SpanData, Tracing, TracingConfig, Value};
use opentelemetry::trace::{
    Link, Span as _, SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _,
};
use opentelemetry::{global, InstrumentationScope, KeyValue};
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

fn setup() -> (Tracing, Collect) {
    let c = Collect::default();
    let config = TracingConfig {
        service_name: "otel-api-test".into(),
        schedule_delay_millis: 60_000,
        ..TracingConfig::default()
    };
    (Tracing::with_exporter(config, c.clone()).unwrap(), c)
}

fn spans(t: &Tracing, c: &Collect) -> Vec<SpanData> {
    t.force_flush(Duration::from_secs(5)).unwrap();
    std::mem::take(&mut *c.0.lock().unwrap())
}

fn named<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    spans.iter().find(|d| d.name == name).unwrap()
}

fn attr<'a>(d: &'a SpanData, key: &str) -> Option<&'a Value> {
    d.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

fn is_child(child: &SpanData, parent: &SpanData) -> bool {
    child.span_context.trace_id() == parent.span_context.trace_id()
        && child.parent_span_id == parent.span_context.span_id()
}

/// The only test that sets the API's globals (they are the process's).
#[test]
fn the_global_provider_records_nested_spans() {
    let (t, c) = setup();
    crosstrace::otel::install(&t);
    let scope = InstrumentationScope::builder("checkout")
        .with_version("1.2.3")
        .with_schema_url("https://opentelemetry.io/schemas/1.26.0")
        .build();
    let tracer = global::tracer_with_scope(scope);
    let mut injected = HashMap::new();
    tracer.in_span("order", |cx| {
        let span = cx.span();
        span.set_attribute(KeyValue::new("order.id", 7));
        span.add_event("validated", vec![KeyValue::new("items", 2)]);
        tracer.in_span("charge", |cx| {
            cx.span().set_status(Status::error("card declined"));
            cx.span()
                .record_error(&std::io::Error::other("card declined"));
            // The API's propagator is crosstrace's: the current span's context, injected.
            global::get_text_map_propagator(|p| p.inject(&mut injected));
        });
        span.set_status(Status::Ok);
        span.set_status(Status::error("ignored: ok is final"));
    });
    let spans = spans(&t, &c);
    assert_eq!(spans.len(), 2);
    let order = named(&spans, "order");
    let charge = named(&spans, "charge");
    assert!(is_child(charge, order));
    assert_eq!(order.parent_span_id, crosstrace::SpanId::INVALID);
    assert_eq!(attr(order, "order.id"), Some(&Value::I64(7)));
    assert_eq!(order.events.events[0].name, "validated");
    assert_eq!(order.status, Status::Ok);
    assert_eq!(charge.status, Status::error("card declined"));
    assert_eq!(charge.events.events[0].name, "exception");
    for d in [order, charge] {
        assert_eq!(d.instrumentation_scope.name(), "checkout");
        assert_eq!(d.instrumentation_scope.version(), Some("1.2.3"));
        assert_eq!(
            d.instrumentation_scope.schema_url(),
            Some("https://opentelemetry.io/schemas/1.26.0")
        );
    }
    assert_eq!(
        injected.get("traceparent").unwrap(),
        &format!(
            "00-{}-{}-{:02x}",
            charge.span_context.trace_id(),
            charge.span_context.span_id(),
            charge.span_context.trace_flags().to_u8()
        )
    );
}

#[test]
fn builders_links_kinds_and_times() {
    let (t, c) = setup();
    let tracer = t.tracer_provider().tracer("batch");
    let other = tracer.start("other");
    let other_cx = other.span_context().clone();
    drop(other);
    let start = SystemTime::now() - Duration::from_secs(1);
    let mut span = tracer
        .span_builder("consume")
        .with_kind(SpanKind::Consumer)
        .with_start_time(start)
        .with_attributes([KeyValue::new("messaging.batch.message_count", 3)])
        .with_links(vec![Link::with_context(other_cx.clone())])
        .start(&tracer);
    span.add_link(other_cx.clone(), vec![KeyValue::new("late", true)]);
    span.update_name("consume batch");
    assert!(span.is_recording());
    span.end();
    assert!(!span.is_recording());
    let spans = spans(&t, &c);
    let consume = named(&spans, "consume batch");
    assert_eq!(consume.span_kind, SpanKind::Consumer);
    assert_eq!(consume.start_time, start);
    assert_eq!(
        attr(consume, "messaging.batch.message_count"),
        Some(&Value::I64(3))
    );
    assert_eq!(consume.links.links.len(), 2);
    assert!(consume
        .links
        .links
        .iter()
        .all(|l| l.span_context == other_cx));
    assert_eq!(
        consume.links.links[1].attributes,
        [KeyValue::new("late", true)]
    );
    // Not under "other": it had ended and was never current.
    assert_eq!(consume.parent_span_id, crosstrace::SpanId::INVALID);
}

#[test]
fn the_api_current_context_and_crosstrace_context_meet() {
    let (t, c) = setup();
    let tracer = t.tracer_provider().tracer("lib");
    // A span made current through the API's context is the parent of the next.
    let parent = tracer.start("parent");
    let parent_id = parent.span_context().span_id();
    {
        let _g = opentelemetry::Context::current_with_span(parent).attach();
        let child = tracer.start("child");
        assert_eq!(
            child.span_context().trace_id(),
            opentelemetry::Context::current()
                .span()
                .span_context()
                .trace_id()
        );
    }
    // Without a span in the API's context: crosstrace's current one is the parent, with its
    // correlation.
    let correlation = Correlation::builder().id("corr-1").build().unwrap();
    let mut native = t.start("native");
    {
        let _cx = native.context().with_correlation(correlation).attach();
        drop(tracer.start("under native"));
        // An empty crosstrace context stored in the API's: a new trace whatever is current.
        let root_cx = opentelemetry::Context::new().with_value(Context::new());
        drop(tracer.start_with_context("forced root", &root_cx));
    }
    native.end();
    let spans = spans(&t, &c);
    let child = named(&spans, "child");
    assert_eq!(child.parent_span_id, parent_id);
    let under = named(&spans, "under native");
    assert!(is_child(under, named(&spans, "native")));
    assert_eq!(attr(under, "correlation.id"), Some(&Value::from("corr-1")));
    let root = named(&spans, "forced root");
    assert_eq!(root.parent_span_id, crosstrace::SpanId::INVALID);
    assert!(attr(root, "correlation.id").is_none());
}

#[test]
fn the_propagator_continues_a_caller() {
    use opentelemetry::propagation::TextMapPropagator;
    let (t, c) = setup();
    let tracer = t.tracer_provider().tracer("server");
    let propagator = crosstrace::otel::Propagator::new(t.clone());
    let headers = HashMap::from([
        (
            "traceparent".to_owned(),
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_owned(),
        ),
        ("x-correlation-id".to_owned(), "corr-7".to_owned()),
    ]);
    let caller = propagator.extract(&headers);
    assert!(caller.span().span_context().is_remote());
    let server = tracer
        .span_builder("GET /stock")
        .with_kind(SpanKind::Server)
        .start_with_context(&tracer, &caller);
    let mut out = HashMap::new();
    propagator.inject_context(&caller.with_span(server), &mut out);
    assert_eq!(out.get("x-correlation-id").unwrap(), "corr-7");
    assert!(propagator.fields().any(|f| f == "traceparent"));
    // The same through crosstrace's own extraction.
    let extracted = t.extract(&headers);
    drop(tracer.start_with_context(
        "via crosstrace",
        &crosstrace::otel::to_otel_context(&extracted),
    ));
    let spans = spans(&t, &c);
    for name in ["GET /stock", "via crosstrace"] {
        let s = named(&spans, name);
        assert_eq!(
            s.span_context.trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert_eq!(s.parent_span_id.to_string(), "b7ad6b7169203331");
        assert!(s.parent_span_is_remote);
        assert_eq!(attr(s, "correlation.id"), Some(&Value::from("corr-7")));
    }
    let server = named(&spans, "GET /stock");
    assert!(out
        .get("traceparent")
        .unwrap()
        .contains(&server.span_context.span_id().to_string()));
}

/// The API's own baggage (`Context::current_with_baggage`, `cx.baggage()`) goes out and comes
/// in through the propagator, as with the SDK's `BaggagePropagator`.
#[test]
fn the_propagator_carries_the_apis_baggage() {
    use opentelemetry::baggage::BaggageExt;
    use opentelemetry::propagation::TextMapPropagator;
    let (t, _c) = setup();
    let propagator = crosstrace::otel::Propagator::new(t.clone());
    // Out: the API's entries, over crosstrace's entry of the same key.
    let ours = t.extract(&HashMap::from([(
        "baggage".to_owned(),
        "tenant=old,region=eu".to_owned(),
    )]));
    let cx = crosstrace::otel::to_otel_context(&ours).with_baggage([
        KeyValue::new("tenant", "acme"),
        KeyValue::new("plan", "pro"),
    ]);
    let mut out = HashMap::new();
    propagator.inject_context(&cx, &mut out);
    let mut sent: Vec<&str> = out["baggage"].split(',').collect();
    sent.sort_unstable();
    assert_eq!(sent, ["plan=pro", "region=eu", "tenant=acme"]);
    // In: readable as the API's baggage.
    let incoming = HashMap::from([("baggage".to_owned(), "tenant=acme".to_owned())]);
    let cx = propagator.extract(&incoming);
    assert_eq!(
        cx.baggage().get("tenant").map(|v| v.as_str().to_owned()),
        Some("acme".to_owned())
    );
}

/// A crosstrace span attached inside an API span (started under it through
/// `from_otel_context`, as the module's docs say) is the parent of the API spans inside it.
#[test]
fn a_crosstrace_span_attached_inside_an_api_span_is_the_next_api_spans_parent() {
    let (t, c) = setup();
    let tracer = t.tracer_provider().tracer("nest");
    tracer.in_span("api outer", |cx| {
        let mut middle = t
            .span("crosstrace middle")
            .parent_context(&crosstrace::otel::from_otel_context(&cx))
            .start();
        {
            let _attached = middle.attach();
            drop(tracer.start("api inner"));
        }
        middle.end();
        drop(tracer.start("api after"));
    });
    let spans = spans(&t, &c);
    let outer = named(&spans, "api outer");
    let middle = named(&spans, "crosstrace middle");
    assert!(is_child(middle, outer));
    assert!(is_child(named(&spans, "api inner"), middle));
    assert!(is_child(named(&spans, "api after"), outer));
}

/// The exporter given to `with_exporter` gets the resource spans are exported with: the
/// service fields filled from `resource_attributes` as `Tracing::resource` has them.
#[test]
fn an_sdk_exporter_gets_the_resource_the_instance_reports() {
    use opentelemetry::Key;
    use opentelemetry_sdk::Resource;
    #[derive(Debug, Clone, Default)]
    struct Resourced(Arc<Mutex<Option<Resource>>>);
    impl SpanExporter for Resourced {
        async fn export(&self, _: Vec<SpanData>) -> OTelSdkResult {
            Ok(())
        }
        fn set_resource(&mut self, r: &Resource) {
            *self.0.lock().unwrap() = Some(r.clone());
        }
    }
    let seen = Resourced::default();
    let config = TracingConfig {
        resource_attributes: [
            ("service.name".to_owned(), "orders".to_owned()),
            (
                "deployment.environment.name".to_owned(),
                "staging".to_owned(),
            ),
        ]
        .into(),
        ..TracingConfig::default()
    };
    let t = Tracing::with_exporter(config, seen.clone()).unwrap();
    let got = seen.0.lock().unwrap().clone().unwrap();
    for key in ["service.name", "deployment.environment.name"] {
        let key = Key::from_static_str(key);
        assert_eq!(got.get(&key), t.resource().get(&key), "{key}");
    }
    assert_eq!(
        got.get(&Key::from_static_str("service.name")),
        Some(Value::from("orders"))
    );
}

/// The same span made current again inside an API span (more baggage or a correlation, a
/// future's context polled again) is not inside it: the API span stays the parent.
#[test]
fn the_outer_span_attached_again_inside_an_api_span_is_not_the_parent() {
    let (t, c) = setup();
    let tracer = t.tracer_provider().tracer("again");
    let outer = t.start("crosstrace outer");
    let _attached = outer.attach();
    tracer.in_span("api span", |_| {
        let correlated = Context::current()
            .with_correlation(Correlation::builder().id("again-1").build().unwrap());
        let _again = correlated.attach();
        drop(tracer.start("api child"));
    });
    drop(_attached);
    drop(outer);
    let spans = spans(&t, &c);
    let api = named(&spans, "api span");
    assert!(is_child(api, named(&spans, "crosstrace outer")));
    assert!(is_child(named(&spans, "api child"), api));
}

/// A crosstrace span started with no parent given inside an API span (`in_span`) is that
/// span's child, and `inject_current` there sends it; a crosstrace span attached inside the
/// API span is, in turn, the parent of the crosstrace spans started inside it.
#[test]
fn a_crosstrace_span_started_inside_an_api_span_is_its_child() {
    let (t, c) = setup();
    let tracer = t.tracer_provider().tracer("two-way");
    let mut sent = HashMap::new();
    tracer.in_span("api outer", |_| {
        let mut middle = t.start("crosstrace middle");
        t.inject_current(&mut sent);
        {
            let _attached = middle.attach();
            drop(t.start("crosstrace inner"));
        }
        middle.end();
    });
    let spans = spans(&t, &c);
    let outer = named(&spans, "api outer");
    let middle = named(&spans, "crosstrace middle");
    assert!(is_child(middle, outer));
    assert!(is_child(named(&spans, "crosstrace inner"), middle));
    let traceparent = sent.get("traceparent").unwrap();
    assert!(
        traceparent.contains(&outer.span_context.span_id().to_string()),
        "{traceparent}"
    );
}

/// Inside an API context the propagator extracted (attached), a crosstrace span started with no
/// parent given has the caller as its parent and the caller's correlation and baggage, and
/// `inject_current` sends them on, as an API span started there does.
#[test]
fn a_crosstrace_span_in_an_extracted_api_context_keeps_the_callers_baggage() {
    use opentelemetry::propagation::TextMapPropagator;
    let (t, c) = setup();
    let propagator = crosstrace::otel::Propagator::new(t.clone());
    let headers = HashMap::from([
        (
            "traceparent".to_owned(),
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_owned(),
        ),
        ("x-correlation-id".to_owned(), "corr-9".to_owned()),
        ("baggage".to_owned(), "tenant=acme".to_owned()),
    ]);
    let mut sent = HashMap::new();
    {
        let _attached = propagator.extract(&headers).attach();
        drop(t.start("crosstrace in extracted"));
        t.inject_current(&mut sent);
    }
    let spans = spans(&t, &c);
    let s = named(&spans, "crosstrace in extracted");
    assert_eq!(s.parent_span_id.to_string(), "b7ad6b7169203331");
    assert_eq!(attr(s, "correlation.id"), Some(&Value::from("corr-9")));
    assert_eq!(
        sent.get("x-correlation-id").map(String::as_str),
        Some("corr-9")
    );
    assert!(
        sent.get("baggage").unwrap().contains("tenant=acme"),
        "{sent:?}"
    );
}
