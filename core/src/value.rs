//! Values as bindings exchange them with the core without serde: [`FieldValue`], JSON's kinds.
//! The npm package reads config objects and contexts as these and writes health and contexts
//! as these; serde's derives and serde-wasm-bindgen were 6 KB of its browser download (4.6 in,
//! 1.5 out).

use std::collections::BTreeMap;

/// A value as bindings exchange them with the core without serde: JSON's kinds, as a JS object
/// holds them. Config objects and contexts come in as these
/// ([`TracingConfig::from_values`](crate::TracingConfig::from_values),
/// `ContextInput::from_value`); health and contexts go out as these
/// ([`Health::to_value`](crate::Health::to_value), `ContextShape::to_value`).
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    /// `null`: `None` for an optional field, refused for the others.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number (from JS: a BigInt too, as the nearest number).
    Number(f64),
    /// A whole number, exactly (what the core's own values give: counters, timestamps).
    Whole(u64),
    /// A string.
    Str(String),
    /// A list (a JS array).
    List(Vec<FieldValue>),
    /// An object's entries, in order.
    Map(Vec<(String, FieldValue)>),
    /// A kind no field takes (a function, a symbol): refused, naming the field.
    Other,
}

impl FieldValue {
    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            FieldValue::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            FieldValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value, unless it is `Null` (an optional field's `None`).
    pub fn non_null(&self) -> Option<&FieldValue> {
        match self {
            FieldValue::Null => None,
            v => Some(v),
        }
    }

    /// An object of strings as a map, inserted one by one as serde builds one (collecting
    /// would sort first: an instance of the standard library's sort, which the browser build
    /// otherwise has none of); `None` for any other value.
    pub fn text_map(&self) -> Option<BTreeMap<String, String>> {
        let FieldValue::Map(entries) = self else {
            return None;
        };
        let mut map = BTreeMap::new();
        for (k, v) in entries {
            map.insert(k.clone(), v.as_text()?.to_owned());
        }
        Some(map)
    }
}
