//! Redaction: one policy for the secrets that URLs, queries, headers, bodies and error text
//! carry, applied to everything crosstrace records or says (span attributes, health, its own
//! log lines and error messages) in every binding.
//!
//! - Userinfo in a URL becomes `REDACTED:REDACTED@` (`REDACTED@` for a user alone), the
//!   OpenTelemetry semantic conventions form; it cannot be turned off.
//! - The value of a sensitive query parameter, form, JSON or multipart field, or `k=v` pair in
//!   free text becomes `REDACTED`; the key is kept, so a reader still sees what was sent.
//! - The headers in [`ALWAYS_HEADERS`] are never recorded, whatever the policy's names.
//!
//! A name is sensitive by the rule of [`Policy::is_sensitive`]; [`Policy::builtin`] holds
//! [`DEFAULT_NAMES`], and [`Policy::new`] builds the policy a config asks for.
//!
//! The scanners are hand-written, not regular expressions: nothing backtracks on hostile input,
//! every scan is linear, and the wasm package carries no regex engine. Every function returns
//! its input borrowed when nothing changes, so a clean value costs one scan and no allocation;
//! each is idempotent (redacting a redacted value changes nothing).

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::sync::LazyLock;

use opentelemetry::{Array, StringValue, Value};
use percent_encoding::percent_decode_str;

/// What a secret is replaced with (the OpenTelemetry semantic conventions' word).
pub const REDACTED: &str = "REDACTED";

/// The built-in sensitive names: the OpenTelemetry semantic conventions' query parameters
/// (`AWSAccessKeyId`, `Signature`, `sig`, `X-Goog-Signature`) and the usual names of
/// passwords, tokens, keys, sessions and credentials. Written as commonly spelled; they are
/// normalised (see [`Policy::is_sensitive`]) when the policy is built.
pub const DEFAULT_NAMES: &[&str] = &[
    "AWSAccessKeyId",
    "Signature",
    "sig",
    "X-Goog-Signature",
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "access_token",
    "refresh_token",
    "api_key",
    "apikey",
    "auth",
    "authorization",
    "session",
    "sessionid",
    "cookie",
    "credential",
    "credentials",
    "private_key",
    "client_secret",
    "jwt",
];

/// Headers whose value is never recorded, whatever the policy's names (even `none`): they carry
/// credentials by definition. Compared as names are (case and separators ignored).
pub const ALWAYS_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
];

/// Most names in a policy (the `default` token counts as one).
pub const MAX_NAMES: usize = 256;

/// Longest name, in bytes.
pub const MAX_NAME_BYTES: usize = 64;

/// What [`Policy::new`] accepts, for configuration error messages.
pub const ACCEPTED: &str = "at most 256 names of 1 to 64 printable ASCII characters without \
    spaces or commas; `default` stands for the built-in list, `none` alone for no list";

/// A built-in name this short is matched exactly, never as a suffix: `sig` must not match
/// `design`, nor `pwd` a `cwd`. From 4 bytes on, a suffix is a good sign (`oauth`, `x-api-key`).
const SUFFIX_MIN: usize = 4;

/// Headers whose value is a URL: its userinfo and sensitive query values are redacted.
const URL_HEADERS: &[&str] = &["referer", "location", "content-location"];

/// Which names are sensitive. Cheap to share: build it once per configuration, keep it beside
/// the pipeline, and use [`Policy::builtin`] where no configuration exists yet.
#[derive(Clone, PartialEq, Eq)]
pub struct Policy {
    /// Normalised names (lowercase ASCII, no separators), without duplicates, ordered by their
    /// last byte.
    names: Box<[Box<str>]>,
    /// `names[by_last[b]..by_last[b + 1]]` are the names ending with byte `b`: a key is
    /// compared only with those, and most keys with none.
    by_last: [u16; 129],
    /// The normalised [`ALWAYS_HEADERS`].
    always_headers: Box<[Box<str>]>,
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("names", &self.names)
            .finish_non_exhaustive()
    }
}

/// The attribute keys whose values [`Policy::attribute`] reads as URLs.
const URL_KEYS: [&str; 6] = [
    "url.full",
    "http.url",
    "url.original",
    "url.path",
    "http.target",
    "db.connection_string",
];
/// ... as queries.
const QUERY_KEYS: [&str; 2] = ["url.query", "http.query_string"];
/// ... as bodies.
const BODY_KEYS: [&str; 2] = ["http.request.body", "http.response.body"];
/// ... as free text.
const TEXT_KEYS: [&str; 2] = ["exception.message", "exception.stacktrace"];
/// The prefixes of keys whose values [`Policy::attribute`] reads as the named header's.
const HEADER_PREFIXES: [&str; 2] = ["http.request.header.", "http.response.header."];

/// Indexed by a key's first byte modulo 32: bit `n` is set when a routed key (from the lists
/// above) starting with a byte of that row is `n` bytes long (bit 63: 63 or more). Rows of
/// other bytes are empty. A byte that shares a row with a routed key's (`D` with `d`) costs only
/// the full check.
const ROUTE_LENGTHS: [u64; 32] = {
    let mut masks = [0u64; 32];
    let lists: [&[&str]; 4] = [&URL_KEYS, &QUERY_KEYS, &BODY_KEYS, &TEXT_KEYS];
    let mut l = 0;
    while l < lists.len() {
        let mut k = 0;
        while k < lists[l].len() {
            let key = lists[l][k].as_bytes();
            let len = if key.len() < 63 { key.len() } else { 63 };
            masks[(key[0] % 32) as usize] |= 1 << len;
            k += 1;
        }
        l += 1;
    }
    // A header's key is its prefix and a name of at least one byte.
    let mut p = 0;
    while p < HEADER_PREFIXES.len() {
        let prefix = HEADER_PREFIXES[p].as_bytes();
        masks[(prefix[0] % 32) as usize] |= u64::MAX << (prefix.len() + 1);
        p += 1;
    }
    masks
};

/// Whether [`Policy::attribute`] may rewrite the value of `key`: its first byte and length
/// are those of a routed key. Most keys are ruled out by one table lookup, without comparing
/// text.
#[inline]
pub(crate) fn may_route(key: &str) -> bool {
    let b = key.as_bytes();
    match b.first() {
        Some(&first) => (ROUTE_LENGTHS[usize::from(first % 32)] >> b.len().min(63)) & 1 == 1,
        None => false,
    }
}

static BUILTIN: LazyLock<Policy> = LazyLock::new(|| Policy::from_names(DEFAULT_NAMES));

impl Default for Policy {
    /// The built-in policy.
    fn default() -> Self {
        Policy::builtin().clone()
    }
}

