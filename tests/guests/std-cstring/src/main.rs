//! Calls the C library's string, ctype, stdlib, locale, signal, assert and
//! dl functions the way C code does and prints each answer (and errno),
//! so the output can be compared with the same program run against glibc.
//!
//! With an argument it ends the way that argument names instead: a failed
//! `assert`, a fatal `raise`, a fortify check.

use std::ffi::{CStr, c_char, c_int, c_long, c_uint, c_ulong, c_void};
use std::ptr::null_mut;

/// `div_t` and `ldiv_t`.
#[repr(C)]
#[derive(Debug)]
struct Division<T> {
    quot: T,
    rem: T,
}

type Compare = unsafe extern "C" fn(*const c_void, *const c_void) -> c_int;

unsafe extern "C" {
    fn __errno_location() -> *mut c_int;
    fn strnlen(s: *const c_char, n: usize) -> usize;
    fn strcmp(a: *const c_char, b: *const c_char) -> c_int;
    fn strncmp(a: *const c_char, b: *const c_char, n: usize) -> c_int;
    fn strcasecmp(a: *const c_char, b: *const c_char) -> c_int;
    fn strncasecmp(a: *const c_char, b: *const c_char, n: usize) -> c_int;
    fn strcoll(a: *const c_char, b: *const c_char) -> c_int;
    fn strxfrm(dest: *mut c_char, src: *const c_char, n: usize) -> usize;
    fn strcpy(dest: *mut c_char, src: *const c_char) -> *mut c_char;
    fn stpcpy(dest: *mut c_char, src: *const c_char) -> *mut c_char;
    fn strncpy(dest: *mut c_char, src: *const c_char, n: usize) -> *mut c_char;
    fn strcat(dest: *mut c_char, src: *const c_char) -> *mut c_char;
    fn strncat(dest: *mut c_char, src: *const c_char, n: usize) -> *mut c_char;
    fn strdup(s: *const c_char) -> *mut c_char;
    fn strndup(s: *const c_char, n: usize) -> *mut c_char;
    fn free(p: *mut c_void);
    fn strchr(s: *const c_char, c: c_int) -> *mut c_char;
    fn strrchr(s: *const c_char, c: c_int) -> *mut c_char;
    fn strchrnul(s: *const c_char, c: c_int) -> *mut c_char;
    fn strstr(h: *const c_char, n: *const c_char) -> *mut c_char;
    fn strcasestr(h: *const c_char, n: *const c_char) -> *mut c_char;
    fn strspn(s: *const c_char, accept: *const c_char) -> usize;
    fn strcspn(s: *const c_char, reject: *const c_char) -> usize;
    fn strpbrk(s: *const c_char, accept: *const c_char) -> *mut c_char;
    fn strtok(s: *mut c_char, delim: *const c_char) -> *mut c_char;
    fn strtok_r(s: *mut c_char, delim: *const c_char, saved: *mut *mut c_char) -> *mut c_char;
    fn strerror(e: c_int) -> *mut c_char;
    fn strerror_r(e: c_int, buf: *mut c_char, n: usize) -> *mut c_char;
    fn __xpg_strerror_r(e: c_int, buf: *mut c_char, n: usize) -> c_int;
    fn strsignal(s: c_int) -> *mut c_char;
    fn memchr(s: *const c_void, c: c_int, n: usize) -> *mut c_void;
    fn memrchr(s: *const c_void, c: c_int, n: usize) -> *mut c_void;
    fn rawmemchr(s: *const c_void, c: c_int) -> *mut c_void;
    fn memmem(h: *const c_void, hn: usize, n: *const c_void, nn: usize) -> *mut c_void;
    fn memccpy(d: *mut c_void, s: *const c_void, c: c_int, n: usize) -> *mut c_void;
    fn mempcpy(d: *mut c_void, s: *const c_void, n: usize) -> *mut c_void;
    fn bzero(d: *mut c_void, n: usize);
    fn explicit_bzero(d: *mut c_void, n: usize);
    fn __ctype_b_loc() -> *const *const u16;
    fn __ctype_tolower_loc() -> *const *const i32;
    fn __ctype_toupper_loc() -> *const *const i32;
    fn isalpha(c: c_int) -> c_int;
    fn isdigit(c: c_int) -> c_int;
    fn isalnum(c: c_int) -> c_int;
    fn isspace(c: c_int) -> c_int;
    fn isupper(c: c_int) -> c_int;
    fn islower(c: c_int) -> c_int;
    fn isxdigit(c: c_int) -> c_int;
    fn ispunct(c: c_int) -> c_int;
    fn isprint(c: c_int) -> c_int;
    fn isgraph(c: c_int) -> c_int;
    fn iscntrl(c: c_int) -> c_int;
    fn isblank(c: c_int) -> c_int;
    fn isascii(c: c_int) -> c_int;
    fn tolower(c: c_int) -> c_int;
    fn toupper(c: c_int) -> c_int;
    fn strtol(s: *const c_char, end: *mut *mut c_char, base: c_int) -> c_long;
    fn strtoul(s: *const c_char, end: *mut *mut c_char, base: c_int) -> c_ulong;
    fn strtoll(s: *const c_char, end: *mut *mut c_char, base: c_int) -> i64;
    fn strtoull(s: *const c_char, end: *mut *mut c_char, base: c_int) -> u64;
    fn strtoimax(s: *const c_char, end: *mut *mut c_char, base: c_int) -> i64;
    fn strtoumax(s: *const c_char, end: *mut *mut c_char, base: c_int) -> u64;
    fn strtod(s: *const c_char, end: *mut *mut c_char) -> f64;
    fn strtof(s: *const c_char, end: *mut *mut c_char) -> f32;
    fn atoi(s: *const c_char) -> c_int;
    fn atol(s: *const c_char) -> c_long;
    fn atoll(s: *const c_char) -> i64;
    fn atof(s: *const c_char) -> f64;
    fn qsort(base: *mut c_void, n: usize, size: usize, cmp: Compare);
    fn qsort_r(
        base: *mut c_void,
        n: usize,
        size: usize,
        cmp: unsafe extern "C" fn(*const c_void, *const c_void, *mut c_void) -> c_int,
        arg: *mut c_void,
    );
    fn bsearch(
        key: *const c_void,
        base: *const c_void,
        n: usize,
        size: usize,
        cmp: Compare,
    ) -> *mut c_void;
    fn abs(n: c_int) -> c_int;
    fn labs(n: c_long) -> c_long;
    fn llabs(n: i64) -> i64;
    fn div(n: c_int, d: c_int) -> Division<c_int>;
    fn ldiv(n: c_long, d: c_long) -> Division<c_long>;
    fn rand() -> c_int;
    fn srand(seed: c_uint);
    fn rand_r(seed: *mut c_uint) -> c_int;
    fn random() -> c_long;
    fn srandom(seed: c_uint);
    fn setlocale(category: c_int, locale: *const c_char) -> *mut c_char;
    fn localeconv() -> *const *const c_char;
    fn nl_langinfo(item: c_int) -> *const c_char;
    fn __ctype_get_mb_cur_max() -> usize;
    fn signal(signal: c_int, handler: usize) -> usize;
    fn raise(signal: c_int) -> c_int;
    fn __assert_fail(
        assertion: *const c_char,
        file: *const c_char,
        line: c_uint,
        function: *const c_char,
    ) -> !;
    fn __strcpy_chk(dest: *mut c_char, src: *const c_char, size: usize) -> *mut c_char;
    fn __memcpy_chk(dest: *mut c_void, src: *const c_void, n: usize, size: usize) -> *mut c_void;
    fn dlopen(name: *const c_char, flags: c_int) -> *mut c_void;
    fn dlsym(handle: *mut c_void, name: *const c_char) -> *mut c_void;
    fn dlclose(handle: *mut c_void) -> c_int;
    fn dlerror() -> *mut c_char;
    fn dladdr(address: *const c_void, info: *mut c_void) -> c_int;
    fn getrandom(buf: *mut c_void, n: usize, flags: c_uint) -> isize;
    fn drand48() -> f64;
    fn lrand48() -> c_long;
    fn mrand48() -> c_long;
    fn erand48(x: *mut u16) -> f64;
    fn nrand48(x: *mut u16) -> c_long;
    fn jrand48(x: *mut u16) -> c_long;
    fn srand48(seed: c_long);
    fn seed48(seed: *const u16) -> *mut u16;
    fn mkstemp(template: *mut c_char) -> c_int;
    fn mkostemp(template: *mut c_char, flags: c_int) -> c_int;
    fn unlink(path: *const c_char) -> c_int;
    fn close(fd: c_int) -> c_int;
    fn write(fd: c_int, buf: *const c_void, n: usize) -> isize;
}

