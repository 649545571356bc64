//! The console backend: one indented tree per local trace on stderr, printed when the trace's
//! local root span ends. The same rendering, without times and ids, is the golden span-tree
//! format tests compare across languages.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write;
use std::sync::{Arc, Mutex};

use opentelemetry::trace::{SpanId, SpanKind, Status, TraceId};
use opentelemetry::{Array, Value};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use opentelemetry_sdk::Resource;

/// Spans held while waiting for their local root; past this, trees print incomplete.
const MAX_BUFFERED: usize = 10_000;

/// How a tree is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TreeStyle {
    /// For people: ids, durations, status, attributes.
    Timed,
    /// For tests: names, kinds, status and sorted attributes, nothing that changes between
    /// runs (no ids, times, or correlation ids).
    Golden,
}

type Sink = Arc<Mutex<dyn Write + Send>>;

/// Writes finished traces as trees.
pub struct ConsoleExporter {
    sink: Sink,
    service: String,
    pending: Mutex<HashMap<TraceId, Vec<SpanData>>>,
}

impl std::fmt::Debug for ConsoleExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleExporter")
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl ConsoleExporter {
    /// To stderr.
    pub fn stderr() -> Self {
        Self::to_writer(Arc::new(Mutex::new(std::io::stderr())))
    }

    /// To any writer (tests capture into a `Vec<u8>`).
    pub fn to_writer(sink: Sink) -> Self {
        ConsoleExporter {
            sink,
            service: String::new(),
            pending: Mutex::new(HashMap::new()),
        }
    }

    fn write(&self, text: &str) {
        let mut w = self.sink.lock().unwrap_or_else(|e| e.into_inner());
        let _ = w.write_all(text.as_bytes());
        let _ = w.flush();
    }

    fn print_complete(&self, batch: Vec<SpanData>) {
        let mut ready: Vec<Vec<SpanData>> = Vec::new();
        {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            for span in batch {
                let is_local_root =
                    span.parent_span_id == SpanId::INVALID || span.parent_span_is_remote;
                let trace = span.span_context.trace_id();
                let entry = pending.entry(trace).or_default();
                entry.push(span);
                if is_local_root {
                    if let Some(spans) = pending.remove(&trace) {
                        ready.push(spans);
                    }
                }
            }
            if pending.values().map(Vec::len).sum::<usize>() > MAX_BUFFERED {
                ready.extend(pending.drain().map(|(_, v)| v));
            }
        }
        for spans in ready {
            let mut text = render_tree(&spans, TreeStyle::Timed);
            if !self.service.is_empty() {
                text = format!("[{}] {text}", self.service);
            }
            self.write(&text);
        }
    }
}

impl SpanExporter for ConsoleExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.print_complete(batch);
        Ok(())
    }

    fn shutdown(&self) -> OTelSdkResult {
        let rest: Vec<Vec<SpanData>> = self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .map(|(_, v)| v)
            .collect();
        for spans in rest {
            self.write(&render_tree(&spans, TreeStyle::Timed));
        }
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        if let Some(v) = resource.get(&opentelemetry::Key::from_static_str("service.name")) {
            self.service = v.to_string();
        }
    }
}

fn kind_name(kind: &SpanKind) -> &'static str {
    match kind {
        SpanKind::Internal => "internal",
        SpanKind::Server => "server",
        SpanKind::Client => "client",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
    }
}

fn status_text(status: &Status) -> String {
    match status {
        Status::Unset => "unset".into(),
        Status::Ok => "ok".into(),
        Status::Error { description } if description.is_empty() => "error".into(),
        Status::Error { description } => format!("error: {description}"),
    }
}

/// A value as the trees show it: strings quoted and escaped, the rest as `Display` writes them
/// (numbers through [`crate::platform::float_display`]: no float printing on wasm32).
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{:?}", s.as_str()),
        Value::Bool(b) => b.to_string(),
        Value::I64(i) => i.to_string(),
        Value::F64(f) => crate::platform::float_display(*f),
        Value::Array(a) => {
            let items: Vec<String> = match a {
                Array::Bool(v) => v.iter().map(bool::to_string).collect(),
                Array::I64(v) => v.iter().map(i64::to_string).collect(),
                Array::F64(v) => v
                    .iter()
                    .map(|f| crate::platform::float_display(*f))
                    .collect(),
                Array::String(v) => v.iter().map(|s| format!("\"{s}\"")).collect(),
                _ => Vec::new(),
            };
            format!("[{}]", items.join(","))
        }
        _ => String::new(),
    }
}

