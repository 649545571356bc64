//! The boundary: result codes, the panic guard, the thread's last error, argument conversion.

use std::cell::{Cell, RefCell};
use std::ffi::{c_char, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crosstrace::{Error, ErrorKind, Propagators};

use crate::propagation::ct_header;

/// Result of every fallible call. The numbers are stable: never renumbered, never reused.
/// 0–9 belong to the C boundary; 10 and up mirror the core's error kinds
/// (`tests/vectors/error_kinds.json`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum ct_result {
    /// Success.
    CT_OK = 0,
    /// A bug inside crosstrace was caught before it could cross into C (see ct_last_error()).
    CT_ERR_PANIC = 1,
    /// A required pointer argument was NULL.
    CT_ERR_NULL_POINTER = 2,
    /// A string argument was not valid UTF-8.
    CT_ERR_INVALID_UTF8 = 3,
    /// The span was already ended.
    CT_ERR_SPAN_ENDED = 4,
    /// The handle was freed (or is not one of ours).
    CT_ERR_INVALID_HANDLE = 5,
    /// A configuration value was invalid.
    CT_ERR_CONFIG = 10,
    /// The exporter could not be set up.
    CT_ERR_EXPORTER_SETUP = 11,
    /// Exporting failed.
    CT_ERR_EXPORT = 12,
    /// An operation timed out.
    CT_ERR_TIMEOUT = 13,
    /// Tracing was already shut down.
    CT_ERR_ALREADY_SHUTDOWN = 14,
    /// An argument was invalid.
    CT_ERR_INVALID_ARGUMENT = 15,
}

/// What `ct_result_name` returns for a number that is no `ct_result` (NUL-terminated).
const UNKNOWN_RESULT: &str = "CT_UNKNOWN_RESULT\0";

impl ct_result {
    /// Every code, for turning a number from C into one.
    const ALL: [ct_result; 12] = [
        ct_result::CT_OK,
        ct_result::CT_ERR_PANIC,
        ct_result::CT_ERR_NULL_POINTER,
        ct_result::CT_ERR_INVALID_UTF8,
        ct_result::CT_ERR_SPAN_ENDED,
        ct_result::CT_ERR_INVALID_HANDLE,
        ct_result::CT_ERR_CONFIG,
        ct_result::CT_ERR_EXPORTER_SETUP,
        ct_result::CT_ERR_EXPORT,
        ct_result::CT_ERR_TIMEOUT,
        ct_result::CT_ERR_ALREADY_SHUTDOWN,
        ct_result::CT_ERR_INVALID_ARGUMENT,
    ];

    /// The code numbered `n`, if there is one. (A C `ct_result` is a `uint32_t` and may hold
    /// any number; a Rust `ct_result` may not, so numbers from C are read as `u32`.)
    fn from_number(n: u32) -> Option<ct_result> {
        ct_result::ALL.into_iter().find(|r| *r as u32 == n)
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            ct_result::CT_OK => "CT_OK\0",
            ct_result::CT_ERR_PANIC => "CT_ERR_PANIC\0",
            ct_result::CT_ERR_NULL_POINTER => "CT_ERR_NULL_POINTER\0",
            ct_result::CT_ERR_INVALID_UTF8 => "CT_ERR_INVALID_UTF8\0",
            ct_result::CT_ERR_SPAN_ENDED => "CT_ERR_SPAN_ENDED\0",
            ct_result::CT_ERR_INVALID_HANDLE => "CT_ERR_INVALID_HANDLE\0",
            ct_result::CT_ERR_CONFIG => "CT_ERR_CONFIG\0",
            ct_result::CT_ERR_EXPORTER_SETUP => "CT_ERR_EXPORTER_SETUP\0",
            ct_result::CT_ERR_EXPORT => "CT_ERR_EXPORT\0",
            ct_result::CT_ERR_TIMEOUT => "CT_ERR_TIMEOUT\0",
            ct_result::CT_ERR_ALREADY_SHUTDOWN => "CT_ERR_ALREADY_SHUTDOWN\0",
            ct_result::CT_ERR_INVALID_ARGUMENT => "CT_ERR_INVALID_ARGUMENT\0",
        }
    }

    fn of_kind(kind: ErrorKind) -> ct_result {
        match kind {
            ErrorKind::Config => ct_result::CT_ERR_CONFIG,
            ErrorKind::ExporterSetup => ct_result::CT_ERR_EXPORTER_SETUP,
            ErrorKind::Export => ct_result::CT_ERR_EXPORT,
            ErrorKind::Timeout => ct_result::CT_ERR_TIMEOUT,
            ErrorKind::AlreadyShutdown => ct_result::CT_ERR_ALREADY_SHUTDOWN,
            ErrorKind::InvalidArgument => ct_result::CT_ERR_INVALID_ARGUMENT,
        }
    }
}