fn errno() -> c_int {
    // SAFETY: the calling thread's errno slot.
    unsafe { *__errno_location() }
}

fn clear_errno() {
    // SAFETY: as in `errno`.
    unsafe { *__errno_location() = 0 };
}

/// A C string result as text, or "null".
fn text(s: *const c_char) -> String {
    if s.is_null() {
        return "null".into();
    }
    // SAFETY: the functions tested return NUL-terminated strings.
    format!("{:?}", unsafe { CStr::from_ptr(s) })
}

/// A pointer result as its offset into `base`, or "null".
fn offset<T, U>(result: *const T, base: *const U) -> String {
    if result.is_null() {
        "null".into()
    } else {
        format!("+{}", result as usize - base as usize)
    }
}

fn strings() {
    let words = [c"", c"a", c"abc", c"abd", c"ABC", c"ab", c"\u{e9}"];
    for a in words {
        for b in words {
            // SAFETY: C strings.
            let (cmp, case, n2, ncase, coll) = unsafe {
                (
                    strcmp(a.as_ptr(), b.as_ptr()),
                    strcasecmp(a.as_ptr(), b.as_ptr()),
                    strncmp(a.as_ptr(), b.as_ptr(), 2),
                    strncasecmp(a.as_ptr(), b.as_ptr(), 2),
                    strcoll(a.as_ptr(), b.as_ptr()),
                )
            };
            println!("compare {a:?} {b:?}: {cmp} {case} {n2} {ncase} {coll}");
        }
    }
    let s = c"hello, world";
    let p = s.as_ptr();
    // SAFETY: C strings, and `p` searched within its bytes.
    unsafe {
        println!(
            "strnlen: {} {} {}",
            strnlen(p, 5),
            strnlen(p, 100),
            strnlen(p, 0)
        );
        for c in [b'o' as c_int, b'h' as c_int, 0, b'z' as c_int, 0x16f] {
            println!(
                "chr {c}: {} {} {}",
                offset(strchr(p, c), p),
                offset(strrchr(p, c), p),
                offset(strchrnul(p, c), p)
            );
        }
        for needle in [c"world", c"", c"o, w", c"WORLD", c"worlds", c"l"] {
            println!(
                "str {needle:?}: {} {}",
                offset(strstr(p, needle.as_ptr()), p),
                offset(strcasestr(p, needle.as_ptr()), p)
            );
        }
        for set in [c"hel", c"", c", ", c"xyz", c"dlrow"] {
            println!(
                "span {set:?}: {} {} {}",
                strspn(p, set.as_ptr()),
                strcspn(p, set.as_ptr()),
                offset(strpbrk(p, set.as_ptr()), p)
            );
        }
        let bytes = b"abcabc\0xyz";
        let b = bytes.as_ptr().cast::<c_void>();
        println!(
            "mem: {} {} {} {} {}",
            offset(memchr(b, b'c' as c_int, 10), b),
            offset(memchr(b, b'z' as c_int, 8), b),
            offset(memrchr(b, b'b' as c_int, 10), b),
            offset(rawmemchr(b, 0), b),
            offset(memchr(b, 0x163, 10), b)
        );
        for needle in [&b"cab"[..], b"", b"\0x", b"yzz"] {
            let found = memmem(b, bytes.len(), needle.as_ptr().cast(), needle.len());
            println!("memmem {needle:?}: {}", offset(found, b));
        }
        let mut buf = [b'#' as c_char; 16];
        let d = buf.as_mut_ptr();
        println!("strcpy: {}", offset(strcpy(d, c"abc".as_ptr()), d));
        println!("stpcpy: {}", offset(stpcpy(d, c"abcd".as_ptr()), d));
        println!(
            "strcat: {} {}",
            offset(strcat(d, c"ef".as_ptr()), d),
            text(d)
        );
        println!(
            "strncat: {} {}",
            offset(strncat(d, c"ghijk".as_ptr(), 2), d),
            text(d)
        );
        strncpy(d, c"xy".as_ptr(), 5);
        println!("strncpy pad: {:?}", &buf[..8]);
        strncpy(d, c"0123456789".as_ptr(), 4);
        println!("strncpy cut: {:?}", &buf[..8]);
        let end = memccpy(d.cast(), c"key=value".as_ptr().cast(), b'=' as c_int, 9);
        println!(
            "memccpy: {} {}",
            offset(end, d),
            offset(
                memccpy(d.cast(), c"abc".as_ptr().cast(), b'=' as c_int, 3),
                d
            )
        );
        println!(
            "mempcpy: {}",
            offset(mempcpy(d.cast(), c"12345".as_ptr().cast(), 3), d)
        );
        bzero(d.cast(), 4);
        explicit_bzero(d.add(4).cast(), 2);
        println!("bzero: {:?}", &buf[..8]);
        let n = strxfrm(d, c"collate".as_ptr(), 4);
        println!("strxfrm: {n} {:?}", &buf[..8]);
        println!(
            "strxfrm size: {}",
            strxfrm(null_mut(), c"collate".as_ptr(), 0)
        );
        let copy = strdup(p);
        let part = strndup(p, 5);
        let long = strndup(c"ab".as_ptr(), 10);
        println!("dup: {} {} {}", text(copy), text(part), text(long));
        free(copy.cast());
        free(part.cast());
        free(long.cast());
        let mut line = *b";;a;b,,c;\0";
        let delims = c";,".as_ptr();
        let mut tokens = vec![text(strtok(line.as_mut_ptr().cast(), delims))];
        loop {
            let token = strtok(null_mut(), delims);
            tokens.push(text(token));
            if token.is_null() {
                break;
            }
        }
        println!("strtok: {tokens:?} {}", text(strtok(null_mut(), delims)));
        let mut line = *b"x y  z\0";
        let mut saved = null_mut();
        let mut tokens = vec![text(strtok_r(
            line.as_mut_ptr().cast(),
            c" ".as_ptr(),
            &mut saved,
        ))];
        for _ in 0..3 {
            tokens.push(text(strtok_r(null_mut(), c" ".as_ptr(), &mut saved)));
        }
        println!("strtok_r: {tokens:?}");
        for e in [
            0, 1, 2, 3, 8, 22, 33, 34, 38, 41, 58, 95, 110, 133, 134, 4000, -1,
        ] {
            let mut small = [0 as c_char; 8];
            let r = strerror_r(e, small.as_mut_ptr(), small.len());
            println!("strerror {e}: {} / {}", text(strerror(e)), text(r));
        }
        // The XSI form: an unknown error is EINVAL whatever the room.
        for (e, len) in [
            (2, 0),
            (2, 5),
            (2, 64),
            (4000, 0),
            (4000, 5),
            (4000, 64),
            (-1, 8),
        ] {
            let mut buf = [b'#' as c_char; 64];
            let rc = __xpg_strerror_r(e, buf.as_mut_ptr(), len);
            buf[63] = 0;
            println!("__xpg_strerror_r {e} {len}: {rc} {}", text(buf.as_ptr()));
        }
        for s in [0, 1, 6, 9, 11, 15, 31, 32, 34, 40, 64, 65, -1] {
            println!("strsignal {s}: {}", text(strsignal(s)));
        }
    }
}

