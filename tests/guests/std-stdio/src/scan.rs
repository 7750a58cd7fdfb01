//! scanf's conversions through `sscanf` (and glibc's ISO C name for it):
//! the count returned and every value stored.

use std::ffi::{CStr, c_char, c_int, c_long};

use crate::c::{self, __isoc99_sscanf, sscanf};

fn text(buf: &[u8]) -> String {
    CStr::from_bytes_until_nul(buf).map_or_else(
        |_| "<unterminated>".into(),
        |s| s.to_string_lossy().into_owned(),
    )
}

pub fn run() {
    integers();
    strings();
    allocated();
    floats();
}

fn integers() {
    let cases: &[(&str, &str)] = &[
        ("%d %d", "12 -34"),
        ("%d %d", "  +7\n\t-8"),
        ("%i %i", "0x1f 017"),
        ("%i %i", "-0x10 08"),
        ("%x %x", "ff 0XAb"),
        ("%o %u", "777 -1"),
        ("%d", "abc"),
        ("%d", ""),
        ("%d", "   "),
        ("%3d%d", "12345"),
        ("%*d %d", "1 2"),
        ("%*d%d", "1"),
        ("a%db", "a5b"),
        ("a%db", "x5b"),
        ("%d%%", "50%"),
        ("%d %% %d", "1 % 2"),
        ("%d,%d", "1,"),
        ("%d,%d", "1;2"),
        ("%d%n", "42abc"),
        ("%i", "0b101"),
        ("%d", "99999999999"),
        ("%d", "-2147483649"),
        ("%x", "-1"),
        ("%1d%1d", "-5"),
        ("%x%n", "0x"),
        ("%i%n", "0xg"),
        ("%d%n", "-"),
        ("%d", "+ 5"),
        ("%o%n", "0789"),
        ("%2x%n", "0x1f"),
        ("%d %n", "7   "),
        ("%d%d", "1 "),
    ];
    for &(format, input) in cases {
        let (mut a, mut b): (c_int, c_int) = (-99, -99);
        let format_c = std::ffi::CString::new(format).expect("no NUL");
        let input_c = std::ffi::CString::new(input).expect("no NUL");
        // SAFETY: each format stores at most two ints (or an int and a %n count).
        let n =
            unsafe { __isoc99_sscanf(input_c.as_ptr(), format_c.as_ptr(), &raw mut a, &raw mut b) };
        println!("sscanf {format:?} {input:?} => {n} {a} {b}");
    }
    let (mut hh, mut h, mut l, mut ll, mut z) = (0i8, 0i16, 0 as c_long, 0i64, 0usize);
    // SAFETY: pointers of the sizes named.
    let n = unsafe {
        sscanf(
            c!("300 70000 9223372036854775808 -9223372036854775808 18446744073709551615"),
            c!("%hhd %hd %ld %lld %zu"),
            &raw mut hh,
            &raw mut h,
            &raw mut l,
            &raw mut ll,
            &raw mut z,
        )
    };
    println!("sizes => {n} {hh} {h} {l} {ll} {z}");
    let mut p: *mut u8 = std::ptr::null_mut();
    // SAFETY: a pointer to a pointer.
    let n = unsafe { sscanf(c!("0x1234"), c!("%p"), &raw mut p) };
    println!("pointer => {n} {:#x}", p as usize);
}

fn strings() {
    let cases: &[(&str, &str)] = &[
        ("%s %s", "hello world"),
        ("%5s%s", "abcdefgh"),
        ("%c%c", "ab"),
        ("%3c%s", "xyz!"),
        ("%c", " a"),
        (" %c", " a"),
        ("%[a-z]%s", "abc123"),
        ("%[^,],%s", "name,rest"),
        ("%[]a]%s", "]]a b"),
        ("%[a-]%s", "a-a-b"),
        ("%2[0-9]%s", "12345"),
        ("%[x]", "abc"),
        ("%s", ""),
        ("%*s %s", "skip keep"),
    ];
    for &(format, input) in cases {
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        let format_c = std::ffi::CString::new(format).expect("no NUL");
        let input_c = std::ffi::CString::new(input).expect("no NUL");
        // SAFETY: at most two buffers of 32 bytes, inputs shorter than that.
        let n = unsafe {
            sscanf(
                input_c.as_ptr(),
                format_c.as_ptr(),
                a.as_mut_ptr(),
                b.as_mut_ptr(),
            )
        };
        println!(
            "sscanf {format:?} {input:?} => {n} {:?} {:?}",
            text(&a),
            text(&b)
        );
    }
}

