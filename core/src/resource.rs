//! The resource spans are exported with: the service (from the config); the SDK —
//! `telemetry.sdk.name` crosstrace, its version, and the language of the runtime that calls
//! the core, which a binding states with [`set_sdk_language`] (the core knows no binding); and
//! the process — `service.instance.id`, a UUID v4 per process (a forked child gets its own),
//! and `host.name`. `OTEL_RESOURCE_ATTRIBUTES` (`TracingConfig::resource_attributes`) sets
//! or overrides any of them.

use std::borrow::Cow;
use std::sync::{Mutex, MutexGuard};

use opentelemetry::{Key, KeyValue, Value};
use opentelemetry_sdk::Resource;

use crate::config::{TracingConfig, FROM_FIELDS};
use crate::platform::fork::Rank;

/// `telemetry.sdk.name`.
pub(crate) const SDK_NAME: &str = "crosstrace";

/// The `telemetry.sdk.language` of Rust programs: what the core reports until a binding says
/// otherwise.
pub(crate) const RUST: &str = "rust";

/// `service.instance.id`.
const INSTANCE_ID: &str = "service.instance.id";

static LANGUAGE: Mutex<&'static str> = Mutex::new(RUST);

/// `None` until asked (or set); `Some(None)` where there is no host name.
static HOST_NAME: Mutex<Option<Option<String>>> = Mutex::new(None);

/// The instance id of this process, the fork epoch it was made in, and the ids of the
/// processes this one was forked from (so that their id, in a resource built before the fork,
/// is recognised and replaced).
struct Instance {
    epoch: u64,
    id: String,
    ancestors: Vec<String>,
}

static INSTANCE: Mutex<Option<Instance>> = Mutex::new(None);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    fork_safe();
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// States the `telemetry.sdk.language` of the runtime calling the core — a value of the
/// semantic conventions' list (`python`, `cpp`, `nodejs`, `webjs`, `rust`, ...) — for
/// resources built afterwards. A binding calls it before it builds tracing; Rust programs
/// need not (the default is `rust`).
pub fn set_sdk_language(language: &'static str) {
    *lock(&LANGUAGE) = language;
}

/// The `telemetry.sdk.language` resources are built with.
pub(crate) fn sdk_language() -> &'static str {
    *lock(&LANGUAGE)
}

/// Sets `host.name` for resources built afterwards, where the core cannot read it itself
/// (wasm32 in Node, whose host the JS side knows); natively it is read from the system.
pub fn set_host_name(name: impl Into<String>) {
    let name = name.into();
    *lock(&HOST_NAME) = Some((!name.is_empty()).then_some(name));
}

/// The `host.name` resources are built with, if the platform has one.
pub(crate) fn host_name() -> Option<String> {
    lock(&HOST_NAME)
        .get_or_insert_with(crate::platform::host_name)
        .clone()
}

/// This process's `service.instance.id`: a UUID v4 made on first use, and again in a forked
/// child (a child is another instance of the service).
pub fn instance_id() -> String {
    let epoch = crate::platform::fork_epoch();
    let mut g = lock(&INSTANCE);
    match &mut *g {
        Some(i) if i.epoch == epoch => i.id.clone(),
        Some(i) => {
            let old = std::mem::replace(&mut i.id, crate::context::correlation::new_uuid_v4());
            i.ancestors.push(old);
            i.epoch = epoch;
            i.id.clone()
        }
        None => {
            let id = crate::context::correlation::new_uuid_v4();
            *g = Some(Instance {
                epoch,
                id: id.clone(),
                ancestors: Vec::new(),
            });
            id
        }
    }
}

/// Registers the resource's locks with the fork handlers before their first use (see
/// [`crate::platform::fork`]); taken only through [`lock`].
fn fork_safe() {
    static LANGUAGE_REGISTERED: std::sync::atomic::AtomicBool =
        std::sync::atomic::AtomicBool::new(false);
    static HOST_NAME_REGISTERED: std::sync::atomic::AtomicBool =
        std::sync::atomic::AtomicBool::new(false);
    static INSTANCE_REGISTERED: std::sync::atomic::AtomicBool =
        std::sync::atomic::AtomicBool::new(false);
    let f = crate::platform::fork::register_static;
    f(&LANGUAGE_REGISTERED, Rank::Language, || {
        Box::new(LANGUAGE.lock().unwrap_or_else(|e| e.into_inner()))
    });
    f(&HOST_NAME_REGISTERED, Rank::HostName, || {
        Box::new(HOST_NAME.lock().unwrap_or_else(|e| e.into_inner()))
    });
    f(&INSTANCE_REGISTERED, Rank::Instance, || {
        Box::new(INSTANCE.lock().unwrap_or_else(|e| e.into_inner()))
    });
}