/// An error at the boundary.
#[derive(Debug)]
pub(crate) enum FfiError {
    /// Boxed: a result with this error stays two words, returned in registers, not moved
    /// through memory at every `?` of a call that succeeds.
    Core(Box<Error>),
    Null(&'static str),
    Utf8(&'static str),
    SpanEnded,
    InvalidHandle(&'static str),
    /// An error about one entry of an array argument (boxed, as `Core`: rare, and the result
    /// of a call that succeeds stays small).
    Entry(Box<EntryError>),
}

/// What [`FfiError::Entry`] holds: `array[index]`, the entry's key when it could be read, and
/// the error about the entry.
#[derive(Debug)]
pub(crate) struct EntryError {
    array: &'static str,
    index: usize,
    key: Option<String>,
    error: FfiError,
}

/// Keys longer than this are cut (at a character) in messages about an entry.
const KEY_IN_MESSAGE_MAX: usize = 100;

impl From<Error> for FfiError {
    fn from(e: Error) -> Self {
        FfiError::Core(Box::new(e))
    }
}

impl From<crosstrace::ConfigError> for FfiError {
    fn from(e: crosstrace::ConfigError) -> Self {
        FfiError::Core(Box::new(e.into()))
    }
}

impl FfiError {
    fn code(&self) -> ct_result {
        match self {
            FfiError::Core(e) => ct_result::of_kind(e.kind()),
            FfiError::Null(_) => ct_result::CT_ERR_NULL_POINTER,
            FfiError::Utf8(_) => ct_result::CT_ERR_INVALID_UTF8,
            FfiError::SpanEnded => ct_result::CT_ERR_SPAN_ENDED,
            FfiError::InvalidHandle(_) => ct_result::CT_ERR_INVALID_HANDLE,
            FfiError::Entry(e) => e.error.code(),
        }
    }

    /// This error, about the entry with `key` of an array argument (its place is added by
    /// [`FfiError::at`]).
    #[cold]
    #[inline(never)]
    pub(crate) fn for_key(self, key: &str) -> FfiError {
        FfiError::Entry(Box::new(EntryError {
            array: "",
            index: 0,
            // Shown quoted and escaped (`{:?}`): a control character cannot garble the message.
            key: Some(key.chars().take(KEY_IN_MESSAGE_MAX).collect()),
            error: self,
        }))
    }

    /// This error, about entry `index` of the array argument `array`:
    /// `attributes[1] (key "db.name"): string_value is NULL: expected a valid pointer`.
    #[cold]
    #[inline(never)]
    pub(crate) fn at(self, array: &'static str, index: usize) -> FfiError {
        match self {
            FfiError::Entry(mut e) => {
                e.array = array;
                e.index = index;
                FfiError::Entry(e)
            }
            error => FfiError::Entry(Box::new(EntryError {
                array,
                index,
                key: None,
                error,
            })),
        }
    }

    fn message(&self) -> String {
        match self {
            FfiError::Core(e) => e.to_string(),
            FfiError::Null(arg) => format!("{arg} is NULL: expected a valid pointer"),
            FfiError::Utf8(arg) => format!("{arg} is not valid UTF-8"),
            FfiError::SpanEnded => "the span was already ended".into(),
            FfiError::InvalidHandle(what) => {
                format!("{what} is not a live crosstrace handle (freed already?)")
            }
            FfiError::Entry(e) => {
                let EntryError {
                    array,
                    index,
                    key,
                    error,
                } = &**e;
                match key {
                    Some(key) => format!("{array}[{index}] (key {key:?}): {}", error.message()),
                    None => format!("{array}[{index}]: {}", error.message()),
                }
            }
        }
    }
}

pub(crate) fn null(arg: &'static str) -> FfiError {
    FfiError::Null(arg)
}

pub(crate) fn invalid(argument: &'static str, value: &str, expected: &'static str) -> FfiError {
    FfiError::Core(Box::new(Error::InvalidArgument {
        argument,
        value: value.chars().take(200).collect(),
        expected,
    }))
}

pub(crate) fn internal(message: String) -> FfiError {
    FfiError::Core(Box::new(Error::Export(message)))
}

/// Room for the last error's message and its NUL (a longer one is cut at a character).
const LAST_ERROR_MAX: usize = 1024;

thread_local! {
    /// The calling thread's last error message, NUL-terminated. A buffer, not an allocation:
    /// it needs no destructor, so it is there even while the thread's thread-locals are torn
    /// down (a pthread-key destructor calling in, which would otherwise set up a thread-local
    /// that is never freed), and `ct_last_error()`'s pointer stays valid for the thread's life.
    static LAST_ERROR: RefCell<[u8; LAST_ERROR_MAX]> = const { RefCell::new([0; LAST_ERROR_MAX]) };
    /// Whether `LAST_ERROR` holds the last call's error (a successful call clears it).
    static HAS_ERROR: Cell<bool> = const { Cell::new(false) };
}

pub(crate) fn set_last_error(message: String) {
    let mut end = message.len().min(LAST_ERROR_MAX - 1);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    let _ = LAST_ERROR.try_with(|e| {
        if let Ok(mut e) = e.try_borrow_mut() {
            for (to, b) in e.iter_mut().zip(message[..end].bytes()) {
                *to = if b == 0 { b' ' } else { b };
            }
            e[end] = 0;
            HAS_ERROR.set(true);
        }
    });
}

#[inline(always)]
fn clear_last_error() {
    HAS_ERROR.set(false);
}

pub(crate) fn last_error_ptr() -> *const c_char {
    if !HAS_ERROR.get() {
        return std::ptr::null();
    }
    LAST_ERROR
        .try_with(|e| e.as_ptr().cast::<c_char>().cast_const())
        .unwrap_or(std::ptr::null())
}

/// Runs `f` inside a panic boundary: a panic becomes `CT_ERR_PANIC` with its message as the
/// last error; an error its code and message.
#[inline(always)]
pub(crate) fn guard(f: impl FnOnce() -> Result<(), FfiError>) -> ct_result {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => {
            clear_last_error();
            ct_result::CT_OK
        }
        Ok(Err(e)) => {
            set_last_error(e.message());
            e.code()
        }
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            set_last_error(format!(
                "internal error (panic caught at the C boundary): {msg}"
            ));
            ct_result::CT_ERR_PANIC
        }
    }
}

/// A required string argument.
///
/// # Safety
/// `p` NULL or NUL-terminated, its bytes valid and unchanged for `'a`.
pub(crate) unsafe fn str_arg<'a>(p: *const c_char, arg: &'static str) -> Result<&'a str, FfiError> {
    if p.is_null() {
        return Err(FfiError::Null(arg));
    }
    // SAFETY: `p` is not NULL (checked) and NUL-terminated, valid and unchanged for `'a` (the
    // caller's contract).
    unsafe { CStr::from_ptr(p) }
        .to_str()
        .map_err(|_| FfiError::Utf8(arg))
}

