//! Profiling aid: one scenario of `make bench` per run, for `valgrind --tool=callgrind`
//! (instruction counts are stable where wall time is not).
//! `span_probe <ct|sdk> <attrs|attrs_short|attrs20|nested|off|otlp> [N]`; `CT_METRICS=0` turns crosstrace's span
//! metrics off. `otlp` exports to a local OTLP/HTTP endpoint in this process.
#![allow(clippy::unwrap_used)]

#[path = "../benches/common/mod.rs"]
mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{cpu_time, thread_time};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::Sampler;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (who, what) = (args[0].as_str(), args[1].as_str());
    let n: u64 = args.get(2).map_or(100_000, |v| v.parse().unwrap());
    let metrics = std::env::var("CT_METRICS").map_or(true, |v| v != "0");
    let (w0, c0, t0) = (Instant::now(), cpu_time(), thread_time());
    if what == "otlp" {
        return otlp(who, n);
    }
    let exported = if who == "ct" {
        let sampler = if what == "off" {
            crosstrace::SamplerKind::AlwaysOff
        } else {
            crosstrace::SamplerKind::ParentBasedAlwaysOn
        };
        let (t, d) = common::crosstrace_metrics(sampler, metrics);
        for _ in 0..n {
            match what {
                "nested" => common::ct_nested(&t),
                "attrs20" => common::ct_span20(&t, "checkout"),
                "attrs_short" => common::ct_span_short(&t, "checkout"),
                _ => common::ct_span(&t, "checkout"),
            }
        }
        t.force_flush(Duration::from_secs(60)).unwrap();
        d
    } else {
        let (p, d) = common::sdk_with(if what == "off" {
            Sampler::AlwaysOff
        } else {
            Sampler::ParentBased(Box::new(Sampler::AlwaysOn))
        });
        let tracer = p.tracer("bench");
        for _ in 0..n {
            match what {
                "nested" => common::sdk_nested(&tracer),
                "attrs20" => common::sdk_span20(&tracer, "checkout"),
                "attrs_short" => common::sdk_span_short(&tracer, "checkout"),
                _ => common::sdk_span(&tracer, "checkout"),
            }
        }
        p.force_flush().unwrap();
        d
    };
    let (w, c, t) = (w0.elapsed(), cpu_time() - c0, thread_time() - t0);
    let per = |d: Duration| d.as_nanos() as f64 / n as f64;
    println!(
        "{who} {what}: {:.0} ns wall, {:.0} ns CPU ({:.0} ns on the calling thread) per iteration; exported {}",
        per(w),
        per(c),
        per(t),
        exported.0.load(Ordering::Relaxed)
    );
}

/// Spans with 3 attributes exported by OTLP/HTTP protobuf to a local endpoint, as `make bench`
/// does: crosstrace's exporter or the SDK's batch processor with `opentelemetry-otlp`.
fn otlp(who: &str, n: u64) {
    let (url, requests) = common::otlp_sink();
    let (w0, c0) = (Instant::now(), cpu_time());
    if who == "ct" {
        let t = common::crosstrace_otlp(&url);
        for _ in 0..n {
            common::ct_span(&t, "checkout");
        }
        t.force_flush(Duration::from_secs(60)).unwrap();
        assert_eq!(t.health().counts.spans_exported, n);
    } else {
        let p = common::sdk_otlp(&url);
        let tracer = p.tracer("bench");
        for _ in 0..n {
            common::sdk_span(&tracer, "checkout");
        }
        p.force_flush().unwrap();
    }
    let (w, c) = (w0.elapsed(), cpu_time() - c0);
    println!(
        "{who} otlp: {:.0} ns wall, {:.0} ns CPU per span; {} requests",
        w.as_nanos() as f64 / n as f64,
        c.as_nanos() as f64 / n as f64,
        requests.load(Ordering::Relaxed)
    );
}
