//! Export under faults, against a scripted local OTLP/HTTP endpoint: throttling with
//! Retry-After, a rejecting server, one that hangs, one that closes connections, 413, partial
//! success, a backend that is down at start and comes back, and a long outage. Each ends with
//! exact health counts: every ended span is exported, dropped or failed — once.

// Tests unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crosstrace::{Backend, OtlpProtocol, Tracing, TracingConfig};

mod common;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;

enum Reply {
    Status(u16, &'static [(&'static str, &'static str)], Vec<u8>),
    Hang(Duration),
    /// 200, after a while.
    Slow(Duration),
    Close,
}

/// What the server saw: spans per request, and when.
#[derive(Default)]
struct Log {
    requests: Vec<(usize, Instant)>,
    /// Lowercased request heads.
    heads: Vec<String>,
}

type Behaviour = dyn Fn(usize, usize) -> Reply + Send + Sync;

struct Server {
    url: String,
    log: Arc<Mutex<Log>>,
}

impl Server {
    fn requests(&self) -> Vec<usize> {
        self.log
            .lock()
            .unwrap()
            .requests
            .iter()
            .map(|r| r.0)
            .collect()
    }
}

fn serve_on(listener: TcpListener, behaviour: Arc<Behaviour>) -> Server {
    let url = format!(
        "http://127.0.0.1:{}/v1/traces",
        listener.local_addr().unwrap().port()
    );
    let log: Arc<Mutex<Log>> = Arc::default();
    let l = log.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let (l, b) = (l.clone(), behaviour.clone());
            std::thread::spawn(move || handle(conn, &l, &*b));
        }
    });
    Server { url, log }
}

fn serve(behaviour: impl Fn(usize, usize) -> Reply + Send + Sync + 'static) -> Server {
    serve_on(
        TcpListener::bind("127.0.0.1:0").unwrap(),
        Arc::new(behaviour),
    )
}