fn ctype() {
    // SAFETY: the tables cover -128..=255.
    let (classes, lower, upper) = unsafe {
        (
            *__ctype_b_loc(),
            *__ctype_tolower_loc(),
            *__ctype_toupper_loc(),
        )
    };
    let mut table = String::new();
    for c in -128..256 {
        // SAFETY: in range.
        let (class, l, u) = unsafe { (*classes.offset(c), *lower.offset(c), *upper.offset(c)) };
        table += &format!("{c}:{class:x}:{l}:{u} ");
    }
    println!("tables: {table}");
    let functions: [(&str, unsafe extern "C" fn(c_int) -> c_int); 15] = [
        ("isalpha", isalpha),
        ("isdigit", isdigit),
        ("isalnum", isalnum),
        ("isspace", isspace),
        ("isupper", isupper),
        ("islower", islower),
        ("isxdigit", isxdigit),
        ("ispunct", ispunct),
        ("isprint", isprint),
        ("isgraph", isgraph),
        ("iscntrl", iscntrl),
        ("isblank", isblank),
        ("isascii", isascii),
        ("tolower", tolower),
        ("toupper", toupper),
    ];
    for (name, f) in functions {
        // SAFETY: within the tables' range (EOF included).
        let answers: Vec<c_int> = (-1..256).map(|c| unsafe { f(c) }).collect();
        println!("{name}: {answers:?}");
    }
}

