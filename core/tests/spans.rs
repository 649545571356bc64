//! The span pipeline end to end, with a collecting exporter: trees, parents, correlation,
//! limits, sampling, queueing, flush, shutdown and health.

// Tests unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crosstrace::binding::TracingBinding;
use crosstrace::export::{render_tree, TreeStyle};
use crosstrace::span::Parent;
use crosstrace::{
    Backend, Context, Correlation, FutureExt, KeyValue, SamplerKind, SpanData, SpanKind, Status,
    Tracing, TracingConfig,
};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::SpanExporter;

#[derive(Debug, Clone, Default)]
struct Collect {
    spans: Arc<Mutex<Vec<SpanData>>>,
    fail: Arc<AtomicBool>,
    /// While true, export blocks (simulates a backend that hangs).
    hold: Arc<AtomicBool>,
    calls: Arc<AtomicUsize>,
}

impl SpanExporter for Collect {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.calls.fetch_add(1, Ordering::SeqCst);
        while self.hold.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(2));
        }
        if self.fail.load(Ordering::SeqCst) {
            return Err(OTelSdkError::InternalFailure(
                "HTTP 503 Service Unavailable".into(),
            ));
        }
        self.spans.lock().unwrap().extend(batch);
        Ok(())
    }
}

impl Collect {
    fn take(&self) -> Vec<SpanData> {
        std::mem::take(&mut *self.spans.lock().unwrap())
    }
}

fn config() -> TracingConfig {
    TracingConfig {
        service_name: "test-svc".into(),
        schedule_delay_millis: 60_000,
        ..TracingConfig::default()
    }
}

fn tracing_with(cfg: TracingConfig) -> (Tracing, Collect) {
    let c = Collect::default();
    (Tracing::with_exporter(cfg, c.clone()).unwrap(), c)
}

const FLUSH: Duration = Duration::from_secs(5);

mod common;

#[test]
fn a_retail_run_renders_as_the_golden_tree() {
    let (t, c) = tracing_with(config());
    let corr = Correlation::builder()
        .id("job-42")
        .operation("nightly")
        .field("job_id", "j-42")
        .build()
        .unwrap();
    let _g = Context::current().with_correlation(corr).attach();
    t.in_span("etl.run", |_run| {
        let mut s = t.etl_span("bronze_ingestion", "bronze").start();
        s.set_etl_records(Some(10), Some(10), None);
        {
            let _g = s.attach();
            let mut db = t.db_span("sqlite", "INSERT", "bronze_orders").start();
            db.set_db_rows(10, true);
        }
        drop(s);
        let mut silver = t.etl_span("silver_transformation", "silver").start();
        silver.set_etl_records(Some(10), Some(8), Some(2));
        silver.set_etl_failed("ValueError", "2 rows without price");
        Ok::<_, String>(())
    })
    .unwrap();
    t.force_flush(FLUSH).unwrap();
    let tree = render_tree(&c.take(), TreeStyle::Golden);
    let want = r#"trace
  etl.run [internal] unset {correlation.job_id="j-42", correlation.operation="nightly"}
    bronze_ingestion [internal] unset {correlation.job_id="j-42", correlation.operation="nightly", etl.operation="bronze_ingestion", etl.records.input=10, etl.records.output=10, etl.stage="bronze"}
      INSERT bronze_orders [client] unset {correlation.job_id="j-42", correlation.operation="nightly", db.collection.name="bronze_orders", db.operation.name="INSERT", db.response.affected_rows=10, db.system.name="sqlite"}
    silver_transformation [internal] error: 2 rows without price {correlation.job_id="j-42", correlation.operation="nightly", etl.failed=true, etl.operation="silver_transformation", etl.records.input=10, etl.records.output=8, etl.records.rejected=2, etl.stage="silver"}
      * exception {exception.type="ValueError", exception.message="2 rows without price"}
"#;
    assert_eq!(tree, want);
}

#[test]
fn explicit_parents_and_remote_parents() {
    let (t, c) = tracing_with(config());
    let root = t.span("root").kind(SpanKind::Server).start();
    let root_cx = root.context();
    // An explicit parent works from another thread, with no thread-local state.
    let child = std::thread::scope(|s| {
        s.spawn(|| {
            let mut ch = t.span("child").parent_context(&root_cx).start();
            ch.end();
            ch.span_context().clone()
        })
        .join()
        .unwrap()
    });
    assert_eq!(child.trace_id(), root.span_context().trace_id());

    let headers = vec![(
        "traceparent".to_owned(),
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
    )];
    let remote = t.extract(&headers);
    let r = t.span("from-remote").parent_context(&remote).start();
    assert_eq!(
        r.trace_id_hex(),
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "joins the caller's trace"
    );
    let root_span = t.span("new-root").parent(Parent::Root).start();
    assert_ne!(
        root_span.span_context().trace_id(),
        root.span_context().trace_id()
    );
    drop((root, r, root_span));
    t.force_flush(FLUSH).unwrap();
    let spans = c.take();
    let by_name = |n: &str| spans.iter().find(|s| s.name == n).unwrap();
    assert_eq!(
        by_name("child").parent_span_id,
        by_name("root").span_context.span_id()
    );
    assert!(!by_name("child").parent_span_is_remote);
    let fr = by_name("from-remote");
    assert_eq!(fr.parent_span_id.to_string(), "00f067aa0ba902b7");
    assert!(fr.parent_span_is_remote);
    assert_eq!(
        by_name("new-root").parent_span_id.to_string(),
        "0000000000000000"
    );
}

