//! Span metrics files when tracing is set up again in one process. (A test binary of its own:
//! metrics_dir.rs forks, and a fork while this test's threads hold a lock would hang a child.)

// Tests unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, SystemTime};

use crosstrace::{Backend, Tracing, TracingConfig};

fn spans(t: &Tracing, name: &'static str, n: u64) {
    let base = SystemTime::now();
    for j in 0..n {
        let mut s = t.span(name).start_time(base).start();
        s.end_at(base + Duration::from_micros(250 * (j + 1)));
    }
}

/// Tracing set up again in one process (a test harness, a reload) writes a file of its own: the
/// first setup's spans stay counted, so the host's counter never goes back (which Prometheus
/// would take for a reset).
#[test]
fn tracing_set_up_again_keeps_the_first_setups_counts() {
    let dir = std::env::temp_dir().join(format!("ct-metrics-again-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = TracingConfig {
        service_name: "again".into(),
        backend: Backend::None,
        metrics_dir: Some(dir.to_str().unwrap().into()),
        ..TracingConfig::default()
    };
    let first = Tracing::new(config.clone()).unwrap();
    spans(&first, "job", 5);
    first.shutdown(Duration::from_secs(5)).unwrap();
    drop(first);
    let second = Tracing::new(config).unwrap();
    spans(&second, "job", 1);
    let merged = second.merged_metrics().unwrap();
    let count: u64 = merged
        .series
        .iter()
        .filter(|(k, _)| k.span_name == "job")
        .map(|(_, s)| s.count)
        .sum();
    assert_eq!(count, 6);
    let _ = std::fs::remove_dir_all(&dir);
}
