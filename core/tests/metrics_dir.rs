//! Span metrics shared by the processes of one host through `metrics_dir`: forked children
//! write files of their own (from zero: the parent's spans are the parent's), by their writer
//! thread, and keep counting after they exit; a render anywhere merges every file exactly;
//! damaged files are skipped and counted. (Its own test binary: the children are forked from
//! this process.)

// Tests unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, SystemTime};

use crosstrace::{Backend, Tracing, TracingConfig};

const CHILDREN: u64 = 3;
const SPANS: u64 = 200;

/// Span `j` of process `p`: its duration in ns (exact in ms: multiples of 0.25 ms).
fn nanos(p: u64, j: u64) -> u64 {
    ((p * 31 + j * 7) % 97 + 1) * 250_000
}

fn spans(t: &Tracing, name: &'static str, p: u64, n: u64) {
    let base = SystemTime::now();
    for j in 0..n {
        let mut s = t.span(name).start_time(base).start();
        s.end_at(base + Duration::from_nanos(nanos(p, j)));
    }
}

fn ctm_files(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".ctm"))
        .collect();
    v.sort();
    v
}

#[test]
fn forked_workers_write_their_own_files_and_every_render_merges_them_exactly() {
    let dir = std::env::temp_dir().join(format!("ct-metrics-dir-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = TracingConfig {
        service_name: "md".into(),
        backend: Backend::None,
        metrics_dir: Some(dir.to_str().unwrap().into()),
        metrics_sync_interval_millis: 20,
        ..TracingConfig::default()
    };
    let t = Tracing::new(config).unwrap();
    // The parent's spans before the forks: in the parent's file only.
    spans(&t, "before", 0, 10);

    let mut pids = Vec::new();
    for p in 1..=CHILDREN {
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                spans(&t, "work", p, SPANS);
                // Neither flushed nor shut down: the child's writer thread writes its file.
                let own = format!("md-{}-", std::process::id());
                let deadline = std::time::Instant::now() + Duration::from_secs(10);
                while !ctm_files(&dir).iter().any(|n| n.starts_with(&own)) {
                    if std::time::Instant::now() > deadline {
                        return 2;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                // Another period: the file holds every span.
                std::thread::sleep(Duration::from_millis(100));
                0
            }))
            .unwrap_or(101);
            // Exits at once (no atexit, no shutdown): its file stays and still counts.
            unsafe { libc::_exit(code) };
        }
        pids.push(pid);
    }
    for pid in &pids {
        let mut status = 0;
        assert_eq!(unsafe { libc::waitpid(*pid, &mut status, 0) }, *pid);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "child {pid}: status {status:#x} (2: no file of its own)"
        );
    }

    let merged = t.merged_metrics().unwrap();
    // The parent and each child: a file each, named by its process.
    let names = ctm_files(&dir);
    assert_eq!(names.len(), 1 + CHILDREN as usize, "{names:?}");
    for pid in pids.iter().chain([&(std::process::id() as i32)]) {
        assert!(
            names.iter().any(|n| n.starts_with(&format!("md-{pid}-"))),
            "no file of {pid}: {names:?}"
        );
    }
    // Exact: the children's spans once each, the parent's spans once (not again from a child).
    let work: Vec<f64> = (1..=CHILDREN)
        .flat_map(|p| (0..SPANS).map(move |j| nanos(p, j) as f64 / 1e6))
        .collect();
    let series = |name: &str| {
        merged
            .series
            .iter()
            .find(|(k, _)| k.span_name == name)
            .unwrap()
            .1
            .clone()
    };
    let w = series("work");
    assert_eq!(w.count, CHILDREN * SPANS);
    assert_eq!(w.sum_ms, work.iter().sum::<f64>());
    assert_eq!(w.min_ms, work.iter().copied().fold(f64::INFINITY, f64::min));
    assert_eq!(w.max_ms, work.iter().copied().fold(0.0, f64::max));
    assert_eq!(series("before").count, 10);
    assert_eq!(merged.sampled, 10 + CHILDREN * SPANS);
    let mut sorted = work.clone();
    sorted.sort_by(f64::total_cmp);
    for q in [0.5, 0.95, 0.99] {
        let exact = sorted[(q * (sorted.len() - 1) as f64).floor() as usize];
        let got = merged.quantile(q, |k| k.span_name == "work").unwrap();
        assert!(
            (got - exact).abs() <= 0.01 * exact,
            "q{q}: {got} vs {exact}"
        );
    }
    // This process alone saw none of the children's spans.
    assert_eq!(t.metrics().unwrap().count(|k| k.span_name == "work"), 0);
    let text = t.metrics_text();
    assert!(text.contains(&format!(
        "traces_total{{service_name=\"md\",span_name=\"work\",span_kind=\"internal\",status=\"unset\"}} {}",
        CHILDREN * SPANS
    )));

    // A damaged file and a torn one: skipped, counted in health, the totals unchanged.
    let child = dir.join(
        names
            .iter()
            .find(|n| !n.contains(&format!("md-{}-", std::process::id())))
            .unwrap(),
    );
    let bytes = std::fs::read(&child).unwrap();
    std::fs::write(dir.join("torn.ctm"), &bytes[..bytes.len() - 3]).unwrap();
    std::fs::write(dir.join("garbage.ctm"), [0xffu8; 64]).unwrap();
    let before = t.health().metrics_files_skipped;
    assert_eq!(t.metrics_text(), text);
    assert_eq!(t.health().metrics_files_skipped, before + 2);
    assert_eq!(t.health().metrics_dir.as_deref(), dir.to_str());

    t.shutdown(Duration::from_secs(5)).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Without `metrics_dir` nothing is written and a render is this process's alone.
#[test]
fn without_a_dir_the_metrics_are_the_process_own() {
    let t = Tracing::new(TracingConfig {
        backend: Backend::None,
        ..TracingConfig::default()
    })
    .unwrap();
    spans(&t, "solo", 0, 5);
    assert_eq!(t.merged_metrics().unwrap().count(|_| true), 5);
    assert_eq!(t.health().metrics_dir, None);
    assert_eq!(t.health().metrics_files_skipped, 0);
}