#[test]
fn start_now_is_a_builders_start_under_a_context_or_the_current_one() {
    let (t, c) = tracing_with(config());
    let root = t.span("root").start();
    let root_cx = root.context();
    let attrs = vec![KeyValue::new("order.id", 7_i64)];
    // Under an explicit context; under the thread's current one; and with none current.
    let mut a = t.start_now(Some(&root_cx), "explicit".into(), SpanKind::Client, attrs);
    a.end();
    {
        let _g = root_cx.clone().attach();
        t.start_now(None, "current".into(), SpanKind::Internal, Vec::new())
            .end();
    }
    t.start_now(None, "no-parent".into(), SpanKind::Internal, Vec::new())
        .end();
    drop(root);
    t.force_flush(FLUSH).unwrap();
    let spans = c.take();
    let by_name = |n: &str| spans.iter().find(|s| s.name == n).unwrap();
    let root_id = by_name("root").span_context.span_id();
    let explicit = by_name("explicit");
    assert_eq!(explicit.parent_span_id, root_id);
    assert_eq!(explicit.span_kind, SpanKind::Client);
    assert_eq!(explicit.attributes, vec![KeyValue::new("order.id", 7_i64)]);
    assert_eq!(by_name("current").parent_span_id, root_id);
    assert_eq!(
        by_name("no-parent").parent_span_id.to_string(),
        "0000000000000000"
    );
    assert_ne!(
        by_name("no-parent").span_context.trace_id(),
        by_name("root").span_context.trace_id()
    );
}

#[test]
fn correlation_is_on_every_span_and_nesting_restores() {
    let (t, c) = tracing_with(config());
    let outer = Correlation::builder().user_id("u1").build().unwrap();
    let outer_id = outer.id().to_owned();
    assert_eq!(outer_id.len(), 36, "a UUID is generated");
    {
        let _g = Context::current().with_correlation(outer).attach();
        assert_eq!(
            crosstrace::correlation_id().as_deref(),
            Some(outer_id.as_str())
        );
        t.start("a");
        {
            let inner = Correlation::builder().id("inner-1").build().unwrap();
            let _g2 = Context::current().with_correlation(inner).attach();
            t.start("b");
        }
        assert_eq!(
            crosstrace::correlation_id().as_deref(),
            Some(outer_id.as_str())
        );
    }
    assert_eq!(crosstrace::correlation_id(), None);
    t.force_flush(FLUSH).unwrap();
    let spans = c.take();
    let attr = |n: &str, k: &str| {
        spans
            .iter()
            .find(|s| s.name == n)
            .unwrap()
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == k)
            .map(|kv| kv.value.to_string())
    };
    assert_eq!(attr("a", "correlation.id"), Some(outer_id.clone()));
    assert_eq!(attr("a", "user.id").as_deref(), Some("u1"));
    assert_eq!(attr("b", "correlation.id").as_deref(), Some("inner-1"));
    // Injected headers carry it to the next service.
    let _g = Context::new()
        .with_correlation(Correlation::builder().id("req-9").build().unwrap())
        .attach();
    let mut h = std::collections::BTreeMap::new();
    t.inject_current(&mut h);
    assert_eq!(h["x-correlation-id"], "req-9");
}

#[test]
fn async_futures_carry_their_context() {
    let (t, c) = tracing_with(config());
    let parent = t.start("parent");
    let cx = parent.context();
    let fut = async {
        // Polled on another thread, the context still comes along.
        let mut s = t.start("inside-future");
        s.end();
        s.span_context().clone()
    }
    .with_context(cx);
    let child = std::thread::scope(|s| s.spawn(|| futures_lite_block_on(fut)).join().unwrap());
    assert_eq!(child.trace_id(), parent.span_context().trace_id());
    drop(parent);
    t.force_flush(FLUSH).unwrap();
    let spans = c.take();
    let inside = spans.iter().find(|s| s.name == "inside-future").unwrap();
    let parent = spans.iter().find(|s| s.name == "parent").unwrap();
    assert_eq!(inside.parent_span_id, parent.span_context.span_id());
}

/// A minimal executor, so the test needs no runtime crate.
fn futures_lite_block_on<F: std::future::Future>(fut: F) -> F::Output {
    use std::task::{Context as TaskCx, Poll, RawWaker, RawWakerVTable, Waker};
    fn noop(_: *const ()) {}
    fn clone(p: *const ()) -> RawWaker {
        RawWaker::new(p, &VTABLE)
    }
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, noop);
    // SAFETY: the vtable's functions do nothing with the data pointer.
    let waker = unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) };
    let mut cx = TaskCx::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// Every span kind reaches the exporter as given; events keep their name, time order and
/// attributes (cut to the value-length limit like span attributes).
#[test]
fn kinds_and_events_are_recorded() {
    let (t, c) = tracing_with(TracingConfig {
        attribute_value_length_limit: 8,
        ..config()
    });
    for kind in [
        SpanKind::Internal,
        SpanKind::Server,
        SpanKind::Client,
        SpanKind::Producer,
        SpanKind::Consumer,
    ] {
        let mut s = t.span(format!("{kind:?}")).kind(kind).start();
        s.add_event("first", vec![KeyValue::new("n", 1_i64)]);
        s.add_event("second", vec![KeyValue::new("text", "0123456789abc")]);
        s.end();
    }
    t.force_flush(FLUSH).unwrap();
    let spans = c.take();
    assert_eq!(spans.len(), 5);
    for s in &spans {
        assert_eq!(format!("{:?}", s.span_kind), s.name, "kind as given");
        let names: Vec<&str> = s.events.events.iter().map(|e| e.name.as_ref()).collect();
        assert_eq!(names, ["first", "second"]);
        assert!(s.events.events[0].timestamp <= s.events.events[1].timestamp);
        assert_eq!(s.events.events[0].attributes, [KeyValue::new("n", 1_i64)]);
        assert_eq!(
            s.events.events[1].attributes,
            [KeyValue::new("text", "01234567")],
            "cut to the limit"
        );
    }
    assert_eq!(t.health().counts.attributes_truncated, 5);
}

