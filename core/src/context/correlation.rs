//! Correlation context: an id (UUID v4 by default), user, operation and further fields.
//!
//! Each field has one name used both as the span attribute and as the W3C baggage key:
//! `correlation.id`, `user.id`, `correlation.operation`, and `correlation.<field>` for the
//! rest (the specification's `job_id` becomes `correlation.job_id`).

use opentelemetry::KeyValue;

use crate::error::Error;

/// Attribute and baggage key of the correlation id.
pub const ID_KEY: &str = "correlation.id";
/// Attribute and baggage key of the user id.
pub const USER_KEY: &str = "user.id";
/// Attribute and baggage key of the operation.
pub const OPERATION_KEY: &str = "correlation.operation";
/// Prefix of the further fields' keys.
pub const FIELD_PREFIX: &str = "correlation.";
/// The HTTP header that carries the id between services.
pub const HEADER: &str = "x-correlation-id";

const MAX_ID_LEN: usize = 128;
const MAX_FIELD_LEN: usize = 256;

/// A validated correlation context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correlation {
    id: String,
    user_id: Option<String>,
    operation: Option<String>,
    fields: Vec<(String, String)>,
    /// Precomputed span attributes: started spans copy these.
    attributes: Vec<KeyValue>,
}

impl Correlation {
    /// A builder; with no id given, `build` generates a UUID v4.
    pub fn builder() -> CorrelationBuilder {
        CorrelationBuilder::default()
    }

    /// A correlation from optional parts, as bindings receive them: a UUID v4 when `id` is
    /// `None`; every part validated.
    pub fn new(
        id: Option<String>,
        user_id: Option<String>,
        operation: Option<String>,
        fields: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Correlation, Error> {
        let mut b = Correlation::builder();
        if let Some(id) = id {
            b = b.id(id);
        }
        if let Some(u) = user_id {
            b = b.user_id(u);
        }
        if let Some(o) = operation {
            b = b.operation(o);
        }
        for (k, v) in fields {
            b = b.field(k, v);
        }
        b.build()
    }

    /// A copy with one more field (or `name` replaced).
    pub fn with_field(
        &self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Correlation, Error> {
        let mut fields = self.fields.clone();
        let name = name.into();
        fields.retain(|(n, _)| *n != name);
        fields.push((name, value.into()));
        Correlation::new(
            Some(self.id.clone()),
            self.user_id.clone(),
            self.operation.clone(),
            fields,
        )
    }

    /// The correlation id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The user id.
    pub fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }

    /// The operation.
    pub fn operation(&self) -> Option<&str> {
        self.operation.as_deref()
    }

    /// Further fields (`job_id`, ...), without the `correlation.` prefix.
    pub fn fields(&self) -> &[(String, String)] {
        &self.fields
    }

    /// The span attributes every span started in this context carries.
    pub fn attributes(&self) -> &[KeyValue] {
        &self.attributes
    }

    /// `(key, value)` pairs as carried in baggage.
    pub fn baggage_entries(&self) -> impl Iterator<Item = (String, String)> + '_ {
        // Every value is a string (made from the correlation's own strings); matching it, not
        // `Value::as_str`, keeps the printing of floats out of the browser build.
        self.attributes.iter().map(|kv| {
            let value = match &kv.value {
                opentelemetry::Value::String(s) => s.as_str().to_owned(),
                _ => String::new(),
            };
            (kv.key.to_string(), value)
        })
    }

    /// Rebuilds a correlation from baggage entries (`correlation.*`, `user.id`) and the
    /// `x-correlation-id` header's value; the rest of the baggage is returned, with how many
    /// entries were left out. Never an error: with no valid id (header or baggage), every entry
    /// stays ordinary baggage, passed on as it came; with one, an entry whose value (or field
    /// name) a correlation refuses is left out and counted, and the others are kept.
    pub(crate) fn from_baggage(
        entries: Vec<(String, String)>,
        header_id: Option<&str>,
    ) -> (Option<Correlation>, Vec<(String, String)>, u64) {
        let is_correlation = |k: &str| {
            k == ID_KEY || k == USER_KEY || k == OPERATION_KEY || k.starts_with(FIELD_PREFIX)
        };
        // The explicit header wins over baggage: it is what HTTP clients set by hand. Else the
        // last valid id in the baggage.
        let id = header_id
            .filter(|id| validate_id(id).is_ok())
            .map(str::to_owned)
            .or_else(|| {
                entries
                    .iter()
                    .rev()
                    .find(|(k, v)| k == ID_KEY && validate_id(v).is_ok())
                    .map(|(_, v)| v.clone())
            });
        let Some(id) = id else {
            return (None, entries, 0);
        };
        let (mut b, mut rest, mut dropped) = (Correlation::builder().id(id.clone()), Vec::new(), 0);
        for (k, v) in entries {
            if !is_correlation(&k) {
                rest.push((k, v));
                continue;
            }
            if k == ID_KEY {
                // The id is chosen above; another (or an invalid one) is not carried.
                dropped += u64::from(v != id);
                continue;
            }
            let with = |b: CorrelationBuilder| match k.strip_prefix(FIELD_PREFIX) {
                _ if k == USER_KEY => b.user_id(v.clone()),
                _ if k == OPERATION_KEY => b.operation(v.clone()),
                Some(field) => b.field(field, v.clone()),
                None => b,
            };
            // Checked alone, so one bad entry costs only itself.
            if with(Correlation::builder().id(id.clone())).build().is_ok() {
                b = with(b);
            } else {
                dropped += 1;
            }
        }
        (b.build().ok(), rest, dropped)
    }
}