fn handle(conn: TcpStream, log: &Mutex<Log>, behaviour: &Behaviour) {
    let mut w = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    loop {
        let mut len = 0;
        let mut line = String::new();
        let mut head = String::new();
        loop {
            line.clear();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            head.push_str(&line.to_ascii_lowercase());
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        if head.contains("content-encoding: gzip") {
            let mut plain = Vec::new();
            flate2::read::GzDecoder::new(&body[..])
                .read_to_end(&mut plain)
                .unwrap();
            body = plain;
        }
        let spans: usize = ExportTraceServiceRequest::decode(&body[..])
            .map(|req| {
                req.resource_spans
                    .iter()
                    .flat_map(|r| &r.scope_spans)
                    .map(|s| s.spans.len())
                    .sum()
            })
            .unwrap_or(0);
        let index = {
            let mut l = log.lock().unwrap();
            l.requests.push((spans, Instant::now()));
            l.heads.push(head);
            l.requests.len() - 1
        };
        match behaviour(index, spans) {
            Reply::Status(code, headers, body) => {
                let mut head = format!(
                    "HTTP/1.1 {code} X\r\ncontent-type: application/x-protobuf\r\ncontent-length: {}\r\n",
                    body.len()
                );
                for (k, v) in headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                if w.write_all(head.as_bytes()).is_err() || w.write_all(&body).is_err() {
                    return;
                }
            }
            Reply::Hang(d) => {
                std::thread::sleep(d);
                return;
            }
            Reply::Slow(d) => {
                std::thread::sleep(d);
                let head = "HTTP/1.1 200 X\r\ncontent-length: 0\r\n\r\n";
                if w.write_all(head.as_bytes()).is_err() {
                    return;
                }
            }
            Reply::Close => return,
        }
    }
}

fn ok() -> Reply {
    Reply::Status(200, &[], Vec::new())
}

fn tracing_to(url: &str, timeout_s: f64) -> Tracing {
    Tracing::new(TracingConfig {
        export_timeout_seconds: timeout_s,
        ..config_to(url)
    })
    .unwrap()
}

/// OTLP/HTTP protobuf to `url`, exporting only when flushed (or at batch size), quietly.
fn config_to(url: &str) -> TracingConfig {
    TracingConfig {
        backend: Backend::Otlp,
        endpoint: Some(url.to_owned()),
        otlp_protocol: Some(OtlpProtocol::HttpProtobuf),
        schedule_delay_millis: 60_000,
        log_level: crosstrace::LogLevel::Off,
        ..TracingConfig::default()
    }
}

/// An OTLP answer of partial success: `rejected` spans refused, with `message`.
fn partial_success(rejected: i64, message: &str) -> Reply {
    let body = ExportTraceServiceResponse {
        partial_success: Some(ExportTracePartialSuccess {
            rejected_spans: rejected,
            error_message: message.into(),
        }),
    }
    .encode_to_vec();
    Reply::Status(200, &[], body)
}

/// Ends `n` spans and flushes them (the flush agreeing with health).
fn spans(t: &Tracing, n: usize) {
    for i in 0..n {
        t.start(format!("s{i}"));
    }
    common::flush(t, Duration::from_secs(60));
}

/// ended = exported + dropped + failed, and nothing left in the queue.
fn assert_accounted(t: &Tracing) -> crosstrace::health::SpanCounts {
    let c = t.health().counts;
    assert_eq!(c.queue_depth, 0);
    assert_eq!(
        c.spans_ended,
        c.spans_exported + c.spans_dropped_queue_full + c.spans_export_failed,
        "{c:?}"
    );
    c
}

#[test]
fn throttled_with_retry_after_then_accepted() {
    let s = serve(|i, _| {
        if i == 0 {
            Reply::Status(503, &[("retry-after", "1")], b"busy".to_vec())
        } else {
            ok()
        }
    });
    let t = tracing_to(&s.url, 10.0);
    spans(&t, 5);
    let c = assert_accounted(&t);
    assert_eq!((c.spans_exported, c.spans_export_failed), (5, 0));
    let log = s.log.lock().unwrap();
    assert_eq!(log.requests.len(), 2, "one retry");
    let gap = log.requests[1].1 - log.requests[0].1;
    assert!(
        gap >= Duration::from_millis(950),
        "Retry-After honoured: {gap:?}"
    );
}

#[test]
fn a_rejecting_server_drops_the_batch_with_the_reason_and_no_retry() {
    let s = serve(|_, _| Reply::Status(400, &[], b"bad payload".to_vec()));
    let t = tracing_to(&s.url, 10.0);
    spans(&t, 5);
    let c = assert_accounted(&t);
    assert_eq!((c.spans_exported, c.spans_export_failed), (0, 5));
    assert_eq!(s.requests().len(), 1, "400 is not retried");
    let e = t.health().last_export_error.unwrap();
    assert_eq!(e.kind, "http_400");
    assert!(e.message.contains("bad payload"), "{}", e.message);
}

/// A flush waiting behind a hung export when shutdown gives up on the queue is answered as the
/// worker lets the queue go (the tracing was shut down), not left to wait out its own timeout.
#[test]
fn a_flush_waiting_when_shutdown_gives_up_is_answered() {
    let s = serve(|_, _| Reply::Hang(Duration::from_secs(20)));
    let t = tracing_to(&s.url, 1.0);
    t.start("in-flight");
    let first = {
        let t = t.clone();
        std::thread::spawn(move || t.force_flush(Duration::from_secs(30)))
    };
    // The export thread is now stuck on "in-flight"; the second flush waits for the next round.
    std::thread::sleep(Duration::from_millis(200));
    t.start("queued");
    let second = {
        let t = t.clone();
        std::thread::spawn(move || {
            let t0 = Instant::now();
            (t.force_flush(Duration::from_secs(30)), t0.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    let report = t.shutdown(Duration::from_millis(100)).unwrap();
    assert!(report.timed_out, "{report:?}");
    let (flushed, took) = second.join().unwrap();
    assert!(
        matches!(flushed, Err(crosstrace::Error::AlreadyShutdown)),
        "{flushed:?}"
    );
    assert!(took < Duration::from_secs(10), "answered after {took:?}");
    assert!(first.join().unwrap().is_err());
    let c = t.health().counts;
    assert_eq!((c.spans_exported, c.spans_export_failed), (0, 2), "{c:?}");
}

#[test]
fn a_hanging_server_fails_the_batch_at_the_deadline() {
    let s = serve(|_, _| Reply::Hang(Duration::from_secs(20)));
    let t = tracing_to(&s.url, 1.0);
    spans(&t, 3);
    let c = assert_accounted(&t);
    assert_eq!((c.spans_exported, c.spans_export_failed), (0, 3));
    assert_eq!(t.health().last_export_error.unwrap().kind, "timeout");
}

/// A backend that accepts connections and answers nothing for 5 s (every request that arrives
/// then hangs for good), then answers again: each attempt is abandoned after the attempt
/// timeout and retried on a fresh connection, so export resumes within one attempt timeout
/// (plus backoff) of the backend's return, and within the batch deadline nothing is lost.
#[test]
fn a_backend_that_hangs_for_a_while_costs_one_attempt_timeout() {
    let hang_until: Arc<Mutex<Option<Instant>>> = Arc::default();
    let h = hang_until.clone();
    let s = serve(move |_, _| match *h.lock().unwrap() {
        Some(until) if Instant::now() < until => Reply::Hang(Duration::from_secs(60)),
        _ => ok(),
    });
    let attempt = Duration::from_secs(1);
    let t = Tracing::new(TracingConfig {
        backend: Backend::Otlp,
        endpoint: Some(s.url.clone()),
        otlp_protocol: Some(OtlpProtocol::HttpProtobuf),
        export_timeout_seconds: 30.0,
        export_attempt_timeout_seconds: attempt.as_secs_f64(),
        schedule_delay_millis: 50,
        log_level: crosstrace::LogLevel::Off,
        ..TracingConfig::default()
    })
    .unwrap();
    spans(&t, 10);
    let until = Instant::now() + Duration::from_secs(5);
    *hang_until.lock().unwrap() = Some(until);
    // Spans keep ending through the hang and after it.
    let mut i = 0;
    while Instant::now() < until + Duration::from_secs(2) {
        t.start(format!("during {i}"));
        i += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    t.force_flush(Duration::from_secs(60)).unwrap();
    let c = assert_accounted(&t);
    assert_eq!(
        (
            c.spans_exported,
            c.spans_dropped_queue_full,
            c.spans_export_failed
        ),
        (c.spans_ended, 0, 0),
        "every span arrives: {c:?}"
    );
    let log = s.log.lock().unwrap();
    let first_after = log
        .requests
        .iter()
        .map(|r| r.1)
        .find(|at| *at >= until)
        .expect("a request after the hang");
    let resumed = first_after - until;
    // The last attempt that starts before the backend returns hangs for one attempt timeout,
    // and the retry after it waits its backoff. At most five attempts start within the 5 s
    // hang (each costs the 1 s timeout and a backoff of 100 ms, doubling, -50% at least), so
    // that backoff is at most 1.6 s + 50% jitter = 2.4 s; 0.5 s more for the scheduler. (The
    // bound was attempt + 1.5 s: a run where the fifth attempt started just before the
    // backend returned resumed 2.68 s after it, as designed.)
    let bound = attempt + Duration::from_millis(2_400) + Duration::from_millis(500);
    assert!(
        resumed <= bound,
        "export resumed {resumed:?} after the backend did (at most {bound:?})"
    );
    let hung = log.requests.iter().filter(|r| r.1 < until).count();
    assert!(hung >= 3, "attempts abandoned and retried: {hung} requests");
}

#[test]
fn a_server_that_closes_connections_is_retried_then_failed() {
    let s = serve(|_, _| Reply::Close);
    let t = tracing_to(&s.url, 1.5);
    spans(&t, 4);
    let c = assert_accounted(&t);
    assert_eq!((c.spans_exported, c.spans_export_failed), (0, 4));
    assert!(s.requests().len() >= 2, "retried: {:?}", s.requests());
    assert_eq!(t.health().last_export_error.unwrap().kind, "connection");
}

#[test]
fn too_large_splits_the_batch_until_it_fits() {
    let s = serve(|_, spans| {
        if spans > 2 {
            Reply::Status(413, &[], Vec::new())
        } else {
            ok()
        }
    });
    let t = tracing_to(&s.url, 10.0);
    spans(&t, 8);
    let c = assert_accounted(&t);
    assert_eq!((c.spans_exported, c.spans_export_failed), (8, 0));
    let accepted: usize = s.requests().iter().filter(|n| **n <= 2).sum();
    assert_eq!(
        accepted, 8,
        "each span sent in exactly one accepted request"
    );
}

/// After a 413, the halves share the batch's deadline: a slow first half leaves the second
/// only what is left, and the batch's outcome is each half's (not the batch processor's safety
/// net failing every span, the accepted half included).
#[test]
fn the_halves_of_a_split_batch_share_its_deadline() {
    let s = serve(move |i, spans| match (i, spans) {
        (_, 3..) => Reply::Status(413, &[], Vec::new()),
        // The first half: accepted after 2 s of the 4 s deadline.
        (1, _) => Reply::Slow(Duration::from_secs(2)),
        // The second: no answer. With a deadline of its own it would wait 4 s, to 6 s, past the
        // batch processor's net (the export timeout + 1 s), which fails every span of the batch.
        _ => Reply::Hang(Duration::from_secs(8)),
    });
    let t = tracing_to(&s.url, 4.0);
    spans(&t, 4);
    let c = assert_accounted(&t);
    assert_eq!((c.spans_exported, c.spans_export_failed), (2, 2), "{c:?}");
    assert_eq!(t.health().last_export_error.unwrap().kind, "timeout");
}

/// A redirect is not followed: it would turn the POST into a GET without the spans (301, 302).
/// The batch fails with the answer, which says where the endpoint moved.
#[test]
fn a_redirect_drops_the_batch_and_sends_no_get() {
    let s = serve(|_, _| {
        Reply::Status(
            301,
            &[("location", "https://collector.example/v1/traces")],
            Vec::new(),
        )
    });
    let t = tracing_to(&s.url, 5.0);
    spans(&t, 3);
    let c = assert_accounted(&t);
    assert_eq!((c.spans_exported, c.spans_export_failed), (0, 3));
    assert_eq!(s.requests(), vec![3], "one POST, no GET after it");
    let e = t.health().last_export_error.unwrap();
    assert_eq!(e.kind, "http_301");
    assert!(
        e.message.contains("https://collector.example/v1/traces"),
        "{}",
        e.message
    );
}

/// `Retry-After: 0` from an overloaded backend does not make the retries back to back.
#[test]
fn retry_after_zero_still_backs_off() {
    let s = serve(|_, _| Reply::Status(429, &[("retry-after", "0")], Vec::new()));
    let t = tracing_to(&s.url, 1.0);
    spans(&t, 2);
    let c = assert_accounted(&t);
    assert_eq!(c.spans_export_failed, 2);
    let n = s.requests().len();
    assert!((2..=8).contains(&n), "{n} requests in one second");
}

#[test]
fn partial_success_counts_the_rejected_spans() {
    let s = serve(|_, _| partial_success(2, "2 spans had invalid attributes"));
    let t = tracing_to(&s.url, 10.0);
    spans(&t, 5);
    let c = assert_accounted(&t);
    assert_eq!((c.spans_exported, c.spans_export_failed), (3, 2));
    let e = t.health().last_export_error.unwrap();
    assert_eq!(e.kind, "partial_success");
    assert!(e.message.contains("invalid attributes"));
}

/// A flush that lost spans names the error that lost them, not a later warning that lost none
/// (health's last error is that warning).
#[test]
fn a_flush_names_the_error_that_lost_its_spans() {
    let s = serve(|i, _| match i {
        0 => Reply::Status(400, &[], b"bad payload".to_vec()),
        _ => partial_success(0, "an attribute was renamed"),
    });
    let t = Tracing::new(TracingConfig {
        export_max_batch_size: 1,
        ..config_to(&s.url)
    })
    .unwrap();
    t.start("refused");
    t.start("accepted");
    let m = match t.force_flush(Duration::from_secs(30)) {
        Err(crosstrace::Error::Export(m)) => m,
        other => panic!("{other:?}"),
    };
    assert!(m.starts_with("1 span could not be exported"), "{m}");
    assert!(m.contains("http_400") && m.contains("bad payload"), "{m}");
    assert!(!m.contains("renamed"), "{m}");
    let last = t.health().last_export_error.unwrap();
    assert!(last.message.contains("renamed"), "{last:?}");
}

#[test]
fn a_backend_down_at_start_that_comes_back_gets_the_later_spans() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener); // nothing listens yet
    let url = format!("http://{addr}/v1/traces");
    let t = tracing_to(&url, 1.0);
    spans(&t, 3);
    assert_eq!(t.health().counts.spans_export_failed, 3);
    let _s = serve_on(TcpListener::bind(addr).unwrap(), Arc::new(|_, _| ok()));
    spans(&t, 4);
    let c = assert_accounted(&t);
    assert_eq!((c.spans_exported, c.spans_export_failed), (4, 3));
}

#[test]
fn an_outage_keeps_memory_bounded_by_the_queue() {
    let s = serve(|_, _| Reply::Hang(Duration::from_secs(20)));
    let t = Tracing::new(TracingConfig {
        backend: Backend::Otlp,
        endpoint: Some(s.url.clone()),
        otlp_protocol: Some(OtlpProtocol::HttpProtobuf),
        export_timeout_seconds: 2.0,
        max_queue_size: 100,
        export_max_batch_size: 50,
        log_level: crosstrace::LogLevel::Off,
        ..TracingConfig::default()
    })
    .unwrap();
    // Were ending a span to wait for the hung backend, this loop would never finish.
    for i in 0..5_000 {
        t.start(format!("s{i}"));
        // The queue (100) plus what the export thread took from it (at most a queue's worth).
        assert!(t.health().counts.queue_depth <= 200, "bounded by the queue");
    }
    // The spans the export thread took fail while the flush waits; the queue's drops are not
    // the flush's (counted apart, as spans_dropped_queue_full).
    assert!(common::flush(&t, Duration::from_secs(60)) > 0);
    let c = assert_accounted(&t);
    assert_eq!(c.spans_exported, 0);
    assert!(c.spans_dropped_queue_full >= 4_800, "{c:?}");
}

#[test]
fn custom_headers_and_gzip_are_sent() {
    let s = serve(|_, _| ok());
    let t = Tracing::new(TracingConfig {
        backend: Backend::Otlp,
        endpoint: Some(s.url.clone()),
        otlp_protocol: Some(OtlpProtocol::HttpProtobuf),
        compression: crosstrace::Compression::Gzip,
        headers: [("x-api-key".to_owned(), "secret".to_owned())].into(),
        schedule_delay_millis: 60_000,
        ..TracingConfig::default()
    })
    .unwrap();
    spans(&t, 3);
    assert_eq!(assert_accounted(&t).spans_exported, 3);
    assert_eq!(s.requests(), [3], "the gzipped body decodes to the 3 spans");
    let head = s.log.lock().unwrap().heads[0].clone();
    assert!(head.contains("x-api-key: secret"), "{head}");
    assert!(head.contains("content-encoding: gzip"), "{head}");
    assert!(
        head.contains("content-type: application/x-protobuf"),
        "{head}"
    );
}
