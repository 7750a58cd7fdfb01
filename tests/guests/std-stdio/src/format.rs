//! printf's conversions, through `snprintf`: every format with every
//! value of its kind, and the answer (text and return value) printed.

use std::ffi::{CStr, CString, c_char, c_int, c_long};

use crate::c::{self, snprintf};

/// Formats with `call` (given the buffer, its size and the format) and
/// prints the format, a label for the arguments, the text and the count.
fn show(format: &str, label: &str, call: impl FnOnce(*mut c_char, usize, *const c_char) -> c_int) {
    let format_c = CString::new(format).expect("no NUL in a format");
    let mut buf = vec![0u8; 2048];
    let n = call(buf.as_mut_ptr().cast(), buf.len(), format_c.as_ptr());
    let text = CStr::from_bytes_until_nul(&buf).expect("NUL-terminated");
    println!("{format:?} {label} => {:?} {n}", text.to_string_lossy());
}

const INT_FORMATS: &[&str] = &[
    "%d", "%i", "%5d", "%-5d|", "%05d", "%+d", "% d", "%+ d", "%.3d", "%.0d", "%8.3d", "%-8.3d|",
    "%08.3d", "%x", "%#x", "%X", "%#X", "%#08x", "%o", "%#o", "%#.0o", "%.0o", "%u", "%hhd", "%hd",
    "%hhu", "%hu", "%hhx", "%b", "%#b", "%B", "%'d", "%+u", "% x", "%#.3x", "%#5o", "%0-5d|",
    "%-#10x|", "%.5x", "%#.5o", "%+.0d", "% 05d", "%c", "%5c", "%-3c|",
];
const INTS: &[c_int] = &[
    0,
    1,
    -1,
    42,
    255,
    256,
    -129,
    65535,
    70000,
    c_int::MAX,
    c_int::MIN,
];

const LONG_FORMATS: &[&str] = &[
    "%ld", "%lu", "%lx", "%lld", "%llu", "%llx", "%jd", "%zu", "%zd", "%td", "%qd", "%Ld", "%#lo",
    "%20.15ld", "%-+22ld|",
];
const LONGS: &[c_long] = &[0, 1, -1, c_long::MAX, c_long::MIN, 1 << 40];

const FLOAT_FORMATS: &[&str] = &[
    "%f", "%.0f", "%.1f", "%.2f", "%.20f", "%F", "%#.0f", "%+f", "% f", "%010.3f", "%-12.4f|",
    "%e", "%.0e", "%.3e", "%#.0e", "%E", "%+.2e", "%g", "%.0g", "%.1g", "%.2g", "%.3g", "%.6g",
    "%.10g", "%.17g", "%#g", "%#.3g", "%#.2g", "%#.1g", "%G", "%+012g", "%-10g|", "%a", "%.0a",
    "%.1a", "%.3a", "%A", "%#a", "%015a", "%8.3f", "%08f",
];
const FLOATS: &[f64] = &[
    0.0,
    -0.0,
    0.1,
    0.5,
    1.0,
    1.5,
    2.5,
    3.5,
    -2.5,
    0.25,
    0.125,
    0.3,
    1.0 / 3.0,
    2.0 / 3.0,
    100.0,
    123456.789,
    1e-5,
    0.0001,
    9.9999999,
    999999.5,
    2.675,
    1.005,
    0.05,
    0.15,
    0.35,
    1e-7,
    123456789.0,
    4503599627370497.5,
    999.5,
    99.95,
    0.000099999999,
    9.5,
    1e15,
    1e16,
    1e21,
    1e300,
    1e-300,
    5e-324,
    2.2250738585072014e-308,
    f64::MAX,
    1.9375,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NAN,
];

pub fn run() {
    for format in INT_FORMATS {
        for &value in INTS {
            // SAFETY: the format takes one int.
            show(format, &value.to_string(), |b, n, f| unsafe {
                snprintf(b, n, f, value)
            });
        }
    }
    for format in LONG_FORMATS {
        for &value in LONGS {
            // SAFETY: the format takes one long.
            show(format, &value.to_string(), |b, n, f| unsafe {
                snprintf(b, n, f, value)
            });
        }
    }
    for format in FLOAT_FORMATS {
        for &value in FLOATS.iter().chain(&[-f64::NAN]) {
            // SAFETY: the format takes one double.
            show(format, &format!("{value:?}"), |b, n, f| unsafe {
                snprintf(b, n, f, value)
            });
        }
    }
    for (format, value) in [
        ("%.300f", 1e300),
        ("%.60f", 5e-324),
        ("%.40e", 0.1),
        ("%.50g", 1e-300),
        ("%.30a", 0.1),
    ] {
        // SAFETY: the format takes one double.
        show(format, &format!("{value:?}"), |b, n, f| unsafe {
            snprintf(b, n, f, value)
        });
    }
    // More doubles than there are vector registers: the rest come from the stack.
    show(
        "%g %g %g %g %g %g %g %g %g %g %d %s",
        "ten doubles",
        |b, n, f| {
            // SAFETY: the format's arguments, in order.
            unsafe {
                snprintf(
                    b,
                    n,
                    f,
                    1.0,
                    2.0,
                    3.0,
                    4.0,
                    5.0,
                    6.0,
                    7.0,
                    8.0,
                    9.5,
                    10.25,
                    11,
                    c!("end"),
                )
            }
        },
    );
    show("%d %d %d %d %d %d %d %d %ld %s", "many ints", |b, n, f| {
        // SAFETY: the format's arguments, in order.
        unsafe { snprintf(b, n, f, 1, 2, 3, 4, 5, 6, 7, 8, -9i64, c!("stack")) }
    });
    positional();
    strings();
    pointers_and_counts();
    truncation();
    allocation_and_fortified();
}