impl Policy {
    /// The built-in policy ([`DEFAULT_NAMES`]): for text produced before or without a
    /// configuration (configuration errors, the diagnostics log).
    pub fn builtin() -> &'static Policy {
        &BUILTIN
    }

    /// The policy of a configured list of names. The token `default` (any case) stands for
    /// [`DEFAULT_NAMES`], so `default,ssn,card_number` extends the built-in list and a list
    /// without it replaces the list; `none` alone, or an empty list, means no names (userinfo
    /// and [`ALWAYS_HEADERS`] are still redacted). The error says what is wrong; [`ACCEPTED`]
    /// says what is accepted.
    pub fn new(names: &[String]) -> Result<Policy, String> {
        if names.len() > MAX_NAMES {
            return Err(format!("{} names (at most {MAX_NAMES})", names.len()));
        }
        let mut list: Vec<&str> = Vec::with_capacity(names.len() + DEFAULT_NAMES.len());
        for name in names {
            check_name(name)?;
            if name.eq_ignore_ascii_case("none") {
                if names.len() > 1 {
                    return Err("`none` given with other names".to_owned());
                }
            } else if name.eq_ignore_ascii_case("default") {
                list.extend(DEFAULT_NAMES);
            } else {
                list.push(name);
            }
        }
        Ok(Policy::from_names(&list))
    }

    /// Builds the policy from valid names (normalised, without duplicates).
    fn from_names(names: &[&str]) -> Policy {
        let mut normal: Vec<Box<str>> = Vec::new();
        for name in names {
            let n = normalise(name);
            if !n.is_empty() && !normal.contains(&n) {
                normal.push(n);
            }
        }
        // Valid names are ASCII and not empty; at most MAX_NAMES + DEFAULT_NAMES.len() of them.
        let last = |n: &str| usize::from(n.as_bytes()[n.len() - 1] & 0x7f);
        crate::sort::sort_by_key(&mut normal, |n| last(n));
        let mut by_last = [0u16; 129];
        for n in &normal {
            by_last[last(n) + 1] += 1;
        }
        for b in 1..by_last.len() {
            by_last[b] += by_last[b - 1];
        }
        Policy {
            names: normal.into_boxed_slice(),
            by_last,
            always_headers: ALWAYS_HEADERS.iter().map(|h| normalise(h)).collect(),
        }
    }

    /// Whether a key names a secret. Case is ignored, and so are `-`, `_`, `.`, spaces (a `+`
    /// in a query key decodes to one) and `[`/`]` (form keys such as `user[password]`). The
    /// normalised name is sensitive when it equals one of the policy's names or, for a name of
    /// at least 4 bytes, ends with it: `access_token`, `X-Goog-Signature`, `client_secret`,
    /// `old_password` and `oauth` match; `design` does not match `sig`.
    pub fn is_sensitive(&self, name: &str) -> bool {
        let key = name.as_bytes();
        let Some(&last) = key.iter().rev().find(|&&b| !is_separator(b)) else {
            return false;
        };
        // Only the names ending with the key's last byte can match: most keys have none.
        self.ending_with(last.to_ascii_lowercase()).iter().any(|n| {
            match suffix_match(key, n.as_bytes()) {
                Some(exact) => exact || n.len() >= SUFFIX_MIN,
                None => false,
            }
        })
    }

    /// The names ending with byte `b`.
    fn ending_with(&self, b: u8) -> &[Box<str>] {
        match usize::from(b) {
            b @ 0..128 => {
                &self.names[usize::from(self.by_last[b])..usize::from(self.by_last[b + 1])]
            }
            _ => &[],
        }
    }

    /// A URL, fit to record: userinfo becomes `REDACTED:REDACTED@` (`REDACTED@` for a user
    /// alone), and sensitive query values (and `;k=v` path parameters, as in
    /// `;jsessionid=…`) become `REDACTED`; so do those of the fragment, read as a query (OAuth's
    /// implicit flow returns `#access_token=…`). A query value that is itself
    /// a URL is redacted too. A string that is not a URL with a scheme is read as a path with a
    /// query when a `?` comes before any `=` (`/search?token=…`, as `http.target` is), else
    /// as a query (`k=v&…`, or a connection string `Server=…;Password=…`), and when it holds
    /// spaces also as free text (a libpq `host=… password=…` string). A string starting with
    /// `/` is always a path.
    pub fn url<'a>(&self, url: &'a str) -> Cow<'a, str> {
        redact(url, |s, edits| self.url_edits(s, 0, 0, edits))
    }

    /// A query string (`a=1&password=REDACTED&sig=REDACTED`): `&` and `;` separate
    /// parameters; keys are percent- and `+`-decoded to be matched, and written as given; a
    /// leading `?` is allowed. A key without `=` or with an empty value is left alone.
    pub fn query<'a>(&self, query: &'a str) -> Cow<'a, str> {
        redact(query, |s, edits| self.query_edits(s, 0, 0, edits))
    }

    /// A request or response body, fit to record; `None` when it is not text (binary types,
    /// an unknown or empty content type, a multipart body without a boundary) or `max_bytes`
    /// is 0. The body is redacted first, then cut to at most `max_bytes` bytes on a char
    /// boundary, with nothing appended.
    ///
    /// - JSON (`application/json`, `*/*+json`, `application/x-ndjson`): the value of every
    ///   sensitive key, at any depth, becomes `"REDACTED"` (a string, object, array or number;
    ///   `null`, `true` and `false` hold no secret and stay). Escaped keys are decoded to be
    ///   matched (`"pass\u0077ord"`). The scanner is tolerant: a body already cut short still
    ///   works, a value cut short is redacted to the end.
    /// - `application/x-www-form-urlencoded`: [`Policy::query`].
    /// - `multipart/*` (the boundary from the content type, else from the first line): a file
    ///   part (with `filename=`) becomes `REDACTED` whole; a field by its `name=`; a part with
    ///   its own JSON, form or text type by that type's rule; a part of another type becomes
    ///   `REDACTED`. A body cut before its closing boundary still works.
    /// - `text/*`, XML (`*/xml`, `*/*+xml`), `application/graphql`, YAML: [`Policy::text`].
    ///
    /// Invalid UTF-8 (such as a char cut by the caller's own limit) becomes U+FFFD. The
    /// scanners are linear; pass only the bytes you would consider recording.
    pub fn body(&self, content_type: &str, body: &[u8], max_bytes: usize) -> Option<String> {
        if max_bytes == 0 {
            return None;
        }
        let text = String::from_utf8_lossy(body);
        let kind = match media_kind(content_type)? {
            BodyKind::Multipart("") => match sniff(&text) {
                BodyKind::Multipart(boundary) => BodyKind::Multipart(boundary),
                _ => return None,
            },
            kind => kind,
        };
        // Text in UTF-16 or UTF-32 (its ASCII with NUL bytes between) would hide its keys from
        // the redaction rules and show its secrets: like any body with NULs, it is not text. (A
        // multipart body's files hold NULs: there each part is judged, see `multipart_edits`.)
        if !matches!(kind, BodyKind::Multipart(_)) && body.contains(&0) {
            return None;
        }
        let mut out = redact(&text, |s, edits| self.body_edits(kind, s, 0, edits)).into_owned();
        if out.len() > max_bytes {
            let mut end = max_bytes;
            while !out.is_char_boundary(end) {
                end -= 1;
            }
            out.truncate(end);
        }
        Some(out)
    }

    /// Free text, such as an exception message or stack trace: every URL in it (a
    /// `scheme://…` up to a space or quote) through [`Policy::url`]; the value after a
    /// sensitive key in `k=v`, `k: v`, `"k": "v"`, `'k': 'v'` and escaped `\"k\":\"v\"`
    /// forms; the credentials after `Bearer` or `Basic`; and JSON Web Tokens (`eyJ….eyJ…`).
    /// A word of fewer than 8 letters after `Bearer`/`Basic` is taken for prose and kept.
    pub fn text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        redact(text, |s, edits| self.text_edits(s, 0, edits))
    }

    /// A header's value, fit to record: `REDACTED` when the header is one of
    /// [`ALWAYS_HEADERS`] or its name is sensitive; a `Referer`, `Location` or
    /// `Content-Location` value through [`Policy::url`]; other values unchanged.
    pub fn header_value<'a>(&self, name: &str, value: &'a str) -> Cow<'a, str> {
        let always = self
            .always_headers
            .iter()
            .any(|h| suffix_match(name.as_bytes(), h.as_bytes()) == Some(true));
        if always || self.is_sensitive(name) {
            Cow::Borrowed(REDACTED)
        } else if URL_HEADERS
            .iter()
            .any(|h| h.eq_ignore_ascii_case(name.trim()))
        {
            self.url(value)
        } else {
            Cow::Borrowed(value)
        }
    }

    /// The span-attribute hook: redacts the value of an attribute whose key says it holds a
    /// URL, query, body, header or exception text; `true` if the value changed. Only string
    /// values and string arrays are touched, and only these keys:
    ///
    /// - `url.full`, `http.url`, `url.original`, `url.path`, `http.target`,
    ///   `db.connection_string`: [`Policy::url`]
    /// - `url.query`, `http.query_string`: [`Policy::query`]
    /// - `http.request.body`, `http.response.body`: as a body whose type is sniffed (`{` or `[`
    ///   first: JSON; `--boundary` first line: multipart; `=` and no whitespace: form; else
    ///   text), not cut (the length limit applies after)
    /// - `http.request.header.<name>`, `http.response.header.<name>`:
    ///   [`Policy::header_value`] of `<name>`
    /// - `exception.message`, `exception.stacktrace`: [`Policy::text`]
    ///
    /// Inline, it first asks [`may_route`], so most keys cost a table lookup.
    #[inline]
    pub(crate) fn attribute(&self, key: &str, value: &mut Value) -> bool {
        may_route(key) && self.routed_attribute(key, value)
    }

    /// [`Policy::attribute`] for a key that may be routed.
    #[inline(never)]
    fn routed_attribute(&self, key: &str, value: &mut Value) -> bool {
        if URL_KEYS.contains(&key) {
            rewrite(value, |s| {
                if is_plain_path(s) {
                    return Cow::Borrowed(s); // (`url.path` of most spans: nothing to read)
                }
                self.url(s)
            })
        } else if QUERY_KEYS.contains(&key) {
            rewrite(value, |s| self.query(s))
        } else if BODY_KEYS.contains(&key) {
            rewrite(value, |s| {
                if s.contains('\0') {
                    // Not text (see `Policy::body`): nothing of it is kept.
                    return Cow::Borrowed(REDACTED);
                }
                let kind = sniff(s);
                redact(s, |s, edits| self.body_edits(kind, s, 0, edits))
            })
        } else if TEXT_KEYS.contains(&key) {
            rewrite(value, |s| self.text(s))
        } else {
            match HEADER_PREFIXES.iter().find_map(|p| key.strip_prefix(p)) {
                Some(name) => rewrite(value, |s| self.header_value(name, s)),
                None => false,
            }
        }
    }

    /// The edits of [`Policy::url`] for `s`, found at `base` in the text being edited. At
    /// `depth` 0 a query value that is itself a URL is redacted too (one level only).
    fn url_edits(&self, s: &str, base: usize, depth: u8, out: &mut Vec<Edit>) {
        if let Some(auth) = authority(s) {
            if let Some(at) = auth.at {
                let info = auth.start..at;
                if !info.is_empty() {
                    let with = if s.as_bytes()[info.clone()].contains(&b':') {
                        "REDACTED:REDACTED"
                    } else {
                        REDACTED
                    };
                    out.push(Edit::new(base, info, with));
                }
            }
            self.path_and_query_edits(s, auth.end, base, depth, out);
        } else if s.starts_with('/')
            || find_byte(s, 0, |b| b == b'?' || b == b'=').is_some_and(|i| s.as_bytes()[i] == b'?')
        {
            self.path_and_query_edits(s, 0, base, depth, out);
        } else {
            self.query_edits(s, base, depth, out);
            if s.bytes().any(|b| b.is_ascii_whitespace()) {
                self.text_edits(s, base, out);
            }
        }
    }

    /// The edits of the path parameters, query and fragment of `s[from..]` (a path, then
    /// `?query`, then `#fragment`; the fragment is read as a query too, as OAuth's implicit
    /// flow puts `#access_token=...` there).
    fn path_and_query_edits(
        &self,
        s: &str,
        from: usize,
        base: usize,
        depth: u8,
        out: &mut Vec<Edit>,
    ) {
        let (mut path_end, mut params) = (from, false);
        for &b in &s.as_bytes()[from..] {
            match b {
                b'?' | b'#' => break,
                b';' => params = true,
                _ => {}
            }
            path_end += 1;
        }
        if params {
            let mut segment_start = from;
            for segment in s[from..path_end].split('/') {
                if let Some(semi) = segment.find(';') {
                    let params = segment_start + semi + 1;
                    let end = segment_start + segment.len();
                    self.query_edits(&s[params..end], base + params, depth, out);
                }
                segment_start += segment.len() + 1;
            }
        }
        let mut fragment = s[path_end..].starts_with('#').then_some(path_end + 1);
        if s[path_end..].starts_with('?') {
            let start = path_end + 1;
            let end = find_byte(s, start, |b| b == b'#').unwrap_or(s.len());
            self.query_edits(&s[start..end], base + start, depth, out);
            fragment = (end < s.len()).then_some(end + 1);
        }
        if let Some(start) = fragment {
            self.query_edits(&s[start..], base + start, depth, out);
        }
    }

    /// The edits of [`Policy::query`] for `q`, found at `base`.
    fn query_edits(&self, q: &str, base: usize, depth: u8, out: &mut Vec<Edit>) {
        let b = q.as_bytes();
        let mut start = usize::from(q.starts_with('?'));
        while start <= b.len() {
            // One pass over the parameter: where its `=` is, whether its key needs decoding,
            // whether its value has a `:` (so may be a URL).
            let (mut end, mut eq, mut encoded, mut value_encoded) = (start, None, false, false);
            while end < b.len() {
                match b[end] {
                    b'&' | b';' => break,
                    b'=' if eq.is_none() => eq = Some(end),
                    b'%' | b'+' if eq.is_none() => encoded = true,
                    b'%' | b'+' => value_encoded = true,
                    _ => {}
                }
                end += 1;
            }
            let key_start = start;
            start = end + 1;
            let Some(eq) = eq else {
                continue;
            };
            let value = eq + 1..end;
            if eq == key_start || value.is_empty() {
                continue;
            }
            let key = &q[key_start..eq];
            let sensitive = if encoded {
                self.is_sensitive(&decode_key(key))
            } else {
                self.is_sensitive(key)
            };
            if sensitive {
                out.push(Edit::new(base, value, REDACTED));
            } else if depth == 0 {
                self.value_edits(&q[value.clone()], base + value.start, value_encoded, out);
            }
        }
    }

    /// The edits of a value that a key that is not sensitive holds (a query or form parameter's,
    /// a JSON string's, a multipart field's), found at `base`: the secrets free text would have
    /// in it ([`Policy::text`]: a URL's, `Bearer`/`Basic` credentials, JWTs; not the pairs of
    /// sensitive keys, which in a value are more often words than keys); a URL's own query
    /// values are not read again. An `encoded` value
    /// (percent- or `+`-encoded, or JSON-escaped) is read decoded, and becomes `REDACTED` whole
    /// when any of these is in it.
    fn value_edits(&self, v: &str, base: usize, encoded: bool, out: &mut Vec<Edit>) {
        if !encoded {
            self.text_edits_at(v, base, 1, false, out);
            return;
        }
        let decoded = decode_key(v);
        let mut edits = Vec::new();
        self.text_edits_at(&decoded, 0, 1, false, &mut edits);
        if matches!(apply(&decoded, edits), Cow::Owned(_)) {
            out.push(Edit::new(base, 0..v.len(), REDACTED));
        }
    }

    /// The edits of a body of a known kind, found at `base`.
    fn body_edits(&self, kind: BodyKind<'_>, s: &str, base: usize, out: &mut Vec<Edit>) {
        match kind {
            BodyKind::Json => self.json_edits(s, base, out),
            BodyKind::Form => self.query_edits(s, base, 0, out),
            BodyKind::Multipart(boundary) => self.multipart_edits(s, boundary, base, out),
            BodyKind::Text => self.text_edits(s, base, out),
        }
    }

    /// The edits of a JSON text, whole or cut short: any string followed by `:` is a key, at
    /// any depth; a sensitive key's value becomes `"REDACTED"`.
    fn json_edits(&self, s: &str, base: usize, out: &mut Vec<Edit>) {
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] != b'"' {
                i += 1;
                continue;
            }
            let (end, closed) = json_string_end(b, i);
            if !closed {
                // A body cut inside a string (a key or a value, unknown): what a value would
                // lose, it loses.
                self.json_string_edits(&s[i + 1..], base + i + 1, true, out);
                return;
            }
            let colon = skip_ws(b, end);
            if b.get(colon) != Some(&b':') {
                // A string value (of a key that is not sensitive, or in an array).
                self.json_string_edits(&s[i + 1..end - 1], base + i + 1, false, out);
                i = end;
                continue;
            }
            if !self.is_sensitive(&json_unescape(&s[i + 1..end - 1])) {
                i = colon + 1;
                continue;
            }
            let v = skip_ws(b, colon + 1);
            if v >= b.len() {
                return;
            }
            let v_end = json_value_end(b, v);
            if v_end > v && !matches!(&s[v..v_end], "null" | "true" | "false") {
                out.push(Edit::new(base, v..v_end, "\"REDACTED\""));
            }
            i = v_end.max(v + 1);
        }
    }

    /// The edits of a JSON string's inside `inner` (found at `base`) that is not a sensitive
    /// key's value: [`Policy::value_edits`], and [`cut_tail_edits`] when the body was `cut`
    /// inside it; escaped, it is read unescaped and becomes `REDACTED` whole when anything in it
    /// is redacted.
    fn json_string_edits(&self, inner: &str, base: usize, cut: bool, out: &mut Vec<Edit>) {
        if !inner.contains('\\') {
            self.text_edits_at(inner, base, 1, false, out);
            if cut {
                cut_tail_edits(inner, base, out);
            }
            return;
        }
        let unescaped = json_unescape(inner);
        let mut edits = Vec::new();
        self.text_edits_at(&unescaped, 0, 1, false, &mut edits);
        if cut {
            cut_tail_edits(&unescaped, 0, &mut edits);
        }
        if matches!(apply(&unescaped, edits), Cow::Owned(_)) {
            out.push(Edit::new(base, 0..inner.len(), REDACTED));
        }
    }

    /// The edits of a `multipart/*` body with `boundary`, found at `base`.
    fn multipart_edits(&self, s: &str, boundary: &str, base: usize, out: &mut Vec<Edit>) {
        let delimiter = format!("--{boundary}");
        let Some(mut at) = find_delimiter(s, &delimiter, 0) else {
            return;
        };
        loop {
            let after = at + delimiter.len();
            if s[after..].starts_with("--") {
                return; // the closing delimiter
            }
            // The rest of the delimiter line, then header lines up to an empty line.
            let Some(nl) = s[after..].find('\n') else {
                return;
            };
            let mut line_start = after + nl + 1;
            let mut head = PartHead::default();
            let content_start = loop {
                let Some(nl) = s[line_start..].find('\n') else {
                    return; // cut inside the headers: no content
                };
                let line = s[line_start..line_start + nl].trim_end_matches('\r');
                line_start += nl + 1;
                if line.is_empty() {
                    break line_start;
                }
                head.read(line);
            };
            let next = find_delimiter(s, &delimiter, content_start);
            let content_end = match next {
                Some(n) => {
                    let end = n - 1; // the '\n' that starts the delimiter line
                    let end = if end > content_start && s.as_bytes()[end - 1] == b'\r' {
                        end - 1
                    } else {
                        end
                    };
                    end.max(content_start)
                }
                None => s.len(),
            };
            let content = content_start..content_end;
            if !content.is_empty() {
                // A part with NULs is not text (a file, UTF-16): as a file is.
                let sensitive = head.name.is_some_and(|n| self.is_sensitive(n))
                    || s.as_bytes()[content.clone()].contains(&0);
                match head.content_type.map(media_kind) {
                    // A plain field, not sensitive: as a value is.
                    None if !head.file && !sensitive => {
                        self.value_edits(&s[content.clone()], base + content.start, false, out)
                    }
                    // A typed part: by its type's rule (nested multipart is for files).
                    Some(Some(kind))
                        if !head.file && !sensitive && !matches!(kind, BodyKind::Multipart(_)) =>
                    {
                        self.body_edits(kind, &s[content.clone()], base + content.start, out)
                    }
                    // A file, a sensitive field, or a part that is not text.
                    _ => out.push(Edit::new(base, content, REDACTED)),
                }
            }
            match next {
                Some(n) => at = n,
                None => return,
            }
        }
    }

    /// The edits of [`Policy::text`] for `s`, found at `base`.
    fn text_edits(&self, s: &str, base: usize, out: &mut Vec<Edit>) {
        self.text_edits_at(s, base, 0, true, out);
    }

    /// [`Policy::text_edits`], its URLs' edits at `depth` (see [`Policy::url_edits`]); the
    /// values of sensitive keys' pairs (`k=v`, `k: v`) only with `pairs`.
    fn text_edits_at(&self, s: &str, base: usize, depth: u8, pairs: bool, out: &mut Vec<Edit>) {
        let b = s.as_bytes();
        // URLs first; the pair rules below skip them.
        let mut urls: Vec<Range<usize>> = Vec::new();
        let mut from = 0;
        while let Some(p) = find_scheme_end(s, from) {
            let url = url_around(b, p);
            if !url.is_empty() {
                self.url_edits(&s[url.clone()], base + url.start, depth, out);
                from = url.end.max(p + 3);
                urls.push(url);
            } else {
                from = p + 3;
            }
        }
        let mut next_url = 0;
        let mut i = 0;
        while i < b.len() {
            while next_url < urls.len() && urls[next_url].end <= i {
                next_url += 1;
            }
            if next_url < urls.len() && urls[next_url].start <= i {
                i = urls[next_url].end;
                continue;
            }
            let found = match b[i] {
                b'=' | b':' if pairs => self.pair_value(s, i, &urls[next_url..], base, out),
                b'b' | b'B' => scheme_credentials(b, i, base, out),
                b'e' => jwt(b, i, base, out),
                _ => None,
            };
            i = found.unwrap_or(i + 1);
        }
    }

    /// At a `=` or `:` in free text: when the key before it is sensitive, the edit of the value
    /// after it, and where to go on scanning. An unquoted value that runs into one of the
    /// `urls` after it (sorted) takes in the whole URL, so the two edits merge into one
    /// `REDACTED` rather than leave a piece of the URL behind.
    fn pair_value(
        &self,
        s: &str,
        i: usize,
        urls: &[Range<usize>],
        base: usize,
        out: &mut Vec<Edit>,
    ) -> Option<usize> {
        let b = s.as_bytes();
        let prev = i.checked_sub(1).map(|p| b[p]);
        let next = b.get(i + 1).copied();
        // `==`, `!=`, `<=`, `>=` compare; `::` separates path segments (stack traces).
        if b[i] == b'=' && (next == Some(b'=') || matches!(prev, Some(b'=' | b'!' | b'<' | b'>'))) {
            return None;
        }
        if b[i] == b':' && (next == Some(b':') || prev == Some(b':')) {
            return None;
        }
        // The key, leftwards: spaces, an optional (escaped) closing quote, then key bytes.
        let mut k = i;
        while k > 0 && matches!(b[k - 1], b' ' | b'\t') {
            k -= 1;
        }
        if k > 0 && matches!(b[k - 1], b'"' | b'\'') {
            k -= 1;
            if k > 0 && b[k - 1] == b'\\' {
                k -= 1;
            }
        }
        let key_end = k;
        while k > 0 && is_key_byte(b[k - 1]) {
            k -= 1;
        }
        if k == key_end || !self.is_sensitive(&s[k..key_end]) {
            return None;
        }
        // The value, rightwards.
        let mut v = i + 1;
        while v < b.len() && matches!(b[v], b' ' | b'\t') {
            v += 1;
        }
        let (start, end) = match b.get(v)? {
            &q @ (b'"' | b'\'') => (v + 1, quoted_end(b, v + 1, q, false)),
            b'\\' if matches!(b.get(v + 1), Some(b'"' | b'\'')) => {
                (v + 2, quoted_end(b, v + 2, b[v + 1], true))
            }
            // A structure: its own keys are found one by one.
            b'{' | b'[' => return None,
            _ => {
                let value_end = |from: usize| {
                    (from..b.len())
                        .find(|&j| ends_value(b[j]))
                        .unwrap_or(b.len())
                };
                let mut end = value_end(v);
                // `Authorization: Basic dTpw`: the scheme stays, the credentials after it go
                // (however short: after a sensitive key they are no prose).
                if let Some(token) = credentials_after(b, v, end) {
                    (token.start, token.end)
                } else if suffix_match(&b[k..key_end], b"authorization").is_some() {
                    // Another scheme (`Token …`, `Digest username=…, response=…`): an
                    // authorization's whole value, to the end of its line.
                    (v, line_end(b, v))
                } else if let Some(token_end) =
                    word_and_token_end(b, v, end).filter(|_| b[i] == b':')
                {
                    // `secret: Token abc123`: a word and credentials after it, both (as a
                    // header is written: `=` pairs hold one word).
                    (v, token_end)
                } else {
                    for url in urls {
                        if url.start >= end {
                            break;
                        }
                        if url.end > end {
                            end = value_end(url.end);
                        }
                    }
                    (v, end)
                }
            }
        };
        if end > start {
            out.push(Edit::new(base, start..end, REDACTED));
        }
        Some(end.max(i + 1))
    }
}

