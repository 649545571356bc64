//! OTLP/gRPC under faults, against a scripted tonic server: UNAVAILABLE is retried (with the
//! server's RetryInfo delay), RESOURCE_EXHAUSTED without RetryInfo and INVALID_ARGUMENT are not,
//! partial success is counted. Each ends with exact health counts.

// Tests unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crosstrace::{Backend, LogLevel, OtlpProtocol, Tracing, TracingConfig};

mod common;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// Spans per call, and when.
type Calls = Arc<Mutex<Vec<(usize, Instant)>>>;
/// The `x-tenant` and `api-key` metadata of each call.
type Metadata = Arc<Mutex<Vec<(Option<String>, Option<String>)>>>;
type Script = dyn Fn(usize) -> Result<ExportTraceServiceResponse, Status> + Send + Sync;

struct Scripted {
    calls: Calls,
    script: Arc<Script>,
    metadata: Metadata,
}

#[tonic::async_trait]
impl TraceService for Scripted {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let spans = request
            .get_ref()
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        let md = |k: &str| {
            (request.metadata().get(k))
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        self.metadata
            .lock()
            .unwrap()
            .push((md("x-tenant"), md("api-key")));
        let index = {
            let mut c = self.calls.lock().unwrap();
            c.push((spans, Instant::now()));
            c.len() - 1
        };
        (self.script)(index).map(Response::new)
    }
}

/// Starts the server on a runtime of its own; returns its URL and the calls it saw.
fn serve(
    script: impl Fn(usize) -> Result<ExportTraceServiceResponse, Status> + Send + Sync + 'static,
) -> (String, Calls) {
    let (url, calls, _) = serve_with_metadata(script);
    (url, calls)
}

/// [`serve`], also returning the metadata each call carried.
fn serve_with_metadata(
    script: impl Fn(usize) -> Result<ExportTraceServiceResponse, Status> + Send + Sync + 'static,
) -> (String, Calls, Metadata) {
    let calls: Calls = Arc::default();
    let metadata: Metadata = Arc::default();
    let svc = Scripted {
        calls: calls.clone(),
        script: Arc::new(script),
        metadata: metadata.clone(),
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(svc))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
                .await
                .unwrap();
        });
    });
    (format!("http://{addr}"), calls, metadata)
}

fn ok() -> Result<ExportTraceServiceResponse, Status> {
    Ok(ExportTraceServiceResponse::default())
}

fn export(url: &str, n: usize) -> crosstrace::Health {
    let t = Tracing::new(TracingConfig {
        backend: Backend::Otlp,
        endpoint: Some(url.to_owned()),
        otlp_protocol: Some(OtlpProtocol::Grpc),
        export_timeout_seconds: 10.0,
        log_level: LogLevel::Off,
        ..TracingConfig::default()
    })
    .unwrap();
    for i in 0..n {
        t.start(format!("s{i}"));
    }
    common::flush(&t, Duration::from_secs(60));
    let h = t.health();
    let c = h.counts;
    assert_eq!(
        c.spans_ended,
        c.spans_exported + c.spans_export_failed + c.spans_dropped_queue_full
    );
    h
}

#[test]
fn unavailable_is_retried_after_the_servers_delay() {
    let (url, calls) = serve(|i| {
        if i == 0 {
            let details = ErrorDetails::with_retry_info(Some(Duration::from_millis(800)));
            Err(Status::with_error_details(
                Code::Unavailable,
                "restarting",
                details,
            ))
        } else {
            ok()
        }
    });
    let h = export(&url, 4);
    assert_eq!(
        (h.counts.spans_exported, h.counts.spans_export_failed),
        (4, 0)
    );
    let calls = calls.lock().unwrap();
    assert_eq!(calls.len(), 2);
    assert!(
        calls[1].1 - calls[0].1 >= Duration::from_millis(750),
        "RetryInfo honoured"
    );
}