/// An attribute key argument, interned; UTF-8 is checked only for keys not seen before on the
/// thread.
///
/// # Safety
/// `p` NULL or NUL-terminated.
#[inline(always)]
pub(crate) unsafe fn key_arg(
    p: *const c_char,
    arg: &'static str,
) -> Result<crosstrace::Key, FfiError> {
    if p.is_null() {
        return Err(FfiError::Null(arg));
    }
    // SAFETY: `p` is not NULL (checked) and NUL-terminated (the caller's contract).
    let s = unsafe { interned(p) }.map_err(|_| FfiError::Utf8(arg))?;
    Ok(match s {
        std::borrow::Cow::Borrowed(s) => crosstrace::Key::from_static_str(s),
        std::borrow::Cow::Owned(s) => crosstrace::Key::new(s),
    })
}

/// A span or event name argument, interned like [`key_arg`].
///
/// # Safety
/// `p` NULL or NUL-terminated.
#[inline(always)]
pub(crate) unsafe fn name_arg(
    p: *const c_char,
    arg: &'static str,
) -> Result<std::borrow::Cow<'static, str>, FfiError> {
    if p.is_null() {
        return Err(FfiError::Null(arg));
    }
    // SAFETY: `p` is not NULL (checked) and NUL-terminated (the caller's contract).
    unsafe { interned(p) }.map_err(|_| FfiError::Utf8(arg))
}

