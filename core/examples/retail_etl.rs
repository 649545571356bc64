//! A retail ETL run traced with crosstrace: extract → bronze → silver → gold, where the silver
//! step fails once and is retried. On the default console backend the trace prints as a tree on
//! stderr; set `OTEL_BACKEND=otlp` (and a collector or Jaeger) to send it elsewhere.
//!
//! `cargo run -p crosstrace --example retail_etl`

use std::time::Duration;

use crosstrace::{Context, Correlation, KeyValue, SpanKind, Tracing, TracingConfig};

#[derive(Debug, Clone)]
struct Order {
    id: u32,
    sku: &'static str,
    price_cents: Option<i64>,
    qty: i64,
}

#[derive(Debug)]
struct TransientError(&'static str);

impl std::fmt::Display for TransientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}
impl std::error::Error for TransientError {}

fn extract(t: &Tracing) -> Vec<Order> {
    let mut span = t
        .span("extract_orders")
        .kind(SpanKind::Client)
        .attribute(KeyValue::new("source", "storefront-api"))
        .start();
    let orders = vec![
        Order {
            id: 1,
            sku: "SKU-APPLE",
            price_cents: Some(120),
            qty: 3,
        },
        Order {
            id: 2,
            sku: "SKU-PEAR",
            price_cents: None,
            qty: 1,
        },
        Order {
            id: 3,
            sku: "SKU-MILK",
            price_cents: Some(99),
            qty: 2,
        },
        Order {
            id: 4,
            sku: "SKU-BREAD",
            price_cents: Some(250),
            qty: 1,
        },
    ];
    span.set_attribute(KeyValue::new("orders.count", orders.len() as i64));
    orders
}

fn bronze(t: &Tracing, orders: &[Order]) -> Vec<Order> {
    let mut span = t.etl_span("bronze_ingestion", "bronze").start();
    let _g = span.attach();
    let mut db = t.db_span("sqlite", "INSERT", "bronze_orders").start();
    db.set_db_rows(orders.len() as u64, true);
    db.end();
    span.set_etl_records(Some(orders.len() as u64), Some(orders.len() as u64), None);
    orders.to_vec()
}

fn silver(t: &Tracing, orders: &[Order], attempt: u32) -> Result<Vec<Order>, TransientError> {
    let mut span = t
        .etl_span("silver_transformation", "silver")
        .attribute(KeyValue::new("etl.attempt", attempt as i64))
        .start();
    if attempt == 1 {
        // The warehouse connection drops on the first try.
        let err = TransientError("warehouse connection reset");
        span.set_etl_failed("TransientError", &err.to_string());
        return Err(err);
    }
    let (clean, rejected): (Vec<Order>, Vec<Order>) = orders
        .iter()
        .cloned()
        .partition(|o| o.price_cents.is_some());
    span.set_etl_records(
        Some(orders.len() as u64),
        Some(clean.len() as u64),
        Some(rejected.len() as u64),
    );
    for r in &rejected {
        span.add_event(
            "row_rejected",
            vec![
                KeyValue::new("reason", "missing price"),
                KeyValue::new("order.id", i64::from(r.id)),
                KeyValue::new("order.sku", r.sku),
            ],
        );
    }
    Ok(clean)
}

fn gold(t: &Tracing, orders: &[Order]) -> i64 {
    let mut span = t.etl_span("gold_aggregation", "gold").start();
    let revenue: i64 = orders
        .iter()
        .map(|o| o.price_cents.unwrap_or(0) * o.qty)
        .sum();
    span.set_etl_records(Some(orders.len() as u64), Some(1), None);
    span.set_attribute(KeyValue::new("revenue.cents", revenue));
    let _g = span.attach();
    let mut db = t.db_span("sqlite", "UPSERT", "gold_daily_revenue").start();
    db.set_db_rows(1, true);
    revenue
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = TracingConfig::from_env()?;
    let tracing = crosstrace::init(TracingConfig {
        service_name: if std::env::var_os("OTEL_SERVICE_NAME").is_some() {
            config.service_name.clone()
        } else {
            "retail-etl-demo".into()
        },
        ..config
    })?;

    let job = Correlation::builder()
        .operation("nightly_etl")
        .field("job_id", "job-2026-11-24")
        .build()?;
    let _job = Context::current().with_correlation(job).attach();

    let mut run = tracing.span("etl_pipeline_run").start();
    let revenue = {
        let _g = run.attach();
        let orders = extract(&tracing);
        let raw = bronze(&tracing, &orders);
        let mut attempt = 1;
        let clean = loop {
            match silver(&tracing, &raw, attempt) {
                Ok(clean) => break clean,
                Err(e) if attempt < 3 => {
                    eprintln!("silver step failed ({e}), retrying");
                    std::thread::sleep(Duration::from_millis(20));
                    attempt += 1;
                }
                Err(e) => return Err(e.into()),
            }
        };
        gold(&tracing, &clean)
    };
    run.set_attribute(KeyValue::new("revenue.cents", revenue));
    let trace_id = run.trace_id_hex();
    run.end();

    // A flush that lost spans is reported below, with the counts: not a reason to skip them.
    if let Err(e) = tracing.force_flush(Duration::from_secs(10)) {
        eprintln!("flush: {e}");
    }
    let report = tracing.shutdown(Duration::from_secs(10))?;
    let health = tracing.health();
    println!("trace {trace_id}: revenue {revenue} cents");
    println!(
        "spans ended {}, exported {}, dropped {}, failed {}, unsent at shutdown {}",
        health.counts.spans_ended,
        health.counts.spans_exported,
        health.counts.spans_dropped_queue_full,
        health.counts.spans_export_failed,
        report.unsent
    );
    if health.counts.spans_export_failed > 0 {
        if let Some(e) = health.last_export_error {
            eprintln!("export error: {} ({})", e.message, e.kind);
        }
        std::process::exit(1);
    }
    Ok(())
}