fn numbers() {
    let integers = [
        c"42",
        c"  -17xyz",
        c"+0x1f",
        c"0x",
        c"0X1G",
        c"017",
        c"09",
        c"0b101",
        c"",
        c"  ",
        c"-",
        c"9223372036854775807",
        c"9223372036854775808",
        c"-9223372036854775808",
        c"-9223372036854775809",
        c"18446744073709551615",
        c"18446744073709551616",
        c"-1",
        c"zz",
        c"\t\n\x0b\x0c\r 12",
    ];
    for s in integers {
        for base in [0, 10, 16, 8, 2, 36, 1, 37] {
            let mut end = null_mut();
            clear_errno();
            // SAFETY: C strings; `end` is valid.
            let value = unsafe { strtol(s.as_ptr(), &mut end, base) };
            let (e, at) = (errno(), offset(end, s.as_ptr()));
            clear_errno();
            // SAFETY: as above.
            let unsigned = unsafe { strtoul(s.as_ptr(), &mut end, base) };
            println!(
                "strtol {s:?} {base}: {value} errno {e} end {at} / {unsigned} errno {} end {}",
                errno(),
                offset(end, s.as_ptr())
            );
        }
        // SAFETY: C strings.
        unsafe {
            println!(
                "ll {s:?}: {} {} {} {} {} {} {}",
                strtoll(s.as_ptr(), null_mut(), 0),
                strtoull(s.as_ptr(), null_mut(), 0),
                strtoimax(s.as_ptr(), null_mut(), 0),
                strtoumax(s.as_ptr(), null_mut(), 0),
                atoi(s.as_ptr()),
                atol(s.as_ptr()),
                atoll(s.as_ptr())
            );
        }
    }
    let floats = [
        c"3.14",
        c"  -2.5e3x",
        c"1e",
        c"1e+",
        c".5",
        c"5.",
        c".",
        c"-.e1",
        c"inf",
        c"-Infinity",
        c"infinit",
        c"nan",
        c"NaN(123)",
        c"nan(",
        c"nan()x",
        c"1e400",
        c"-1e400",
        c"1e-400",
        c"4.9e-324",
        c"2.2250738585072014e-308",
        c"1e-310",
        c"0.000000000000000000000000001e-300",
        c"0e999999",
        c"123456789012345678901234567890",
        c"0.1",
        c"2.5000000000000001",
        c"1e38",
        c"3.5e38",
        c"1e-45",
        c"+",
        c"abc",
        c"00012.50",
        c"0x1p3",
        c"0x1.8",
        c"0X.8p-1",
        c"-0x1P+2x",
        c"0x1p",
        c"0x1p+",
        c"0xg",
        c"0x.p1",
        c"0x1p-1074",
        c"0x1p-1075",
        c"0x3p-1076",
        c"0x1.fffffffffffffp1023",
        c"0x1.fffffffffffff8p1023",
        c"0x1p1024",
        c"0x1.000001p0",
        c"0x1.0000010000000000000001p0",
        c"0x123456789abcdef12345p-40",
        c"0x1p-149",
        c"0x1p-150",
        c"0x1.8p-149",
        c"0x1p99999999999999999999",
    ];
    for s in floats {
        let mut end = null_mut();
        clear_errno();
        // SAFETY: C strings; `end` is valid.
        let d = unsafe { strtod(s.as_ptr(), &mut end) };
        let (e, at) = (errno(), offset(end, s.as_ptr()));
        clear_errno();
        // SAFETY: as above.
        let f = unsafe { strtof(s.as_ptr(), &mut end) };
        println!(
            "strtod {s:?}: {:#x} errno {e} end {at} / {:#x} errno {} end {} / atof {:e}",
            d.to_bits(),
            f.to_bits(),
            errno(),
            offset(end, s.as_ptr()),
            // SAFETY: a C string.
            unsafe { atof(s.as_ptr()) }
        );
    }
    // SAFETY: plain arithmetic.
    unsafe {
        println!(
            "abs: {} {} {} {}",
            abs(-5),
            abs(i32::MIN),
            labs(-7),
            llabs(i64::MIN + 1)
        );
        println!("div: {:?} {:?} {:?}", div(7, -2), div(-7, 2), ldiv(-9, 4));
    }
}