fn strings() {
    for format in [
        "%s", "%10s", "%-10s|", "%.2s", "%.0s", "%10.3s", "%05s", "%.10s",
    ] {
        for text in [c!("hello"), c!(""), c!("a longer string")] {
            // SAFETY: a string argument.
            let label = unsafe { CStr::from_ptr(text) }
                .to_string_lossy()
                .into_owned();
            // SAFETY: the format takes one string.
            show(format, &label, |b, n, f| unsafe { snprintf(b, n, f, text) });
        }
    }
    for format in ["%s", "%.3s", "%.6s", "%10s", "%-8s|"] {
        // SAFETY: glibc prints a null string as "(null)".
        show(format, "null", |b, n, f| unsafe {
            snprintf(b, n, f, std::ptr::null::<c_char>())
        });
    }
    // A precision bounds the read: no NUL is needed within it.
    let unterminated = *b"abcdef";
    // SAFETY: the precision keeps the read inside the array.
    show("%.4s", "unterminated", |b, n, f| unsafe {
        snprintf(b, n, f, unterminated.as_ptr())
    });
    show("%ls|%lc|%5ls", "wide", |b, n, f| {
        let wide: [u32; 4] = [b'w' as u32, b'i' as u32, b'd' as u32, 0];
        // SAFETY: a wide string, a wide char, a wide string.
        unsafe { snprintf(b, n, f, wide.as_ptr(), b'Z' as u32, wide.as_ptr()) }
    });
    show("%S|%C", "old wide names", |b, n, f| {
        let wide: [u32; 3] = [b'o' as u32, b'k' as u32, 0];
        // SAFETY: a wide string and a wide char.
        unsafe { snprintf(b, n, f, wide.as_ptr(), b'!' as u32) }
    });
    show("[%ls]", "wide non-ASCII", |b, n, f| {
        let wide: [u32; 2] = [0xe9, 0];
        // SAFETY: a wide string.
        let r = unsafe { snprintf(b, n, f, wide.as_ptr()) };
        println!("  errno {}", c::errno());
        r
    });
    for format in [
        "100%%", "%5%|", "%y", "%5.2y", "%-*d|", "%*d", "%.*f", "%.*d", "%*.*f",
    ] {
        // SAFETY: formats taking at most (int, int, double); extra arguments are ignored.
        show(format, "star", |b, n, f| unsafe {
            match format {
                "%.*f" => snprintf(b, n, f, 3, std::f64::consts::PI),
                "%*.*f" => snprintf(b, n, f, -10, 2, std::f64::consts::E),
                "%.*d" => snprintf(b, n, f, -1, 5),
                "%*d" | "%-*d|" => snprintf(b, n, f, -8, 42),
                _ => snprintf(b, n, f, 0),
            }
        });
    }
    c::set_errno(2);
    // SAFETY: %m takes no argument.
    show("%m|%20m|", "errno 2", |b, n, f| unsafe {
        snprintf(b, n, f)
    });
    c::set_errno(9999);
    // SAFETY: as above.
    show("%m", "errno 9999", |b, n, f| unsafe { snprintf(b, n, f) });
}

fn pointers_and_counts() {
    for format in [
        "%p", "%20p", "%-20p|", "%+p", "% p", "%.10p", "%#p", "%010p",
    ] {
        for value in [0usize, 0x1234, usize::MAX] {
            // SAFETY: the format takes one pointer.
            show(format, &format!("{value:#x}"), |b, n, f| unsafe {
                snprintf(b, n, f, value as *const u8)
            });
        }
    }
    let mut int_count: c_int = -1;
    let mut char_count: i8 = -1;
    let mut long_count: c_long = -1;
    show("ab%ncde%hhn%5d%ln!", "counts", |b, n, f| {
        // SAFETY: the pointers match the %n sizes.
        unsafe {
            snprintf(
                b,
                n,
                f,
                &raw mut int_count,
                &raw mut char_count,
                7,
                &raw mut long_count,
            )
        }
    });
    println!("  %n stored {int_count} {char_count} {long_count}");
}