/// Builds a [`Correlation`].
#[derive(Debug, Clone, Default)]
pub struct CorrelationBuilder {
    id: Option<String>,
    user_id: Option<String>,
    operation: Option<String>,
    fields: Vec<(String, String)>,
}

impl CorrelationBuilder {
    /// The id; validated by `build` (1 to 128 characters from `A-Z a-z 0-9 . _ : -`).
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }
    /// The user id.
    pub fn user_id(mut self, user: impl Into<String>) -> Self {
        self.user_id = Some(user.into());
        self
    }
    /// The operation.
    pub fn operation(mut self, op: impl Into<String>) -> Self {
        self.operation = Some(op.into());
        self
    }
    /// A further field (`job_id`); a later value for the same name replaces an earlier one.
    pub fn field(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into();
        self.fields.retain(|(n, _)| *n != name);
        self.fields.push((name, value.into()));
        self
    }

    /// Validates and builds; generates a UUID v4 id when none was given.
    pub fn build(self) -> Result<Correlation, Error> {
        let id = match self.id {
            Some(id) => {
                validate_id(&id)?;
                id
            }
            None => new_uuid_v4(),
        };
        let check = |argument: &'static str, v: &str| -> Result<(), Error> {
            if v.len() > MAX_FIELD_LEN || v.chars().any(char::is_control) {
                return Err(Error::InvalidArgument {
                    argument,
                    value: v.to_owned(),
                    expected: "at most 256 bytes without control characters",
                });
            }
            Ok(())
        };
        let mut attributes = vec![KeyValue::new(ID_KEY, id.clone())];
        if let Some(u) = &self.user_id {
            check("user_id", u)?;
            attributes.push(KeyValue::new(USER_KEY, u.clone()));
        }
        if let Some(o) = &self.operation {
            check("operation", o)?;
            attributes.push(KeyValue::new(OPERATION_KEY, o.clone()));
        }
        for (name, value) in &self.fields {
            let valid_name = !name.is_empty()
                && name.len() <= 64
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-');
            if !valid_name || name == "id" || name == "operation" {
                return Err(Error::InvalidArgument {
                    argument: "field name",
                    value: name.clone(),
                    expected: "1 to 64 characters from A-Z a-z 0-9 _ . - (not id or operation)",
                });
            }
            check("field value", value)?;
            attributes.push(KeyValue::new(
                format!("{FIELD_PREFIX}{name}"),
                value.clone(),
            ));
        }
        Ok(Correlation {
            id,
            user_id: self.user_id,
            operation: self.operation,
            fields: self.fields,
            attributes,
        })
    }
}

/// Checks a caller-supplied correlation id.
pub fn validate_id(id: &str) -> Result<(), Error> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument {
            argument: "correlation_id",
            value: id.chars().take(200).collect(),
            expected: "1 to 128 characters from A-Z a-z 0-9 . _ : - (a UUID, for example)",
        })
    }
}

/// A random UUID v4, lowercase hyphenated.
pub fn new_uuid_v4() -> String {
    let mut bytes = crate::platform::random_u128().to_be_bytes();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let h = u128::from_be_bytes(bytes);
    let s = format!("{h:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &s[0..8],
        &s[8..12],
        &s[12..16],
        &s[16..20],
        &s[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_uuid_v4() {
        let id = new_uuid_v4();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(id, new_uuid_v4());
    }

    #[test]
    fn given_ids_are_validated() {
        assert!(Correlation::builder().id("ok-123").build().is_ok());
        for bad in ["", "has space", "new\nline", &"x".repeat(129)] {
            let e = Correlation::builder().id(bad).build().unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidArgument, "{bad:?}");
        }
    }

    #[test]
    fn fields_become_attributes() {
        let c = Correlation::builder()
            .id("c1")
            .user_id("u1")
            .operation("etl")
            .field("job_id", "j9")
            .build()
            .unwrap();
        let keys: Vec<String> = c.attributes().iter().map(|kv| kv.key.to_string()).collect();
        assert_eq!(
            keys,
            [
                "correlation.id",
                "user.id",
                "correlation.operation",
                "correlation.job_id"
            ]
        );
    }
}