#[test]
fn resource_exhausted_without_retry_info_is_not_retried() {
    let (url, calls) = serve(|_| Err(Status::resource_exhausted("quota")));
    let h = export(&url, 3);
    assert_eq!(
        (h.counts.spans_exported, h.counts.spans_export_failed),
        (0, 3)
    );
    assert_eq!(calls.lock().unwrap().len(), 1);
    assert_eq!(h.last_export_error.unwrap().kind, "grpc_resourceexhausted");
}

#[test]
fn invalid_argument_is_dropped_with_the_reason() {
    let (url, calls) = serve(|_| Err(Status::invalid_argument("bad span")));
    let h = export(&url, 2);
    assert_eq!(h.counts.spans_export_failed, 2);
    assert_eq!(calls.lock().unwrap().len(), 1);
    let e = h.last_export_error.unwrap();
    assert!(e.message.contains("bad span"), "{}", e.message);
}

#[test]
fn partial_success_is_counted() {
    let (url, _) = serve(|_| {
        Ok(ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 1,
                error_message: "one span too old".into(),
            }),
        })
    });
    let h = export(&url, 5);
    assert_eq!(
        (h.counts.spans_exported, h.counts.spans_export_failed),
        (4, 1)
    );
    assert_eq!(h.last_export_error.unwrap().kind, "partial_success");
}

/// A partial success that rejects nothing is the server's warning: every span exported, the
/// message kept.
#[test]
fn a_partial_success_warning_is_kept() {
    let (url, _) = serve(|_| {
        Ok(ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 0,
                error_message: "deprecated attribute keys".into(),
            }),
        })
    });
    let h = export(&url, 3);
    assert_eq!(
        (h.counts.spans_exported, h.counts.spans_export_failed),
        (3, 0)
    );
    let e = h.last_export_error.unwrap();
    assert_eq!(e.kind, "partial_success_warning");
    assert!(
        e.message.contains("deprecated attribute keys"),
        "{}",
        e.message
    );
}

/// Configured headers travel as gRPC metadata on every call.
#[test]
fn headers_are_sent_as_metadata() {
    let (url, calls, metadata) = serve_with_metadata(|_| ok());
    let t = Tracing::new(TracingConfig {
        backend: Backend::Otlp,
        endpoint: Some(url),
        otlp_protocol: Some(OtlpProtocol::Grpc),
        headers: [("x-tenant", "retail"), ("api-key", "s3cret")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        log_level: LogLevel::Off,
        ..TracingConfig::default()
    })
    .unwrap();
    t.start("one");
    common::flush(&t, Duration::from_secs(30));
    assert_eq!(t.health().counts.spans_exported, 1);
    assert_eq!(calls.lock().unwrap().len(), 1);
    assert_eq!(
        metadata.lock().unwrap()[0],
        (Some("retail".to_owned()), Some("s3cret".to_owned()))
    );
}

/// A server that does not answer fails the batch at the export timeout, counted as a timeout.
#[test]
fn a_hanging_server_fails_the_batch_at_the_timeout() {
    let (url, calls) = serve(|_| {
        std::thread::sleep(Duration::from_secs(5));
        ok()
    });
    let t = Tracing::new(TracingConfig {
        backend: Backend::Otlp,
        endpoint: Some(url),
        otlp_protocol: Some(OtlpProtocol::Grpc),
        export_timeout_seconds: 1.0,
        log_level: LogLevel::Off,
        ..TracingConfig::default()
    })
    .unwrap();
    t.start("a");
    t.start("b");
    let t0 = Instant::now();
    common::flush(&t, Duration::from_secs(30));
    let took = t0.elapsed();
    let h = t.health();
    assert_eq!(h.counts.spans_export_failed, 2, "{h:?}");
    assert_eq!(h.last_export_error.unwrap().kind, "timeout");
    assert!(
        took < Duration::from_secs(4),
        "bounded by the timeout, took {took:?}"
    );
    assert!(!calls.lock().unwrap().is_empty(), "the server was called");
}