/// The resource: service name and version, deployment environment, the SDK's identity and the
/// configured extra attributes; an `Err` from `in_span` is recorded on its span.
#[test]
fn the_resource_and_in_span_errors() {
    let mut cfg = config();
    cfg.service_version = "2.3.4".into();
    cfg.environment = "staging".into();
    cfg.resource_attributes
        .insert("k8s.cluster.name".into(), "retail".into());
    let (t, c) = tracing_with(cfg);
    let attr = |k: &str| {
        t.resource()
            .get(&opentelemetry::Key::from(k.to_owned()))
            .map(|v| v.to_string())
    };
    assert_eq!(attr("service.name").as_deref(), Some("test-svc"));
    assert_eq!(attr("service.version").as_deref(), Some("2.3.4"));
    assert_eq!(attr("deployment.environment").as_deref(), Some("staging"));
    assert_eq!(attr("k8s.cluster.name").as_deref(), Some("retail"));
    assert_eq!(attr("telemetry.sdk.language").as_deref(), Some("rust"));
    assert!(attr("telemetry.sdk.name").is_some() && attr("telemetry.sdk.version").is_some());

    let r: Result<(), String> = t.in_span("step", |_| Err("disk full".into()));
    assert_eq!(
        r,
        Err("disk full".to_owned()),
        "the error is returned unchanged"
    );
    t.force_flush(FLUSH).unwrap();
    let spans = c.take();
    assert_eq!(spans[0].status, Status::error("disk full"));
    let e = &spans[0].events.events[0];
    assert_eq!(e.name, "exception");
    assert!(e
        .attributes
        .contains(&KeyValue::new("exception.type", "alloc::string::String")));

    // A panic in the closure: recorded and the span ended, then the panic goes on.
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        t.in_span("load", |_| -> Result<(), String> { panic!("bad row 7") })
    }));
    assert!(panicked.is_err(), "the panic reaches the caller");
    t.force_flush(FLUSH).unwrap();
    let spans = c.take();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].status, Status::error("bad row 7"));
    let e = &spans[0].events.events[0];
    assert!(e
        .attributes
        .contains(&KeyValue::new("exception.type", "panic")));
    assert!(e
        .attributes
        .contains(&KeyValue::new("exception.message", "bad row 7")));
}

#[test]
fn exceptions_status_and_idempotent_end() {
    let (t, c) = tracing_with(config());
    let mut s = t.start("op");
    s.set_status(Status::Ok);
    s.set_status(Status::error("late")); // Ok is final
    s.end();
    s.end();
    s.set_attribute(KeyValue::new("after.end", 1)); // ignored
    let mut e = t.start("failing");
    e.record_error(&std::io::Error::new(
        std::io::ErrorKind::NotFound,
        "file gone",
    ));
    drop(e);
    t.force_flush(FLUSH).unwrap();
    let spans = c.take();
    assert_eq!(spans.len(), 2, "ended once each");
    assert_eq!(t.health().counts.spans_ended, 2);
    let op = spans.iter().find(|s| s.name == "op").unwrap();
    assert_eq!(op.status, Status::Ok);
    assert!(op
        .attributes
        .iter()
        .all(|kv| kv.key.as_str() != "after.end"));
    let f = spans.iter().find(|s| s.name == "failing").unwrap();
    assert_eq!(f.status, Status::error("file gone"));
    let ev = &f.events.events[0];
    assert_eq!(ev.name, "exception");
    let get = |k: &str| {
        ev.attributes
            .iter()
            .find(|kv| kv.key.as_str() == k)
            .map(|kv| kv.value.to_string())
    };
    assert_eq!(
        get("exception.type").as_deref(),
        Some("std::io::error::Error")
    );
    assert_eq!(get("exception.message").as_deref(), Some("file gone"));
    // A Rust error's source chain is its stack trace; one given explicitly is kept as given.
    let mut chained = t.start("chained");
    chained.record_error(&Outer(std::io::Error::other("disk full")));
    chained.end();
    let mut given = t.start("given");
    given.record_exception("ValueError", "bad row", Some("Traceback ...\n  line 3"));
    given.end();
    t.force_flush(FLUSH).unwrap();
    let spans = c.take();
    let stack = |name: &str| {
        let s = spans.iter().find(|s| s.name == name).unwrap();
        let ev = &s.events.events[0];
        (ev.attributes.iter())
            .find(|kv| kv.key.as_str() == "exception.stacktrace")
            .map(|kv| kv.value.to_string())
    };
    assert_eq!(stack("chained").as_deref(), Some("caused by: disk full\n"));
    assert_eq!(stack("given").as_deref(), Some("Traceback ...\n  line 3"));
}

#[derive(Debug)]
struct Outer(std::io::Error);

impl std::fmt::Display for Outer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("cannot write the batch")
    }
}

