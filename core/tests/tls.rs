//! https export with rustls and the system's roots (no OpenSSL in the process): a server whose
//! certificate no trusted root signed is refused with a clear error; once its CA is trusted
//! (SSL_CERT_FILE, as the system's store would), spans go through. The certificate is made by
//! the openssl command-line tool, which `make test` installs. The handshake agrees on the
//! post-quantum key exchange, and crosstrace leaves the process-wide crypto provider to the
//! program.

// Tests unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crosstrace::{Backend, LogLevel, OtlpProtocol, Tracing, TracingConfig};

mod common;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

fn openssl(dir: &Path, args: &[&str]) {
    let ok = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("the openssl command-line tool is needed (make test installs it)")
        .success();
    assert!(ok, "openssl {args:?}");
}

/// A test CA and a `localhost` certificate it signed: (ca.pem, cert.pem, key.pem).
fn make_certs(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let days = ["-days", "2"];
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            "/CN=crosstrace-test-ca",
            days[0],
            days[1],
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "cert.pem",
            "-extfile",
            "leaf.ext",
            days[0],
            days[1],
        ],
    );
    (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    )
}

/// The key exchange groups the test server's handshakes agreed on.
type Groups = Arc<Mutex<Vec<rustls::NamedGroup>>>;

/// An HTTPS endpoint that answers 200 to every request (its own crypto provider: none is
/// installed process-wide).
fn https_server(cert: &Path, key: &Path, groups: Groups) -> u16 {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let (config, groups) = (config.clone(), groups.clone());
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                loop {
                    let mut reader = BufReader::new(&mut tls);
                    let mut len = 0;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return; // handshake refused or connection closed
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some(g) = reader.get_ref().conn.negotiated_key_exchange_group() {
                            let mut seen = groups.lock().unwrap();
                            if seen.last() != Some(&g.name()) {
                                seen.push(g.name());
                            }
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; len];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
                    if tls.write_all(reply).is_err() || tls.flush().is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

fn export_to(port: u16) -> crosstrace::Health {
    let t = Tracing::new(TracingConfig {
        backend: Backend::Otlp,
        endpoint: Some(format!("https://localhost:{port}/v1/traces")),
        otlp_protocol: Some(OtlpProtocol::HttpProtobuf),
        export_timeout_seconds: 1.0,
        log_level: LogLevel::Off,
        ..TracingConfig::default()
    })
    .unwrap();
    for _ in 0..3 {
        t.start("over-tls");
    }
    common::flush(&t, Duration::from_secs(30));
    t.health()
}

#[test]
fn https_uses_the_system_roots() {
    let dir = std::env::temp_dir().join(format!("crosstrace-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ca, cert, key) = make_certs(&dir);
    let groups = Groups::default();
    let port = https_server(&cert, &key, groups.clone());

    let refused = export_to(port);
    assert_eq!(refused.counts.spans_export_failed, 3);
    let e = refused.last_export_error.unwrap();
    assert!(
        e.message.to_ascii_lowercase().contains("certificate"),
        "the error says why: {}",
        e.message
    );

    // Trusting the CA, as adding it to the system's store would.
    std::env::set_var("SSL_CERT_FILE", &ca);
    let trusted = export_to(port);
    assert_eq!(trusted.counts.spans_exported, 3, "{}", trusted.to_json());
    // ML-KEM hybrid key exchange (the client prefers it; the server supports it).
    assert_eq!(
        *groups.lock().unwrap(),
        [rustls::NamedGroup::X25519MLKEM768],
        "the key exchange the handshakes agreed on"
    );
    // A library does not choose the program's crypto provider: installing one is still open.
    assert!(rustls::crypto::CryptoProvider::get_default().is_none());
    std::fs::remove_dir_all(&dir).ok();
}