/// The resource of `config`: the defaults above, then `resource_attributes` over them (except
/// those the config's fields own, [`FROM_FIELDS`]).
pub(crate) fn build(c: &TracingConfig) -> Resource {
    let mut attrs: Vec<KeyValue> = vec![
        KeyValue::new("service.version", c.service_version.clone()),
        KeyValue::new("deployment.environment", c.environment.clone()),
        KeyValue::new("deployment.environment.name", c.environment.clone()),
        KeyValue::new("telemetry.sdk.name", SDK_NAME),
        KeyValue::new("telemetry.sdk.language", sdk_language()),
        KeyValue::new("telemetry.sdk.version", env!("CARGO_PKG_VERSION")),
        KeyValue::new(INSTANCE_ID, instance_id()),
    ];
    if let Some(host) = host_name() {
        attrs.push(KeyValue::new("host.name", host));
    }
    for (k, v) in &c.resource_attributes {
        if FROM_FIELDS.contains(&k.as_str()) {
            continue;
        }
        attrs.retain(|kv| kv.key.as_str() != k);
        attrs.push(KeyValue::new(k.clone(), v.clone()));
    }
    Resource::builder_empty()
        .with_service_name(c.service_name.clone())
        .with_attributes(attrs)
        .build()
}

/// `resource` as this process exports it: when it was built in a process this one was forked
/// from, with this process's `service.instance.id` in place of that process's (an id set in
/// `OTEL_RESOURCE_ATTRIBUTES` is kept). The exporters a forked child builds use it (natively:
/// without the `native` feature no exporter is built).
#[cfg_attr(not(feature = "native"), allow(dead_code))]
pub(crate) fn in_this_process(resource: &Resource) -> Cow<'_, Resource> {
    let ours = instance_id();
    let ancestors = lock(&INSTANCE)
        .as_ref()
        .map(|i| i.ancestors.clone())
        .unwrap_or_default();
    with_instance_id(resource, &ours, &ancestors)
}