impl std::error::Error for Outer {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[test]
fn limits_truncate_and_drop_and_are_counted() {
    let (t, c) = tracing_with(TracingConfig {
        attribute_value_length_limit: 8,
        attribute_count_limit: 3,
        ..config()
    });
    let mut s = t.start("limited");
    s.set_attribute(KeyValue::new("long", "0123456789abcdef"));
    s.set_attribute(KeyValue::new("utf8", "ééééé")); // 10 bytes, cut on a char boundary
    s.set_attribute(KeyValue::new("n", 1));
    s.set_attribute(KeyValue::new("n", 2)); // replaces, does not count
    s.set_attribute(KeyValue::new("extra", 1)); // over the count limit
    drop(s);
    t.force_flush(FLUSH).unwrap();
    let span = c.take().pop().unwrap();
    let get = |k: &str| {
        span.attributes
            .iter()
            .find(|kv| kv.key.as_str() == k)
            .map(|kv| kv.value.to_string())
    };
    assert_eq!(get("long").as_deref(), Some("01234567"));
    assert_eq!(get("utf8").as_deref(), Some("éééé"));
    assert_eq!(get("n").as_deref(), Some("2"));
    assert_eq!(get("extra"), None);
    assert_eq!(span.dropped_attributes_count, 1);
    let h = t.health().counts;
    assert_eq!(h.attributes_truncated, 2);
    assert_eq!(h.attributes_dropped, 1);
}

#[test]
fn attributes_are_ignored_only_where_nothing_can_read_them() {
    use crosstrace::{Context, SpanKind};
    let root = Context::default();
    let headers = |flags: &str| {
        vec![(
            "traceparent".to_owned(),
            format!("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-{flags}"),
        )]
    };
    // Sampling off (metrics on): internal spans' attributes are dropped unread; client and
    // server spans' may label their metrics (peer.service, http.route).
    let (off, _) = tracing_with(TracingConfig {
        sampling_rate: 0.0,
        ..config()
    });
    assert!(off.ignores_attributes(&root, &SpanKind::Internal));
    assert!(off.ignores_attributes(&root, &SpanKind::Consumer));
    assert!(!off.ignores_attributes(&root, &SpanKind::Client));
    assert!(!off.ignores_attributes(&root, &SpanKind::Server));
    // Parent-based: a sampled parent is followed whatever the root sampler says.
    assert!(!off.ignores_attributes(&off.extract(&headers("01")), &SpanKind::Internal));
    // Metrics off: no kind reads them.
    let (no_metrics, _) = tracing_with(TracingConfig {
        sampling_rate: 0.0,
        metrics_enabled: false,
        ..config()
    });
    assert!(no_metrics.ignores_attributes(&root, &SpanKind::Client));
    // Sampling on: a root span records them; an unsampled parent is followed.
    let (on, _) = tracing_with(config());
    assert!(!on.ignores_attributes(&root, &SpanKind::Internal));
    assert!(on.ignores_attributes(&on.extract(&headers("00")), &SpanKind::Internal));
    // A ratio decides by trace id, which is not known yet: never ignored.
    let (ratio, _) = tracing_with(TracingConfig {
        sampling_rate: 0.5,
        ..config()
    });
    assert!(!ratio.ignores_attributes(&root, &SpanKind::Internal));
    // Shut down: spans are no-ops.
    ratio.shutdown(FLUSH).unwrap();
    assert!(ratio.ignores_attributes(&root, &SpanKind::Internal));
}

#[test]
fn sampling_is_parent_based_and_counted() {
    let (t, c) = tracing_with(TracingConfig {
        sampling_rate: 0.0,
        ..config()
    });
    let dropped = t.start("root-dropped");
    assert!(!dropped.span_context().is_sampled());
    // Still recording for the span metrics (RECORD_ONLY), never exported.
    assert!(dropped.is_recording());
    assert!(dropped.span_context().is_valid(), "still propagates ids");
    // A child of an unsampled span is unsampled too.
    let child = t.span("child").parent_context(&dropped.context()).start();
    assert!(!child.span_context().is_sampled());
    // A remote sampled parent wins over the ratio.
    let headers = vec![(
        "traceparent".to_owned(),
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
    )];
    let remote = t.extract(&headers);
    let kept = t.span("kept").parent_context(&remote).start();
    assert!(kept.is_recording() && kept.span_context().is_sampled());
    drop((dropped, child, kept));
    t.force_flush(FLUSH).unwrap();
    assert_eq!(c.take().len(), 1);
    let h = t.health().counts;
    assert_eq!(
        (h.spans_started, h.spans_sampled_out, h.spans_ended),
        (3, 2, 1)
    );

    // A plain ratio sampler ignores the parent.
    let (t, _c) = tracing_with(TracingConfig {
        sampler: SamplerKind::TraceIdRatio,
        sampling_rate: 0.0,
        ..config()
    });
    assert!(!t
        .span("x")
        .parent_context(&remote)
        .start()
        .span_context()
        .is_sampled());
}

#[test]
fn ratio_sampling_keeps_about_the_configured_share() {
    let (t, _c) = tracing_with(TracingConfig {
        sampling_rate: 0.25,
        max_queue_size: 20_000,
        export_max_batch_size: 512,
        ..config()
    });
    let n = 20_000;
    let kept = (0..n)
        .filter(|_| t.start("s").span_context().is_sampled())
        .count();
    // Binomial(20000, 0.25): sd ≈ 61; 6 sd either side.
    assert!((4634..=5366).contains(&kept), "kept {kept} of {n}");
}

#[test]
fn a_full_queue_drops_and_counts_without_blocking() {
    let (t, c) = tracing_with(TracingConfig {
        max_queue_size: 10,
        export_max_batch_size: 5,
        ..config()
    });
    c.hold.store(true, Ordering::SeqCst);
    // The first batch of 5 goes to the (hanging) exporter; then 10 fit in the queue.
    for i in 0..5 {
        t.start(format!("s{i}"));
    }
    while c.calls.load(Ordering::SeqCst) == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    for i in 5..40 {
        t.start(format!("s{i}"));
    }
    let h = t.health().counts;
    assert_eq!(h.spans_ended, 40);
    assert_eq!(h.spans_dropped_queue_full, 25);
    assert_eq!(h.queue_depth, 15, "10 queued + 5 in flight");
    c.hold.store(false, Ordering::SeqCst);
    t.force_flush(FLUSH).unwrap();
    let h = t.health().counts;
    assert_eq!(h.spans_exported, 15);
    assert_eq!(
        h.spans_ended,
        h.spans_exported + h.spans_dropped_queue_full + h.spans_export_failed + h.queue_depth
    );
    assert_eq!(c.take().len(), 15);
}

#[test]
fn export_failures_are_counted_with_the_last_error() {
    let (t, c) = tracing_with(config());
    c.fail.store(true, Ordering::SeqCst);
    t.start("lost-1");
    t.start("lost-2");
    assert_eq!(common::flush(&t, FLUSH), 2);
    let h = t.health();
    assert_eq!(h.counts.spans_export_failed, 2);
    assert_eq!(h.counts.export_failures, 1);
    let err = h.last_export_error.expect("last error kept");
    assert_eq!(err.kind, "unavailable");
    assert!(err.message.contains("503"), "{}", err.message);
    c.fail.store(false, Ordering::SeqCst);
    t.start("ok");
    t.force_flush(FLUSH).unwrap();
    let h = t.health();
    assert_eq!(h.counts.spans_exported, 1);
    assert!(h.last_export_success_unix_ms.is_some());
}

#[test]
fn batches_go_out_at_batch_size_and_on_the_timer() {
    let (t, c) = tracing_with(TracingConfig {
        export_max_batch_size: 4,
        schedule_delay_millis: 100,
        ..config()
    });
    for _ in 0..4 {
        t.start("full-batch");
    }
    t.start("timer");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while c.spans.lock().unwrap().len() < 5 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(c.take().len(), 5, "exported without an explicit flush");
}

#[test]
fn shutdown_exports_the_queue_then_spans_are_noops() {
    let (t, c) = tracing_with(config());
    let open = t.start("open-at-shutdown");
    for _ in 0..3 {
        t.start("queued");
    }
    let report = t.shutdown(FLUSH).unwrap();
    assert_eq!(report.unsent, 0);
    assert_eq!(c.take().len(), 3);
    let after = t.start("after");
    assert!(!after.is_recording());
    // What came in still propagates through a no-op span, as when tracing is disabled.
    let cx = open.context();
    let child = t.span("after-child").parent_context(&cx).start();
    assert!(!child.is_recording());
    assert_eq!(child.context().span_context(), cx.span_context());
    drop(open); // ended after shutdown: cannot be exported, but counted
    let h = t.health();
    assert!(h.shut_down);
    assert_eq!(h.counts.spans_started_after_shutdown, 2);
    assert_eq!(h.counts.spans_export_failed, 1);
    assert!(matches!(
        t.shutdown(FLUSH),
        Err(crosstrace::Error::AlreadyShutdown)
    ));
}

#[test]
fn shutdown_reports_what_it_could_not_send() {
    let (t, c) = tracing_with(config());
    c.hold.store(true, Ordering::SeqCst);
    for _ in 0..3 {
        t.start("stuck");
    }
    let report = t.shutdown(Duration::from_millis(200)).unwrap();
    assert!(report.timed_out);
    assert_eq!(report.unsent, 3);
    c.hold.store(false, Ordering::SeqCst);
}

#[test]
fn disabled_tracing_records_nothing_but_propagates() {
    let (t, c) = tracing_with(TracingConfig {
        enabled: false,
        ..config()
    });
    let headers = vec![(
        "traceparent".to_owned(),
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
    )];
    let remote = t.extract(&headers);
    let s = t.span("x").parent_context(&remote).start();
    assert!(!s.is_recording());
    let mut out = std::collections::BTreeMap::new();
    t.inject(&s.context(), &mut out);
    assert!(out["traceparent"].contains("4bf92f3577b34da6a3ce929d0e0e4736"));
    drop(s);
    assert!(c.take().is_empty());
    assert!(!t.health().tracing_enabled);
}

#[test]
fn health_uses_the_specification_field_names() {
    let t = Tracing::new(TracingConfig {
        backend: Backend::None,
        ..config()
    })
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&t.health().to_json()).unwrap();
    for k in [
        "tracing_enabled",
        "service_name",
        "backend",
        "sampling_rate",
        "propagators",
        "spans_started",
        "spans_ended",
        "spans_sampled_out",
        "spans_exported",
        "spans_dropped_queue_full",
        "spans_export_failed",
        "export_failures",
        "queue_depth",
        "last_export_error",
        "last_export_success_unix_ms",
        "shut_down",
        "service_version",
        "environment",
        "endpoint",
        "protocol",
        "sampler",
        "spans_started_after_shutdown",
        "attributes_truncated",
        "attributes_dropped",
        "events_dropped",
        "links_dropped",
        "warnings",
        "metrics_enabled",
    ] {
        assert!(v.get(k).is_some(), "missing {k} in {v}");
    }
}