unsafe extern "C" fn by_value(a: *const c_void, b: *const c_void) -> c_int {
    // SAFETY: qsort passes elements of the array of pairs below.
    let (a, b) = unsafe { (*a.cast::<[i32; 2]>(), *b.cast::<[i32; 2]>()) };
    a[0].cmp(&b[0]) as c_int
}

unsafe extern "C" fn by_value_with(a: *const c_void, b: *const c_void, arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the counter passed below.
    unsafe { *arg.cast::<u32>() += 1 };
    // SAFETY: as in `by_value`.
    -unsafe { by_value(a, b) }
}

fn sorting() {
    let mut pairs: Vec<[i32; 2]> = (0..40).map(|i| [(i * 7919) % 13, i]).collect();
    // SAFETY: `pairs` holds 40 elements of 8 bytes; the comparison fits.
    unsafe { qsort(pairs.as_mut_ptr().cast(), pairs.len(), 8, by_value) };
    println!("qsort (stable): {pairs:?}");
    let mut calls = 0u32;
    // SAFETY: as above; `calls` outlives the sort.
    unsafe {
        qsort_r(
            pairs.as_mut_ptr().cast(),
            pairs.len(),
            8,
            by_value_with,
            (&raw mut calls).cast(),
        )
    };
    println!("qsort_r: {pairs:?} {}", calls > 0);
    pairs.reverse();
    for key in [0, 5, 12, 13, -1] {
        let key = [key, 0];
        // SAFETY: `pairs` is sorted by the first field.
        let found = unsafe {
            bsearch(
                (&raw const key).cast(),
                pairs.as_ptr().cast(),
                pairs.len(),
                8,
                by_value,
            )
        };
        let found = if found.is_null() {
            None
        } else {
            Some(unsafe { *found.cast::<[i32; 2]>() }[0])
        };
        println!("bsearch {}: {found:?}", key[0]);
    }
    // SAFETY: nothing to sort.
    unsafe { qsort(null_mut(), 0, 8, by_value) };
}

fn random_numbers() {
    // SAFETY: the generators' state is the C library's.
    unsafe {
        let first: Vec<c_int> = (0..5).map(|_| rand()).collect();
        srand(42);
        let seeded: Vec<c_int> = (0..5).map(|_| rand()).collect();
        srandom(0);
        let zero: Vec<c_long> = (0..3).map(|_| random()).collect();
        srand(1);
        let again = rand();
        let mut seed = 7;
        let reentrant: Vec<c_int> = (0..4).map(|_| rand_r(&mut seed)).collect();
        println!("rand: {first:?} {seeded:?} {zero:?} {again} {reentrant:?} {seed}");
        let unseeded = (drand48(), lrand48(), mrand48());
        srand48(-12345);
        let seeded = (drand48(), lrand48(), mrand48());
        let old = *seed48([1, 2, 3].as_ptr()).cast::<[u16; 3]>();
        let after_seed48 = lrand48();
        let mut own = [0x330e_u16, 0xabcd, 0x1234];
        let caller = (
            erand48(own.as_mut_ptr()),
            nrand48(own.as_mut_ptr()),
            jrand48(own.as_mut_ptr()),
        );
        println!("rand48: {unseeded:?} {seeded:?} {old:?} {after_seed48} {caller:?} {own:?}");
    }
}

