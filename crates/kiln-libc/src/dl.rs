//! `dlfcn.h` for a static image: no library can be loaded, but the
//! program itself can be opened, and `dlsym` finds the few C-library
//! functions that `std` and common crates look up by name at run time
//! (`std`'s `weak!` lookups, the `getrandom` crate's).
//!
//! The table holds only those: each entry links its function into every
//! program that links `dlsym`, so it stays small.

use core::ffi::{CStr, c_char, c_int, c_void};
use core::sync::atomic::{AtomicPtr, Ordering};

use alloc::boxed::Box;
use alloc::format;

use crate::string::bytes;

/// The names `dlsym` answers, and their functions.
const SYMBOLS: &[(&[u8], *const c_void)] = &[
    (b"getrandom", crate::syscall::getrandom as *const c_void),
    (
        b"gnu_get_libc_version",
        crate::process::gnu_get_libc_version as *const c_void,
    ),
    (b"renameat2", crate::stdio::renameat2 as *const c_void),
    (
        b"__pthread_get_minstack",
        crate::pthread::attr::__pthread_get_minstack as *const c_void,
    ),
];

/// The handle `dlopen(NULL)` returns: the address of this static.
static PROGRAM: u8 = 0;

/// `RTLD_DEFAULT` and `RTLD_NEXT`, which search the program too.
const RTLD_DEFAULT: *mut c_void = core::ptr::null_mut();
const RTLD_NEXT: *mut c_void = usize::MAX as *mut c_void;

/// The message the next `dlerror` returns (a leaked `Box`), or null.
static ERROR: AtomicPtr<c_char> = AtomicPtr::new(core::ptr::null_mut());

/// Records `message` for `dlerror`, freeing the one not yet collected.
fn set_error(message: alloc::string::String) {
    let mut text = message.into_bytes();
    text.push(0);
    let new = Box::into_raw(text.into_boxed_slice()).cast::<c_char>();
    let old = ERROR.swap(new, Ordering::AcqRel);
    free_error(old);
}

/// Frees a message `set_error` made (null is fine).
fn free_error(message: *mut c_char) {
    if message.is_null() {
        return;
    }
    // SAFETY: `message` came from `Box::into_raw` in `set_error`, with its
    // NUL the last byte, and was taken out of `ERROR`, so it is freed once.
    unsafe {
        let len = CStr::from_ptr(message).to_bytes_with_nul().len();
        drop(Box::from_raw(core::ptr::slice_from_raw_parts_mut(
            message.cast::<u8>(),
            len,
        )));
    }
}

/// The message `dlerror` returned last, kept until the next call (C
/// callers read it after `dlerror` returns).
static RETURNED: AtomicPtr<c_char> = AtomicPtr::new(core::ptr::null_mut());

/// `dlopen(3)`: null names the program itself; any library fails as
/// glibc words a missing one.
///
/// # Safety
/// `name` must be null or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dlopen(name: *const c_char, flags: c_int) -> *mut c_void {
    traced!("dlopen"(name, flags) {
    if name.is_null() {
        return (&raw const PROGRAM).cast_mut().cast();
    }
    // SAFETY: per the caller.
    let name = alloc::string::String::from_utf8_lossy(unsafe { bytes(name) }).into_owned();
    set_error(format!(
        "{name}: cannot open shared object file: No such file or directory"
    ));
    core::ptr::null_mut()
    })
}

/// `dlsym(3)`: a function of [`SYMBOLS`], or null with "prog: undefined
/// symbol: name" for `dlerror`, as glibc reports a symbol the program
/// lacks.
///
/// # Safety
/// `name` must be a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dlsym(handle: *mut c_void, name: *const c_char) -> *mut c_void {
    traced!("dlsym"(handle, name) {
    // SAFETY: per the caller.
    let wanted = unsafe { bytes(name) };
    let known = [
        RTLD_DEFAULT,
        RTLD_NEXT,
        (&raw const PROGRAM).cast_mut().cast(),
    ];
    if known.contains(&handle)
        && let Some(&(_, address)) = SYMBOLS.iter().find(|(symbol, _)| *symbol == wanted)
    {
        return address.cast_mut();
    }
    let program =
        alloc::string::String::from_utf8_lossy(crate::assert::program_name()).into_owned();
    let wanted = alloc::string::String::from_utf8_lossy(wanted);
    set_error(format!("{program}: undefined symbol: {wanted}"));
    core::ptr::null_mut()
    })
}

/// `dlclose(3)`: the program's handle stays open; 0.
#[unsafe(no_mangle)]
pub extern "C" fn dlclose(_handle: *mut c_void) -> c_int {
    0
}

/// `dlerror(3)`: the last error since the previous call, or null.
#[unsafe(no_mangle)]
pub extern "C" fn dlerror() -> *mut c_char {
    let message = ERROR.swap(core::ptr::null_mut(), Ordering::AcqRel);
    free_error(RETURNED.swap(message, Ordering::AcqRel));
    message
}

/// `dladdr(3)`: a static image has no dynamic symbol table to name an
/// address from; 0 ("not found").
#[unsafe(no_mangle)]
pub extern "C" fn dladdr(_address: *const c_void, _info: *mut c_void) -> c_int {
    0
}
