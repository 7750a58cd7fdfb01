//! The environment, `abort` and `exit`.

pub mod arith;
mod hex_float;
pub mod number;
pub mod rand48;
pub mod random;
pub mod sort;
pub mod temp;

use core::ffi::c_char;
use core::sync::atomic::{AtomicPtr, Ordering};

use kiln_libos::platform;

use crate::CInt;

/// C's `environ`: `KEY=VALUE` strings, null-terminated. `std` reads it
/// directly.
#[unsafe(no_mangle)]
pub static environ: AtomicPtr<*const c_char> = AtomicPtr::new(core::ptr::null_mut());

pub(crate) fn set_environ(envp: *const *const c_char) {
    environ.store(envp.cast_mut(), Ordering::Relaxed);
}

/// `getenv(3)`.
///
/// # Safety
/// `name` must be a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getenv(name: *const c_char) -> *mut c_char {
    traced!("getenv"(name) {
    // SAFETY: per the caller.
    let name = unsafe { core::ffi::CStr::from_ptr(name) }.to_bytes();
    let entries = entries();
    match find(entries, name) {
        // SAFETY: the entry is `name=value`: the value follows the '='.
        Some(i) => unsafe { entries[i].add(name.len() + 1).cast_mut() },
        None => core::ptr::null_mut(),
    }
    })
}

/// The value of the environment variable `name`, for the C library's own
/// reads (which, unlike a program's `getenv`, are not traced). Like
/// `getenv`'s pointer, it is valid until the program changes the variable.
pub(crate) fn var(name: &[u8]) -> Option<&'static [u8]> {
    let entries = entries();
    let entry = entries[find(entries, name)?];
    // SAFETY: environment entries are NUL-terminated strings.
    let text = unsafe { core::ffi::CStr::from_ptr(entry) }.to_bytes();
    Some(&text[name.len() + 1..])
}

/// Writes one of the C library's own diagnostics (assertions, fortify
/// failures) to standard error, descriptor 2, as glibc does.
pub(crate) fn write_stderr(text: &[u8]) {
    let _ = kiln_libos::fs::write(2, text, None);
}

/// `abort(3)`: reported to the monitor as a crash, with a backtrace; or,
/// right after an allocation failed, as the program running out of memory,
/// which the monitor says in one line naming `-m`.
#[unsafe(no_mangle)]
pub extern "C" fn abort() -> ! {
    kiln_libos::process::flush_output();
    // SAFETY: the calling thread's live TCB.
    let failed = unsafe { (*crate::thread::current()).failed_allocation };
    if failed != 0 {
        platform::report_out_of_memory(failed);
    }
    platform::report_panic(b"the program called abort()")
}

/// What `exit` calls to write C streams' pending output: set by the
/// streams when they first buffer output, so that a program without C
/// stdio does not link it.
static FLUSH_STREAMS: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

/// Registers the streams' flush with `exit`.
pub(crate) fn at_exit_flush(flush: fn() -> bool) {
    FLUSH_STREAMS.store(flush as *mut (), Ordering::Relaxed);
}

/// `exit(3)`: writes the C streams' pending output, then ends the program.
#[unsafe(no_mangle)]
pub extern "C" fn exit(status: CInt) -> ! {
    let flush = FLUSH_STREAMS.load(Ordering::Relaxed);
    if !flush.is_null() {
        // SAFETY: only `at_exit_flush` stores here, a `fn() -> bool`.
        let flush = unsafe { core::mem::transmute::<*mut (), fn() -> bool>(flush) };
        flush();
    }
    kiln_libos::process::exit(status)
}

/// `_exit(2)`: ends the program without flushing C streams.
#[unsafe(no_mangle)]
pub extern "C" fn _exit(status: CInt) -> ! {
    kiln_libos::process::exit(status)
}

/// The current environment's entries.
fn entries() -> &'static [*const c_char] {
    let env = environ.load(Ordering::Relaxed).cast_const();
    let mut len = 0;
    // SAFETY: `environ` is null or a null-terminated array: the monitor's,
    // or one from `replace_environ`; neither ever changes in place.
    unsafe {
        while !env.is_null() && !(*env.add(len)).is_null() {
            len += 1;
        }
        crate::c_slice(env, len)
    }
}