/// `resource` with `ours` as `service.instance.id` when its id is one of `ancestors`.
#[cfg_attr(not(feature = "native"), allow(dead_code))]
fn with_instance_id<'a>(
    resource: &'a Resource,
    ours: &str,
    ancestors: &[String],
) -> Cow<'a, Resource> {
    let key = Key::from_static_str(INSTANCE_ID);
    let inherited = match resource.get_ref(&key) {
        Some(Value::String(theirs)) => {
            theirs.as_str() != ours && ancestors.iter().any(|a| a == theirs.as_str())
        }
        _ => false,
    };
    if !inherited {
        return Cow::Borrowed(resource);
    }
    let attrs = resource.iter().map(|(k, v)| {
        if *k == key {
            KeyValue::new(key.clone(), ours.to_owned())
        } else {
            KeyValue::new(k.clone(), v.clone())
        }
    });
    let builder = Resource::builder_empty();
    Cow::Owned(match resource.schema_url() {
        Some(url) => builder.with_schema_url(attrs, url.to_owned()).build(),
        None => builder.with_attributes(attrs).build(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(r: &Resource, key: &'static str) -> Option<String> {
        r.get(&Key::from_static_str(key)).map(|v| v.to_string())
    }

    #[test]
    fn the_process_and_the_sdk_are_described() {
        let r = build(&TracingConfig::default());
        assert_eq!(get(&r, "telemetry.sdk.name").as_deref(), Some("crosstrace"));
        assert_eq!(
            get(&r, "telemetry.sdk.version").as_deref(),
            Some(env!("CARGO_PKG_VERSION"))
        );
        let id = get(&r, INSTANCE_ID).unwrap();
        assert_eq!(id.len(), 36, "a UUID: {id}");
        assert_eq!(id, instance_id(), "one id per process");
        assert_eq!(get(&r, "host.name"), crate::platform::host_name());
        // Built in this process: nothing to replace.
        assert!(matches!(in_this_process(&r), Cow::Borrowed(_)));
    }

    #[test]
    fn resource_attributes_override_the_defaults() {
        let mut c = TracingConfig::default();
        c.resource_attributes
            .insert(INSTANCE_ID.into(), "pod-7".into());
        c.resource_attributes
            .insert("host.name".into(), "edge-1".into());
        let r = build(&c);
        assert_eq!(get(&r, INSTANCE_ID).as_deref(), Some("pod-7"));
        assert_eq!(get(&r, "host.name").as_deref(), Some("edge-1"));
        assert!(matches!(in_this_process(&r), Cow::Borrowed(_)));
    }

    #[test]
    fn the_service_and_environment_are_the_configs_fields() {
        // From the environment: ENVIRONMENT and OTEL_SERVICE_NAME win over
        // OTEL_RESOURCE_ATTRIBUTES, in what is exported as in the config.
        let vars = [
            ("ENVIRONMENT", "staging"),
            ("OTEL_SERVICE_NAME", "orders"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment=production,service.name=legacy,team=checkout",
            ),
        ];
        let c = TracingConfig::from_lookup(|k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        })
        .unwrap();
        assert_eq!((&*c.environment, &*c.service_name), ("staging", "orders"));
        let r = build(&c);
        assert_eq!(
            get(&r, "deployment.environment").as_deref(),
            Some("staging")
        );
        assert_eq!(
            get(&r, "deployment.environment.name").as_deref(),
            Some("staging")
        );
        assert_eq!(get(&r, "service.name").as_deref(), Some("orders"));
        assert_eq!(get(&r, "team").as_deref(), Some("checkout"));
        // From the builder: a resource attribute of one of them sets the field, the later
        // call winning.
        let c = TracingConfig::builder()
            .service_name("a")
            .resource_attribute("service.name", "b")
            .resource_attribute("deployment.environment.name", "qa")
            .resource_attribute("service.version", "9.1")
            .build()
            .unwrap();
        assert_eq!(
            (&*c.service_name, &*c.environment, &*c.service_version),
            ("b", "qa", "9.1")
        );
        let r = build(&c);
        assert_eq!(get(&r, "service.name").as_deref(), Some("b"));
        assert_eq!(get(&r, "deployment.environment").as_deref(), Some("qa"));
        assert_eq!(get(&r, "service.version").as_deref(), Some("9.1"));
        // A config made field by field (a struct, JSON, a binding's object): an attribute fills
        // a field left at its default, a field set explicitly wins; either way the resource
        // says what the field says.
        let mut c = TracingConfig::default();
        c.resource_attributes
            .insert("deployment.environment".into(), "production".into());
        c.resource_attributes
            .insert("service.name".into(), "orders".into());
        c.service_version = "3.0.0".into();
        c.resource_attributes
            .insert("service.version".into(), "2.0.0".into());
        let c = c.with_resource_fields();
        assert_eq!(
            (&*c.environment, &*c.service_name, &*c.service_version),
            ("production", "orders", "3.0.0")
        );
        let r = build(&c);
        assert_eq!(
            get(&r, "deployment.environment").as_deref(),
            Some("production")
        );
        assert_eq!(get(&r, "service.name").as_deref(), Some("orders"));
        assert_eq!(get(&r, "service.version").as_deref(), Some("3.0.0"));
    }

    #[test]
    fn a_forked_childs_exporters_get_its_own_instance_id() {
        let r = build(&TracingConfig::default());
        let parent_id = get(&r, INSTANCE_ID).unwrap();
        let child_id = crate::context::correlation::new_uuid_v4();
        let child = with_instance_id(&r, &child_id, std::slice::from_ref(&parent_id));
        assert!(matches!(child, Cow::Owned(_)));
        assert_eq!(get(&child, INSTANCE_ID), Some(child_id.clone()));
        assert_eq!(get(&child, "service.name"), get(&r, "service.name"));
        assert_eq!(child.len(), r.len());
        // An id that is no ancestor's (set by the user) stays.
        assert!(matches!(
            with_instance_id(&r, &child_id, &[]),
            Cow::Borrowed(_)
        ));
    }
}
