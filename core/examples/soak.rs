//! The export soak of `make bench`: 1,000,000 spans through OTLP/HTTP to a real Jaeger, reporting
//! spans/s, the export thread's CPU seconds and peak memory; with `down`, the same load against a
//! backend that is not there, to show memory bounded by the queue.
//!
//! `cargo run --release --example soak -- up http://127.0.0.1:4318/v1/traces`
//! `cargo run --release --example soak -- down`

use std::time::{Duration, Instant};

use crosstrace::{Backend, KeyValue, LogLevel, OtlpProtocol, Tracing, TracingConfig};

const SPANS: u64 = 1_000_000;

fn cpu(clock: libc::clockid_t) -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("up");
    let endpoint = match mode {
        "up" => args
            .get(2)
            .cloned()
            .unwrap_or_else(|| "http://127.0.0.1:4318/v1/traces".into()),
        _ => {
            let l = std::net::TcpListener::bind("127.0.0.1:0")?;
            format!("http://{}/v1/traces", l.local_addr()?)
        }
    };
    let t = Tracing::new(TracingConfig {
        service_name: format!("crosstrace-soak-{mode}"),
        backend: Backend::Otlp,
        endpoint: Some(endpoint),
        otlp_protocol: Some(OtlpProtocol::HttpProtobuf),
        export_timeout_seconds: 5.0,
        log_level: LogLevel::Off,
        ..TracingConfig::default()
    })?;
    let (w0, p0, m0) = (
        Instant::now(),
        cpu(libc::CLOCK_PROCESS_CPUTIME_ID),
        cpu(libc::CLOCK_THREAD_CPUTIME_ID),
    );
    for i in 0..SPANS {
        let mut s = t
            .span("soak")
            .attributes([
                KeyValue::new("order.id", i as i64),
                KeyValue::new("store", "berlin-01"),
                KeyValue::new("express", i % 2 == 0),
            ])
            .start();
        s.end();
        // An application that is up keeps pace with the exporter instead of dropping; one whose
        // backend is down just goes on.
        if mode == "up" && i % 1024 == 0 {
            while t.health().counts.queue_depth > 1536 {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    }
    let flushed = t.force_flush(Duration::from_secs(120));
    let wall = w0.elapsed().as_secs_f64();
    let process_cpu = cpu(libc::CLOCK_PROCESS_CPUTIME_ID) - p0;
    let main_cpu = cpu(libc::CLOCK_THREAD_CPUTIME_ID) - m0;
    let h = t.health().counts;
    println!(
        "soak {mode}: {SPANS} spans in {wall:.1} s, {:.0} spans/s exported, exporter CPU {:.2} s \
         (app thread {main_cpu:.2} s), peak RSS {:.1} MiB; exported {}, dropped (queue full) {}, \
         failed {}{}",
        h.spans_exported as f64 / wall,
        process_cpu - main_cpu,
        peak_rss_mib(),
        h.spans_exported,
        h.spans_dropped_queue_full,
        h.spans_export_failed,
        match flushed {
            Err(crosstrace::Error::Timeout { .. }) => ", flush timed out",
            Err(_) => ", flush reported spans not exported",
            Ok(()) => "",
        },
    );
    Ok(())
}