/// Index of `name`'s entry in `entries`, if any.
fn find(entries: &[*const c_char], name: &[u8]) -> Option<usize> {
    entries.iter().position(|&entry| defines(entry, name))
}

/// Whether the environment entry `entry` (`NAME=value`) defines `name`.
fn defines(entry: *const c_char, name: &[u8]) -> bool {
    // SAFETY: environment entries are NUL-terminated strings.
    let text = unsafe { core::ffi::CStr::from_ptr(entry) }.to_bytes();
    text.len() > name.len() && text.starts_with(name) && text[name.len()] == b'='
}

/// Points `environ` at a fresh heap array of `entries`, or returns false
/// when memory runs out. The old array is left alone: it may be the
/// monitor's, or in use by an iterator over `environ`.
fn replace_environ<'a>(entries: impl Iterator<Item = &'a *const c_char> + Clone) -> bool {
    let count = entries.clone().count();
    let new = crate::malloc::malloc((count + 1) * size_of::<usize>()).cast::<*const c_char>();
    if new.is_null() {
        return false;
    }
    // SAFETY: `new` has `count + 1` slots.
    unsafe {
        for (i, entry) in entries.enumerate() {
            new.add(i).write(*entry);
        }
        new.add(count).write(core::ptr::null());
    }
    set_environ(new);
    true
}

/// A valid variable name: non-empty, without `=`.
fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && !name.contains(&b'=')
}

/// `setenv(3)`. Each change builds a fresh array (see `replace_environ`);
/// replaced strings are not freed (a pointer `getenv` returned earlier stays
/// valid, as glibc guarantees).
///
/// # Safety
/// `name` and `value` must be NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn setenv(
    name: *const c_char,
    value: *const c_char,
    overwrite: CInt,
) -> CInt {
    traced!("setenv"(name, value, overwrite) {
    use crate::errno::{self, code};
    use crate::malloc::{free, malloc};
    // SAFETY: per the caller.
    let (key, val) = unsafe {
        (
            core::ffi::CStr::from_ptr(name).to_bytes(),
            core::ffi::CStr::from_ptr(value).to_bytes(),
        )
    };
    if !valid_name(key) {
        return errno::fail(code::EINVAL);
    }
    let entries = entries();
    let existing = find(entries, key);
    if existing.is_some() && overwrite == 0 {
        return 0;
    }
    let entry = malloc(key.len() + val.len() + 2).cast::<u8>();
    if entry.is_null() {
        return -1;
    }
    // SAFETY: `entry` holds key, '=', value and the NUL.
    unsafe {
        core::ptr::copy_nonoverlapping(key.as_ptr(), entry, key.len());
        entry.add(key.len()).write(b'=');
        core::ptr::copy_nonoverlapping(val.as_ptr(), entry.add(key.len() + 1), val.len());
        entry.add(key.len() + 1 + val.len()).write(0);
    }
    let entry = entry.cast_const().cast::<c_char>();
    let replaced = match existing {
        Some(at) => {
            let before = entries[..at].iter();
            replace_environ(before.chain([&entry]).chain(&entries[at + 1..]))
        }
        None => replace_environ(entries.iter().chain([&entry])),
    };
    if !replaced {
        // SAFETY: `entry` came from malloc above and is not shared.
        unsafe { free(entry.cast_mut().cast()) };
        return -1;
    }
    0
    })
}

/// `unsetenv(3)`.
///
/// # Safety
/// `name` must be a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn unsetenv(name: *const c_char) -> CInt {
    traced!("unsetenv"(name) {
    use crate::errno::{self, code};
    // SAFETY: per the caller.
    let key = unsafe { core::ffi::CStr::from_ptr(name) }.to_bytes();
    if !valid_name(key) {
        return errno::fail(code::EINVAL);
    }
    let entries = entries();
    if find(entries, key).is_none() {
        return 0;
    }
    // Every definition goes, as in glibc.
    if !replace_environ(entries.iter().filter(|&&entry| !defines(entry, key))) {
        return -1;
    }
    0
    })
}
