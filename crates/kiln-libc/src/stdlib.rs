//! The environment, `abort` and `exit`.

use core::ffi::c_char;
use core::sync::atomic::{AtomicPtr, Ordering};

use kiln_libos::{console, platform};

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
    let mut entry = environ.load(Ordering::Relaxed);
    if entry.is_null() {
        return core::ptr::null_mut();
    }
    // SAFETY: `environ` is a null-terminated array of NUL-terminated strings.
    unsafe {
        while !(*entry).is_null() {
            let text = core::ffi::CStr::from_ptr(*entry).to_bytes();
            if text.len() > name.len() && text.starts_with(name) && text[name.len()] == b'=' {
                return (*entry).add(name.len() + 1).cast_mut();
            }
            entry = entry.add(1);
        }
    }
    core::ptr::null_mut()
    })
}

/// `abort(3)`: reported to the monitor as a crash, with a backtrace.
#[unsafe(no_mangle)]
pub extern "C" fn abort() -> ! {
    console::flush();
    platform::report_panic(b"the program called abort()")
}

/// `exit(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn exit(status: CInt) -> ! {
    console::flush();
    platform::exit(status)
}

/// `_exit(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn _exit(status: CInt) -> ! {
    exit(status)
}

/// The number of entries in the current environment.
///
/// # Safety
/// `environ` must be null or a null-terminated array.
unsafe fn environ_len(env: *const *const c_char) -> usize {
    let mut len = 0;
    // SAFETY: per the caller.
    while !env.is_null() && unsafe { !(*env.add(len)).is_null() } {
        len += 1;
    }
    len
}

/// Index of `name`'s entry in `env`, if any.
///
/// # Safety
/// `env` must be a null-terminated array of C strings of `len` entries.
unsafe fn find(env: *const *const c_char, len: usize, name: &[u8]) -> Option<usize> {
    // SAFETY: per the caller.
    (0..len).find(|&i| unsafe { defines(*env.add(i), name) })
}

/// Whether the `NAME=value` string `entry` defines `name`.
///
/// # Safety
/// `entry` must be a NUL-terminated string.
unsafe fn defines(entry: *const c_char, name: &[u8]) -> bool {
    // SAFETY: per the caller.
    let text = unsafe { core::ffi::CStr::from_ptr(entry) }.to_bytes();
    text.len() > name.len() && text.starts_with(name) && text[name.len()] == b'='
}

/// A fresh, null-terminated copy of `entries` on the heap, or null when
/// memory runs out. `environ` never changes in place: the old array may be
/// the monitor's or in use by an iterator over `environ`.
fn new_environ<'a>(
    entries: impl Iterator<Item = &'a *const c_char>,
    count: usize,
) -> *mut *const c_char {
    // SAFETY: a null pointer asks realloc for a fresh block.
    let new =
        unsafe { crate::malloc::realloc(core::ptr::null_mut(), (count + 1) * size_of::<usize>()) }
            .cast::<*const c_char>();
    if new.is_null() {
        return new;
    }
    // SAFETY: `new` has `count + 1` slots, and `entries` yields `count`.
    unsafe {
        for (i, entry) in entries.take(count).enumerate() {
            new.add(i).write(*entry);
        }
        new.add(count).write(core::ptr::null());
    }
    new
}

/// A valid variable name: non-empty, without `=`.
fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && !name.contains(&b'=')
}

/// `setenv(3)`. The boot-time environment is copied to the heap on the first
/// change; replaced strings are not freed (a pointer `getenv` returned
/// earlier stays valid, as glibc guarantees).
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
    let env = environ.load(Ordering::Relaxed).cast_const();
    // SAFETY: `environ` is always a valid null-terminated array (or null).
    let len = unsafe { environ_len(env) };
    // SAFETY: as above.
    let existing = unsafe { find(env, len, key) };
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
    // SAFETY: `environ` is always a valid null-terminated array (or null).
    let entries = unsafe { crate::c_slice(env, len) };
    let count = if existing.is_some() { len } else { len + 1 };
    let new = new_environ(entries.iter(), count);
    if new.is_null() {
        // SAFETY: `entry` came from malloc above and is not shared yet.
        unsafe { free(entry.cast()) };
        return -1;
    }
    // SAFETY: `new` has `count` entries; the one at `at` is replaced or added.
    unsafe { new.add(existing.unwrap_or(len)).write(entry.cast()) };
    set_environ(new);
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
    let env = environ.load(Ordering::Relaxed).cast_const();
    // SAFETY: `environ` is always a valid null-terminated array (or null).
    let entries = unsafe { crate::c_slice(env, environ_len(env)) };
    // SAFETY: the entries are NUL-terminated strings.
    let kept = |entry: &&*const c_char| unsafe { !defines(**entry, key) };
    let count = entries.iter().filter(kept).count();
    if count == entries.len() {
        return 0;
    }
    // Every definition goes, as in glibc.
    let new = new_environ(entries.iter().filter(kept), count);
    if new.is_null() {
        return -1;
    }
    set_environ(new);
    0
    })
}
