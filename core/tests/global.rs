//! The process-wide instance: `init` replaces it, and `with_global` (the bindings' per-thread
//! cached view) sees each replacement on every thread, also inside a nested call.

#![allow(clippy::unwrap_used)]

use crosstrace::{Backend, TracingConfig};

fn named(name: &str) -> TracingConfig {
    TracingConfig {
        service_name: name.into(),
        backend: Backend::None,
        ..TracingConfig::default()
    }
}

fn current() -> String {
    crosstrace::binding::with_global(|t| t.config().service_name.clone())
}

#[test]
fn with_global_follows_every_init() {
    crosstrace::init(named("first")).unwrap();
    assert_eq!(current(), "first");
    crosstrace::init(named("second")).unwrap();
    assert_eq!(current(), "second", "a cached instance is replaced");
    // Another thread that cached the old one sees the new one too.
    let (tx, rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let th = std::thread::spawn(move || {
        tx.send(current()).unwrap();
        go_rx.recv().unwrap();
        current()
    });
    assert_eq!(rx.recv().unwrap(), "second");
    crosstrace::init(named("third")).unwrap();
    go_tx.send(()).unwrap();
    assert_eq!(th.join().unwrap(), "third");
    // Nested: the inner call cannot refresh the borrowed cache and reads the global instead.
    crosstrace::init(named("fourth")).unwrap();
    let (outer, inner) = crosstrace::binding::with_global(|t| {
        crosstrace::init(named("fifth")).unwrap();
        (t.config().service_name.clone(), current())
    });
    assert_eq!((outer.as_str(), inner.as_str()), ("fourth", "fifth"));
    assert_eq!(current(), "fifth");
}