/// Slots of the per-thread caches of values by address ([`value_arg`]).
const BY_ADDRESS_SLOTS: usize = 64;

/// A C string's address and its slot in the caches by address.
fn address_slot(p: *const c_char) -> (usize, usize) {
    let addr = p as usize;
    (addr, ((addr >> 3) ^ (addr >> 11)) % BY_ADDRESS_SLOTS)
}

/// Interned strings by the address C passed them at (a slot per address, as
/// [`address_slot`] picks it), per thread.
struct ByAddress([Cell<Seen>; BY_ADDRESS_SLOTS]);

#[derive(Clone, Copy)]
struct Seen {
    addr: usize,
    s: &'static str,
}

impl ByAddress {
    const fn new() -> ByAddress {
        ByAddress([const { Cell::new(Seen { addr: 0, s: "" }) }; BY_ADDRESS_SLOTS])
    }

    /// The string seen at `p` (`addr`, `slot` from [`address_slot`]), if its bytes are still
    /// there.
    ///
    /// # Safety
    /// `p` NUL-terminated.
    #[inline(always)]
    unsafe fn find(&self, p: *const c_char, addr: usize, slot: usize) -> Option<&'static str> {
        let e = self.0[slot].get();
        // SAFETY: `p` is NUL-terminated (the caller's contract).
        (e.addr == addr && unsafe { is_c_str(p, e.s) }).then_some(e.s)
    }

    /// Remembers `s`, interned from the bytes at `addr` (which hold no NUL, as
    /// [`is_c_str`] needs).
    fn remember(&self, addr: usize, slot: usize, s: &'static str) {
        self.0[slot].set(Seen { addr, s });
    }
}

/// A key or name, interned by [`crosstrace::binding::intern`] from its bytes.
///
/// There was a per-thread cache by address in front of this (C passes literals, the same
/// address every call). Measured with callgrind on the C bench it cost more than it saved
/// (`ct_span_start` 1,000 Ir per call with it, 992 without; `ct_span_start_with_attributes`
/// 1,310 and 1,285): the core's intern table answers a short key as fast as the cache did.
///
/// # Safety
/// `p` non-NULL and NUL-terminated.
#[inline(always)]
unsafe fn interned(
    p: *const c_char,
) -> Result<std::borrow::Cow<'static, str>, std::str::Utf8Error> {
    // SAFETY: the caller's contract.
    crosstrace::binding::intern::string_from_bytes(unsafe { CStr::from_ptr(p) }.to_bytes())
}

