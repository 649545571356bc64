//! The process-wide bound of interned strings, in a process of its own (filling it would change
//! what other tests see).

// Tests unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::borrow::Cow;

use crosstrace::binding::intern;

/// Span names and keys passed as strings fill what the process interns on its own; strings a
/// binding interns on request (C's `ct_intern`) still find room, and the names past the bound
/// are copied, never refused.
#[test]
fn names_passed_by_spans_leave_room_for_strings_interned_on_request() {
    // 16 threads, each past its own bound of distinct names.
    let threads: Vec<_> = (0..16)
        .map(|t| {
            std::thread::spawn(move || {
                let mut copied = 0;
                for i in 0..2100 {
                    if let Cow::Owned(_) = intern::string(&format!("GET /users/{t}-{i}")) {
                        copied += 1;
                    }
                }
                copied
            })
        })
        .collect();
    let copied: usize = threads.into_iter().map(|h| h.join().unwrap()).sum();
    // On request: room is left, and the same string is the same interned one.
    for i in 0..100 {
        let s = format!("checkout.step.{i}");
        let interned = intern::global(&s).expect("room for a string interned on request");
        assert_eq!(interned, s);
        assert!(std::ptr::eq(interned, intern::global(&s).unwrap()));
    }
    // 33,600 names; the process interns at most 30,720 of them on its own (32,768 less the
    // 2,048 kept for requests).
    assert!(copied >= 33_600 - 30_720, "{copied} copied");
    assert!(matches!(intern::string("GET /orders/late"), Cow::Owned(_)));
}