/// The usual OpenTelemetry deployment sets an OTLP endpoint and no exporter; crosstrace's
/// default backend is the console, which would print the spans silently.
#[test]
fn an_endpoint_with_the_console_backend_is_called_out() {
    let t = Tracing::new(TracingConfig {
        backend: Backend::Console,
        endpoint: Some("http://user:secret@collector:4318".into()),
        ..config()
    })
    .unwrap();
    let h = t.health();
    assert_eq!(h.warnings.len(), 1, "{:?}", h.warnings);
    assert!(
        h.warnings[0].contains("backend is console"),
        "{}",
        h.warnings[0]
    );
    assert!(!h.warnings[0].contains("secret"), "{}", h.warnings[0]);
    // Not an export error: nothing failed.
    assert!(h.last_export_error.is_none());
    let quiet = Tracing::new(TracingConfig {
        backend: Backend::Console,
        ..config()
    })
    .unwrap();
    assert!(quiet.health().warnings.is_empty());
}

#[test]
fn otlp_pointed_at_jaeger_thrift_is_called_out() {
    let t = Tracing::new(TracingConfig {
        backend: Backend::Otlp,
        endpoint: Some("http://127.0.0.1:14268/api/traces".into()),
        ..config()
    })
    .unwrap();
    let h = t.health();
    assert_eq!(h.warnings.len(), 1);
    assert!(h.warnings[0].contains("Thrift"), "{}", h.warnings[0]);
    assert_eq!(
        h.last_export_error.map(|e| e.kind).as_deref(),
        Some("misconfigured_endpoint")
    );
}

#[test]
fn console_backend_prints_a_tree_per_trace() {
    let buf: Arc<Mutex<Vec<u8>>> = Arc::default();
    let exporter = crosstrace::export::ConsoleExporter::to_writer(buf.clone());
    let t = Tracing::with_exporter(config(), exporter).unwrap();
    t.in_span("parent", |_| {
        t.start("child");
        Ok::<_, String>(())
    })
    .unwrap();
    t.force_flush(FLUSH).unwrap();
    let text = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("[test-svc] trace "), "{text}");
    assert!(lines[1].starts_with("  parent [internal] "), "{text}");
    assert!(lines[2].starts_with("    child [internal] "), "{text}");

    // Each line: name, kind, duration, status, span id, attributes; the trace id heads the tree.
    buf.lock().unwrap().clear();
    let mut s = t.span("checkout").kind(SpanKind::Server).start();
    s.set_attribute(KeyValue::new("order.id", 42_i64));
    s.set_status(Status::error("card declined"));
    let (trace_id, span_id) = (s.trace_id_hex(), s.span_id_hex());
    s.end();
    t.force_flush(FLUSH).unwrap();
    let text = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], format!("[test-svc] trace {trace_id}"), "{text}");
    let line = lines[1];
    assert!(line.starts_with("  checkout [server] "), "{text}");
    assert!(line.contains(" ms error: card declined "), "{text}");
    assert!(line.contains(&format!("span={span_id}")), "{text}");
    assert!(line.ends_with("{order.id=42}"), "{text}");
}