/// POSIX's `m`: the conversion allocates the string.
fn allocated() {
    let (mut s, mut set, mut chars): (*mut c_char, *mut c_char, *mut c_char) = (
        std::ptr::null_mut(),
        std::ptr::null_mut(),
        std::ptr::null_mut(),
    );
    let long = format!("{} {}", "w".repeat(300), "abc123 xyzq");
    let long_c = std::ffi::CString::new(long).expect("no NUL");
    // SAFETY: `char **` for each `m` conversion; the strings are freed after.
    unsafe {
        let n = sscanf(
            long_c.as_ptr(),
            c!("%ms %m[a-z]%*d %3mc"),
            &raw mut s,
            &raw mut set,
            &raw mut chars,
        );
        println!(
            "%m => {n} {} {:?} {:?}",
            CStr::from_ptr(s).to_bytes().len(),
            CStr::from_ptr(set),
            std::slice::from_raw_parts(chars.cast::<u8>(), 3)
        );
        c::free(s.cast());
        c::free(set.cast());
        c::free(chars.cast());
        let mut untouched: *mut c_char = std::ptr::null_mut();
        let n = sscanf(c!("123"), c!("%m[a-z]"), &raw mut untouched);
        println!("%m no match => {n} null {}", untouched.is_null());
    }
}

fn floats() {
    let inputs = [
        "3.14",
        "1e10",
        "-inf",
        "INFINITY",
        "nan",
        "0x1.8p1",
        ".5",
        "5.",
        "1e400",
        "1e-400",
        "-0",
        "2.5e-3xyz",
        "1e",
        "1e+",
        "-",
        "+.",
        ".",
        "0x",
        "0x.8",
        "infinit",
        "nan(123)",
        "-nanx",
        "1.5e+3",
        "1.e2",
        "0.1",
        "123456789012345678901234567890",
        "4.9406564584124654e-324",
        "x",
    ];
    for input in inputs {
        let (mut f, mut d): (f32, f64) = (-1.0, -1.0);
        let input_c = std::ffi::CString::new(input).expect("no NUL");
        let mut rest = [0u8; 32];
        // SAFETY: a double and a 32-byte buffer.
        let n = unsafe {
            sscanf(
                input_c.as_ptr(),
                c!("%lf%31s"),
                &raw mut d,
                rest.as_mut_ptr(),
            )
        };
        // SAFETY: a float.
        let m = unsafe { sscanf(input_c.as_ptr(), c!("%f"), &raw mut f) };
        println!("float {input:?} => {n} {d:?} {:?} / {m} {f:?}", text(&rest));
    }
    let (mut e, mut g, mut a): (f64, f64, f64) = (0.0, 0.0, 0.0);
    // SAFETY: three doubles.
    let n = unsafe {
        sscanf(
            c!("1.5 -2e-2 0X10"),
            c!("%le %lg %la"),
            &raw mut e,
            &raw mut g,
            &raw mut a,
        )
    };
    println!("e g a => {n} {e:?} {g:?} {a:?}");
    let mut width = 0.0f64;
    let mut tail = [0u8; 8];
    // SAFETY: a double and an 8-byte buffer.
    let n = unsafe {
        sscanf(
            c!("12345.678"),
            c!("%4lf%7s"),
            &raw mut width,
            tail.as_mut_ptr(),
        )
    };
    println!("float width => {n} {width:?} {:?}", text(&tail));
    c::set_errno(0);
}