/// The index of the next `://` in `s` at or after `from`. (`str::find` with a string pattern
/// sets up a general searcher on every call, which costs more than the whole scan of a short
/// URL.)
fn find_scheme_end(s: &str, from: usize) -> Option<usize> {
    let mut from = from;
    while let Some(i) = find_byte(s, from, |b| b == b':') {
        if s.as_bytes()[i + 1..].starts_with(b"//") {
            return Some(i);
        }
        from = i + 1;
    }
    None
}

/// The index of the first byte of `s` at or after `from` for which `pred` holds. Used with
/// ASCII bytes only, so the index is a char boundary; a byte loop, much faster than a search
/// for a set of chars, which decodes each char.
#[inline]
fn find_byte(s: &str, from: usize, pred: impl Fn(u8) -> bool) -> Option<usize> {
    s.as_bytes()[from..]
        .iter()
        .position(|&b| pred(b))
        .map(|i| from + i)
}

/// Checks one configured name (see [`ACCEPTED`]).
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME_BYTES {
        return Err(format!(
            "the name {name:?} has {} bytes (1 to {MAX_NAME_BYTES})",
            name.len()
        ));
    }
    if let Some(c) = name.chars().find(|&c| !c.is_ascii_graphic() || c == ',') {
        return Err(format!(
            "the name {name:?} holds {c:?} (printable ASCII without spaces or commas)"
        ));
    }
    if normalise(name).is_empty() {
        return Err(format!(
            "the name {name:?} is only separators (`-`, `_`, `.`, `[`, `]`)"
        ));
    }
    Ok(())
}

/// Whether a name's byte is ignored in matching.
fn is_separator(b: u8) -> bool {
    matches!(b, b'-' | b'_' | b'.' | b' ' | b'[' | b']')
}

/// A name in the form policies keep: lowercase ASCII, no separators.
fn normalise(name: &str) -> Box<str> {
    name.bytes()
        .filter(|&b| !is_separator(b))
        .map(|b| char::from(b.to_ascii_lowercase()))
        .collect::<String>()
        .into_boxed_str()
}

/// Whether the key, normalised, ends with the normalised `name`: `None` if not, `Some(true)`
/// if it equals it, `Some(false)` if something comes before. Compared from the end, with no
/// copy of the key.
fn suffix_match(key: &[u8], name: &[u8]) -> Option<bool> {
    let mut k = key.len();
    for &n in name.iter().rev() {
        loop {
            k = k.checked_sub(1)?;
            if !is_separator(key[k]) {
                break;
            }
        }
        if key[k].to_ascii_lowercase() != n {
            return None;
        }
    }
    Some(key[..k].iter().all(|&b| is_separator(b)))
}

/// A query key as matched: percent-decoded, `+` as a space.
fn decode_key(key: &str) -> String {
    let spaced = key.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

/// Percent-decodes a URL's user or password.
fn decode_userinfo(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// The authority of a URL with a scheme (`scheme://`, including stacked schemes such as
/// `jdbc:postgresql://`) or a scheme-relative one (`//host`): up to the first `/`, `?` or `#`.
/// Leading whitespace is allowed.
fn authority(s: &str) -> Option<Authority> {
    let lead = s.bytes().take_while(u8::is_ascii_whitespace).count();
    let rest = &s[lead..];
    let start = if rest.starts_with("//") {
        lead + 2
    } else {
        let p = find_scheme_end(rest, 0)?;
        let scheme = &rest.as_bytes()[..p];
        let valid = scheme.first().is_some_and(u8::is_ascii_alphabetic)
            && scheme
                .iter()
                .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.' | b':'));
        if !valid {
            return None;
        }
        lead + p + 3
    };
    let (mut end, mut at) = (start, None);
    for &b in &s.as_bytes()[start..] {
        match b {
            b'/' | b'?' | b'#' => break,
            b'@' => at = Some(end),
            _ => {}
        }
        end += 1;
    }
    Some(Authority { start, end, at })
}

/// Where a URL's authority is: `start..end`, and the index of its last `@` (which ends the
/// userinfo) if it has one.
#[derive(Debug)]
struct Authority {
    start: usize,
    end: usize,
    at: Option<usize>,
}

/// The `Authorization` header value for a URL's userinfo: `Basic` and the base64 of
/// `user:password` (RFC 7617), for transports whose client does not do it itself (gRPC, the
/// browser's `fetch`, which refuses a URL with credentials). `None` without userinfo (or an
/// empty one); the URL to send to is [`split_userinfo`]'s.
pub fn basic_authorization(url: &str) -> Option<String> {
    let (_, user, password) = split_userinfo(url)?;
    if user.is_empty() && password.is_none() {
        return None;
    }
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let plain = format!("{user}:{}", password.unwrap_or_default());
    let mut out = String::from("Basic ");
    for chunk in plain.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    Some(out)
}

/// For transports that turn userinfo into `Authorization: Basic` (as reqwest does): the URL
/// without its userinfo, the percent-decoded user and, when the userinfo has a `:`, the
/// password. `None` when the URL has no userinfo. An empty userinfo (`http://@host`) gives an
/// empty user and no password: strip it and add no header.
pub fn split_userinfo(url: &str) -> Option<(String, String, Option<String>)> {
    let auth = authority(url)?;
    let at = auth.at?;
    let info = &url[auth.start..at];
    let stripped = format!("{}{}", &url[..auth.start], &url[at + 1..]);
    let (user, password) = match info.split_once(':') {
        Some((user, password)) => (user, Some(decode_userinfo(password))),
        None => (info, None),
    };
    Some((stripped, decode_userinfo(user), password))
}

/// The kinds of body the scanners know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind<'a> {
    Json,
    Form,
    /// With its boundary (empty when the content type gave none).
    Multipart(&'a str),
    Text,
}

/// The kind of a content type (`type/subtype; params`, any case); `None` when it is not text.
fn media_kind(content_type: &str) -> Option<BodyKind<'_>> {
    let (media, params) = content_type.split_once(';').unwrap_or((content_type, ""));
    let media = media.trim().to_ascii_lowercase();
    let (top, sub) = media.split_once('/')?;
    if sub == "json" || sub.ends_with("+json") || sub == "x-ndjson" {
        Some(BodyKind::Json)
    } else if media == "application/x-www-form-urlencoded" {
        Some(BodyKind::Form)
    } else if top == "multipart" {
        Some(BodyKind::Multipart(param(params, "boundary").unwrap_or("")))
    } else if top == "text"
        || sub == "xml"
        || sub.ends_with("+xml")
        || matches!(sub, "graphql" | "yaml" | "x-yaml")
    {
        Some(BodyKind::Text)
    } else {
        None
    }
}

/// A `name=value` parameter of a header value (`; name="value"`), unquoted.
fn param<'a>(params: &'a str, name: &str) -> Option<&'a str> {
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| unquote(v.trim()))
    })
}