fn locale() {
    // What "" names must not depend on the environment the test runs in.
    // SAFETY: no other thread runs yet.
    unsafe { std::env::set_var("LC_ALL", "C.UTF-8") };
    // SAFETY: C strings; the results are the C library's.
    unsafe {
        println!(
            "nl_langinfo at start: {} {}",
            text(nl_langinfo(14)),
            __ctype_get_mb_cur_max()
        );
        for name in [c"C", c"POSIX", c"", c"xx_YY.UTF-8"] {
            clear_errno();
            println!("setlocale {name:?}: {}", text(setlocale(6, name.as_ptr())));
        }
        println!(
            "setlocale query: {} {}",
            text(setlocale(0, std::ptr::null())),
            __ctype_get_mb_cur_max()
        );
        clear_errno();
        println!(
            "setlocale bad: {} errno {}",
            text(setlocale(99, c"C".as_ptr())),
            errno()
        );
        let conventions = localeconv();
        let fields: Vec<String> = (0..10).map(|i| text(*conventions.add(i))).collect();
        let numbers = std::slice::from_raw_parts(conventions.add(10).cast::<i8>(), 14);
        println!("localeconv: {fields:?} {numbers:?}");
        println!(
            "nl_langinfo: {} {} {}",
            text(nl_langinfo(14)),
            text(nl_langinfo(0x10000)),
            text(nl_langinfo(0x10001))
        );
    }
}

static RAISED: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn on_signal(signal: c_int) {
    RAISED.store(signal, std::sync::atomic::Ordering::Relaxed);
}

fn signals() {
    const SIGUSR1: c_int = 10;
    const SIGCHLD: c_int = 17;
    // SAFETY: a handler that only stores to an atomic.
    unsafe {
        let previous = signal(SIGUSR1, on_signal as *const () as usize);
        println!(
            "raise handled: {} {} {}",
            previous,
            raise(SIGUSR1),
            RAISED.load(std::sync::atomic::Ordering::Relaxed)
        );
        println!(
            "signal again: {}",
            signal(SIGUSR1, 1) == on_signal as *const () as usize
        );
        println!("raise ignored: {}", raise(SIGUSR1));
        println!("raise default-ignored: {}", raise(SIGCHLD));
        clear_errno();
        println!("raise bad: {} errno {}", raise(99), errno());
        clear_errno();
        println!("signal bad: {} errno {}", signal(9, 1) as isize, errno());
        // glibc keeps 32 and 33 for itself.
        for internal in [32, 33] {
            clear_errno();
            println!(
                "signal internal {internal}: {} errno {}",
                signal(internal, 1) as isize,
                errno()
            );
        }
    }
}

fn dl() {
    // SAFETY: C strings; the handles are the C library's.
    unsafe {
        let library = dlopen(c"libfoo.so.1".as_ptr(), 2);
        println!("dlopen lib: {} {}", library.is_null(), text(dlerror()));
        println!("dlerror again: {}", text(dlerror()));
        let program = dlopen(std::ptr::null(), 2);
        println!("dlopen self: {}", !program.is_null());
        let missing = dlsym(program, c"no_such_function_x".as_ptr());
        let message = text(dlerror());
        let message = message
            .split_once(": ")
            .map_or(message.clone(), |(_, rest)| rest.to_string());
        println!("dlsym missing: {} {message}", missing.is_null());
        let found = dlsym(null_mut(), c"getrandom".as_ptr());
        println!("dlsym getrandom: {}", !found.is_null());
        if !found.is_null() {
            let getrandom_fn: unsafe extern "C" fn(*mut c_void, usize, c_uint) -> isize =
                std::mem::transmute(found);
            let mut buf = [0u8; 16];
            println!(
                "getrandom via dlsym: {}",
                getrandom_fn(buf.as_mut_ptr().cast(), 16, 0)
            );
        }
        for name in [c"gnu_get_libc_version", c"__pthread_get_minstack"] {
            println!(
                "dlsym {name:?}: {}",
                !dlsym(null_mut(), name.as_ptr()).is_null()
            );
        }
        clear_errno();
        let mut buf = [0u8; 4];
        println!(
            "getrandom bad flags: {} errno {}",
            getrandom(buf.as_mut_ptr().cast(), 4, 0x40),
            errno()
        );
        println!("dlclose: {} {}", dlclose(program), text(dlerror()));
        let mut info = [0usize; 4];
        println!(
            "dladdr nothing: {}",
            dladdr(16 as *const c_void, info.as_mut_ptr().cast())
        );
    }
}

