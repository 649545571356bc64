//! `make bench`: the cost of a `tracing` span recorded through crosstrace's layer, beside
//! `tracing-opentelemetry` on crosstrace's OpenTelemetry provider and `tracing-opentelemetry`
//! on `opentelemetry_sdk` (its batch processor, an exporter that discards). Per span: wall and
//! process CPU time (the export thread included), from the first span to the end of the final
//! flush, and heap allocations; best of 5 runs, the contenders taking turns.
// Benchmarks unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[path = "common/mod.rs"]
mod common;

use common::{cpu_time, crosstrace_metrics, sdk_with};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::Sampler;
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;

/// Counts allocations (every thread's: the export threads' work is part of a span's cost).
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator, counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const N: u64 = 100_000;
const ROUNDS: usize = 5;

#[derive(Clone, Copy)]
struct Cost {
    wall_ns: f64,
    cpu_ns: f64,
    allocations: f64,
}

/// A contender: a `tracing` dispatcher and the flush of what is behind it.
struct Contender {
    name: &'static str,
    dispatch: Dispatch,
    flush: Box<dyn Fn()>,
}

/// One span as an `#[instrument]`ed function makes it: 3 fields, entered, closed.
#[inline(never)]
fn span_3_fields() {
    let span = tracing::info_span!(
        "checkout",
        order.id = 12345_i64,
        store = "berlin-01",
        express = true
    );
    let _entered = span.enter();
}

/// The same with an event (a field and a message) inside, under a parent span.
#[inline(never)]
fn span_3_fields_event(parent: &tracing::Span) {
    let span = tracing::info_span!(parent: parent, "checkout", order.id = 12345_i64, store = "berlin-01", express = true);
    let _entered = span.enter();
    tracing::info!(items = 2, "priced");
}

/// What one run repeats, given the run's parent span.
type Scenario = fn(&tracing::Span);

fn once(c: &Contender, scenario: Scenario) -> Cost {
    tracing::dispatcher::with_default(&c.dispatch, || {
        let parent = tracing::info_span!("batch");
        let (w0, c0, a0) = (
            Instant::now(),
            cpu_time(),
            ALLOCATIONS.load(Ordering::Relaxed),
        );
        for _ in 0..N {
            scenario(&parent);
        }
        (c.flush)();
        let (w, cpu, a) = (
            w0.elapsed(),
            cpu_time() - c0,
            ALLOCATIONS.load(Ordering::Relaxed) - a0,
        );
        Cost {
            wall_ns: w.as_nanos() as f64 / N as f64,
            cpu_ns: cpu.as_nanos() as f64 / N as f64,
            allocations: a as f64 / N as f64,
        }
    })
}

/// Each contender's best (least CPU) of `ROUNDS` runs, in turns with a rotating order.
fn measure(contenders: &[Contender], scenario: Scenario) -> Vec<Cost> {
    let mut best: Vec<Option<Cost>> = vec![None; contenders.len()];
    for round in 0..ROUNDS {
        for j in 0..contenders.len() {
            let i = (j + round) % contenders.len();
            let cost = once(&contenders[i], scenario);
            best[i] = Some(match best[i] {
                Some(b) if b.cpu_ns <= cost.cpu_ns => b,
                _ => cost,
            });
        }
    }
    best.into_iter().map(Option::unwrap).collect()
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let flush = Duration::from_secs(60);

    let (ours, ours_out) = crosstrace_metrics(crosstrace::SamplerKind::ParentBasedAlwaysOn, false);
    let (via_api, via_api_out) =
        crosstrace_metrics(crosstrace::SamplerKind::ParentBasedAlwaysOn, false);
    let (sdk, sdk_out) = sdk_with(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)));

    let contenders = [
        Contender {
            name: "crosstrace layer",
            dispatch: Dispatch::new(tracing_subscriber::registry().with(ours.layer())),
            flush: Box::new({
                let t = ours.clone();
                move || t.force_flush(flush).unwrap()
            }),
        },
        Contender {
            name: "tracing-opentelemetry on crosstrace",
            dispatch: Dispatch::new(
                tracing_subscriber::registry().with(
                    tracing_opentelemetry::layer()
                        .with_tracer(via_api.tracer_provider().tracer("bench")),
                ),
            ),
            flush: Box::new({
                let t = via_api.clone();
                move || t.force_flush(flush).unwrap()
            }),
        },
        Contender {
            name: "tracing-opentelemetry on opentelemetry_sdk",
            dispatch: Dispatch::new(
                tracing_subscriber::registry()
                    .with(tracing_opentelemetry::layer().with_tracer(sdk.tracer("bench"))),
            ),
            flush: Box::new({
                let p = sdk.clone();
                move || p.force_flush().unwrap()
            }),
        },
    ];

    let scenarios: [(&str, Scenario); 2] = [
        ("span, 3 fields, entered", |_| span_3_fields()),
        (
            "span under a parent, 3 fields, an event",
            span_3_fields_event,
        ),
    ];
    let mut ratios = Vec::new();
    for (scenario, run) in scenarios {
        let costs = measure(&contenders, run);
        println!("{scenario} ({N} spans, best of {ROUNDS}):");
        for (c, cost) in contenders.iter().zip(&costs) {
            println!(
                "  {:<44} {:>7.0} ns/span wall {:>7.0} ns/span CPU {:>5.1} allocations/span",
                c.name, cost.wall_ns, cost.cpu_ns, cost.allocations
            );
        }
        let r = |i: usize| costs[i].cpu_ns / costs[0].cpu_ns;
        println!(
            "  CPU ratio to the crosstrace layer: tracing-opentelemetry on crosstrace {:.2}x, on opentelemetry_sdk {:.2}x",
            r(1),
            r(2)
        );
        ratios.push((scenario, r(2)));
    }
    for (scenario, r) in ratios {
        println!("RESULT tracing_layer \"{scenario}\" sdk_over_crosstrace_cpu={r:.2}");
    }
    // Every span reached its exporter: nothing was dropped on any side.
    let spans_per_side = 2 * ROUNDS as u64 * (N + 1);
    for (name, out) in [
        ("crosstrace layer", &ours_out.0),
        ("tracing-opentelemetry on crosstrace", &via_api_out.0),
        ("tracing-opentelemetry on opentelemetry_sdk", &sdk_out.0),
    ] {
        let got = out.load(Ordering::Relaxed);
        // The parent spans of the runs end after the flush, so they may still be queued.
        assert!(
            got >= spans_per_side - 2 * ROUNDS as u64,
            "{name}: {got} of {spans_per_side} spans exported"
        );
    }
}