/// A value without its surrounding double quotes, if it has them.
fn unquote(v: &str) -> &str {
    v.strip_prefix('"')
        .map(|v| v.strip_suffix('"').unwrap_or(v))
        .unwrap_or(v)
}

/// The kind of a body whose content type is unknown (a body set as a span attribute).
fn sniff(s: &str) -> BodyKind<'_> {
    let t = s.trim_start();
    if t.starts_with(['{', '[']) {
        return BodyKind::Json;
    }
    // A boundary has 1 to 70 characters (RFC 2046); one with spaces is allowed there but
    // unheard of, while text starting with `--` (an SQL comment) is not.
    if let Some(rest) = t.strip_prefix("--") {
        let boundary = rest.split('\n').next().unwrap_or("").trim_end();
        if (1..=70).contains(&boundary.len()) && !boundary.contains(char::is_whitespace) {
            return BodyKind::Multipart(boundary);
        }
    }
    if s.contains('=') && !s.bytes().any(|b| b.is_ascii_whitespace()) {
        BodyKind::Form
    } else {
        BodyKind::Text
    }
}

/// The next `delimiter` at the start of a line, at or after `from`.
fn find_delimiter(s: &str, delimiter: &str, from: usize) -> Option<usize> {
    let mut from = from;
    while let Some(i) = s[from..].find(delimiter) {
        let at = from + i;
        if at == 0 || s.as_bytes()[at - 1] == b'\n' {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// What a multipart part's headers say.
#[derive(Debug, Default)]
struct PartHead<'a> {
    /// `Content-Disposition: …; name="…"`.
    name: Option<&'a str>,
    /// A `filename=` or `filename*=` parameter: a file, never recorded.
    file: bool,
    content_type: Option<&'a str>,
}

impl<'a> PartHead<'a> {
    /// Reads one header line.
    fn read(&mut self, line: &'a str) {
        let Some((name, value)) = line.split_once(':') else {
            return;
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("content-disposition") {
            for p in value.split(';') {
                let Some((k, v)) = p.split_once('=') else {
                    continue;
                };
                let k = k.trim();
                if k.eq_ignore_ascii_case("name") {
                    self.name = Some(unquote(v.trim()));
                } else if k.eq_ignore_ascii_case("filename") || k.eq_ignore_ascii_case("filename*")
                {
                    self.file = true;
                }
            }
        } else if name.eq_ignore_ascii_case("content-type") {
            self.content_type = Some(value.trim());
        }
    }
}

/// The first index at or after `i` that is not JSON whitespace.
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// The end (just past the closing quote) of the JSON string starting at `b[start] == b'"'`, and
/// whether it was closed (else the end is the input's).
fn json_string_end(b: &[u8], start: usize) -> (usize, bool) {
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return (i + 1, true),
            _ => i += 1,
        }
    }
    (b.len(), false)
}

/// The end of the JSON value starting at `b[start]` (not whitespace): a string, a balanced
/// object or array, or a number or literal; the input's end when it is cut short.
fn json_value_end(b: &[u8], start: usize) -> usize {
    match b[start] {
        b'"' => json_string_end(b, start).0,
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = start;
            while i < b.len() {
                match b[i] {
                    b'"' => {
                        i = json_string_end(b, i).0;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return i + 1;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            b.len()
        }
        _ => (start..b.len())
            .find(|&i| matches!(b[i], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
            .unwrap_or(b.len()),
    }
}

/// The text of a JSON string's inside, escapes decoded (lone surrogates as U+FFFD; a cut
/// escape ignored): enough to match keys such as `"pass\u0077ord"`.
fn json_unescape(s: &str) -> Cow<'_, str> {
    if !s.contains('\\') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let Ok(unit) = u16::from_str_radix(&hex, 16) else {
                    continue;
                };
                // A high surrogate takes the `\uXXXX` after it when there is one.
                let mut units = vec![unit];
                if (0xD800..0xDC00).contains(&unit) && chars.as_str().starts_with("\\u") {
                    let low = chars.as_str().get(2..6).map(|h| u16::from_str_radix(h, 16));
                    if let Some(Ok(low)) = low {
                        units.push(low);
                        chars.nth(5);
                    }
                }
                out.extend(char::decode_utf16(units).map(|r| r.unwrap_or('\u{FFFD}')));
            }
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    Cow::Owned(out)
}

/// A byte of a key in free text.
fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'[' | b']')
}

/// A byte that ends an unquoted value in free text.
fn ends_value(b: u8) -> bool {
    b.is_ascii_whitespace()
        || matches!(
            b,
            b'&' | b';' | b',' | b'"' | b'\'' | b')' | b']' | b'}' | b'<' | b'>' | b'`' | b'\\'
        )
}

/// The end of a quoted value whose inside starts at `from`: the closing `quote` (preceded by
/// a backslash when `escaped`), else the end of the line or input. A backslash escapes the
/// next byte in an unescaped quote.
fn quoted_end(b: &[u8], from: usize, quote: u8, escaped: bool) -> usize {
    let mut i = from;
    while i < b.len() && b[i] != b'\n' {
        if escaped {
            if b[i] == b'\\' && b.get(i + 1) == Some(&quote) {
                return i;
            }
        } else if b[i] == b'\\' {
            i += 1;
        } else if b[i] == quote {
            return i;
        }
        i += 1;
    }
    i.min(b.len())
}

/// Whether a word is an HTTP authentication scheme whose credentials follow it.
fn is_auth_scheme(word: &[u8]) -> bool {
    word.eq_ignore_ascii_case(b"bearer") || word.eq_ignore_ascii_case(b"basic")
}

/// When `b[word..word_end]` is an authentication scheme followed by spaces and credentials,
/// the credentials' range.
fn credentials_after(b: &[u8], word: usize, word_end: usize) -> Option<Range<usize>> {
    if !is_auth_scheme(&b[word..word_end]) {
        return None;
    }
    token_after_blanks(b, word_end)
}

/// After a word ending at `word_end`: one or more blanks, then a token68 run (credentials);
/// the run's range.
fn token_after_blanks(b: &[u8], word_end: usize) -> Option<Range<usize>> {
    if !matches!(b.get(word_end), Some(b' ' | b'\t')) {
        return None;
    }
    let mut start = word_end;
    while matches!(b.get(start), Some(b' ' | b'\t')) {
        start += 1;
    }
    let mut end = start;
    while end < b.len() && is_token68(b[end]) {
        end += 1;
    }
    (end > start).then_some(start..end)
}

/// An exporter endpoint as a configuration error repeats it: [`Policy::url`] of the built-in
/// policy; and when the value is too malformed for that to find its userinfo (no `://`:
/// `user:pw@host`, `http//u:pw@host`, `http:/u:pw@host`), what comes before its last `@`
/// (before any `?` or `#`) becomes `REDACTED`, but for a scheme-like prefix (`http:/`).
pub(crate) fn endpoint_shown(raw: &str) -> String {
    let shown = Policy::builtin().url(raw).into_owned();
    let b = shown.as_bytes();
    // An `@` before the first `://` (or anywhere, without one) is userinfo the URL rules could
    // not see: a password may hold `?` or `#`, and a `://` may come later, in the query.
    let head = find_scheme_end(&shown, 0).unwrap_or(b.len());
    let Some(at) = b[..head].iter().rposition(|&c| c == b'@') else {
        return shown;
    };
    let letters = b[..at]
        .iter()
        .take_while(|c| c.is_ascii_alphabetic())
        .count();
    let prefix = if letters > 0 && b.get(letters) == Some(&b':') {
        letters
            + 1
            + b[letters + 1..at]
                .iter()
                .take_while(|&&c| c == b'/')
                .count()
    } else {
        0
    };
    format!("{}{REDACTED}{}", &shown[..prefix], &shown[at..])
}

/// A path with nothing [`Policy::url`] could redact: no parameters (`;`), query or fragment,
/// and no authority (`//host`).
fn is_plain_path(s: &str) -> bool {
    s.starts_with('/')
        && !s.starts_with("//")
        && !s.bytes().any(|b| matches!(b, b';' | b'?' | b'#'))
}

/// The end of a text cut short (a capped body's last, unfinished string), found at `base`: a
/// credential the cut ran through has lost what tells it (its length, a URL's `@`), so its last
/// token goes when it follows `Basic` or `Bearer`, holds a `://`, or starts a JWT (`eyJ`).
fn cut_tail_edits(text: &str, base: usize, out: &mut Vec<Edit>) {
    let b = text.as_bytes();
    let start = b
        .iter()
        .rposition(|&c| c.is_ascii_whitespace() || c == b'"')
        .map_or(0, |p| p + 1);
    if start == b.len() {
        return;
    }
    let word = text[..start]
        .trim_end()
        .rsplit(char::is_whitespace)
        .next()
        .unwrap_or("");
    let secret = word.eq_ignore_ascii_case("basic")
        || word.eq_ignore_ascii_case("bearer")
        || find_scheme_end(&text[start..], 0).is_some()
        || b[start..].starts_with(b"eyJ");
    if secret {
        out.push(Edit::new(base, start..b.len(), REDACTED));
    }
}

/// The end of the line `from` is in (before its `\r` or `\n`), or of `b`.
fn line_end(b: &[u8], from: usize) -> usize {
    (from..b.len())
        .find(|&j| matches!(b[j], b'\r' | b'\n'))
        .unwrap_or(b.len())
}

/// After a sensitive key, `b[word..word_end]` a word shaped like an authentication scheme
/// (a letter, then letters, digits and `-`) followed by blanks and a token68 run: the end of
/// that run. The word alone is not taken for the whole secret when credentials follow it.
fn word_and_token_end(b: &[u8], word: usize, word_end: usize) -> Option<usize> {
    let w = &b[word..word_end];
    // (`REDACTED` and a word after it: a value redacted before, read again.)
    let shaped = w.first().is_some_and(u8::is_ascii_alphabetic)
        && w.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-')
        && w != REDACTED.as_bytes();
    if !shaped {
        return None;
    }
    let Range { start, end } = token_after_blanks(b, word_end)?;
    // token68's `=` pads its end: `name=value` after the word is another pair, and `name:` a
    // key, not credentials.
    let token = &b[start..end];
    let padded = token.iter().rposition(|&c| c != b'=');
    // Credentials, not prose: as after `Basic`/`Bearer`, a word of fewer than 8 letters only
    // is a word (`token: expired at 12:00`).
    let prose = token.len() < 8 && token.iter().all(u8::is_ascii_alphabetic);
    let credentials = padded.is_some_and(|last| !token[..last].contains(&b'='))
        && b.get(end) != Some(&b':')
        && !prose;
    credentials.then_some(end)
}

/// A token68 byte (RFC 9110 credentials: base64, base64url and the like).
fn is_token68(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
}

/// At a `b`/`B` in free text: `Bearer <token>` or `Basic <credentials>` (a word on its own, any
/// case), the edit of the credentials and where to go on scanning. Credentials of fewer than 8
/// letters only are prose ("basic auth"), kept.
fn scheme_credentials(b: &[u8], i: usize, base: usize, out: &mut Vec<Edit>) -> Option<usize> {
    if i > 0 && b[i - 1].is_ascii_alphanumeric() {
        return None;
    }
    let word_end = [6, 5]
        .into_iter()
        .map(|n| i + n)
        .find(|&end| end <= b.len() && is_auth_scheme(&b[i..end]))?;
    let token = credentials_after(b, i, word_end)?;
    let t = &b[token.clone()];
    if t.len() < 8 && t.iter().all(u8::is_ascii_alphabetic) {
        return None;
    }
    let end = token.end;
    out.push(Edit::new(base, token, REDACTED));
    Some(end)
}

/// At an `e` in free text: a JSON Web Token (`eyJ` header, `.`, `eyJ` payload, optional
/// signature) on its own, its edit and where to go on scanning.
fn jwt(b: &[u8], i: usize, base: usize, out: &mut Vec<Edit>) -> Option<usize> {
    if !b[i..].starts_with(b"eyJ") || (i > 0 && is_token68(b[i - 1])) {
        return None;
    }
    let is_b64url = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'=');
    let mut end = i;
    let mut dots = 0;
    while end < b.len() && (is_b64url(b[end]) || b[end] == b'.') {
        dots += usize::from(b[end] == b'.');
        end += 1;
    }
    let token = &b[i..end];
    let payload = token
        .iter()
        .position(|&c| c == b'.')
        .map(|p| &token[p + 1..]);
    if !(1..=2).contains(&dots) || !payload.is_some_and(|p| p.starts_with(b"eyJ")) {
        return None;
    }
    out.push(Edit::new(base, i..end, REDACTED));
    Some(end)
}