/// A span handle is moved through builders, closures and binding handles by value; at 128 bytes
/// or less those moves are inline copies, not `memcpy` calls (ARCHITECTURE.md, span recording).
#[cfg(target_pointer_width = "64")]
#[test]
fn a_span_handle_stays_within_128_bytes() {
    assert!(std::mem::size_of::<crosstrace::Span>() <= 128);
}

#[test]
fn tracers_scopes_are_kept_per_span_and_interned() {
    use crosstrace::Scope;
    let (t, c) = tracing_with(config());
    let schema = "https://opentelemetry.io/schemas/1.26.0";
    let orders = Scope::new("orders", Some("1.2.0"), Some(schema));
    let again = Scope::new("orders", Some("1.2.0"), Some(schema));
    assert!(
        std::ptr::eq(
            orders.instrumentation_scope(),
            again.instrumentation_scope()
        ),
        "one scope per name, version and schema URL"
    );
    let other = Scope::new("orders", Some("1.3.0"), None);
    assert_ne!(orders, other);
    // crosstrace's own scope asked for by name is the same one too.
    let own = Scope::new("crosstrace", Some(env!("CARGO_PKG_VERSION")), None);
    assert!(std::ptr::eq(
        own.instrumentation_scope(),
        Scope::crosstrace().instrumentation_scope()
    ));
    t.span("builder").scope(orders).start().end();
    t.start_now_in(other, None, "now".into(), SpanKind::Client, Vec::new())
        .end();
    t.start("default").end();
    t.force_flush(FLUSH).unwrap();
    let spans = c.take();
    let scope = |name: &str| {
        let s = &spans.iter().find(|s| s.name == name).unwrap();
        let sc = &s.instrumentation_scope;
        (
            sc.name().to_owned(),
            sc.version().map(str::to_owned),
            sc.schema_url().map(str::to_owned),
        )
    };
    assert_eq!(
        scope("builder"),
        ("orders".into(), Some("1.2.0".into()), Some(schema.into()))
    );
    assert_eq!(scope("now"), ("orders".into(), Some("1.3.0".into()), None));
    assert_eq!(
        scope("default"),
        (
            crosstrace::SCOPE_NAME.into(),
            Some(env!("CARGO_PKG_VERSION").into()),
            None
        )
    );
}

#[test]
fn links_given_at_start_are_kept_under_the_limits() {
    use crosstrace::{Link, SpanContext, TraceFlags, TraceState};
    use opentelemetry::trace::{SpanId, TraceId};
    let mut cfg = config();
    cfg.attribute_value_length_limit = 8;
    let (t, c) = tracing_with(cfg);
    let linked = SpanContext::new(
        TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
        SpanId::from(0x00f0_67aa_0ba9_02b7),
        TraceFlags::SAMPLED,
        true,
        TraceState::from_key_value([("vendor", "v1")]).unwrap(),
    );
    let mut links = vec![
        Link::new(
            linked.clone(),
            vec![KeyValue::new("batch.reason", "fan-in of several")],
            0,
        ),
        // An invalid context that says nothing: dropped, as the specification allows.
        Link::new(SpanContext::NONE, Vec::new(), 0),
    ];
    links.extend(
        (0..crosstrace::MAX_LINKS_PER_SPAN + 2).map(|_| Link::with_context(linked.clone())),
    );
    let mut span = t.span("consume").links(links).start();
    span.add_link(Link::with_context(linked.clone()));
    span.end();
    let mut later = t.start("later");
    later.add_link(Link::with_context(linked.clone()));
    later.end();
    t.force_flush(FLUSH).unwrap();
    let spans = c.take();
    let later = spans.iter().find(|s| s.name == "later").unwrap();
    assert_eq!(later.links.links.len(), 1, "a link added after the start");
    let l = &spans.iter().find(|s| s.name == "consume").unwrap().links;
    assert_eq!(l.links.len(), crosstrace::MAX_LINKS_PER_SPAN);
    assert_eq!(
        l.dropped_count, 4,
        "past the limit, counted (one added after the start)"
    );
    assert_eq!(l.links[0].span_context, linked);
    assert_eq!(
        l.links[0].attributes,
        vec![KeyValue::new("batch.reason", "fan-in o")],
        "link attributes are cut like a span's"
    );
    assert_eq!(t.health().counts.links_dropped, 4, "and counted in health");
}

#[test]
fn event_and_link_counts_keep_to_the_configs_limits() {
    use crosstrace::{Link, SpanContext, TraceFlags, TraceState};
    use opentelemetry::trace::{SpanId, TraceId};
    let mut cfg = config();
    cfg.event_count_limit = 2;
    cfg.link_count_limit = 1;
    let (t, c) = tracing_with(cfg);
    let linked = SpanContext::new(
        TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
        SpanId::from(0x00f0_67aa_0ba9_02b7),
        TraceFlags::SAMPLED,
        true,
        TraceState::NONE,
    );
    let mut span = t
        .span("batch")
        .links(vec![
            Link::with_context(linked.clone()),
            Link::with_context(linked.clone()),
        ])
        .start();
    span.add_link(Link::with_context(linked));
    for i in 0..5 {
        span.add_event("row", vec![KeyValue::new("i", i)]);
    }
    span.end();
    t.force_flush(FLUSH).unwrap();
    let spans = c.take();
    assert_eq!(spans[0].events.events.len(), 2);
    assert_eq!(spans[0].events.dropped_count, 3);
    assert_eq!(spans[0].links.links.len(), 1);
    assert_eq!(spans[0].links.dropped_count, 2);
    let h = t.health().counts;
    assert_eq!((h.events_dropped, h.links_dropped), (3, 2));
}