/// A string attribute value from C, as cached by the address it came at.
#[derive(Clone)]
enum Cached {
    /// Seen at this address with these bytes this many times in a row: shared by reference
    /// count.
    Shared(std::sync::Arc<str>, u8),
    /// Seen [`INTERN_AFTER`] times in a row at the same address with the same bytes (a
    /// literal, most likely): interned, so it costs no reference count (which the export
    /// thread would drop on another core).
    Interned(&'static str),
}

/// Sightings in a row (same address, same bytes) after which a value is interned. More than
/// two: a buffer that holds one request id for a parent and its child is not a literal, and
/// such values must not fill the bounded intern tables that keys and names rely on.
const INTERN_AFTER: u8 = 8;

/// At most this many values are interned by the process (counted per thread and address that
/// interns one, so one literal on many threads counts several times): values that recur (a
/// batch id set on a few hundred child spans) must not use up the intern tables (32,768
/// strings) that names and keys share.
const INTERNED_VALUES_MAX: usize = 4096;
static INTERNED_VALUES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn release_interned_value() {
    INTERNED_VALUES.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
}

fn reserve_interned_value() -> bool {
    use std::sync::atomic::Ordering::Relaxed;
    // `try_update` from Rust 1.95 on, which nightly (miri's toolchain) deprecates this name
    // for; the MSRV (1.88) has only this one.
    #[allow(deprecated)]
    INTERNED_VALUES
        .fetch_update(Relaxed, Relaxed, |n| {
            (n < INTERNED_VALUES_MAX).then_some(n + 1)
        })
        .is_ok()
}

impl Cached {
    fn as_str(&self) -> &str {
        match self {
            Cached::Shared(s, _) => s,
            Cached::Interned(s) => s,
        }
    }
}

thread_local! {
    /// Short string attribute values by the address C passed them at. C passes many values as
    /// literals ("EUR", a component's name): one seen again and again at one address with the
    /// same bytes is interned; others are shared (an allocation, but one copy however often
    /// they recur). Values that change at one address (a reused buffer) or come at a new
    /// address each time (formatted into fresh memory) are not interned.
    static VALUES: [RefCell<(usize, Option<Cached>)>; BY_ADDRESS_SLOTS] =
        const { [const { RefCell::new((0, None)) }; BY_ADDRESS_SLOTS] };
}

thread_local! {
    /// The interned values of [`VALUES`] again, where [`value_arg`] finds them first: no
    /// borrow, no destructor to register, nothing to count.
    static INTERNED_VALUES_AT: ByAddress = const { ByAddress::new() };
}

/// Values longer than this are copied, not kept in [`VALUES`].
const SHARED_VALUE_MAX: usize = 64;

/// A string attribute value. One seen before at the same address with the same bytes is
/// reused (see [`VALUES`]); any other is copied (the caller's buffer is theirs to change or
/// free).
///
/// # Safety
/// `p` NULL or NUL-terminated.
#[inline(always)]
pub(crate) unsafe fn value_arg(
    p: *const c_char,
    arg: &'static str,
) -> Result<crosstrace::StringValue, FfiError> {
    if p.is_null() {
        return Err(FfiError::Null(arg));
    }
    let (addr, slot) = address_slot(p);
    // SAFETY: `p` is NUL-terminated (the caller's contract).
    if let Ok(Some(s)) = INTERNED_VALUES_AT.try_with(|c| unsafe { c.find(p, addr, slot) }) {
        return Ok(s.into());
    }
    // SAFETY: as above.
    unsafe { value_from(p, addr, slot, arg) }
}

/// [`value_arg`] for a value not found among the interned ones by its address.
///
/// # Safety
/// `p` non-NULL and NUL-terminated.
#[inline(never)]
unsafe fn value_from(
    p: *const c_char,
    addr: usize,
    slot: usize,
    arg: &'static str,
) -> Result<crosstrace::StringValue, FfiError> {
    let seen = VALUES
        .try_with(|v| {
            let mut v = v[slot].borrow_mut();
            let (a, cached) = &mut *v;
            match cached {
                // SAFETY: `p` is NUL-terminated (the caller's contract).
                Some(c) if *a == addr && unsafe { is_c_str(p, c.as_str()) } => {
                    if let Cached::Shared(s, seen) = c {
                        *seen = seen.saturating_add(1);
                        // Tried once (a failure stays shared), within the values' own bound.
                        if *seen == INTERN_AFTER && reserve_interned_value() {
                            match crosstrace::binding::intern::string_from_bytes(s.as_bytes()) {
                                Ok(std::borrow::Cow::Borrowed(i)) => *c = Cached::Interned(i),
                                // The intern tables are full: the reservation goes back.
                                _ => release_interned_value(),
                            }
                        }
                    }
                    Some(c.clone())
                }
                _ => None,
            }
        })
        .ok()
        .flatten();
    match seen {
        Some(Cached::Interned(s)) => {
            let _ = INTERNED_VALUES_AT.try_with(|c| c.remember(addr, slot, s));
            return Ok(s.into());
        }
        Some(Cached::Shared(s, _)) => return Ok(s.into()),
        None => {}
    }
    // SAFETY: as above.
    let s = unsafe { str_arg(p, arg) }?;
    if s.len() > SHARED_VALUE_MAX {
        return Ok(s.to_owned().into());
    }
    let shared: std::sync::Arc<str> = s.into();
    let _ = VALUES
        .try_with(|v| *v[slot].borrow_mut() = (addr, Some(Cached::Shared(shared.clone(), 1))));
    Ok(shared.into())
}

unsafe extern "C" {
    fn strncmp(a: *const c_char, b: *const c_char, n: usize) -> std::ffi::c_int;
}

/// Whether the NUL-terminated string at `p` is exactly `s` (which holds no NUL). Reads nothing
/// past `p`'s terminator: `strncmp` stops at the first difference, and a shorter `p` differs
/// from `s` at its terminator (`s` has no NUL); only when all of `s` matched is `p[len]` read,
/// which is then `p`'s terminator or a byte before it.
///
/// # Safety
/// `p` non-NULL and NUL-terminated.
unsafe fn is_c_str(p: *const c_char, s: &str) -> bool {
    // SAFETY: `strncmp` reads `p` up to its terminator and at most `s.len()` bytes of `s`.
    unsafe { strncmp(p, s.as_ptr().cast(), s.len()) == 0 && *p.add(s.len()) == 0 }
}

/// An optional string argument (NULL is `None`).
///
/// # Safety
/// As [`str_arg`]: `p` NULL or NUL-terminated, its bytes valid and unchanged for `'a`.
pub(crate) unsafe fn opt_str_arg<'a>(
    p: *const c_char,
    arg: &'static str,
) -> Result<Option<&'a str>, FfiError> {
    if p.is_null() {
        Ok(None)
    } else {
        // SAFETY: `str_arg`'s contract is this function's (the caller's).
        unsafe { str_arg(p, arg) }.map(Some)
    }
}

