//! `<pwd.h>`: users, from the image's `/etc/passwd` (the library OS
//! writes a default one with `root` when the image bakes none).

use alloc::vec::Vec;
use core::ffi::{CStr, c_char};

use kiln_libos::preempt::Lock;

use crate::CInt;
use crate::nss::{self, Packer, Record};

const PASSWD: &[u8] = b"/etc/passwd";

/// glibc's `struct passwd`.
#[repr(C)]
pub struct Passwd {
    name: *mut c_char,
    password: *mut c_char,
    uid: u32,
    gid: u32,
    gecos: *mut c_char,
    dir: *mut c_char,
    shell: *mut c_char,
}

/// One `/etc/passwd` line's fields, if it has the seven a user needs.
struct User {
    fields: Vec<Vec<u8>>,
    uid: u32,
    gid: u32,
}

impl User {
    fn parse(fields: Vec<Vec<u8>>) -> Option<User> {
        if fields.len() < 7 || fields[0].is_empty() {
            return None;
        }
        Some(User {
            uid: nss::id(&fields[2])?,
            gid: nss::id(&fields[3])?,
            fields,
        })
    }

    fn name(&self) -> &[u8] {
        &self.fields[0]
    }
}

impl Record for User {
    type C = Passwd;

    /// Fills `out` with this user, its strings in `buf`.
    fn pack(&self, out: &mut Passwd, buf: &mut [u8]) -> Result<(), i32> {
        let mut packer = Packer::new(buf);
        let f = &self.fields;
        *out = Passwd {
            name: packer.string(&f[0])?,
            password: packer.string(&f[1])?,
            uid: self.uid,
            gid: self.gid,
            gecos: packer.string(&f[4])?,
            dir: packer.string(&f[5])?,
            shell: packer.string(&f[6])?,
        };
        Ok(())
    }
}

fn users() -> impl Iterator<Item = User> {
    nss::records(PASSWD).into_iter().filter_map(User::parse)
}

/// `getpwnam_r(3)`.
///
/// # Safety
/// `name` must be a C string, `out` and `result` valid for writes, `buf`
/// for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getpwnam_r(
    name: *const c_char,
    out: *mut Passwd,
    buf: *mut c_char,
    len: usize,
    result: *mut *mut Passwd,
) -> CInt {
    traced!("getpwnam_r"(name, len) {
    // SAFETY: per the caller.
    let name = unsafe { CStr::from_ptr(name) }.to_bytes();
    let user = users().find(|u| u.name() == name);
    // SAFETY: per the caller.
    unsafe { nss::answer(user, out, buf, len, result) }
    })
}

/// `getpwuid_r(3)`.
///
/// # Safety
/// `out` and `result` must be valid for writes, `buf` for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getpwuid_r(
    uid: u32,
    out: *mut Passwd,
    buf: *mut c_char,
    len: usize,
    result: *mut *mut Passwd,
) -> CInt {
    traced!("getpwuid_r"(uid, len) {
    let user = users().find(|u| u.uid == uid);
    // SAFETY: per the caller.
    unsafe { nss::answer(user, out, buf, len, result) }
    })
}

/// The record and strings the non-reentrant calls return.
struct Static {
    record: Passwd,
    strings: Vec<u8>,
    /// `getpwent`'s place: the index of the next user.
    next: usize,
}

// SAFETY: the raw pointers point into `strings`, owned alongside them.
unsafe impl Send for Static {}

static STATIC: Lock<Static> = Lock::new(Static {
    record: Passwd {
        name: core::ptr::null_mut(),
        password: core::ptr::null_mut(),
        uid: 0,
        gid: 0,
        gecos: core::ptr::null_mut(),
        dir: core::ptr::null_mut(),
        shell: core::ptr::null_mut(),
    },
    strings: Vec::new(),
    next: 0,
});

/// Packs `user` into the static record: the pointer the non-reentrant
/// calls return (valid until the next call, as glibc's), or null.
fn into_static(user: Option<User>) -> *mut Passwd {
    let mut state = STATIC.lock();
    let Static {
        record, strings, ..
    } = &mut *state;
    nss::into_static(user, record, strings)
}

/// `getpwnam(3)`.
///
/// # Safety
/// `name` must be a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getpwnam(name: *const c_char) -> *mut Passwd {
    // SAFETY: per the caller.
    let name = unsafe { CStr::from_ptr(name) }.to_bytes();
    into_static(users().find(|u| u.name() == name))
}

/// `getpwuid(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn getpwuid(uid: u32) -> *mut Passwd {
    into_static(users().find(|u| u.uid == uid))
}

/// `setpwent(3)`: `getpwent` starts again from the first user.
#[unsafe(no_mangle)]
pub extern "C" fn setpwent() {
    STATIC.lock().next = 0;
}

/// `endpwent(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn endpwent() {
    setpwent();
}

/// `getpwent(3)`: the next user, or null after the last.
#[unsafe(no_mangle)]
pub extern "C" fn getpwent() -> *mut Passwd {
    let index = {
        let mut state = STATIC.lock();
        state.next += 1;
        state.next - 1
    };
    into_static(users().nth(index))
}