fn temp_files() {
    for (template, with_flags) in [
        ("/tmp/kiln-cstring-XXXXXX", false),
        ("/tmp/kiln-cstring-XXXXXX", true),
        ("/tmp/kiln-cstring-XXXXX", false),
        ("/tmp/XXXXXXsuffix", false),
        ("/no-such-directory/aXXXXXX", false),
    ] {
        let mut name = format!("{template}\0").into_bytes();
        clear_errno();
        // SAFETY: `name` is a writable C string.
        let fd = unsafe {
            if with_flags {
                mkostemp(name.as_mut_ptr().cast(), 0o2000000)
            } else {
                mkstemp(name.as_mut_ptr().cast())
            }
        };
        let e = errno();
        let name = String::from_utf8_lossy(&name[..name.len() - 1]).into_owned();
        let same_prefix = name[..name.len() - 6] == template[..template.len() - 6];
        let replaced = name[name.len() - 6..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric())
            && name != template;
        println!(
            "mkstemp {template}: {} errno {e} prefix kept {same_prefix} letters {replaced}",
            fd >= 0
        );
        if fd >= 0 {
            // SAFETY: a descriptor and C string of ours.
            unsafe {
                println!("  write: {}", write(fd, c"x".as_ptr().cast(), 1));
                close(fd);
                let path = std::ffi::CString::new(name).expect("no NUL");
                println!("  unlink: {}", unlink(path.as_ptr()));
            }
        }
    }
}

fn main() {
    match std::env::args().nth(1).as_deref() {
        // SAFETY: C strings; __assert_fail does not return.
        Some("assert") => unsafe {
            __assert_fail(
                c"1 + 1 == 3".as_ptr(),
                c"src/main.rs".as_ptr(),
                42,
                c"int main(void)".as_ptr(),
            )
        },
        // SAFETY: the default action ends the program.
        Some("raise-term") => unsafe {
            raise(15);
        },
        // SAFETY: as above.
        Some("raise-abort") => unsafe {
            raise(6);
        },
        Some("overflow") => {
            let mut small = [0 as c_char; 4];
            // SAFETY: the check fails before anything is written.
            unsafe { __strcpy_chk(small.as_mut_ptr(), c"too long".as_ptr(), small.len()) };
        }
        Some("memcpy-overflow") => {
            let mut small = [0u8; 4];
            // SAFETY: as above.
            unsafe { __memcpy_chk(small.as_mut_ptr().cast(), c"12345678".as_ptr().cast(), 8, 4) };
        }
        _ => {
            strings();
            ctype();
            numbers();
            sorting();
            random_numbers();
            locale();
            signals();
            dl();
            temp_files();
            process_calls();
            resizing();
        }
    }
    println!("still running");
}

/// `realloc` growing and shrinking blocks of every size class and past
/// them, keeping their contents; a request too large fails with ENOMEM and
/// leaves the block as it was.
fn resizing() {
    unsafe extern "C" {
        fn malloc(size: usize) -> *mut c_void;
        fn realloc(ptr: *mut c_void, size: usize) -> *mut c_void;
        fn free(ptr: *mut c_void);
    }
    let sizes = [
        1usize, 15, 16, 17, 100, 1000, 1008, 1024, 1025, 4096, 100_000, 3000, 40, 8,
    ];
    // SAFETY: every pointer comes from malloc/realloc and is used within
    // the size it was last given; the block is freed once.
    unsafe {
        let mut block = realloc(std::ptr::null_mut(), 1).cast::<u8>();
        block.write(0);
        let mut size = 1;
        let mut intact = true;
        for &next in &sizes {
            block = realloc(block.cast(), next).cast();
            assert!(!block.is_null(), "realloc to {next} failed");
            // The bytes both sizes hold were kept, then fill the block.
            intact &= (0..size.min(next)).all(|i| *block.add(i) == (i % 251) as u8);
            for i in 0..next {
                *block.add(i) = (i % 251) as u8;
            }
            size = next;
        }
        println!(
            "realloc through {} sizes kept the contents: {intact}",
            sizes.len()
        );
        clear_errno();
        let failed = realloc(block.cast(), usize::MAX / 2);
        let kept = (0..size).all(|i| *block.add(i) == (i % 251) as u8);
        println!(
            "realloc too large: null {} errno {} block kept {kept}",
            failed.is_null(),
            errno()
        );
        free(block.cast());
        let small = malloc(24);
        println!("malloc after: null {}", small.is_null());
        free(small);
    }
}