/// A value the library allocated for an out-parameter: freed again if it cannot be handed out.
pub(crate) trait Reclaim {
    /// # Safety
    /// `self` was allocated by this library and not handed out.
    unsafe fn reclaim(self);
}

impl Reclaim for *mut c_char {
    unsafe fn reclaim(self) {
        // SAFETY: NULL or a string this library allocated (`to_c_string`) and did not hand out
        // (the trait's contract): freed once, here.
        unsafe { crate::ct_string_free(self) };
    }
}

impl Reclaim for *mut *mut c_char {
    unsafe fn reclaim(self) {
        // Only `ct_inject_lines` hands these out, and it checks its pointers first.
    }
}

/// Writes `v` to the out-parameter `p` (named `arg` in the error); when `p` is NULL, frees `v`
/// instead. A call whose output has effects beyond itself (a started span) checks its
/// out-parameter first, with [`out_arg`].
///
/// # Safety
/// `p` NULL or valid for writes of a `T` (and aligned); `v` as [`Reclaim::reclaim`] requires
/// (allocated by this library, handed out nowhere else).
pub(crate) unsafe fn out<T: Reclaim>(p: *mut T, v: T, arg: &'static str) -> Result<(), FfiError> {
    if p.is_null() {
        // SAFETY: `v` is this library's and handed out nowhere else (the caller's contract),
        // and is not written anywhere now.
        unsafe { v.reclaim() };
        return Err(FfiError::Null(arg));
    }
    // SAFETY: `p` is not NULL (checked), so valid for writes and aligned (the caller's
    // contract); what it held is the caller's, not dropped.
    unsafe { p.write(v) };
    Ok(())
}

/// An out-parameter checked before the call does anything: NULL is refused (named `arg`), so
/// that a call that could not hand out its result has not started a span (which would be ended,
/// exported and counted, unseen by the caller) or done any other work.
#[inline(always)]
pub(crate) fn out_arg<T>(p: *mut T, arg: &'static str) -> Result<(), FfiError> {
    if p.is_null() {
        Err(FfiError::Null(arg))
    } else {
        Ok(())
    }
}

pub(crate) fn cstring(s: String) -> Result<CString, FfiError> {
    CString::new(s).map_err(|_| invalid("string", "(contains NUL)", "no NUL bytes"))
}

pub(crate) fn to_c_string(s: String) -> Result<*mut c_char, FfiError> {
    Ok(cstring(s)?.into_raw())
}

