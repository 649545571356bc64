//! Profiling aid: one scenario of `make bench` per run, for `valgrind --tool=callgrind`
//! (instruction counts are stable where wall time is not). `span_probe <ct|sdk> <attrs|nested|off> [N]`.
#![allow(clippy::unwrap_used)]
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::{Span as _, TraceContextExt, Tracer as _, TracerProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider, SpanData, SpanExporter,
};

#[derive(Debug, Clone, Default)]
struct Discard(Arc<AtomicU64>);

impl SpanExporter for Discard {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

fn cpu_time() -> Duration {
    clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}

fn thread_time() -> Duration {
    clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

fn clock(id: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(id, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn attrs() -> [KeyValue; 3] {
    [
        KeyValue::new("order.id", 12345_i64),
        KeyValue::new("store", "berlin-01"),
        KeyValue::new("express", true),
    ]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (who, what) = (args[0].as_str(), args[1].as_str());
    let n: u64 = args.get(2).map_or(100_000, |v| v.parse().unwrap());
    let metrics = std::env::var("CT_METRICS").map_or(true, |v| v != "0");
    let d = Discard::default();
    let (w0, c0, t0) = (std::time::Instant::now(), cpu_time(), thread_time());
    if who == "ct" {
        let t = crosstrace::Tracing::with_exporter(
            crosstrace::TracingConfig {
                sampler: if what == "off" {
                    crosstrace::SamplerKind::AlwaysOff
                } else {
                    crosstrace::SamplerKind::ParentBasedAlwaysOn
                },
                metrics_enabled: metrics,
                max_queue_size: 1 << 18,
                export_max_batch_size: 512,
                ..crosstrace::TracingConfig::default()
            },
            d.clone(),
        )
        .unwrap();
        for _ in 0..n {
            match what {
                "nested" => {
                    let parent = t.start("parent");
                    let cx = parent.context();
                    let mut child = t.span("child").parent_context(&cx).start();
                    child.end();
                    drop(parent);
                }
                _ => {
                    let mut s = t.span("checkout").attributes(attrs()).start();
                    s.end();
                }
            }
        }
        t.force_flush(Duration::from_secs(60)).unwrap();
    } else {
        let p = SdkTracerProvider::builder()
            .with_sampler(if what == "off" {
                Sampler::AlwaysOff
            } else {
                Sampler::ParentBased(Box::new(Sampler::AlwaysOn))
            })
            .with_span_processor(
                BatchSpanProcessor::builder(d.clone())
                    .with_batch_config(
                        BatchConfigBuilder::default()
                            .with_max_queue_size(1 << 18)
                            .with_max_export_batch_size(512)
                            .build(),
                    )
                    .build(),
            )
            .build();
        let tracer = p.tracer("bench");
        for _ in 0..n {
            match what {
                "nested" => {
                    let parent = tracer.start("parent");
                    let cx = opentelemetry::Context::current_with_span(parent);
                    let mut child = tracer.start_with_context("child", &cx);
                    child.end();
                    cx.span().end();
                }
                _ => {
                    let mut s = tracer
                        .span_builder("checkout")
                        .with_attributes(attrs())
                        .start(&tracer);
                    s.end();
                }
            }
        }
        p.force_flush().unwrap();
    }
    let (w, c, t) = (w0.elapsed(), cpu_time() - c0, thread_time() - t0);
    let per = |d: Duration| d.as_nanos() as f64 / n as f64;
    println!(
        "{who} {what}: {:.0} ns wall, {:.0} ns CPU ({:.0} ns on the calling thread) per iteration; exported {}",
        per(w),
        per(c),
        per(t),
        d.0.load(Ordering::Relaxed)
    );
}
