//! Calls the C library the way C programs and crates like `libc` do, at the
//! edges `std` rarely reaches, and prints what Linux would have answered
//! next to what it got.

use std::ffi::{c_char, c_int, c_long, c_void};
use std::time::Instant;

unsafe extern "C" {
    fn __errno_location() -> *mut c_int;
    fn write(fd: c_int, buf: *const c_void, count: usize) -> isize;
    fn poll(fds: *mut c_void, count: u64, timeout_ms: c_int) -> c_int;
    fn mmap(
        addr: *mut c_void,
        len: usize,
        prot: c_int,
        flags: c_int,
        fd: c_int,
        off: c_long,
    ) -> *mut c_void;
    fn munmap(addr: *mut c_void, len: usize) -> c_int;
    fn getcwd(buf: *mut c_char, size: usize) -> *mut c_char;
    fn sigemptyset(set: *mut u8) -> c_int;
    fn sigaddset(set: *mut u8, signal: c_int) -> c_int;
    fn __xpg_strerror_r(errnum: c_int, buf: *mut c_char, len: usize) -> c_int;
    fn pthread_key_create(
        key: *mut u32,
        destructor: Option<unsafe extern "C" fn(*mut c_void)>,
    ) -> c_int;
    fn pthread_key_delete(key: u32) -> c_int;
    fn pthread_setspecific(key: u32, value: *const c_void) -> c_int;
    fn pthread_getspecific(key: u32) -> *mut c_void;
    fn pthread_exit(value: *mut c_void) -> !;
}

const MAP_PRIVATE: c_int = 2;
const MAP_ANONYMOUS: c_int = 0x20;
const EINVAL: c_int = 22;
const ENOMEM: c_int = 12;

fn errno() -> c_int {
    // SAFETY: the calling thread's errno slot.
    unsafe { *__errno_location() }
}

fn check(what: &str, ok: bool, detail: String) {
    println!("{what}: {} ({detail})", if ok { "ok" } else { "WRONG" });
}

fn main() {
    // SAFETY: a zero-length write reads nothing; C allows the null buffer.
    let wrote = unsafe { write(1, std::ptr::null(), 0) };
    check("write NULL 0", wrote == 0, format!("returned {wrote}"));

    let started = Instant::now();
    // SAFETY: no descriptors to read; the call only waits.
    let ready = unsafe { poll(std::ptr::null_mut(), 0, 20) };
    let waited = started.elapsed().as_millis();
    check(
        "poll as sleep",
        ready == 0 && waited >= 20,
        format!("returned {ready} after {waited} ms"),
    );

    let flags = MAP_PRIVATE | MAP_ANONYMOUS;
    // SAFETY: an anonymous mapping request; the length cannot be satisfied.
    let huge = unsafe { mmap(std::ptr::null_mut(), usize::MAX - 10, 3, flags, -1, 0) };
    check(
        "mmap huge",
        huge as isize == -1 && errno() == ENOMEM,
        format!("errno {}", errno()),
    );
    // SAFETY: a zero length is refused before the address is used.
    let unmapped = unsafe { munmap(4096 as *mut c_void, 0) };
    check(
        "munmap 0",
        unmapped == -1 && errno() == EINVAL,
        format!("errno {}", errno()),
    );

    let mut buf = [0 as c_char; 16];
    // SAFETY: a valid buffer, with a size of zero.
    let cwd = unsafe { getcwd(buf.as_mut_ptr(), 0) };
    check(
        "getcwd size 0",
        cwd.is_null() && errno() == EINVAL,
        format!("errno {}", errno()),
    );

    let mut set = [0u8; 128];
    // SAFETY: a sigset_t-sized buffer.
    let (in_range, too_high) = unsafe {
        sigemptyset(set.as_mut_ptr());
        (
            sigaddset(set.as_mut_ptr(), 64),
            sigaddset(set.as_mut_ptr(), 65),
        )
    };
    check(
        "sigaddset",
        in_range == 0 && too_high == -1,
        format!("64 -> {in_range}, 65 -> {too_high}"),
    );

    let mut message = [0 as c_char; 64];
    // SAFETY: a valid buffer of that length.
    let code = unsafe { __xpg_strerror_r(4242, message.as_mut_ptr(), message.len()) };
    // SAFETY: strerror_r NUL-terminates within the buffer.
    let text = unsafe { std::ffi::CStr::from_ptr(message.as_ptr()) }.to_string_lossy();
    check(
        "strerror unknown",
        code == EINVAL && text == "Unknown error 4242",
        format!("{code}, {text:?}"),
    );

    let mut key = 0;
    // SAFETY: plain key calls with a valid out-pointer.
    let stale = unsafe {
        pthread_key_create(&mut key, None);
        pthread_setspecific(key, 0x1234 as *const c_void);
        pthread_key_delete(key);
        let mut again = 0;
        pthread_key_create(&mut again, None);
        assert_eq!(again, key, "the freed slot is reused");
        pthread_getspecific(again)
    };
    check(
        "reused key starts NULL",
        stale.is_null(),
        format!("{stale:?}"),
    );
    // SAFETY: a key that was never created.
    let unknown = unsafe { pthread_setspecific(100, std::ptr::null()) };
    check(
        "setspecific unknown key",
        unknown == EINVAL,
        format!("returned {unknown}"),
    );

    let mut removed = true;
    // SAFETY: no other thread runs yet.
    unsafe {
        std::env::set_var("TWICE", "1");
        std::env::remove_var("TWICE");
        removed &= std::env::var_os("TWICE").is_none();
    }
    check("remove_var", removed, "set, then removed".into());

    let huge = std::thread::Builder::new()
        .stack_size(usize::MAX / 2)
        .spawn(|| ());
    check(
        "huge stack",
        huge.is_err(),
        format!("spawn failed: {}", huge.is_err()),
    );

    // The main thread may end before the others, as with glibc: the program
    // goes on until the last thread ends.
    std::thread::spawn(|| {
        std::thread::sleep(std::time::Duration::from_millis(10));
        check("main pthread_exit", true, "a thread outlived main".into());
    });
    // SAFETY: nothing on the main thread's stack is used by another thread.
    unsafe { pthread_exit(std::ptr::null_mut()) }
}