/// Writes `hex` and a NUL to `out`.
///
/// # Safety
/// `out` NULL or valid for `hex.len() + 1` bytes.
pub(crate) unsafe fn write_hex(out: *mut c_char, hex: &str) -> Result<(), FfiError> {
    if out.is_null() {
        return Err(FfiError::Null("out"));
    }
    // SAFETY: `out` is not NULL (checked) and valid for `hex.len() + 1` bytes (the caller's
    // contract); `hex` is a string of ours, so the two do not overlap.
    unsafe {
        std::ptr::copy_nonoverlapping(hex.as_ptr().cast::<c_char>(), out, hex.len());
        *out.add(hex.len()) = 0;
    }
    Ok(())
}

/// A required handle.
///
/// # Safety
/// `p` NULL or a live handle of type `T`, not freed nor changed for `'a`.
pub(crate) unsafe fn handle<'a, T>(p: *const T, what: &'static str) -> Result<&'a T, FfiError> {
    // SAFETY: NULL (then `None`) or a live `T`, not freed nor changed for `'a` (the caller's
    // contract).
    unsafe { p.as_ref() }.ok_or(FfiError::Null(what))
}

/// A required mutable handle.
///
/// # Safety
/// `p` NULL or a live handle of type `T`, neither freed nor reached another way for `'a`.
pub(crate) unsafe fn handle_mut<'a, T>(
    p: *mut T,
    what: &'static str,
) -> Result<&'a mut T, FfiError> {
    // SAFETY: NULL (then `None`) or a live `T` that nothing else reaches for `'a` (the caller's
    // contract).
    unsafe { p.as_mut() }.ok_or(FfiError::Null(what))
}

/// Reads every header the configured propagators look at through a C getter.
///
/// # Safety
/// `getter` must be safe to call with `userdata` and a NUL-terminated name, and return NULL or
/// a NUL-terminated string that stays valid until this function returns (the terms
/// `ct_header_getter` states).
pub(crate) unsafe fn fetch_headers(
    getter: unsafe extern "C" fn(*mut c_void, *const c_char) -> *const c_char,
    userdata: *mut c_void,
    propagators: &Propagators,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for name in propagators.extract_fields() {
        let Ok(c) = CString::new(name) else { continue };
        // SAFETY: `getter` may be called with `userdata` and a NUL-terminated name (the
        // caller's contract); `c` is one, alive through the call.
        let v = unsafe { getter(userdata, c.as_ptr()) };
        if !v.is_null() {
            // Invalid UTF-8 in a header is treated like a missing header.
            // SAFETY: not NULL (checked): a NUL-terminated string, valid until this function
            // returns (the caller's contract); copied before then.
            if let Ok(s) = unsafe { CStr::from_ptr(v) }.to_str() {
                out.push((name.to_owned(), s.to_owned()));
            }
        }
    }
    out
}

/// An array argument of `len` entries: empty when `len` is 0 (`p` may then be NULL), else
/// `p` must not be NULL (`what` names it in the error).
///
/// # Safety
/// `p` NULL or valid for `len` entries, which outlive `'a`.
pub(crate) unsafe fn slice_arg<'a, T>(
    p: *const T,
    len: usize,
    what: &'static str,
) -> Result<&'a [T], FfiError> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(FfiError::Null(what));
    }
    // SAFETY: `p` is not NULL (checked) and valid for `len` entries that outlive `'a` (the
    // caller's contract).
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// The `len` headers at `headers` as pairs (skipping those with a NULL or non-UTF-8 name or
/// value).
///
/// # Safety
/// `headers` NULL (with `len` 0) or `len` valid entries, whose `name` and `value` are each NULL
/// or NUL-terminated.
pub(crate) unsafe fn header_pairs(
    headers: *const ct_header,
    len: usize,
) -> Result<Vec<(String, String)>, FfiError> {
    // SAFETY: NULL with `len` 0, or valid for `len` entries through this call (the caller's
    // contract).
    let headers = unsafe { slice_arg(headers, len, "headers") }?;
    let mut out = Vec::with_capacity(len);
    for h in headers {
        if h.name.is_null() || h.value.is_null() {
            continue;
        }
        // SAFETY: neither is NULL (checked), so both are NUL-terminated (the caller's
        // contract).
        let (k, v) = unsafe { (CStr::from_ptr(h.name), CStr::from_ptr(h.value)) };
        if let (Ok(k), Ok(v)) = (k.to_str(), v.to_str()) {
            out.push((k.to_owned(), v.to_owned()));
        }
    }
    Ok(out)
}