/// The process-level calls the census found crates making: the plain `stat`
/// names, `gettid`, `kill`, `msync` and glibc's `__register_atfork`.
fn process_calls() {
    unsafe extern "C" {
        fn stat(path: *const c_char, buf: *mut libc::stat) -> c_int;
        fn fstat(fd: c_int, buf: *mut libc::stat) -> c_int;
        fn lstat(path: *const c_char, buf: *mut libc::stat) -> c_int;
        fn gettid() -> c_int;
        fn getpid() -> c_int;
        fn kill(pid: c_int, signal: c_int) -> c_int;
        fn msync(addr: *mut c_void, len: usize, flags: c_int) -> c_int;
        fn mremap(old: *mut c_void, old_len: usize, new_len: usize, flags: c_int) -> *mut c_void;
        fn getpgid(pid: c_int) -> c_int;
        fn getsid(pid: c_int) -> c_int;
        fn pread(fd: c_int, buf: *mut c_void, count: usize, offset: c_long) -> isize;
        fn pwrite(fd: c_int, buf: *const c_void, count: usize, offset: c_long) -> isize;
        fn lseek(fd: c_int, offset: c_long, whence: c_int) -> c_long;
        fn __register_atfork(
            prepare: Option<unsafe extern "C" fn()>,
            parent: Option<unsafe extern "C" fn()>,
            child: Option<unsafe extern "C" fn()>,
            dso: *const c_void,
        ) -> c_int;
    }
    // SAFETY: all-zero bytes are a valid `stat`; every call gets valid
    // pointers and C strings.
    unsafe {
        let mut a: libc::stat = std::mem::zeroed();
        let mut b: libc::stat = std::mem::zeroed();
        let rc = stat(c"/tmp".as_ptr(), &raw mut a);
        let fd = libc::open(c"/tmp".as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY);
        let frc = fstat(fd, &raw mut b);
        libc::close(fd);
        println!(
            "stat /tmp: {rc}, fstat agrees: {}, a directory: {}",
            frc == 0 && a.st_ino == b.st_ino,
            a.st_mode & libc::S_IFMT == libc::S_IFDIR
        );
        let rc = lstat(c"/no/such/file".as_ptr(), &raw mut a);
        println!("lstat missing: {rc} errno {}", errno());
        println!("main thread's tid is the pid: {}", gettid() == getpid());
        println!("kill self 0: {}", kill(getpid(), 0));
        let rc = kill(999_999, 0);
        println!("kill nobody: {rc} errno {}", errno());
        let rc = kill(getpid(), 65);
        println!("kill bad signal: {rc} errno {}", errno());
        let page = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        println!("msync: {}", msync(page, 4096, libc::MS_SYNC));
        let rc = msync(page.cast::<u8>().add(1).cast(), 4096, libc::MS_SYNC);
        println!("msync unaligned: {rc} errno {}", errno());
        let rc = msync(page, 4096, libc::MS_SYNC | libc::MS_ASYNC);
        println!("msync sync and async: {rc} errno {}", errno());
        libc::munmap(page, 4096);
        let rc = __register_atfork(None, None, None, std::ptr::null());
        println!("__register_atfork: {rc}");
        let first = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        first.cast::<u8>().write_bytes(7, 4096);
        let moved = mremap(first, 4096, 3 * 4096, libc::MREMAP_MAYMOVE);
        let moved = moved.cast::<u8>();
        println!(
            "mremap grow: kept {} zero after {}",
            *moved.add(4095),
            *moved.add(3 * 4096 - 1)
        );
        libc::munmap(moved.cast(), 3 * 4096);
        let rc = mremap(first.cast::<u8>().add(1).cast(), 4096, 8192, 0);
        println!("mremap unaligned: {} errno {}", rc as isize, errno());
        // Which group and session depends on who started the program; in a
        // PID namespace whose session leader lives outside it, Linux answers 0.
        println!(
            "getpgid self {} getsid self {}",
            getpgid(0) >= 0,
            getsid(0) >= 0
        );
        println!("getpgid nobody: {} errno {}", getpgid(999_999), errno());
        let fd = libc::open(
            c"/tmp/kiln-cstring-pread".as_ptr(),
            libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC,
            0o600,
        );
        let n = pwrite(fd, c"hello world".as_ptr().cast(), 11, 3);
        let mut buf = [0u8; 5];
        let m = pread(fd, buf.as_mut_ptr().cast(), 5, 9);
        println!(
            "pwrite {n} pread {m} {:?} lseek end {}",
            String::from_utf8_lossy(&buf),
            lseek(fd, 0, libc::SEEK_END)
        );
        // Owners: root (the tests run as root on Linux too) or unchanged.
        println!(
            "chown to root {} unchanged {} fchown {}",
            libc::chown(c"/tmp/kiln-cstring-pread".as_ptr(), 0, 0),
            libc::chown(c"/tmp/kiln-cstring-pread".as_ptr(), u32::MAX, u32::MAX),
            libc::fchown(fd, 0, u32::MAX)
        );
        let rc = libc::chown(c"/no/such/file".as_ptr(), 0, 0);
        println!("chown missing: {rc} errno {}", errno());
        let rc = libc::fchown(999, 0, 0);
        println!("fchown closed: {rc} errno {}", errno());
        libc::close(fd);
        libc::unlink(c"/tmp/kiln-cstring-pread".as_ptr());
    }
}