#[test]
fn event_attributes_keep_to_a_spans_limits() {
    let mut cfg = config();
    cfg.attribute_count_limit = 3;
    let (t, c) = tracing_with(cfg);
    let mut span = t.start("load");
    span.add_event(
        "retry",
        vec![
            KeyValue::new("attempt", 1),
            KeyValue::new("reason", "timeout"),
            KeyValue::new("attempt", 2),
            KeyValue::new("backoff_ms", 200),
            KeyValue::new("host", "db-1"),
            KeyValue::new("port", 5432),
        ],
    );
    span.end();
    t.force_flush(FLUSH).unwrap();
    let spans = c.take();
    let e = &spans[0].events.events[0];
    // One value per key (OTLP asks keys to be unique), the later one; past the count, dropped
    // and counted on the event and in health.
    assert_eq!(
        e.attributes,
        vec![
            KeyValue::new("attempt", 2),
            KeyValue::new("reason", "timeout"),
            KeyValue::new("backoff_ms", 200),
        ]
    );
    assert_eq!(e.dropped_attributes_count, 2);
    assert_eq!(t.health().counts.attributes_dropped, 2);
}

#[test]
fn warnings_added_while_running_are_in_health_once() {
    let t = Tracing::new(TracingConfig {
        backend: Backend::None,
        ..config()
    })
    .unwrap();
    assert!(t.health().warnings.is_empty());
    assert!(t.add_warning("the bridge was lost to http://user:hunter2@example.com"));
    assert!(!t.add_warning("the bridge was lost to http://user:hunter2@example.com"));
    let w = t.health().warnings;
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(!w[0].contains("hunter2"), "redacted: {}", w[0]);
    // A disabled instance reports them too.
    let off = Tracing::disabled();
    off.add_warning("seen while disabled");
    assert!(off
        .health()
        .warnings
        .iter()
        .any(|w| w == "seen while disabled"));
}

#[test]
fn the_resource_names_the_process_and_host() {
    let (t, _c) = tracing_with(config());
    let attr = |k: &'static str| {
        t.resource()
            .get(&opentelemetry::Key::from_static_str(k))
            .map(|v| v.to_string())
    };
    assert_eq!(attr("telemetry.sdk.name").as_deref(), Some("crosstrace"));
    assert_eq!(
        attr("service.instance.id"),
        Some(crosstrace::binding::resource::instance_id())
    );
    assert!(attr("host.name").is_some_and(|h| !h.is_empty()));
}

/// crosstrace's own exporter interface: records as queued, and a per-span outcome that health
/// reports as it is (part exported, part failed, by kind).
#[derive(Debug, Default)]
struct Records {
    seen: Mutex<Vec<crosstrace::SpanRecord>>,
}

impl crosstrace::export::Export for Records {
    fn export_batch(
        &self,
        batch: crosstrace::Batch,
    ) -> crosstrace::export::BoxFuture<'_, crosstrace::export::Outcome> {
        let n = batch.len() as u64;
        // The first span of each batch is refused by "the backend".
        let mut outcome = crosstrace::export::Outcome::exported(n - 1);
        outcome.merge(crosstrace::export::Outcome::failed(
            1,
            "http_400",
            "one span refused",
        ));
        self.seen.lock().unwrap().extend(batch);
        Box::pin(async move { outcome })
    }
}

/// An exporter that says what became of only some of its spans, or of more than it had.
#[derive(Debug)]
struct Miscounts {
    exported: u64,
    failed: u64,
}

impl crosstrace::export::Export for Miscounts {
    fn export_batch(
        &self,
        _batch: crosstrace::Batch,
    ) -> crosstrace::export::BoxFuture<'_, crosstrace::export::Outcome> {
        let mut outcome = crosstrace::export::Outcome::exported(self.exported);
        if self.failed > 0 {
            outcome.merge(crosstrace::export::Outcome::failed(
                self.failed,
                "http_400",
                "refused",
            ));
        }
        Box::pin(async move { outcome })
    }
}

/// An exporter that panics on its first batch, then exports.
#[derive(Debug, Default)]
struct PanicsOnce {
    calls: std::sync::atomic::AtomicUsize,
}

impl crosstrace::export::Export for PanicsOnce {
    fn export_batch(
        &self,
        batch: crosstrace::Batch,
    ) -> crosstrace::export::BoxFuture<'_, crosstrace::export::Outcome> {
        let n = batch.len() as u64;
        let first = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
        Box::pin(async move {
            assert!(!first, "the exporter's own bug");
            crosstrace::export::Outcome::exported(n)
        })
    }
}

#[test]
fn a_panicking_exporter_fails_its_batch_and_exports_the_next() {
    let t = Tracing::with_export(config(), Arc::new(PanicsOnce::default())).unwrap();
    for _ in 0..3 {
        t.span("a").start().end();
    }
    assert_eq!(common::flush(&t, FLUSH), 3);
    t.span("b").start().end();
    assert_eq!(common::flush(&t, FLUSH), 0);
    let h = t.health();
    assert_eq!(
        (
            h.counts.spans_export_failed,
            h.counts.spans_exported,
            h.counts.queue_depth
        ),
        (3, 1, 0),
        "{h:?}"
    );
    let e = t.health().last_export_error.unwrap();
    assert_eq!(e.kind, "exporter_panic");
    assert!(
        e.message.contains("the exporter's own bug"),
        "{}",
        e.message
    );
}

/// An exporter that takes `0` to answer.
#[derive(Debug)]
struct Slow(Duration);

