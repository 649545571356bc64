//! `tracing` spans and events through crosstrace's layer: `#[instrument]` nesting, parents
//! across `.await` and threads, fields as attributes, events, errors, links, and the bridges
//! to crosstrace's and the OpenTelemetry API's current context.

// Tests unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crosstrace::{Context, SpanData, SpanExt, SpanKind, Status, Tracing, TracingConfig, Value};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::SpanExporter;
use tracing::{Dispatch, Instrument};
use tracing_subscriber::layer::SubscriberExt;

#[derive(Debug, Clone, Default)]
struct Collect(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Collect {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.lock().unwrap().extend(batch);
        Ok(())
    }
}

/// A tracing instance exporting to a collector, and a `tracing` dispatcher on it.
fn setup() -> (Tracing, Collect, Dispatch) {
    let c = Collect::default();
    let config = TracingConfig {
        service_name: "layer-test".into(),
        schedule_delay_millis: 60_000,
        ..TracingConfig::default()
    };
    let t = Tracing::with_exporter(config, c.clone()).unwrap();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(t.layer()));
    (t, c, dispatch)
}

fn spans(t: &Tracing, c: &Collect) -> Vec<SpanData> {
    t.force_flush(Duration::from_secs(5)).unwrap();
    std::mem::take(&mut *c.0.lock().unwrap())
}

fn named<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    spans
        .iter()
        .find(|d| d.name == name)
        .unwrap_or_else(|| panic!("no span {name} in {:?}", names(spans)))
}

fn names(spans: &[SpanData]) -> Vec<&str> {
    spans.iter().map(|d| d.name.as_ref()).collect()
}

fn attr<'a>(d: &'a SpanData, key: &str) -> Option<&'a Value> {
    d.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

fn event_attr<'a>(e: &'a opentelemetry::trace::Event, key: &str) -> Option<&'a Value> {
    e.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

fn is_child(child: &SpanData, parent: &SpanData) -> bool {
    child.span_context.trace_id() == parent.span_context.trace_id()
        && child.parent_span_id == parent.span_context.span_id()
        && !child.parent_span_is_remote
}

#[tracing::instrument]
fn outer() {
    middle();
    middle();
}

#[tracing::instrument]
fn middle() {
    inner();
}

#[tracing::instrument]
fn inner() {}

#[test]
fn instrument_nests_spans_by_parent() {
    let (t, c, d) = setup();
    tracing::dispatcher::with_default(&d, outer);
    let spans = spans(&t, &c);
    assert_eq!(spans.len(), 5, "{:?}", names(&spans));
    let outer = named(&spans, "outer");
    assert_eq!(outer.parent_span_id, crosstrace::SpanId::INVALID);
    let middles: Vec<_> = spans.iter().filter(|s| s.name == "middle").collect();
    let inners: Vec<_> = spans.iter().filter(|s| s.name == "inner").collect();
    assert_eq!((middles.len(), inners.len()), (2, 2));
    for m in &middles {
        assert!(is_child(m, outer));
        assert_eq!(m.span_kind, SpanKind::Internal);
        assert_eq!(m.instrumentation_scope.name(), "tracing");
    }
    for i in &inners {
        assert_eq!(
            middles.iter().filter(|m| is_child(i, m)).count(),
            1,
            "each inner under one middle"
        );
    }
    // Each middle has its own inner: siblings do not nest.
    assert_ne!(inners[0].parent_span_id, inners[1].parent_span_id);
}

#[tracing::instrument(fields(order.id = 7, stage = "silver"))]
fn with_fields(rows: u64, ratio: f64, express: bool, store: &str) {
    let span = tracing::Span::current();
    span.record("late", 9_i64);
    span.record("otel.name", "renamed");
}