/// The extent of the URL around the `://` at `p` in free text: its scheme leftwards (from its
/// first letter), up to a space, quote, `<`, `>`, backtick or backslash, without trailing
/// punctuation. Empty when no scheme precedes.
fn url_around(b: &[u8], p: usize) -> Range<usize> {
    let mut start = p;
    while start > 0
        && (b[start - 1].is_ascii_alphanumeric() || matches!(b[start - 1], b'+' | b'-' | b'.'))
    {
        start -= 1;
    }
    while start < p && !b[start].is_ascii_alphabetic() {
        start += 1;
    }
    if start == p {
        return p..p;
    }
    let mut end = p + 3;
    while end < b.len()
        && !b[end].is_ascii_whitespace()
        && !matches!(b[end], b'"' | b'\'' | b'<' | b'>' | b'`' | b'\\')
    {
        end += 1;
    }
    while end > p + 3
        && matches!(
            b[end - 1],
            b'.' | b',' | b';' | b':' | b'!' | b'?' | b')' | b']' | b'}'
        )
    {
        end -= 1;
    }
    start..end
}

/// Rewrites a string value, or each string of an array, with `f`; `true` if any changed.
fn rewrite(value: &mut Value, f: impl for<'s> Fn(&'s str) -> Cow<'s, str>) -> bool {
    /// The new text of `s`, if `f` changed it.
    fn changed(s: &str, f: &impl for<'s> Fn(&'s str) -> Cow<'s, str>) -> Option<String> {
        match f(s) {
            Cow::Owned(new) => Some(new),
            Cow::Borrowed(new) if std::ptr::eq(new, s) || new == s => None,
            Cow::Borrowed(new) => Some(new.to_owned()),
        }
    }
    match value {
        Value::String(s) => match changed(s.as_str(), &f) {
            Some(new) => {
                *s = StringValue::from(new);
                true
            }
            None => false,
        },
        Value::Array(Array::String(items)) => {
            let mut any = false;
            for s in items.iter_mut() {
                if let Some(new) = changed(s.as_str(), &f) {
                    *s = StringValue::from(new);
                    any = true;
                }
            }
            any
        }
        _ => false,
    }
}

/// One replacement in the text being redacted: `start..end` becomes `with`.
#[derive(Debug, Clone, Copy)]
struct Edit {
    start: usize,
    end: usize,
    with: &'static str,
}

impl Edit {
    /// The edit of `range` of a slice found at `base` in the text being edited.
    fn new(base: usize, range: Range<usize>, with: &'static str) -> Edit {
        Edit {
            start: base + range.start,
            end: base + range.end,
            with,
        }
    }
}

/// `s` with the edits `find` finds made. A replacement can complete a pattern with the text
/// after it (`Basic x+/` before `://a@b` gives a URL), so text that changed is scanned again
/// until it stays the same (at most [`RESCANS`] times): redacting the result again changes
/// nothing, and the cost falls only on text that held a secret.
fn redact<'a>(s: &'a str, find: impl Fn(&str, &mut Vec<Edit>)) -> Cow<'a, str> {
    let mut edits = Vec::new();
    find(s, &mut edits);
    let mut out = match apply(s, edits) {
        Cow::Borrowed(_) => return Cow::Borrowed(s),
        Cow::Owned(out) => out,
    };
    for _ in 0..RESCANS {
        let mut edits = Vec::new();
        find(&out, &mut edits);
        match apply(&out, edits) {
            Cow::Borrowed(_) => break,
            Cow::Owned(again) => out = again,
        }
    }
    Cow::Owned(out)
}

/// How many times [`redact`] scans changed text again.
const RESCANS: usize = 3;

