//! Whether a C string lies in the program's read-only image: the non-writable loaded segments
//! of the main executable, where its string literals and other constant data are. Those bytes
//! never change while the process runs (writing to a string literal or a `const` object is
//! undefined behaviour in C, and the main executable is never unloaded), so a string cached by
//! such an address needs no byte compare when it is passed there again.
//!
//! Shared libraries are not included: one loaded with `dlopen` can be unloaded and another
//! mapped at its addresses. Their strings, like strings in writable memory, are compared byte
//! for byte each time. Assumed: nothing makes the main executable's read-only segments
//! writable and changes them (a hot-patcher could; C code that writes to a literal has
//! undefined behaviour anyway).

/// Whether the `len` bytes at `addr` and the NUL after them are in the main executable's
/// read-only segments. Always `false` where the segments are not known (targets other than
/// Linux).
pub(crate) fn is_fixed(addr: usize, len: usize) -> bool {
    let Some(end) = addr.checked_add(len).and_then(|e| e.checked_add(1)) else {
        return false;
    };
    segments().iter().any(|&(lo, hi)| lo <= addr && end <= hi)
}

#[cfg(target_os = "linux")]
fn segments() -> &'static [(usize, usize)] {
    use std::ffi::{c_int, c_void};
    static SEGMENTS: std::sync::OnceLock<Vec<(usize, usize)>> = std::sync::OnceLock::new();

    /// Called by `dl_iterate_phdr` for the main program first: records its loaded segments
    /// that are not writable, and stops.
    ///
    /// # Safety
    /// `info` valid for reads, as `dl_iterate_phdr` passes it; `out` a `Vec<(usize, usize)>`
    /// that nothing else reaches during the call.
    unsafe extern "C" fn main_program(
        info: *mut libc::dl_phdr_info,
        _size: usize,
        out: *mut c_void,
    ) -> c_int {
        // SAFETY: `dl_iterate_phdr` passes a valid `info` and our `out`, a `Vec` it does not
        // touch.
        let (info, out) = unsafe { (&*info, &mut *out.cast::<Vec<(usize, usize)>>()) };
        if !info.dlpi_phdr.is_null() {
            // SAFETY: `dlpi_phdr` points at `dlpi_phnum` program headers.
            let headers =
                unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) };
            for h in headers {
                if h.p_type == libc::PT_LOAD && h.p_flags & libc::PF_W == 0 {
                    let lo = (info.dlpi_addr as usize).wrapping_add(h.p_vaddr as usize);
                    out.push((lo, lo.saturating_add(h.p_memsz as usize)));
                }
            }
        }
        1
    }

    SEGMENTS.get_or_init(|| {
        let mut out: Vec<(usize, usize)> = Vec::new();
        // SAFETY: `main_program` matches the callback type and reads `out` as that `Vec`.
        unsafe { libc::dl_iterate_phdr(Some(main_program), (&mut out as *mut Vec<_>).cast()) };
        out
    })
}

#[cfg(not(target_os = "linux"))]
fn segments() -> &'static [(usize, usize)] {
    &[]
}

#[cfg(test)]
mod tests {
    use super::is_fixed;

    static WRITABLE: std::sync::Mutex<[u8; 8]> = std::sync::Mutex::new(*b"written\0");

    #[test]
    #[cfg(target_os = "linux")]
    fn a_literal_of_the_program_is_fixed() {
        let s = "a literal\0";
        assert!(is_fixed(s.as_ptr() as usize, s.len() - 1));
    }

    #[test]
    fn writable_memory_is_not_fixed() {
        let heap = String::from("on the heap");
        let stack = *b"on the stack\0";
        let data = WRITABLE.lock().unwrap();
        for (addr, len) in [
            (heap.as_ptr() as usize, heap.len()),
            (stack.as_ptr() as usize, stack.len() - 1),
            (data.as_ptr() as usize, data.len() - 1),
        ] {
            assert!(!is_fixed(addr, len), "{addr:#x}");
        }
    }

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn a_literal_of_a_shared_library_is_not_fixed() {
        extern "C" {
            fn gnu_get_libc_version() -> *const std::ffi::c_char;
        }
        // SAFETY: glibc returns a pointer to a NUL-terminated string in its own read-only data.
        let v = unsafe { std::ffi::CStr::from_ptr(gnu_get_libc_version()) };
        assert!(!is_fixed(v.as_ptr() as usize, v.to_bytes().len()));
    }

    #[test]
    fn a_range_past_the_address_space_is_not_fixed() {
        assert!(!is_fixed(usize::MAX - 2, 8));
    }
}