impl crosstrace::export::Export for Slow {
    fn export_batch(
        &self,
        batch: crosstrace::Batch,
    ) -> crosstrace::export::BoxFuture<'_, crosstrace::export::Outcome> {
        let (n, wait) = (batch.len() as u64, self.0);
        Box::pin(async move {
            tokio::time::sleep(wait).await;
            crosstrace::export::Outcome::exported(n)
        })
    }
}

#[test]
fn spans_unsent_at_a_shutdown_timeout_are_counted_when_it_returns() {
    let t = Tracing::with_export(
        TracingConfig {
            max_queue_size: 100,
            export_max_batch_size: 4,
            ..config()
        },
        Arc::new(Slow(Duration::from_secs(3))),
    )
    .unwrap();
    for _ in 0..10 {
        t.span("job").start().end();
    }
    let report = t.shutdown(Duration::from_millis(200)).unwrap();
    assert!(report.timed_out);
    assert_eq!(report.unsent, 10);
    // Final when shutdown returns: the process may exit now.
    let h = t.health();
    assert_eq!(
        (
            h.counts.spans_export_failed,
            h.counts.spans_exported,
            h.counts.queue_depth
        ),
        (10, 0, 0),
        "{h:?}"
    );
    assert_eq!(h.last_export_error.unwrap().kind, "shutdown_timeout");
    // The export in progress ends later; its spans are not counted again.
    std::thread::sleep(Duration::from_millis(3300));
    let h = t.health();
    assert_eq!(
        (h.counts.spans_export_failed, h.counts.spans_exported),
        (10, 0)
    );
}

#[test]
fn spans_an_exporter_does_not_account_for_are_counted_as_failed() {
    // (exported, failed) said of a batch of 4: what health counts as exported and failed.
    for ((exported, failed), want) in [
        ((0, 0), (0, 4)),
        ((1, 1), (1, 3)),
        ((9, 0), (4, 0)),
        ((3, 5), (3, 1)),
    ] {
        let t = Tracing::with_export(config(), Arc::new(Miscounts { exported, failed })).unwrap();
        for _ in 0..4 {
            t.span("job").start().end();
        }
        assert_eq!(common::flush(&t, FLUSH), want.1);
        let h = t.health();
        assert_eq!(
            (h.counts.spans_exported, h.counts.spans_export_failed),
            want,
            "the exporter said {exported} exported, {failed} failed: {h:?}"
        );
        assert_eq!(h.counts.queue_depth, 0);
        if exported + failed < 4 {
            let e = h
                .last_export_error
                .expect("an error for the unreported spans");
            assert_eq!(e.kind, "unreported");
            assert!(
                e.message
                    .contains(&format!("{} of the 4 spans", exported + failed)),
                "{}",
                e.message
            );
        }
    }
}

#[test]
fn an_export_of_crosstraces_own_gets_the_records_and_says_each_spans_fate() {
    let records = Arc::new(Records::default());
    let t = Tracing::with_export(config(), records.clone()).unwrap();
    let scope = crosstrace::Scope::new("inventory", Some("2.0"), None);
    {
        let mut parent = t
            .span("sync")
            .kind(SpanKind::Server)
            .attribute(KeyValue::new("store", "berlin-01"))
            .start();
        let mut child = t
            .span("read")
            .parent(Parent::Context(&parent.context()))
            .scope(scope)
            .start();
        child.set_status(Status::error("disk"));
        child.end();
        parent.end();
    }
    common::flush(&t, FLUSH);
    let seen = std::mem::take(&mut *records.seen.lock().unwrap());
    assert_eq!(seen.len(), 2);
    let (read, sync) = (&seen[0], &seen[1]);
    assert_eq!((&*read.name, &*sync.name), ("read", "sync"));
    assert_eq!(read.parent_span_id, sync.span_context.span_id());
    assert_eq!(sync.span_kind, SpanKind::Server);
    assert_eq!(sync.attributes, vec![KeyValue::new("store", "berlin-01")]);
    assert_eq!(read.status, Status::error("disk"));
    assert!(read.end_time >= read.start_time);
    // The scope is the interned one, not a copy.
    assert!(std::ptr::eq(
        read.instrumentation_scope,
        scope.instrumentation_scope()
    ));
    assert!(std::ptr::eq(
        sync.instrumentation_scope,
        crosstrace::Scope::crosstrace().instrumentation_scope()
    ));
    let h = t.health();
    assert_eq!(h.counts.spans_exported, 1, "{h:?}");
    assert_eq!(h.counts.spans_export_failed, 1, "{h:?}");
    assert_eq!(
        h.last_export_error.map(|e| e.kind).as_deref(),
        Some("http_400")
    );
}

/// A span's times: started now, it ends after it started, by the time between; started at a
/// time given by hand, it ends now; started before 1970 (no time OTLP can carry), at the epoch.
#[test]
fn start_and_end_times() {
    use std::time::{SystemTime, UNIX_EPOCH};
    let (t, c) = tracing_with(config());
    let before = SystemTime::now();
    let mut now = t.start("now");
    std::thread::sleep(Duration::from_millis(20));
    now.end();
    let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
    t.span("given").start_time(an_hour_ago).start().end();
    t.span("before 1970")
        .start_time(UNIX_EPOCH - Duration::from_secs(10))
        .start()
        .end();
    let after = SystemTime::now();
    t.force_flush(FLUSH).unwrap();
    let spans = c.take();
    let by = |name: &str| spans.iter().find(|s| s.name == name).unwrap().clone();
    let s = by("now");
    assert!(before <= s.start_time && s.end_time <= after, "{s:?}");
    let took = s.end_time.duration_since(s.start_time).unwrap();
    assert!(took >= Duration::from_millis(20), "{took:?}");
    let s = by("given");
    assert_eq!(s.start_time, an_hour_ago);
    assert!(before <= s.end_time && s.end_time <= after, "{s:?}");
    let s = by("before 1970");
    assert_eq!(s.start_time, UNIX_EPOCH);
    assert!(before <= s.end_time && s.end_time <= after, "{s:?}");
}