/// `s` with `edits` made. Overlapping or adjacent edits (two rules finding the same secret)
/// merge into one `REDACTED`; an edit that would change nothing is skipped, so a clean or
/// already redacted text comes back borrowed.
fn apply(s: &str, mut edits: Vec<Edit>) -> Cow<'_, str> {
    if edits.is_empty() {
        return Cow::Borrowed(s);
    }
    crate::sort::sort_by_key(&mut edits, |e| (e.start, e.end));
    let mut merged: Vec<Edit> = Vec::with_capacity(edits.len());
    for e in edits {
        match merged.last_mut() {
            Some(last) if e.start <= last.end => {
                if (e.start, e.end, e.with) != (last.start, last.end, last.with) {
                    last.end = last.end.max(e.end);
                    last.with = REDACTED;
                }
            }
            _ => merged.push(e),
        }
    }
    merged.retain(|e| s[e.start..e.end] != *e.with);
    if merged.is_empty() {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16 * merged.len());
    let mut at = 0;
    for e in merged {
        out.push_str(&s[at..e.start]);
        out.push_str(e.with);
        at = e.end;
    }
    out.push_str(&s[at..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin() -> &'static Policy {
        Policy::builtin()
    }

    fn policy(names: &[&str]) -> Policy {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        Policy::new(&names).expect("a valid list")
    }

    /// `f(input)`, asserting it is borrowed exactly when it equals the input.
    fn check<'a>(input: &'a str, out: Cow<'a, str>) -> String {
        match &out {
            Cow::Borrowed(s) => assert!(std::ptr::eq(*s, input), "borrowed but changed: {s}"),
            Cow::Owned(s) => assert_ne!(s, input, "owned but unchanged"),
        }
        out.into_owned()
    }

    fn url(s: &str) -> String {
        let once = check(s, builtin().url(s));
        // Idempotent: the redacted form comes back borrowed.
        assert!(matches!(builtin().url(&once), Cow::Borrowed(_)), "{once}");
        once
    }

    fn query(s: &str) -> String {
        let once = check(s, builtin().query(s));
        assert!(matches!(builtin().query(&once), Cow::Borrowed(_)), "{once}");
        once
    }

    fn text(s: &str) -> String {
        let once = check(s, builtin().text(s));
        assert!(matches!(builtin().text(&once), Cow::Borrowed(_)), "{once}");
        once
    }

    fn body(content_type: &str, s: &str) -> Option<String> {
        builtin().body(content_type, s.as_bytes(), usize::MAX)
    }

    fn attribute(key: &str, value: impl Into<Value>) -> (bool, Value) {
        let mut value = value.into();
        let changed = builtin().attribute(key, &mut value);
        (changed, value)
    }

    fn strings(items: &[&str]) -> Value {
        Value::Array(Array::String(
            items
                .iter()
                .map(|s| StringValue::from(s.to_string()))
                .collect(),
        ))
    }

    // --- names ---

    #[test]
    fn builtin_names_match_exactly_or_as_a_suffix() {
        for name in [
            "password",
            "PASSWORD",
            "Password",
            "access_token",
            "access-token",
            "accessToken",
            "refresh_token",
            "X-Goog-Signature",
            "x-amz-signature",
            "X-Amz-Credential",
            "X-Amz-Security-Token",
            "AWSAccessKeyId",
            "Signature",
            "sig",
            "SIG",
            "client_secret",
            "old_password",
            "new-passwd",
            "oauth",
            "api_key",
            "api.key",
            "x-api-key",
            "apikey",
            "auth",
            "authorization",
            "proxy-authorization",
            "set-cookie",
            "session",
            "session.id",
            "JSESSIONID",
            "user[password]",
            "user password",
            "credentials",
            "private_key",
            "jwt",
            "pwd",
        ] {
            assert!(builtin().is_sensitive(name), "{name}");
        }
    }

    #[test]
    fn short_names_and_ordinary_words_do_not_match() {
        for name in [
            "design",
            "signal",
            "sigma",
            "cwd",
            "pwdx",
            "author",
            "id",
            "key",
            "q",
            "user",
            "username",
            "tokenizer",
            "page",
            "",
            "-",
            "é",
            "passwordé",
            "jwts",
        ] {
            assert!(!builtin().is_sensitive(name), "{name}");
        }
    }

    #[test]
    fn long_names_match_by_their_tail() {
        let long = format!("{}_password", "x".repeat(200));
        assert!(builtin().is_sensitive(&long));
        // 64 bytes of tail exactly equal to nothing, but still a suffix match.
        let exact_64 = format!("{}token", "a".repeat(59));
        assert!(builtin().is_sensitive(&exact_64));
        assert!(!builtin().is_sensitive(&"a".repeat(300)));
    }

    #[test]
    fn policy_lists() {
        let p = policy(&["default", "ssn", "card_number"]);
        assert!(
            p.is_sensitive("password") && p.is_sensitive("SSN") && p.is_sensitive("card-number")
        );
        assert!(p.is_sensitive("customer.card_number"));
        // `ssn` is 3 bytes: exact only.
        assert!(!p.is_sensitive("lessn"));

        let only = policy(&["ssn"]);
        assert!(only.is_sensitive("ssn") && !only.is_sensitive("password"));

        for none in [policy(&["none"]), policy(&["NONE"]), policy(&[])] {
            assert!(!none.is_sensitive("password"));
            assert_eq!(none.query("password=x"), "password=x");
            // Userinfo and the always-dropped headers stay redacted.
            assert_eq!(none.url("https://u:p@h/"), "https://REDACTED:REDACTED@h/");
            assert_eq!(none.header_value("Authorization", "Basic dTpw"), REDACTED);
            assert_eq!(none.header_value("x_api_key", "k"), REDACTED);
            assert_eq!(none.header_value("x-custom-token", "t"), "t");
        }

        assert_eq!(policy(&["Default", "DEFAULT"]), *builtin());
        assert_eq!(Policy::default(), *builtin());
        // Duplicates after normalisation are kept once.
        assert_eq!(policy(&["api_key", "API-KEY", "apikey"]).names.len(), 1);
    }

    #[test]
    fn policy_errors_say_what_is_wrong() {
        let err = |names: Vec<String>| Policy::new(&names).expect_err("invalid");
        assert!(err(vec!["a b".into()]).contains("' '"));
        assert!(err(vec!["a,b".into()]).contains("','"));
        assert!(err(vec!["".into()]).contains("0 bytes"));
        assert!(err(vec!["x".repeat(65)]).contains("65 bytes"));
        assert!(err(vec!["caf\u{e9}".into()]).contains("printable ASCII"));
        assert!(err(vec!["tab\t".into()]).contains("printable ASCII"));
        assert!(err(vec!["-_.".into()]).contains("separators"));
        assert!(err(vec!["none".into(), "ssn".into()]).contains("none"));
        assert!(err((0..257).map(|i| format!("n{i}")).collect()).contains("257 names"));
        assert!(Policy::new(&(0..256).map(|i| format!("n{i}")).collect::<Vec<_>>()).is_ok());
        assert!(Policy::new(&["x".repeat(64)]).is_ok());
    }

    // --- urls ---

    #[test]
    fn url_userinfo() {
        assert_eq!(
            url("https://user:pass@example.com/x"),
            "https://REDACTED:REDACTED@example.com/x"
        );
        assert_eq!(
            url("https://user@example.com"),
            "https://REDACTED@example.com"
        );
        // Password only, and an empty password: still the `user:password` form.
        assert_eq!(
            url("https://:S3CR3T@example.com/"),
            "https://REDACTED:REDACTED@example.com/"
        );
        assert_eq!(
            url("https://user:@example.com/"),
            "https://REDACTED:REDACTED@example.com/"
        );
        // An unencoded `@` in the password: the last `@` ends the userinfo.
        assert_eq!(url("http://u:p@ss@h:1/"), "http://REDACTED:REDACTED@h:1/");
        // Nothing in an empty userinfo.
        assert_eq!(url("http://@h/"), "http://@h/");
        // An `@` after the authority is not userinfo.
        assert_eq!(url("https://h/path@x?q=a@b"), "https://h/path@x?q=a@b");
    }

    #[test]
    fn url_ipv6_host_and_port() {
        assert_eq!(
            url("http://admin:S3CR3T@[2001:db8::1]:8080/v1/traces?token=S3CR3T#top"),
            "http://REDACTED:REDACTED@[2001:db8::1]:8080/v1/traces?token=REDACTED#top"
        );
        assert_eq!(
            url("http://[::1]:4318/v1/traces"),
            "http://[::1]:4318/v1/traces"
        );
    }

    #[test]
    fn url_schemes() {
        assert_eq!(
            url("redis://:S3CR3T@cache:6379/0"),
            "redis://REDACTED:REDACTED@cache:6379/0"
        );
        assert_eq!(
            url("jdbc:postgresql://u:S3CR3T@db:5432/app?sslpassword=S3CR3T&ssl=true"),
            "jdbc:postgresql://REDACTED:REDACTED@db:5432/app?sslpassword=REDACTED&ssl=true"
        );
        assert_eq!(
            url("//u:p@h/x?sig=1"),
            "//REDACTED:REDACTED@h/x?sig=REDACTED"
        );
        assert_eq!(url("  https://u:p@h/"), "  https://REDACTED:REDACTED@h/");
        assert_eq!(
            url("mailto:a@b.example?token=1"),
            "mailto:a@b.example?token=REDACTED"
        );
        // Not a scheme (starts with a digit): read as a path with a query.
        assert_eq!(url("1a://u:p@h/?token=1"), "1a://u:p@h/?token=REDACTED");
    }

    #[test]
    fn url_query_values() {
        // The semantic conventions' own example.
        assert_eq!(
            url("https://www.example.com/path?color=blue&sig=abc123"),
            "https://www.example.com/path?color=blue&sig=REDACTED"
        );
        assert_eq!(
            url("https://s3.example/b/k?AWSAccessKeyId=AKIA&Signature=s%2Fg&Expires=1"),
            "https://s3.example/b/k?AWSAccessKeyId=REDACTED&Signature=REDACTED&Expires=1"
        );
        assert_eq!(
            url("https://storage.example/o?X-Goog-Signature=abc&X-Goog-Date=1"),
            "https://storage.example/o?X-Goog-Signature=REDACTED&X-Goog-Date=1"
        );
        // The fragment is read as a query too (OAuth's implicit flow returns tokens there).
        assert_eq!(
            url("https://h/p?password=x#section?token=y"),
            "https://h/p?password=REDACTED#section?token=REDACTED"
        );
        assert_eq!(
            url("https://app.example/cb#access_token=abc&state=1"),
            "https://app.example/cb#access_token=REDACTED&state=1"
        );
        assert_eq!(url("https://h/docs#install"), "https://h/docs#install");
        assert_eq!(url("https://h/p?design=1&q=2"), "https://h/p?design=1&q=2");
    }

    #[test]
    fn url_path_parameters_and_nested_urls() {
        assert_eq!(
            url("https://h/cart;jsessionid=ABC123/item?x=1"),
            "https://h/cart;jsessionid=REDACTED/item?x=1"
        );
        assert_eq!(
            url("https://h/login?next=https://u:p@other/cb&x=1"),
            "https://h/login?next=https://REDACTED:REDACTED@other/cb&x=1"
        );
    }

    #[test]
    fn url_of_strings_without_scheme() {
        // `http.target`
        assert_eq!(
            url("/search?q=x&token=abc#f"),
            "/search?q=x&token=REDACTED#f"
        );
        assert_eq!(url("/plain/path"), "/plain/path");
        assert_eq!(url("/a=b;sid=1?token=x"), "/a=b;sid=1?token=REDACTED");
        // A bare query.
        assert_eq!(url("a=1&api_key=k"), "a=1&api_key=REDACTED");
        // Connection strings: ADO (`;`), and libpq (spaces).
        assert_eq!(
            url("Server=db;Database=app;User Id=sa;Password=S3CR3T?x;"),
            "Server=db;Database=app;User Id=sa;Password=REDACTED;"
        );
        assert_eq!(
            url("host=db port=5432 password=S3CR3T dbname=app"),
            "host=db port=5432 password=REDACTED dbname=app"
        );
        assert_eq!(url("not a url"), "not a url");
        assert_eq!(url(""), "");
    }

    // --- queries ---

    #[test]
    fn query_keys_are_decoded_to_match_and_written_as_given() {
        assert_eq!(query("pass%77ord=x&a=1"), "pass%77ord=REDACTED&a=1");
        assert_eq!(query("api+key=x"), "api+key=REDACTED");
        assert_eq!(query("api%20key=x"), "api%20key=REDACTED");
        assert_eq!(query("user%5Bpassword%5D=x"), "user%5Bpassword%5D=REDACTED");
        assert_eq!(query("user[password]=x"), "user[password]=REDACTED");
        // Invalid percent-encoding is matched as it is.
        assert_eq!(query("%ZZtoken=x"), "%ZZtoken=REDACTED");
        assert_eq!(query("%FF=x"), "%FF=x");
    }

    #[test]
    fn query_separators_repeats_and_odd_pieces() {
        assert_eq!(query("a=1;token=x;b=2"), "a=1;token=REDACTED;b=2");
        assert_eq!(
            query("a=1&token=x;sig=y&b"),
            "a=1&token=REDACTED;sig=REDACTED&b"
        );
        assert_eq!(
            query("token=a&token=b&token=c"),
            "token=REDACTED&token=REDACTED&token=REDACTED"
        );
        // A key without `=`, an empty value, an empty key: nothing to redact.
        assert_eq!(query("token&password=&=x&&"), "token&password=&=x&&");
        // The value runs to the next separator, `=` included.
        assert_eq!(query("token=ab==&x=1"), "token=REDACTED&x=1");
        assert_eq!(query("?token=x"), "?token=REDACTED");
        assert_eq!(query("?sig=x"), "?sig=REDACTED");
        assert_eq!(
            query("design=1&signal=2&sigma=3"),
            "design=1&signal=2&sigma=3"
        );
    }

    // --- bodies ---

    #[test]
    fn json_nested_arrays_and_types() {
        let input = r#"{"user":"ann","password":"hunter2","profile":{"api_key":"k1","age":3},
            "items":[{"token":"t1"},{"token":"t2","n":1}],"secret":{"a":[1,{"b":"c"}]},
            "pin_token":1234,"auth":null,"session":true,"list":["password","x"]}"#;
        let out = body("application/json", input).expect("json");
        let v: serde_json::Value = serde_json::from_str(&out).expect("still valid JSON");
        assert_eq!(v["user"], "ann");
        assert_eq!(v["password"], REDACTED);
        assert_eq!(v["profile"]["api_key"], REDACTED);
        assert_eq!(v["profile"]["age"], 3);
        assert_eq!(v["items"][0]["token"], REDACTED);
        assert_eq!(v["items"][1]["token"], REDACTED);
        assert_eq!(v["items"][1]["n"], 1);
        assert_eq!(v["secret"], REDACTED);
        assert_eq!(v["pin_token"], REDACTED);
        assert_eq!(v["auth"], serde_json::Value::Null);
        assert_eq!(v["session"], true);
        // A string that is not a key is not a key.
        assert_eq!(v["list"][0], "password");
        assert!(!out.contains("hunter2") && !out.contains("t1") && !out.contains("1234"));
    }

    /// Queries, forms, JSON and multipart fields: a value of a key that is not sensitive keeps
    /// no credentials, JWT or URL secret that free text would lose, encoded or not.
    #[test]
    fn credentials_inside_values_are_redacted() {
        const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.S3CR3Tsig";
        assert_eq!(query("note=Bearer%20S3CR3T04&a=1"), "note=REDACTED&a=1");
        assert_eq!(query("note=Bearer+S3CR3T04"), "note=REDACTED");
        assert_eq!(query(&format!("t={JWT}&a=1")), "t=REDACTED&a=1");
        assert_eq!(
            query("next=https%3A%2F%2Fu%3AS3CR3T%40h%2F"),
            "next=REDACTED"
        );
        assert_eq!(
            body("application/x-www-form-urlencoded", &format!("data={JWT}")).as_deref(),
            Some("data=REDACTED")
        );
        assert_eq!(
            body(
                "application/json",
                r#"{"note":"Bearer S3CR3T01","n":["Basic dTpwYXNzd29yZA=="]}"#
            )
            .as_deref(),
            Some(r#"{"note":"Bearer REDACTED","n":["Basic REDACTED"]}"#)
        );
        assert_eq!(
            body(
                "application/json",
                r#"{"next":"https://u:S3CR3T@h/x?access_token=S3CR3T08&page=2"}"#
            )
            .as_deref(),
            Some(r#"{"next":"https://REDACTED:REDACTED@h/x?access_token=REDACTED&page=2"}"#)
        );
        // Escaped slashes (PHP's json_encode): the string is read unescaped, and goes whole.
        assert_eq!(
            body("application/json", r#"{"next":"https:\/\/u:S3CR3T@h\/"}"#).as_deref(),
            Some(r#"{"next":"REDACTED"}"#)
        );
        let multipart = format!(
            "--b\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nsee {JWT}\r\n--b--\r\n"
        );
        assert_eq!(
            body("multipart/form-data; boundary=b", &multipart).as_deref(),
            Some(
                "--b\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nsee REDACTED\r\n--b--\r\n"
            )
        );
        // A JSON body cut short (a capped request body) inside a string that holds one.
        assert_eq!(
            body(
                "application/json",
                r#"{"pad":"x","note":"fwd Authorization: Basic dXNlcjpwYXNzd29yZA== from"#
            )
            .as_deref(),
            Some(r#"{"pad":"x","note":"fwd Authorization: Basic REDACTED from"#)
        );
        // Cut inside the credential itself: what is left of it goes.
        for (cut, shown) in [
            (r#"{"a":"https://user:secretpw"#, r#"{"a":"REDACTED"#),
            (
                r#"{"note":"x Basic dXNlcjo"#,
                r#"{"note":"x Basic REDACTED"#,
            ),
            (r#"{"note":"Bearer abcdefg"#, r#"{"note":"Bearer REDACTED"#),
            (r#"{"t":"eyJhbGciOi"#, r#"{"t":"REDACTED"#),
            (r#"{"note":"all is wel"#, r#"{"note":"all is wel"#),
        ] {
            assert_eq!(
                body("application/json", cut).as_deref(),
                Some(shown),
                "{cut}"
            );
        }
        // Values that hold none stay as they are; a key's words in a value are no pair.
        assert_eq!(query("q=basic+auth&page=2"), "q=basic+auth&page=2");
        assert_eq!(
            body("application/json", r#"{"q":"password: reset"}"#).as_deref(),
            Some(r#"{"q":"password: reset"}"#)
        );
    }

    /// UTF-16 text hides its keys from the rules (NULs between the letters): not recorded. A
    /// multipart body's binary file is its part's affair: the fields stay.
    #[test]
    fn a_body_with_nul_bytes_is_not_text() {
        let utf16: Vec<u8> =
            r#"{"password":"S3CR3T12"}"#.encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert_eq!(
            builtin().body("application/json; charset=utf-16", &utf16, 4096),
            None
        );
        let text = String::from_utf8_lossy(&utf16).into_owned();
        assert_eq!(
            attribute("http.request.body", text),
            (true, Value::from(REDACTED))
        );
        let upload =
            b"--b\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n--b\r\n\
            Content-Disposition: form-data; name=\"f\"\r\n\r\n\x89PNG\x00\x00\r\n--b--\r\n";
        let shown = builtin()
            .body("multipart/form-data; boundary=b", upload, 4096)
            .unwrap();
        assert!(shown.contains("hello") && !shown.contains("PNG"), "{shown}");
    }

    #[test]
    fn json_escaped_keys_and_strings() {
        assert_eq!(
            body("application/json", r#"{"pass\u0077ord":"x","a\"b":"y"}"#).as_deref(),
            Some(r#"{"pass\u0077ord":"REDACTED","a\"b":"y"}"#)
        );
        assert_eq!(
            body("application/json", r#"{"\u0074oken" : "a\"b\\", "k":"v"}"#).as_deref(),
            Some(r#"{"\u0074oken" : "REDACTED", "k":"v"}"#)
        );
        // An escaped quote inside a value does not end it; a key inside a value is no key.
        assert_eq!(
            body(
                "application/json",
                r#"{"note":"say \"token\": x","token":"q\"r"}"#
            )
            .as_deref(),
            Some(r#"{"note":"say \"token\": x","token":"REDACTED"}"#)
        );
        // Surrogate pairs and lone surrogates in keys.
        assert_eq!(
            body(
                "application/json",
                r#"{"\ud83d\ude00token":"x","\udc00":"y"}"#
            )
            .as_deref(),
            Some(r#"{"\ud83d\ude00token":"REDACTED","\udc00":"y"}"#)
        );
    }

    #[test]
    fn json_cut_short() {
        let j = |s| body("application/json", s);
        assert_eq!(
            j(r#"{"a":1,"password":"hun"#).as_deref(),
            Some(r#"{"a":1,"password":"REDACTED""#)
        );
        assert_eq!(
            j(r#"{"secret":{"a":[1,"#).as_deref(),
            Some(r#"{"secret":"REDACTED""#)
        );
        assert_eq!(
            j(r#"{"token":12"#).as_deref(),
            Some(r#"{"token":"REDACTED""#)
        );
        assert_eq!(j(r#"{"token":"#).as_deref(), Some(r#"{"token":"#));
        assert_eq!(j(r#"{"token""#).as_deref(), Some(r#"{"token""#));
        assert_eq!(j(r#"{"tok"#).as_deref(), Some(r#"{"tok"#));
        assert_eq!(j(r#"[{"x":"\"#).as_deref(), Some(r#"[{"x":"\"#));
        // Malformed: no value to redact, nothing inserted.
        assert_eq!(j(r#"{"token":}"#).as_deref(), Some(r#"{"token":}"#));
        assert_eq!(
            j(r#"{"token":,"a":1}"#).as_deref(),
            Some(r#"{"token":,"a":1}"#)
        );
    }

    #[test]
    fn json_content_types() {
        for ct in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/vnd.api+json",
            "application/problem+json",
            "application/x-ndjson",
        ] {
            assert_eq!(
                body(ct, r#"{"token":"x"}"#).as_deref(),
                Some(r#"{"token":"REDACTED"}"#),
                "{ct}"
            );
        }
        // NDJSON: one object per line.
        assert_eq!(
            body(
                "application/x-ndjson",
                "{\"token\":\"a\"}\n{\"token\":\"b\"}\n"
            )
            .as_deref(),
            Some("{\"token\":\"REDACTED\"}\n{\"token\":\"REDACTED\"}\n")
        );
    }

    #[test]
    fn form_bodies() {
        assert_eq!(
            body(
                "application/x-www-form-urlencoded",
                "user=ann&password=hunter2&remember=on"
            )
            .as_deref(),
            Some("user=ann&password=REDACTED&remember=on")
        );
        assert_eq!(
            body(
                "application/x-www-form-urlencoded; charset=UTF-8",
                "pass%77ord=x&pa"
            )
            .as_deref(),
            Some("pass%77ord=REDACTED&pa")
        );
    }

    const MULTIPART: &str = "--XyZ\r\n\
        Content-Disposition: form-data; name=\"user\"\r\n\r\n\
        ann\r\n\
        --XyZ\r\n\
        Content-Disposition: form-data; name=\"password\"\r\n\r\n\
        hunter2\r\n\
        --XyZ\r\n\
        Content-Disposition: form-data; name=\"avatar\"; filename=\"me.png\"\r\n\
        Content-Type: image/png\r\n\r\n\
        \u{89}PNG binary\r\n\
        --XyZ\r\n\
        Content-Disposition: form-data; name=\"meta\"\r\n\
        Content-Type: application/json\r\n\r\n\
        {\"token\":\"t\",\"n\":1}\r\n\
        --XyZ\r\n\
        Content-Disposition: form-data; name=\"blob\"\r\n\
        Content-Type: application/octet-stream\r\n\r\n\
        raw\r\n\
        --XyZ--\r\n";

    const MULTIPART_REDACTED: &str = "--XyZ\r\n\
        Content-Disposition: form-data; name=\"user\"\r\n\r\n\
        ann\r\n\
        --XyZ\r\n\
        Content-Disposition: form-data; name=\"password\"\r\n\r\n\
        REDACTED\r\n\
        --XyZ\r\n\
        Content-Disposition: form-data; name=\"avatar\"; filename=\"me.png\"\r\n\
        Content-Type: image/png\r\n\r\n\
        REDACTED\r\n\
        --XyZ\r\n\
        Content-Disposition: form-data; name=\"meta\"\r\n\
        Content-Type: application/json\r\n\r\n\
        {\"token\":\"REDACTED\",\"n\":1}\r\n\
        --XyZ\r\n\
        Content-Disposition: form-data; name=\"blob\"\r\n\
        Content-Type: application/octet-stream\r\n\r\n\
        REDACTED\r\n\
        --XyZ--\r\n";

    #[test]
    fn multipart_fields_files_and_typed_parts() {
        assert_eq!(
            body("multipart/form-data; boundary=XyZ", MULTIPART).as_deref(),
            Some(MULTIPART_REDACTED)
        );
        assert_eq!(
            body("multipart/form-data; boundary=\"XyZ\"", MULTIPART).as_deref(),
            Some(MULTIPART_REDACTED)
        );
        // No boundary in the content type: the first line's.
        assert_eq!(
            body("multipart/form-data", MULTIPART).as_deref(),
            Some(MULTIPART_REDACTED)
        );
        assert_eq!(body("multipart/form-data", "no boundary here"), None);
    }

    #[test]
    fn multipart_cut_before_the_closing_boundary() {
        let ct = "multipart/form-data; boundary=b";
        // Inside a file part: redacted to the end.
        let cut = "--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n\r\nsecret data";
        assert_eq!(
            body(ct, cut).as_deref(),
            Some("--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n\r\nREDACTED")
        );
        // Inside a sensitive field, LF line ends.
        let lf = "--b\nContent-Disposition: form-data; name=user\n\nann\n--b\nContent-Disposition: form-data; name=token\n\nabc";
        assert_eq!(
            body(ct, lf).as_deref(),
            Some("--b\nContent-Disposition: form-data; name=user\n\nann\n--b\nContent-Disposition: form-data; name=token\n\nREDACTED")
        );
        // Cut inside the headers: no content yet.
        let head = "--b\r\nContent-Disposition: form-data; name=\"password\"\r\nContent-Ty";
        assert_eq!(body(ct, head).as_deref(), Some(head));
        // A boundary string inside a value, not at a line start, is content.
        let inner = "--b\r\nContent-Disposition: form-data; name=\"pwd\"\r\n\r\nx--b y\r\n--b--";
        assert_eq!(
            body(ct, inner).as_deref(),
            Some("--b\r\nContent-Disposition: form-data; name=\"pwd\"\r\n\r\nREDACTED\r\n--b--")
        );
    }

    #[test]
    fn text_and_binary_bodies() {
        assert_eq!(
            body("text/plain", "login failed: password=hunter2").as_deref(),
            Some("login failed: password=REDACTED")
        );
        assert_eq!(
            body("application/xml", "<a><token>t</token><b k=\"token\"/></a>").as_deref(),
            Some("<a><token>t</token><b k=\"token\"/></a>")
        );
        assert_eq!(
            body("application/soap+xml", "<x password=\"p\"/>").as_deref(),
            Some("<x password=\"REDACTED\"/>")
        );
        for ct in [
            "application/octet-stream",
            "image/png",
            "",
            "nonsense",
            "application/grpc",
        ] {
            assert_eq!(body(ct, "token=x"), None, "{ct}");
        }
    }

    #[test]
    fn bodies_are_redacted_then_cut() {
        let p = builtin();
        let j = br#"{"password":"hunter2","x":"y"}"#;
        assert_eq!(p.body("application/json", j, 0), None);
        assert_eq!(
            p.body("application/json", j, 16).as_deref(),
            Some(r#"{"password":"RED"#)
        );
        assert_eq!(
            p.body("application/json", j, 1000).as_deref(),
            Some(r#"{"password":"REDACTED","x":"y"}"#)
        );
        // On a char boundary; nothing appended.
        assert_eq!(
            p.body("text/plain", "aé".as_bytes(), 2).as_deref(),
            Some("a")
        );
        // Invalid UTF-8 (a char cut by the caller) becomes U+FFFD.
        assert_eq!(
            p.body("text/plain", b"a\xC3", 10).as_deref(),
            Some("a\u{FFFD}")
        );
    }

    // --- free text ---

    #[test]
    fn text_urls() {
        assert_eq!(
            text("HTTPConnectionPool(host='h', port=80): Max retries exceeded with url: /x?token=S3CR3T&a=1 (Caused by NewConnectionError)"),
            "HTTPConnectionPool(host='h', port=80): Max retries exceeded with url: /x?token=REDACTED&a=1 (Caused by NewConnectionError)"
        );
        assert_eq!(
            text("GET https://u:S3CR3T@api.example/v1?pass%77ord=S3CR3T#frag failed."),
            "GET https://REDACTED:REDACTED@api.example/v1?pass%77ord=REDACTED#frag failed."
        );
        assert_eq!(
            text("error sending request for url (http://127.0.0.1:9/v1/traces?api_key=k)"),
            "error sending request for url (http://127.0.0.1:9/v1/traces?api_key=REDACTED)"
        );
        assert_eq!(
            text("connect to 'postgres://app:S3CR3T@db/app' failed"),
            "connect to 'postgres://REDACTED:REDACTED@db/app' failed"
        );
        // `://` without a scheme, or at the end.
        assert_eq!(text(":// x ://"), ":// x ://");
    }

    #[test]
    fn malformed_endpoints_in_errors_hide_their_userinfo() {
        for (raw, shown) in [
            (
                "user:S3CR3T07@collector:4318",
                "user:REDACTED@collector:4318",
            ),
            ("http//u:S3CR3T@h:4318/v1", "REDACTED@h:4318/v1"),
            ("https:/u:S3CR3T@h", "https:/REDACTED@h"),
            ("http:u:p@w@h?x=1", "http:REDACTED@h?x=1"),
            (
                "user:S3?CR3T@collector:4318",
                "user:REDACTED@collector:4318",
            ),
            (
                "user:S3#CR3T@collector:4318",
                "user:REDACTED@collector:4318",
            ),
            (
                "user:S3CR3T@collector:4318/v1?next=http://x",
                "user:REDACTED@collector:4318/v1?next=http://x",
            ),
            (
                "http://u:S3CR3T@h:99999",
                "http://REDACTED:REDACTED@h:99999",
            ),
            ("localhost:4318", "localhost:4318"),
        ] {
            assert_eq!(endpoint_shown(raw), shown, "{raw}");
        }
    }

    #[test]
    fn text_pairs() {
        assert_eq!(
            text("password=hunter2 user=ann"),
            "password=REDACTED user=ann"
        );
        assert_eq!(
            text("bad login (token: abc123, user: ann)"),
            "bad login (token: REDACTED, user: ann)"
        );
        assert_eq!(
            text(r#"body {"password": "a b\"c", "n": 1}"#),
            r#"body {"password": "REDACTED", "n": 1}"#
        );
        assert_eq!(
            text("{'api_key': 'k', 'x': 'y'}"),
            "{'api_key': 'REDACTED', 'x': 'y'}"
        );
        assert_eq!(
            text(r#"failed: "{\"client_secret\":\"abc\",\"id\":1}""#),
            r#"failed: "{\"client_secret\":\"REDACTED\",\"id\":1}""#
        );
        assert_eq!(text("secret = 's3'"), "secret = 'REDACTED'");
        // An unclosed quote stops at the line's end.
        assert_eq!(text("token='abc\nnext line"), "token='REDACTED\nnext line");
        // Structures: their own keys are redacted, one by one.
        assert_eq!(
            text("auth={'password': 'p'}"),
            "auth={'password': 'REDACTED'}"
        );
    }

    #[test]
    fn text_auth_schemes_and_tokens() {
        assert_eq!(
            text("Authorization: Bearer eyJhbGciOi.x-y_z~+/=="),
            "Authorization: Bearer REDACTED"
        );
        assert_eq!(
            text("sent basic dXNlcjpwYXNz to proxy"),
            "sent basic REDACTED to proxy"
        );
        assert_eq!(
            text("header was 'Bearer abc123'"),
            "header was 'Bearer REDACTED'"
        );
        assert_eq!(
            text("Authorization: Basic dTpw"),
            "Authorization: Basic REDACTED"
        );
        // Prose is kept.
        assert_eq!(
            text("basic auth is off; bearer tokens only"),
            "basic auth is off; bearer tokens only"
        );
        assert_eq!(text("Bearer"), "Bearer");
        assert_eq!(text("subbasic 12345678"), "subbasic 12345678");
        // A JSON Web Token anywhere.
        assert_eq!(
            text("invalid jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln given"),
            "invalid jwt REDACTED given"
        );
        assert_eq!(text("eyJustAWord and eyJa.b"), "eyJustAWord and eyJa.b");
        // Other schemes: an authorization's whole value goes, to its line's end; after another
        // sensitive key, a word and credentials both.
        assert_eq!(
            text("Authorization: Token ghp_S3CR3T12abc\nnext"),
            "Authorization: REDACTED\nnext"
        );
        assert_eq!(
            text(r#"Proxy-Authorization: Digest username="u", response="S3CR3T03""#),
            "Proxy-Authorization: REDACTED"
        );
        assert_eq!(
            text("x-api-key: ApiKey S3CR3T0a== (rejected)"),
            "x-api-key: REDACTED (rejected)"
        );
        assert_eq!(
            text("password: hunter2 user: ann"),
            "password: REDACTED user: ann"
        );
        // Prose after a sensitive key keeps its words, and a text redacted is redacted again
        // to itself.
        assert_eq!(text("token: expired at 12:00"), "token: REDACTED at 12:00");
        for once in [
            text("password: a b c d e f g h i j"),
            text("x-api-key: ApiKey S3CR3T0a== (rejected)"),
            text("Authorization: Token ghp_S3CR3T12abc\nnext"),
        ] {
            assert_eq!(text(&once), once);
        }
        assert_eq!(
            text("password: a b c d e f g h i j"),
            "password: REDACTED b c d e f g h i j"
        );
    }

    #[test]
    fn text_false_positives() {
        for clean in [
            "at crosstrace::auth::verify (src/auth.rs:42)",
            "if token == null || token != x || a <= b",
            "design=1 signal=2 cwd=/tmp",
            "Caused by: java.io.IOException: session closed",
            "at 10:30: token expired",
            "plain text without secrets",
            "",
        ] {
            let out = builtin().text(clean);
            // `token expired`: `at 10:30: token` is no pair, and `token` has no separator.
            assert!(matches!(out, Cow::Borrowed(_)), "{clean} -> {out}");
        }
        // A sensitive key then a separator redacts, even in prose (safe side).
        assert_eq!(text("Invalid token: expired"), "Invalid token: REDACTED");
    }

    // --- headers and attributes ---

    #[test]
    fn header_values() {
        let p = builtin();
        for name in [
            "Authorization",
            "proxy-authorization",
            "Cookie",
            "set-cookie",
            "X-API-Key",
            "x-auth-token",
            "X-CSRF-Token",
        ] {
            assert_eq!(p.header_value(name, "v"), REDACTED, "{name}");
        }
        assert_eq!(p.header_value("user-agent", "curl/8"), "curl/8");
        assert_eq!(p.header_value("accept", "token=x"), "token=x");
        assert_eq!(
            p.header_value("Referer", "https://u:p@h/?token=t"),
            "https://REDACTED:REDACTED@h/?token=REDACTED"
        );
        assert_eq!(
            p.header_value("location", "/cb?code=1&state=2"),
            "/cb?code=1&state=2"
        );
    }

    #[test]
    fn attributes_are_routed_by_key() {
        for key in [
            "url.full",
            "http.url",
            "url.original",
            "db.connection_string",
        ] {
            assert_eq!(
                attribute(key, "https://u:p@h/?token=t"),
                (
                    true,
                    Value::from("https://REDACTED:REDACTED@h/?token=REDACTED")
                ),
                "{key}"
            );
        }
        assert_eq!(
            attribute("http.target", "/x?sig=s"),
            (true, Value::from("/x?sig=REDACTED"))
        );
        // A plain path is left as it is, without being read as a URL (the common case); one
        // with parameters, a query or an authority is read.
        for plain in ["/api/orders", "/", "/a/b.c/d-e_f~%41"] {
            assert!(is_plain_path(plain), "{plain}");
            assert_eq!(builtin().url(plain), plain);
        }
        for not_plain in [
            "//u:p@h/x",
            "/a;jsessionid=x",
            "/a?token=t",
            "/a#access_token=t",
            "a",
        ] {
            assert!(!is_plain_path(not_plain), "{not_plain}");
        }
        assert_eq!(
            attribute("url.path", "//u:p@h/x"),
            (true, Value::from("//REDACTED:REDACTED@h/x"))
        );
        // A path's parameters (`url.path`: what a server span records, the FastAPI
        // middleware's included).
        assert_eq!(
            attribute("url.path", "/files/a;jsessionid=S3CR3T15"),
            (true, Value::from("/files/a;jsessionid=REDACTED"))
        );
        assert_eq!(
            attribute("db.connection_string", "Server=s;Password=p"),
            (true, Value::from("Server=s;Password=REDACTED"))
        );
        for key in ["url.query", "http.query_string"] {
            assert_eq!(
                attribute(key, "q=1&password=p"),
                (true, Value::from("q=1&password=REDACTED")),
                "{key}"
            );
        }
        for key in ["exception.message", "exception.stacktrace"] {
            assert_eq!(
                attribute(key, "failed: GET http://h/x?token=t"),
                (true, Value::from("failed: GET http://h/x?token=REDACTED")),
                "{key}"
            );
        }
        assert_eq!(
            attribute("url.full", "https://h/?q=1"),
            (false, Value::from("https://h/?q=1"))
        );
    }

    #[test]
    fn attribute_bodies_are_sniffed() {
        let b = |s: &str| attribute("http.request.body", s.to_owned());
        assert_eq!(
            b(r#" {"password":"p"}"#),
            (true, Value::from(r#" {"password":"REDACTED"}"#))
        );
        assert_eq!(
            b(r#"[{"token":1}]"#),
            (true, Value::from(r#"[{"token":"REDACTED"}]"#))
        );
        assert_eq!(b("a=1&token=t"), (true, Value::from("a=1&token=REDACTED")));
        assert_eq!(
            b("note: password=p"),
            (true, Value::from("note: password=REDACTED"))
        );
        assert_eq!(b("plain"), (false, Value::from("plain")));
        // Text starting with `--` is not multipart unless its first line is a boundary.
        assert_eq!(
            b("-- note\npassword=p"),
            (true, Value::from("-- note\npassword=REDACTED"))
        );
        let (changed, out) = attribute("http.response.body", MULTIPART);
        assert!(changed);
        assert_eq!(out, Value::from(MULTIPART_REDACTED));
    }

    #[test]
    fn attribute_headers_and_arrays() {
        assert_eq!(
            attribute(
                "http.request.header.authorization",
                strings(&["Bearer a", "Basic b"])
            ),
            (true, strings(&[REDACTED, REDACTED]))
        );
        assert_eq!(
            attribute("http.response.header.set-cookie", "sid=1"),
            (true, Value::from(REDACTED))
        );
        assert_eq!(
            attribute("http.request.header.x-api-key", strings(&["k"])),
            (true, strings(&[REDACTED]))
        );
        assert_eq!(
            attribute("http.request.header.accept", strings(&["text/html"])),
            (false, strings(&["text/html"]))
        );
        assert_eq!(
            attribute("url.full", strings(&["https://u@h", "https://h"])),
            (true, strings(&["https://REDACTED@h", "https://h"]))
        );
        // Already redacted: unchanged.
        assert_eq!(
            attribute("http.request.header.cookie", strings(&[REDACTED])),
            (false, strings(&[REDACTED]))
        );
    }

    #[test]
    fn other_attributes_are_untouched() {
        for key in [
            "session.id",
            "user.password",
            "enduser.id",
            "db.statement",
            "db.query.text",
            "http.request.method",
            "http.request.header",
            "url.scheme",
            "custom.url.full",
            "",
        ] {
            let secret = "https://u:p@h/?token=t password=p";
            assert_eq!(
                attribute(key, secret),
                (false, Value::from(secret)),
                "{key}"
            );
        }
        // Only strings are touched.
        assert_eq!(attribute("url.full", 42_i64), (false, Value::from(42_i64)));
        assert_eq!(attribute("url.full", true), (false, Value::from(true)));
    }

    // --- transports ---

    #[test]
    fn split_userinfo_for_transports() {
        assert_eq!(
            split_userinfo("https://us%40er:p%3Ass@h:4318/v1/traces?x=1"),
            Some((
                "https://h:4318/v1/traces?x=1".to_owned(),
                "us@er".to_owned(),
                Some("p:ss".to_owned())
            ))
        );
        assert_eq!(
            split_userinfo("http://user@[::1]:4317"),
            Some(("http://[::1]:4317".to_owned(), "user".to_owned(), None))
        );
        assert_eq!(
            split_userinfo("http://:tok@h/"),
            Some((
                "http://h/".to_owned(),
                String::new(),
                Some("tok".to_owned())
            ))
        );
        assert_eq!(
            split_userinfo("http://@h/"),
            Some(("http://h/".to_owned(), String::new(), None))
        );
        assert_eq!(split_userinfo("http://h/p@x"), None);
        assert_eq!(split_userinfo("http://h:4318"), None);
        assert_eq!(split_userinfo("not a url"), None);
    }

    /// Random strings of the bytes the scanners care about: no input panics, every function is
    /// idempotent, and a clean result comes back borrowed (checked by the helpers).
    #[test]
    fn scanners_survive_arbitrary_input() {
        const PIECES: &[&str] = &[
            "=",
            ":",
            "&",
            ";",
            "?",
            "#",
            "@",
            "/",
            "//",
            "://",
            "%",
            "%7",
            "+",
            "\"",
            "'",
            "\\",
            "{",
            "}",
            "[",
            "]",
            ",",
            ".",
            " ",
            "\n",
            "\r\n",
            "-",
            "--",
            "--b",
            "token",
            "pass",
            "password",
            "sig",
            "a",
            "x",
            "http",
            "Bearer ",
            "basic ",
            "eyJ",
            "eyJa.eyJb",
            "é",
            "\u{1F600}",
            "\\u0077",
            "\\ud83d",
            "REDACTED",
            "null",
            "1",
        ];
        let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let p = policy(&["default", "a"]);
        for _ in 0..20_000 {
            let n = (next() % 24) as usize;
            let s: String = (0..n)
                .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
                .collect();
            // The body kind is sniffed once: redaction may change what a sniff would say.
            let kind = match sniff(&s) {
                BodyKind::Multipart(_) => BodyKind::Multipart("b"),
                kind => kind,
            };
            let run = |name: &str, s: &str| -> String {
                match name {
                    "url" => p.url(s).into_owned(),
                    "query" => p.query(s).into_owned(),
                    "text" => p.text(s).into_owned(),
                    _ => redact(s, |s, edits| p.body_edits(kind, s, 0, edits)).into_owned(),
                }
            };
            for name in ["url", "query", "text", "body"] {
                let once = run(name, &s);
                let twice = run(name, &once);
                assert_eq!(twice, once, "{name}: {s:?}");
            }
            for name in ["url", "query", "text"] {
                let once = run(name, &s);
                let twice = match name {
                    "url" => p.url(&once),
                    "query" => p.query(&once),
                    _ => p.text(&once),
                };
                assert!(
                    matches!(twice, Cow::Borrowed(_)),
                    "{name}: {s:?} -> {once:?} -> {twice:?}"
                );
            }
            for ct in [
                "application/json",
                "multipart/form-data; boundary=b",
                "text/plain",
            ] {
                for max in [1, 7, 1000] {
                    if let Some(out) = p.body(ct, s.as_bytes(), max) {
                        assert!(out.len() <= max);
                    }
                }
            }
            for key in [
                "url.full",
                "url.query",
                "http.request.body",
                "http.request.header.x",
                "exception.message",
            ] {
                let mut v = Value::from(s.clone());
                p.attribute(key, &mut v);
            }
            let _ = split_userinfo(&s);
        }
    }

    #[test]
    fn the_routing_filter_passes_every_routed_key() {
        let lists = [&URL_KEYS[..], &QUERY_KEYS, &BODY_KEYS, &TEXT_KEYS];
        let headers = HEADER_PREFIXES
            .iter()
            .flat_map(|p| ["x", "authorization", &"x".repeat(80)].map(|name| format!("{p}{name}")));
        for key in lists
            .iter()
            .flat_map(|l| l.iter().map(|k| k.to_string()))
            .chain(headers)
        {
            assert!(may_route(&key), "{key}");
        }
        // What makes most keys cheap: ruled out without comparing text.
        for key in [
            "",
            "url.scheme",
            "http.request.method",
            "http.route",
            "http.request.header.",
            "db.system.name",
            "db.collection.name",
            "order.id",
        ] {
            assert!(!may_route(key), "{key}");
        }
    }

    #[test]
    fn edits_merge_and_skip_no_ops() {
        let s = "abcdef";
        let e = |a, b, w| Edit {
            start: a,
            end: b,
            with: w,
        };
        assert_eq!(apply(s, vec![]), "abcdef");
        assert_eq!(apply(s, vec![e(1, 3, "X"), e(2, 4, "Y")]), "aREDACTEDef");
        assert_eq!(apply(s, vec![e(1, 3, "X"), e(1, 3, "X")]), "aXdef");
        assert_eq!(apply(s, vec![e(4, 5, "Z"), e(0, 1, "W")]), "WbcdZf");
        assert_eq!(apply(s, vec![e(1, 2, "X"), e(2, 3, "Y")]), "aREDACTEDdef");
        assert!(matches!(apply(s, vec![e(0, 3, "abc")]), Cow::Borrowed(_)));
    }
}
