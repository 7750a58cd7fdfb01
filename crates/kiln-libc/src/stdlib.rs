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
    (0..len).find(|&i| {
        // SAFETY: per the caller.
        let text = unsafe { core::ffi::CStr::from_ptr(*env.add(i)) }.to_bytes();
        text.len() > name.len() && text.starts_with(name) && text[name.len()] == b'='
    })
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
    use crate::malloc::{malloc, realloc};
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
    // A fresh array every time: the old one may be the monitor's or in use
    // by an iterator over `environ`.
    let slots = len + 2;
    // SAFETY: a null pointer asks realloc for a fresh block.
    let new = unsafe { realloc(core::ptr::null_mut(), slots * size_of::<usize>()) }
        .cast::<*const c_char>();
    if new.is_null() {
        return -1;
    }
    // SAFETY: `new` has `len + 2` slots; `env` has `len` entries.
    unsafe {
        if len > 0 {
            core::ptr::copy_nonoverlapping(env, new, len);
        }
        let at = existing.unwrap_or(len);
        new.add(at).write(entry.cast());
        let end = if existing.is_some() { len } else { len + 1 };
        new.add(end).write(core::ptr::null());
    }
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
    let env = environ.load(Ordering::Relaxed);
    // SAFETY: `environ` is always a valid null-terminated array (or null).
    let len = unsafe { environ_len(env) };
    // SAFETY: as above. Removing shifts the entries after it down by one,
    // in place, as glibc does; the terminating null moves with them.
    unsafe {
        if let Some(at) = find(env, len, key) {
            core::ptr::copy(env.add(at + 1), env.add(at), len - at);
        }
    }
    0
    })
}