/// The `"name: value"` lines at `lines` as pairs (skipping NULL, non-UTF-8 and colon-less
/// lines).
///
/// # Safety
/// `lines` NULL (with `len` 0) or `len` entries, each NULL or NUL-terminated.
pub(crate) unsafe fn line_pairs(
    lines: *const *const c_char,
    len: usize,
) -> Result<Vec<(String, String)>, FfiError> {
    // SAFETY: NULL with `len` 0, or valid for `len` entries through this call (the caller's
    // contract).
    let lines = unsafe { slice_arg(lines, len, "lines") }?;
    let mut out = Vec::with_capacity(len);
    for &l in lines {
        if l.is_null() {
            continue;
        }
        // SAFETY: not NULL (checked), so NUL-terminated (the caller's contract).
        if let Ok(line) = unsafe { CStr::from_ptr(l) }.to_str() {
            if let Some((k, v)) = line.split_once(':') {
                out.push((k.trim().to_owned(), v.trim().to_owned()));
            }
        }
    }
    Ok(out)
}

/// Panics inside the library, for testing the panic boundary: returns `CT_ERR_PANIC` with the
/// panic's message in `ct_last_error()`, and the host process goes on.
#[no_mangle]
pub extern "C" fn ct_debug_panic() -> ct_result {
    guard(|| panic!("ct_debug_panic was called"))
}

/// How C passes a `ct_result`: the header's `ct_result`, a `uint32_t` that may hold any number.
/// (Hidden from cbindgen, which then writes the parameter as the header's `ct_result`: the C
/// signature stays `ct_result_name(ct_result result)`.)
/// cbindgen:ignore
mod from_c {
    #[allow(non_camel_case_types)]
    pub type ct_result = u32;
}

/// The C name of a result code (`"CT_ERR_CONFIG"`); `"CT_UNKNOWN_RESULT"` for any number that
/// is no result code (a newer library's, say). Static; never free it.
#[no_mangle]
pub extern "C" fn ct_result_name(result: from_c::ct_result) -> *const c_char {
    ct_result::from_number(result)
        .map_or(UNKNOWN_RESULT, ct_result::name)
        .as_ptr()
        .cast()
}

#[cfg(test)]
mod tests {
    use super::{
        clear_last_error, ct_result, ct_result_name, last_error_ptr, set_last_error, LAST_ERROR_MAX,
    };
    use std::ffi::CStr;

    fn name(n: u32) -> &'static str {
        // SAFETY: `ct_result_name` returns a static NUL-terminated string.
        unsafe { CStr::from_ptr(ct_result_name(n)) }
            .to_str()
            .unwrap()
    }

    #[test]
    fn every_number_has_a_result_name() {
        for r in ct_result::ALL {
            assert_eq!(name(r as u32), r.name().trim_end_matches('\0'));
        }
        assert_eq!(name(10), "CT_ERR_CONFIG");
        for n in [6, 9, 16, 99, u32::MAX] {
            assert_eq!(name(n), "CT_UNKNOWN_RESULT", "{n}");
        }
    }

    fn last_error() -> Option<String> {
        let p = last_error_ptr();
        // SAFETY: NULL or the thread's NUL-terminated buffer.
        (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_owned())
    }

    #[test]
    fn the_last_error_is_kept_cut_at_a_character_and_cleared() {
        set_last_error("bad \0 input".into());
        assert_eq!(last_error().as_deref(), Some("bad   input"));
        let long = "é".repeat(LAST_ERROR_MAX);
        set_last_error(long.clone());
        let got = last_error().unwrap();
        assert!(
            got.len() < LAST_ERROR_MAX && long.starts_with(&got),
            "{}",
            got.len()
        );
        assert_eq!(got.len(), LAST_ERROR_MAX - 2);
        clear_last_error();
        assert_eq!(last_error(), None);
    }
}
