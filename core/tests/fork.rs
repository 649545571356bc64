//! A process that traces and then forks: every child draws its own ids, exports its own spans
//! through a fresh export thread, never the parent's queued ones, and shuts down promptly.
//! (Its own test binary: the children are forked from this process.)

// Tests unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crosstrace::context::correlation::new_uuid_v4;
use crosstrace::{SpanData, Tracing, TracingConfig};
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

impl Collect {
    fn named(&self, name: &str) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.name == name)
            .count()
    }
}

const CHILDREN: usize = 8;
const SPANS: usize = 1_000;
const UUIDS: usize = 100;

/// One record per id a process drew: 16 bytes of trace id, 8 of span id.
fn ids(t: &Tracing, name: &'static str, n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n * 24);
    for _ in 0..n {
        let mut s = t.span(name).start();
        out.extend_from_slice(&s.span_context().trace_id().to_bytes());
        out.extend_from_slice(&s.span_context().span_id().to_bytes());
        s.end();
    }
    out
}

/// The child's work: `SPANS` spans and `UUIDS` correlation ids written to `fd`; then checks
/// that its export thread sent its spans and none of the parent's, and that shutdown is prompt.
/// Exit status 0 when all held.
fn child(t: &Tracing, c: &Collect, fd: i32) -> i32 {
    let mut pipe = unsafe { std::fs::File::from_raw_fd(fd) };
    let mut out = ids(t, "child", SPANS);
    for _ in 0..UUIDS {
        out.extend_from_slice(new_uuid_v4().as_bytes());
    }
    pipe.write_all(&out).unwrap();
    drop(pipe);
    t.force_flush(Duration::from_secs(10)).unwrap();
    let h = t.health();
    let ok_counts = h.counts.spans_ended == SPANS as u64
        && h.counts.spans_exported == SPANS as u64
        && h.counts.queue_depth == 0;
    let ok_exported = c.named("child") == SPANS && c.named("queued") == 0;
    let begin = std::time::Instant::now();
    let report = t.shutdown(Duration::from_secs(10)).unwrap();
    let ok_shutdown = report.unsent == 0 && !report.timed_out && begin.elapsed().as_secs() < 2;
    match (ok_counts, ok_exported, ok_shutdown) {
        (true, true, true) => 0,
        (false, _, _) => 2,
        (_, false, _) => 3,
        _ => 4,
    }
}

#[test]
fn forked_children_draw_their_own_ids_and_export_their_own_spans() {
    let c = Collect::default();
    let config = TracingConfig {
        // Long enough that the spans queued before the fork are still queued at the fork.
        schedule_delay_millis: 60_000,
        ..TracingConfig::default()
    };
    let t = Tracing::with_exporter(config, c.clone()).unwrap();
    let mut all = ids(&t, "parent", SPANS);
    t.force_flush(Duration::from_secs(5)).unwrap();
    // Queued, not yet exported, when the children are forked: the parent's to send.
    let _ = ids(&t, "queued", 50);

    let mut children = Vec::new();
    for _ in 0..CHILDREN {
        let mut fds = [0; 2];
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            unsafe { libc::close(fds[0]) };
            let code =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| child(&t, &c, fds[1])))
                    .unwrap_or(101);
            unsafe { libc::_exit(code) };
        }
        unsafe { libc::close(fds[1]) };
        let mut bytes = Vec::new();
        unsafe { std::fs::File::from_raw_fd(fds[0]) }
            .read_to_end(&mut bytes)
            .unwrap();
        children.push((pid, bytes));
    }
    let mut uuids = HashSet::new();
    for (pid, bytes) in &children {
        let mut status = 0;
        assert_eq!(unsafe { libc::waitpid(*pid, &mut status, 0) }, *pid);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "child {pid}: status {status:#x} (2: counts, 3: exported spans, 4: shutdown)"
        );
        assert_eq!(bytes.len(), SPANS * 24 + UUIDS * 36);
        all.extend_from_slice(&bytes[..SPANS * 24]);
        for u in bytes[SPANS * 24..].chunks(36) {
            assert!(
                uuids.insert(u.to_vec()),
                "correlation id repeated across processes"
            );
        }
    }
    all.extend(ids(&t, "parent", SPANS));

    let records: Vec<&[u8]> = all.chunks(24).collect();
    assert_eq!(records.len(), (CHILDREN + 2) * SPANS);
    let traces: HashSet<&[u8]> = records.iter().map(|r| &r[..16]).collect();
    let spans: HashSet<&[u8]> = records.iter().map(|r| &r[16..]).collect();
    assert_eq!(traces.len(), records.len(), "duplicate trace ids");
    assert_eq!(spans.len(), records.len(), "duplicate span ids");

    // The parent still exports what it queued before the forks (once: not also by a child).
    t.force_flush(Duration::from_secs(5)).unwrap();
    assert_eq!(c.named("queued"), 50);
    assert_eq!(c.named("parent"), 2 * SPANS);
    let report = t.shutdown(Duration::from_secs(5)).unwrap();
    assert_eq!(report.unsent, 0);
}

/// The export thread blocks every signal, so a process signal (SIGTERM to a worker) reaches an
/// application thread, whose handlers expect it: Python runs its handlers only on the main
/// thread, and a signal taken by the export thread left a waiting worker alive.
#[test]
fn the_export_thread_takes_no_signals() {
    let _t = Tracing::with_exporter(TracingConfig::default(), Collect::default()).unwrap();
    let mut found = 0;
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let dir = task.unwrap().path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim() != "crosstrace-expo" {
            continue;
        }
        let status = std::fs::read_to_string(dir.join("status")).unwrap();
        let blocked = status
            .lines()
            .find_map(|l| l.strip_prefix("SigBlk:"))
            .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
            .unwrap();
        // SIGTERM (15), SIGINT (2), SIGHUP (1), SIGUSR1 (10) among them.
        for sig in [1, 2, 10, 15] {
            assert_ne!(
                blocked & (1 << (sig - 1)),
                0,
                "signal {sig} not blocked: {blocked:#x}"
            );
        }
        found += 1;
    }
    assert!(found >= 1, "an export thread is running");
}