fn truncation() {
    let mut buf = [b'#'; 8];
    for size in [0usize, 1, 4, 8] {
        // SAFETY: `size` bytes fit.
        let n = unsafe {
            snprintf(
                buf.as_mut_ptr().cast(),
                size,
                c!("%d-%s"),
                123456789,
                c!("xyz"),
            )
        };
        println!(
            "snprintf size {size}: {n} {:?}",
            String::from_utf8_lossy(&buf)
        );
    }
    // SAFETY: a null buffer with size 0 only counts.
    let n = unsafe { snprintf(std::ptr::null_mut(), 0, c!("%s and %g"), c!("length"), 1.5) };
    println!("snprintf null: {n}");
    let mut big = [0u8; 64];
    // SAFETY: the output fits.
    let n = unsafe {
        c::sprintf(
            big.as_mut_ptr().cast(),
            c!("%s=%05.1f"),
            c!("pi"),
            std::f64::consts::PI,
        )
    };
    println!(
        "sprintf: {n} {:?}",
        CStr::from_bytes_until_nul(&big).expect("NUL")
    );
}

fn allocation_and_fortified() {
    let mut out: *mut c_char = std::ptr::null_mut();
    // SAFETY: `out` receives a malloc'd string.
    let n = unsafe { c::asprintf(&raw mut out, c!("%s %d %.2f"), c!("asprintf"), 7, 0.125) };
    // SAFETY: asprintf succeeded and returned a string, freed after.
    unsafe {
        println!("asprintf: {n} {:?}", CStr::from_ptr(out));
        c::free(out.cast());
    }
    let long = "x".repeat(3000);
    let long_c = CString::new(long).expect("no NUL");
    // SAFETY: as above.
    let n = unsafe { c::asprintf(&raw mut out, c!("[%s]"), long_c.as_ptr()) };
    // SAFETY: as above.
    unsafe {
        println!(
            "asprintf long: {n} {}",
            CStr::from_ptr(out).to_bytes().len()
        );
        c::free(out.cast());
    }
    // SAFETY: as above.
    let n = unsafe { c::__asprintf_chk(&raw mut out, 1, c!("%s"), c!("checked")) };
    // SAFETY: as above.
    unsafe {
        println!("__asprintf_chk: {n} {:?}", CStr::from_ptr(out));
        c::free(out.cast());
    }
    let mut buf = [0u8; 32];
    // SAFETY: the object is 32 bytes.
    let n = unsafe { c::__snprintf_chk(buf.as_mut_ptr().cast(), 8, 1, 32, c!("%d%d"), 1234, 5678) };
    println!(
        "__snprintf_chk: {n} {:?}",
        CStr::from_bytes_until_nul(&buf).expect("NUL")
    );
    // SAFETY: as above.
    let n = unsafe { c::__sprintf_chk(buf.as_mut_ptr().cast(), 1, 32, c!("%x-%o"), 255, 8) };
    println!(
        "__sprintf_chk: {n} {:?}",
        CStr::from_bytes_until_nul(&buf).expect("NUL")
    );
}

/// `%n$` arguments, in any order, for values and for `*` widths and
/// precisions; more than fit in registers.
fn positional() {
    // SAFETY: each call passes the arguments its format names.
    unsafe {
        show("%2$s %1$d", "7 seven", |b, n, f| {
            snprintf(b, n, f, 7, c!("seven"))
        });
        show("%1$d %1$x %1$#o %1$+d", "255", |b, n, f| {
            snprintf(b, n, f, 255)
        });
        show("%2$*1$d|%2$-*1$d|", "8 42", |b, n, f| {
            snprintf(b, n, f, 8, 42)
        });
        show("%3$.*1$f %2$s %3$.*4$e", "2 x pi 1", |b, n, f| {
            snprintf(b, n, f, 2, c!("x"), std::f64::consts::PI, 1)
        });
        show(
            "%8$d %7$d %6$d %5$d %4$d %3$d %2$d %1$d",
            "1..8",
            |b, n, f| snprintf(b, n, f, 1, 2, 3, 4, 5, 6, 7, 8),
        );
        show(
            "%2$g %1$g %10$g %9$d %3$g %4$g %5$g %6$g %7$g %8$g",
            "mixed",
            |b, n, f| snprintf(b, n, f, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9, 10.5),
        );
        show("%1$d%% %1$ld", "5", |b, n, f| snprintf(b, n, f, 5i64));
        show("%1$s %1$.2s %1$5.1s|", "abc", |b, n, f| {
            snprintf(b, n, f, c!("abc"))
        });
    }
}
