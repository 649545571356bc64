//! A multiprocessing worker's spans flushed when it is sent SIGTERM (`Pool.terminate()`, a
//! Pool's with-block exit), and the worker then ended as SIGTERM ends it.
//!
//! Native, not a Python handler: Python runs a handler only when its main thread next runs
//! Python code, and a Pool worker's main thread is often blocked in a lock, waiting for its
//! next task. A signal that arrives just before it blocks (or on another thread) trips the flag
//! but wakes nothing: the worker would wait forever, and the pool's `join()` with it. Here the
//! signal handler only writes a byte to a pipe (async-signal-safe); a thread of the worker's own
//! reads it, flushes, and sends the process SIGTERM again under the default action.

use std::sync::atomic::{AtomicI32, Ordering};

use pyo3::prelude::*;

use crate::errors::crosstrace_error;

/// The pipe's write end, and the process that made it (a forked child of the worker inherits
/// the handler, not the thread: there the signal takes its default action).
static WRITE_FD: AtomicI32 = AtomicI32::new(-1);
static OWNER: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_sigterm(_: libc::c_int) {
    // Only async-signal-safe calls: getpid, write, signal, kill.
    let fd = WRITE_FD.load(Ordering::Relaxed);
    // SAFETY: getpid, write and kill are async-signal-safe; the buffer is a local.
    unsafe {
        if fd >= 0 && libc::getpid() == OWNER.load(Ordering::Relaxed) {
            let b = 1u8;
            if libc::write(fd, (&b as *const u8).cast(), 1) == 1 {
                return;
            }
        }
        libc::signal(libc::SIGTERM, libc::SIG_DFL);
        libc::kill(libc::getpid(), libc::SIGTERM);
    }
}

/// Makes SIGTERM flush this process's spans (waiting at most `timeout_seconds`), then end the
/// process as SIGTERM does. Once per process; returns whether it was set now.
#[pyfunction]
pub(crate) fn flush_on_sigterm(timeout_seconds: f64) -> PyResult<bool> {
    let timeout = crate::export::timeout_arg(timeout_seconds)?;
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    if OWNER.load(Ordering::Relaxed) == pid {
        return Ok(false);
    }
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(crosstrace_error(format!(
            "flush_on_sigterm: cannot make a pipe ({})",
            std::io::Error::last_os_error()
        )));
    }
    let (read_fd, write_fd) = (fds[0], fds[1]);
    let spawned = std::thread::Builder::new()
        .name("crosstrace-sigterm".into())
        .spawn(move || {
            let mut b = 0u8;
            loop {
                // SAFETY: reads one byte into a local.
                let n = unsafe { libc::read(read_fd, (&mut b as *mut u8).cast(), 1) };
                if n == 1 {
                    break;
                }
                if n < 0
                    && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
                {
                    continue;
                }
                return;
            }
            let _ = crate::tracing().force_flush(timeout);
            // SAFETY: resetting a disposition and signalling this process.
            unsafe {
                libc::signal(libc::SIGTERM, libc::SIG_DFL);
                libc::kill(libc::getpid(), libc::SIGTERM);
            }
        });
    if let Err(e) = spawned {
        // SAFETY: closing the two descriptors made above, used by nothing else.
        unsafe {
            libc::close(read_fd);
            libc::close(write_fd);
        }
        return Err(crosstrace_error(format!(
            "flush_on_sigterm: cannot start its thread ({e})"
        )));
    }
    let old = WRITE_FD.swap(write_fd, Ordering::Relaxed);
    if old >= 0 {
        // The parent's write end, inherited through fork: this process has its own now.
        // SAFETY: `old` was this module's descriptor, inherited; nothing else writes it here.
        unsafe { libc::close(old) };
    }
    OWNER.store(pid, Ordering::Relaxed);
    // SAFETY: a zeroed sigaction is valid; the handler is an extern "C" fn(c_int).
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigterm as extern "C" fn(libc::c_int) as *const () as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGTERM, &sa, std::ptr::null_mut());
    }
    Ok(true)
}
