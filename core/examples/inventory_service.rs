//! The retail pipeline's inventory/reporting service: a small HTTP/1.1 server on the standard
//! library, traced with crosstrace. The ETL job calls it; it continues the caller's trace,
//! baggage and correlation id from the request headers.
//!
//! - `POST /reserve` `{"sku": "...", "qty": n}` → reserves stock, `{"sku", "reserved", "left"}`
//! - `GET /report` → stock levels
//! - `POST /shutdown` → flushes spans, answers, exits (how the demo stops it)
//!
//! `INVENTORY_PORT` (default 0: any free port) and the `OTEL_*` variables configure it; it prints
//! `listening on http://127.0.0.1:PORT` once ready.
//!
//! `cargo run -p crosstrace --example inventory_service`

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crosstrace::{KeyValue, Span, SpanKind, Status, Tracing};

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

fn read_request(stream: &mut TcpStream) -> std::io::Result<Option<Request>> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return Ok(None);
    };
    let (method, path) = (method.to_owned(), path.to_owned());
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let len = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0)
        .min(1 << 20);
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    Ok(Some(Request {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }))
}

fn respond(stream: &mut TcpStream, status: u16, body: &str) {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        _ => "Conflict",
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.flush();
}

type Stock = Arc<Mutex<BTreeMap<String, i64>>>;

fn reserve(t: &Tracing, stock: &Stock, body: &str, server: &mut Span) -> (u16, String) {
    let parsed: serde_json::Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(e) => {
            server.record_error(&e);
            return (400, format!("{{\"error\":\"body: {e}\"}}"));
        }
    };
    let (Some(sku), Some(qty)) = (parsed["sku"].as_str(), parsed["qty"].as_i64()) else {
        server.set_status(Status::error(
            "expected {\"sku\": string, \"qty\": integer}",
        ));
        return (400, "{\"error\":\"expected sku and qty\"}".into());
    };
    let mut span = t
        .span("inventory.reserve")
        .attributes([
            KeyValue::new("inventory.sku", sku.to_owned()),
            KeyValue::new("inventory.qty", qty),
        ])
        .start();
    let mut levels = stock.lock().unwrap_or_else(|e| e.into_inner());
    let left = levels.entry(sku.to_owned()).or_insert(1_000);
    let reserved = if *left < qty {
        span.set_status(Status::error("insufficient stock"));
        server.set_status(Status::error("HTTP 409"));
        0
    } else {
        *left -= qty;
        span.set_attribute(KeyValue::new("inventory.left", *left));
        span.set_status(Status::Ok);
        qty
    };
    let body = serde_json::json!({"sku": sku, "reserved": reserved, "left": *left}).to_string();
    (if reserved == 0 && qty > 0 { 409 } else { 200 }, body)
}

fn main() {
    let t = match crosstrace::init(match crosstrace::TracingConfig::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("inventory_service: {e}");
            std::process::exit(2);
        }
    }) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("inventory_service: {e}");
            std::process::exit(2);
        }
    };
    let port: u16 = std::env::var("INVENTORY_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let listener = match TcpListener::bind(("127.0.0.1", port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("inventory_service: cannot listen on 127.0.0.1:{port}: {e}");
            std::process::exit(2);
        }
    };
    let addr = listener.local_addr().map(|a| a.port()).unwrap_or(port);
    println!("listening on http://127.0.0.1:{addr}");
    let _ = std::io::stdout().flush();
    let stock: Stock = Arc::default();

    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let Ok(Some(req)) = read_request(&mut stream) else {
            continue;
        };
        if req.method == "POST" && req.path == "/shutdown" {
            let report = t.shutdown(Duration::from_secs(10));
            respond(&mut stream, 200, "{\"stopping\":true}");
            if let Ok(r) = report {
                if r.unsent > 0 {
                    eprintln!("inventory_service: {} spans could not be sent", r.unsent);
                }
            }
            return;
        }
        // The caller's trace, baggage and correlation id.
        let cx = t.extract(&req.headers);
        let path = req.path.split('?').next().unwrap_or("/").to_owned();
        // Only known routes name spans (and metric series); anything else is just the method.
        let route = ["/reserve", "/report"]
            .contains(&path.as_str())
            .then_some(path.as_str());
        let mut server = t
            .span(match route {
                Some(r) => format!("{} {r}", req.method),
                None => req.method.clone(),
            })
            .kind(SpanKind::Server)
            .parent_context(&cx)
            .attributes([
                KeyValue::new("http.request.method", req.method.clone()),
                KeyValue::new("url.path", path.clone()),
            ])
            .start();
        if let Some(r) = route {
            server.set_attribute(KeyValue::new("http.route", r.to_owned()));
        }
        let (status, body) = {
            let _guard = server.attach();
            match (req.method.as_str(), path.as_str()) {
                ("POST", "/reserve") => reserve(&t, &stock, &req.body, &mut server),
                ("GET", "/report") => {
                    let levels = stock.lock().unwrap_or_else(|e| e.into_inner());
                    (200, serde_json::to_string(&*levels).unwrap_or_default())
                }
                _ => (404, "{\"error\":\"not found\"}".into()),
            }
        };
        server.set_attribute(KeyValue::new(
            "http.response.status_code",
            i64::from(status),
        ));
        server.end();
        respond(&mut stream, status, &body);
    }
}