#[test]
fn fields_become_attributes() {
    let (t, c, d) = setup();
    tracing::dispatcher::with_default(&d, || {
        let _s = tracing::info_span!(
            "kinds",
            n = -3_i64,
            big = u64::MAX,
            debug = ?vec![1, 2],
            shown = %"text",
            empty = tracing::field::Empty,
            otel.kind = "client",
        )
        .entered();
        tracing::Span::current().record("empty", "filled");
        drop(_s);
        // `#[instrument]` records the arguments; `record` adds fields declared Empty.
        #[tracing::instrument(fields(late = tracing::field::Empty, otel.name = tracing::field::Empty))]
        fn declared(rows: u64) {
            let span = tracing::Span::current();
            span.record("late", 9_i64);
            span.record("otel.name", "renamed");
        }
        declared(3);
        with_fields(1000, 0.5, true, "north");
    });
    let spans = spans(&t, &c);
    let kinds = named(&spans, "kinds");
    assert_eq!(kinds.span_kind, SpanKind::Client);
    assert_eq!(attr(kinds, "n"), Some(&Value::I64(-3)));
    assert_eq!(attr(kinds, "big"), Some(&Value::from(u64::MAX.to_string())));
    assert_eq!(attr(kinds, "debug"), Some(&Value::from("[1, 2]")));
    assert_eq!(attr(kinds, "shown"), Some(&Value::from("text")));
    assert_eq!(attr(kinds, "empty"), Some(&Value::from("filled")));
    assert!(
        attr(kinds, "otel.kind").is_none(),
        "otel.* fields are not attributes"
    );

    let declared = named(&spans, "renamed");
    assert_eq!(attr(declared, "rows"), Some(&Value::I64(3)));
    assert_eq!(attr(declared, "late"), Some(&Value::I64(9)));

    let f = named(&spans, "with_fields");
    assert_eq!(attr(f, "order.id"), Some(&Value::I64(7)));
    assert_eq!(attr(f, "stage"), Some(&Value::from("silver")));
    assert_eq!(attr(f, "rows"), Some(&Value::I64(1000)));
    assert_eq!(attr(f, "ratio"), Some(&Value::F64(0.5)));
    assert_eq!(attr(f, "express"), Some(&Value::Bool(true)));
    assert_eq!(attr(f, "store"), Some(&Value::from("north")));
    // Not declared: `record` ignores them (as `tracing` does).
    assert!(attr(f, "late").is_none());
}

#[derive(Debug)]
struct Broken;

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("warehouse connection reset")
    }
}

impl std::error::Error for Broken {}

#[tracing::instrument(err)]
fn load(rows: u64) -> Result<u64, Broken> {
    tracing::info!(rows, "loaded");
    tracing::debug!(batch = 2);
    Err(Broken)
}

#[tracing::instrument(err)]
fn fine() -> Result<u64, Broken> {
    Ok(1)
}

