//! `kiln run --trace-libc`: one line on standard error per call into the C
//! library, with its arguments and result (and `errno`'s name on failure).
//!
//! The lines go straight to the console hypercall, not through `write`, so
//! tracing never traces itself. Allocation and clock reads are not traced:
//! `std` makes them constantly, and they cannot fail in interesting ways;
//! nor are pure computations (math, strings, ctype, number parsing).

use core::fmt::Write;

use kiln_abi::boot::FLAG_TRACE_LIBC;
use kiln_abi::hypercall::stream;
use kiln_libos::fixed_text::FixedText;
use kiln_libos::platform;

use crate::errno;

/// Whether the monitor asked for tracing.
pub fn enabled() -> bool {
    platform::boot_info().flags & FLAG_TRACE_LIBC != 0
}

fn errno_name(value: i32) -> &'static str {
    errno::name(value).unwrap_or("?")
}

/// Logs one call. Small numbers print in decimal, addresses in hex.
pub fn log(name: &str, args: &[i64], result: i64) {
    // A fixed buffer: tracing must not allocate.
    let mut line = FixedText::<256>::new();
    let _ = write!(line, "kiln-libc: {name}(");
    for (i, arg) in args.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let _ = if arg.unsigned_abs() > 0xffff {
            write!(line, "{sep}{arg:#x}")
        } else {
            write!(line, "{sep}{arg}")
        };
    }
    let _ = if result == -1 {
        let e = errno::get();
        write!(line, ") = -1 {} ({e})", errno_name(e))
    } else if result.unsigned_abs() > 0xffff {
        write!(line, ") = {result:#x}")
    } else {
        write!(line, ") = {result}")
    };
    line.end_line();
    platform::console_write(stream::STDERR, line.as_bytes());
}
