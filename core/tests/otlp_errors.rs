//! OTLP export errors are never silent: a backend that is not there is counted in health, with
//! the error kept and classified.

// Tests unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use crosstrace::{Backend, OtlpProtocol, Tracing, TracingConfig};

mod common;

fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn export_to_nowhere(protocol: OtlpProtocol, url: String) {
    let t = Tracing::new(TracingConfig {
        backend: Backend::Otlp,
        endpoint: Some(url),
        otlp_protocol: Some(protocol),
        export_timeout_seconds: 5.0,
        ..TracingConfig::default()
    })
    .unwrap();
    for _ in 0..3 {
        t.start("lost");
    }
    assert_eq!(common::flush(&t, Duration::from_secs(30)), 3);
    let h = t.health();
    assert_eq!(h.counts.spans_ended, 3);
    assert_eq!(h.counts.spans_export_failed, 3, "{}", h.to_json());
    assert_eq!(h.counts.spans_exported, 0);
    let e = h.last_export_error.expect("the error is kept");
    assert_eq!(e.kind, "connection", "{e:?}");
    assert!(e.unix_ms > 0);
}

#[test]
fn grpc_to_a_closed_port_is_counted() {
    export_to_nowhere(
        OtlpProtocol::Grpc,
        format!("http://127.0.0.1:{}", closed_port()),
    );
}

#[test]
fn http_to_a_closed_port_is_counted() {
    export_to_nowhere(
        OtlpProtocol::HttpProtobuf,
        format!("http://127.0.0.1:{}/v1/traces", closed_port()),
    );
}