/// Renders spans as one indented tree per trace (children in start order). Spans whose parent
/// is not among `spans` are roots.
pub fn render_tree(spans: &[SpanData], style: TreeStyle) -> String {
    let mut traces: Vec<TraceId> = Vec::new();
    for s in spans {
        let t = s.span_context.trace_id();
        if !traces.contains(&t) {
            traces.push(t);
        }
    }
    let mut out = String::new();
    for trace in traces {
        let in_trace: Vec<&SpanData> = spans
            .iter()
            .filter(|s| s.span_context.trace_id() == trace)
            .collect();
        let ids: Vec<SpanId> = in_trace.iter().map(|s| s.span_context.span_id()).collect();
        let mut roots: Vec<&SpanData> = in_trace
            .iter()
            .copied()
            .filter(|s| !ids.contains(&s.parent_span_id))
            .collect();
        crate::sort::sort_by(&mut roots, |a, b| {
            (a.start_time, &a.name).cmp(&(b.start_time, &b.name))
        });
        match style {
            TreeStyle::Timed => {
                let _ = writeln!(out, "trace {trace}");
            }
            TreeStyle::Golden => out.push_str("trace\n"),
        }
        for root in roots {
            render_node(&mut out, root, None, &in_trace, 1, style);
        }
    }
    out
}

/// Correlation attributes repeat on every span of a job; the timed tree shows them where they
/// change, not on every line.
fn inherited(kv: &opentelemetry::KeyValue, parent: Option<&SpanData>) -> bool {
    let key = kv.key.as_str();
    (key.starts_with("correlation.") || key == "user.id")
        && parent.is_some_and(|p| p.attributes.iter().any(|pk| pk == kv))
}

fn render_node(
    out: &mut String,
    span: &SpanData,
    parent: Option<&SpanData>,
    all: &[&SpanData],
    depth: usize,
    style: TreeStyle,
) {
    let indent = "  ".repeat(depth);
    let mut attrs: Vec<(String, String)> = span
        .attributes
        .iter()
        .filter(|kv| match style {
            TreeStyle::Timed => !inherited(kv, parent),
            TreeStyle::Golden => kv.key.as_str() != "correlation.id",
        })
        .map(|kv| (kv.key.to_string(), value_text(&kv.value)))
        .collect();
    if style == TreeStyle::Golden {
        crate::sort::sort(&mut attrs);
    }
    let attrs: Vec<String> = attrs.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    match style {
        TreeStyle::Timed => {
            let micros = span
                .end_time
                .duration_since(span.start_time)
                .map(|d| d.as_micros() as u64)
                .unwrap_or(0);
            let _ = write!(
                out,
                "{indent}{} [{}] {}.{:03} ms {} span={}",
                span.name,
                kind_name(&span.span_kind),
                micros / 1000,
                micros % 1000,
                status_text(&span.status),
                span.span_context.span_id(),
            );
            // A local root under a remote parent names it, so trees printed by different
            // processes can be joined into one (the retail pipeline's demo does).
            if parent.is_none() && span.parent_span_id != SpanId::INVALID {
                let _ = write!(out, " parent={}", span.parent_span_id);
            }
        }
        TreeStyle::Golden => {
            let _ = write!(
                out,
                "{indent}{} [{}] {}",
                span.name,
                kind_name(&span.span_kind),
                status_text(&span.status)
            );
        }
    }
    if !attrs.is_empty() {
        let _ = write!(out, " {{{}}}", attrs.join(", "));
    }
    out.push('\n');
    for e in &span.events.events {
        let ea: Vec<String> = e
            .attributes
            .iter()
            .filter(|kv| style == TreeStyle::Timed || kv.key.as_str() != "exception.stacktrace")
            .map(|kv| format!("{}={}", kv.key, value_text(&kv.value)))
            .collect();
        let _ = writeln!(out, "{indent}  * {} {{{}}}", e.name, ea.join(", "));
    }
    let mut children: Vec<&SpanData> = all
        .iter()
        .copied()
        .filter(|c| c.parent_span_id == span.span_context.span_id())
        .collect();
    crate::sort::sort_by(&mut children, |a, b| {
        (a.start_time, &a.name).cmp(&(b.start_time, &b.name))
    });
    for c in children {
        render_node(out, c, Some(span), all, depth + 1, style);
    }
}