#[test]
fn events_and_errors() {
    let (t, c, d) = setup();
    tracing::dispatcher::with_default(&d, || {
        assert!(load(3).is_err());
        assert!(fine().is_ok());
        let _s = tracing::info_span!("logged").entered();
        tracing::error!(code = 7, "disk full");
        drop(_s);
        let _s = tracing::info_span!("warned").entered();
        let e = std::io::Error::other("timeout");
        tracing::warn!(error = &e as &(dyn std::error::Error + 'static), "retrying");
        drop(_s);
        tracing::info!("outside any span: dropped");
    });
    let spans = spans(&t, &c);
    assert_eq!(spans.len(), 4, "{:?}", names(&spans));

    let load = named(&spans, "load");
    assert_eq!(load.status, Status::error("warehouse connection reset"));
    let names: Vec<&str> = load.events.iter().map(|e| e.name.as_ref()).collect();
    assert_eq!(names.len(), 3);
    assert_eq!((names[0], names[2]), ("loaded", "exception"));
    // Without a message: the callsite's name, `event <file>:<line>`. The file is relative to
    // the workspace here and to the crate when the packaged crate is tested (`make dist`).
    assert!(
        names[1].starts_with("event ") && names[1].contains("tests/tracing_layer.rs:"),
        "{}",
        names[1]
    );
    let loaded = &load.events[0];
    assert_eq!(event_attr(loaded, "rows"), Some(&Value::I64(3)));
    assert_eq!(event_attr(loaded, "level"), Some(&Value::from("INFO")));
    assert_eq!(event_attr(&load.events[1], "batch"), Some(&Value::I64(2)));
    let exception = &load.events[2];
    assert_eq!(
        event_attr(exception, "exception.message"),
        Some(&Value::from("warehouse connection reset"))
    );
    assert_eq!(event_attr(exception, "level"), Some(&Value::from("ERROR")));

    assert_eq!(named(&spans, "fine").status, Status::Unset);
    assert!(named(&spans, "fine").events.is_empty());

    let logged = named(&spans, "logged");
    assert_eq!(logged.status, Status::error("disk full"));
    assert_eq!(logged.events[0].name, "exception");
    assert_eq!(
        event_attr(&logged.events[0], "exception.message"),
        Some(&Value::from("disk full"))
    );
    assert_eq!(event_attr(&logged.events[0], "code"), Some(&Value::I64(7)));

    // An `error` field at any level is an exception too; the message is kept beside it.
    let warned = named(&spans, "warned");
    assert_eq!(warned.status, Status::error("timeout"));
    let e = &warned.events[0];
    assert_eq!(e.name, "exception");
    assert_eq!(
        event_attr(e, "exception.message"),
        Some(&Value::from("timeout"))
    );
    assert_eq!(event_attr(e, "message"), Some(&Value::from("retrying")));
}

#[tracing::instrument]
async fn fetch(n: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(2)).await;
    tracing::info!("fetched");
    n * 2
}

#[test]
fn parents_hold_across_await_and_spawned_tasks() {
    let (t, c, d) = setup();
    // The subscriber is every thread's default, as a global one would be: the registry lets
    // go of a parent (when its child closes) and of an entered span (on exit) through the
    // thread's default subscriber, wherever the future is dropped.
    let worker = d.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(move || std::mem::forget(tracing::dispatcher::set_default(&worker)))
        .build()
        .unwrap();
    let t2 = t.clone();
    let _default = tracing::dispatcher::set_default(&d);
    let (job_id, seen) = runtime.block_on(
        async {
            let job = tracing::Span::current();
            let task = tracing::info_span!("task");
            let handle = tokio::spawn(
                async move {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    // After the await, maybe on another worker: still inside "task".
                    let after = tracing::info_span!("after_await");
                    let n = fetch(1).instrument(after).await;
                    tokio::task::yield_now().await;
                    // crosstrace's current context is the entered span's.
                    let mut native = t2.start("native");
                    native.end();
                    (n, Context::current().span_context().cloned())
                }
                .instrument(task),
            );
            let (n, seen) = handle.await.unwrap();
            assert_eq!(n, 2);
            (job.context().span_context().cloned(), seen)
        }
        .instrument(tracing::info_span!("job")),
    );
    drop(runtime);
    let spans = spans(&t, &c);
    assert_eq!(spans.len(), 5, "{:?}", names(&spans));
    let job = named(&spans, "job");
    assert_eq!(Some(job.span_context.clone()), job_id);
    let task = named(&spans, "task");
    let after = named(&spans, "after_await");
    let fetch = named(&spans, "fetch");
    assert!(
        is_child(task, job),
        "the spawned task's span keeps its parent"
    );
    assert!(
        is_child(after, task),
        "a span made after .await is under the task"
    );
    assert!(is_child(fetch, after));
    assert_eq!(fetch.events[0].name, "fetched");
    assert!(is_child(named(&spans, "native"), task));
    assert_eq!(
        seen.map(|s| s.span_id()),
        Some(task.span_context.span_id()),
        "crosstrace's current context follows the entered span"
    );
}

#[test]
fn crosstrace_and_tracing_spans_nest_both_ways() {
    let (t, c, d) = setup();
    let mut headers = HashMap::new();
    tracing::dispatcher::with_default(&d, || {
        // A tracing root continues crosstrace's current context: here, a caller's.
        let caller = t.extract(&HashMap::from([
            (
                "traceparent".to_owned(),
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_owned(),
            ),
            ("x-correlation-id".to_owned(), "corr-9".to_owned()),
        ]));
        let server = {
            let _caller = caller.attach();
            tracing::info_span!(parent: None, "server", otel.kind = "server")
        };
        let _entered = server.enter();
        // A crosstrace span under the entered tracing span.
        let mut native = t.start("native");
        {
            let _n = native.attach();
            // ... and a tracing span under the attached crosstrace span? No: a tracing span
            // takes its tracing parent first ("server").
            let _child = tracing::info_span!("child").entered();
        }
        native.end();
        t.inject(&server.context(), &mut headers);
        server.set_attribute(crosstrace::KeyValue::new("extra", 1));
        let other = tracing::info_span!(parent: None, "unrelated");
        server.follows_from(&other);
    });
    let spans = spans(&t, &c);
    let server = named(&spans, "server");
    assert_eq!(server.span_kind, SpanKind::Server);
    assert_eq!(
        server.span_context.trace_id().to_string(),
        "0af7651916cd43dd8448eb211c80319c"
    );
    assert_eq!(server.parent_span_id.to_string(), "b7ad6b7169203331");
    assert!(server.parent_span_is_remote);
    assert_eq!(attr(server, "correlation.id"), Some(&Value::from("corr-9")));
    assert_eq!(attr(server, "extra"), Some(&Value::I64(1)));
    let native = named(&spans, "native");
    assert!(is_child(native, server));
    assert_eq!(attr(native, "correlation.id"), Some(&Value::from("corr-9")));
    let child = named(&spans, "child");
    assert!(is_child(child, server));
    assert_eq!(attr(child, "correlation.id"), Some(&Value::from("corr-9")));
    assert_eq!(
        headers.get("traceparent").map(String::as_str),
        Some(
            format!(
                "00-0af7651916cd43dd8448eb211c80319c-{}-01",
                server.span_context.span_id()
            )
            .as_str()
        )
    );
    assert_eq!(
        headers.get("x-correlation-id").map(String::as_str),
        Some("corr-9")
    );
    let unrelated = named(&spans, "unrelated");
    assert_eq!(server.links.links.len(), 1);
    assert_eq!(server.links.links[0].span_context, unrelated.span_context);
}

#[test]
fn opentelemetry_api_spans_nest_under_the_entered_tracing_span() {
    use opentelemetry::trace::{Tracer as _, TracerProvider as _};
    let (t, c, d) = setup();
    let tracer = t.tracer_provider().tracer("lib");
    tracing::dispatcher::with_default(&d, || {
        let _outer = tracing::info_span!("outer").entered();
        tracer.in_span("otel", |_cx| {
            // A tracing root under the API's current span.
            let _inner = tracing::info_span!(parent: None, "inner").entered();
        });
    });
    let spans = spans(&t, &c);
    let outer = named(&spans, "outer");
    let otel = named(&spans, "otel");
    let inner = named(&spans, "inner");
    assert!(is_child(otel, outer));
    assert_eq!(otel.instrumentation_scope.name(), "lib");
    assert!(is_child(inner, otel));
}

/// An API span, a `tracing` span entered inside it, an API span inside that: the innermost
/// parent wins each time, and the API's propagator injects the entered `tracing` span.
#[test]
fn a_tracing_span_entered_inside_an_api_span_is_the_parent_of_the_api_spans_inside_it() {
    use opentelemetry::propagation::TextMapPropagator as _;
    use opentelemetry::trace::{Tracer as _, TracerProvider as _};
    let (t, c, d) = setup();
    let tracer = t.tracer_provider().tracer("lib");
    let propagator = crosstrace::otel::Propagator::new(t.clone());
    let mut injected = HashMap::new();
    tracing::dispatcher::with_default(&d, || {
        tracer.in_span("api outer", |_| {
            let entered = tracing::info_span!(parent: None, "tracing middle").entered();
            tracer.in_span("api inner", |_| {
                let _deepest = tracing::info_span!(parent: None, "tracing deepest").entered();
            });
            propagator.inject(&mut injected);
            drop(entered);
            // Exited: the API's span is the innermost again.
            drop(tracer.start("api after"));
        });
    });
    let spans = spans(&t, &c);
    let outer = named(&spans, "api outer");
    let middle = named(&spans, "tracing middle");
    let inner = named(&spans, "api inner");
    assert!(is_child(middle, outer));
    assert!(is_child(inner, middle), "{:?}", names(&spans));
    assert!(is_child(named(&spans, "tracing deepest"), inner));
    assert!(is_child(named(&spans, "api after"), outer));
    assert!(injected["traceparent"].contains(&middle.span_context.span_id().to_string()));
}

#[test]
fn a_status_description_alone_is_an_error() {
    let (t, c, dispatch) = setup();
    tracing::dispatcher::with_default(&dispatch, || {
        let s = tracing::info_span!(
            "r",
            otel.status_code = tracing::field::Empty,
            otel.status_description = tracing::field::Empty
        );
        s.record("otel.status_code", "error");
        s.record("otel.status_description", "out of memory");
        drop(s);
        let _s = tracing::info_span!("d", otel.status_description = "disk full").entered();
    });
    let got = spans(&t, &c);
    assert_eq!(named(&got, "r").status, Status::error("out of memory"));
    assert_eq!(named(&got, "d").status, Status::error("disk full"));
}
