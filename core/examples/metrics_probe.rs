//! Profiling aid for the span metrics: per-span cost of sampled-out and sampled spans with
//! metrics on and off (`cargo run --release --example metrics_probe`).
#![allow(clippy::unwrap_used)]
use std::time::Instant;

fn run(sampler: crosstrace::SamplerKind, metrics_enabled: bool) -> f64 {
    let t = crosstrace::Tracing::new(crosstrace::TracingConfig {
        sampler,
        metrics_enabled,
        backend: crosstrace::Backend::None,
        max_queue_size: 1 << 20,
        ..crosstrace::TracingConfig::default()
    })
    .unwrap();
    let n: u32 = std::env::var("CT_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let t0 = Instant::now();
    for _ in 0..n {
        let mut s = t.span("checkout").start();
        s.end();
    }
    t0.elapsed().as_nanos() as f64 / f64::from(n)
}

fn main() {
    // `metrics_probe off|on sampled|unsampled` runs one case (for `perf stat`).
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() == 2 {
        let sampler = if args[1] == "sampled" {
            crosstrace::SamplerKind::AlwaysOn
        } else {
            crosstrace::SamplerKind::AlwaysOff
        };
        println!("{:.0} ns", run(sampler, args[0] == "on"));
        return;
    }
    for sampler in [
        crosstrace::SamplerKind::AlwaysOff,
        crosstrace::SamplerKind::AlwaysOn,
    ] {
        let on = run(sampler, true);
        let off = run(sampler, false);
        println!(
            "{sampler:?}: on {on:.0} ns, off {off:.0} ns, added {:.0} ns",
            on - off
        );
    }
}
