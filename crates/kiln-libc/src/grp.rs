//! `<grp.h>`: groups, from the image's `/etc/group` (the library OS
//! writes a default one with `root` when the image bakes none).

use alloc::vec::Vec;
use core::ffi::{CStr, c_char};

use kiln_libos::preempt::Lock;

use crate::CInt;
use crate::nss::{self, Packer, Record};

const GROUP: &[u8] = b"/etc/group";

/// glibc's `struct group`.
#[repr(C)]
pub struct Group {
    name: *mut c_char,
    password: *mut c_char,
    gid: u32,
    members: *mut *mut c_char,
}

/// One `/etc/group` line, if it has the four fields a group needs.
struct Entry {
    fields: Vec<Vec<u8>>,
    gid: u32,
}

impl Entry {
    fn parse(fields: Vec<Vec<u8>>) -> Option<Entry> {
        if fields.len() < 4 || fields[0].is_empty() {
            return None;
        }
        Some(Entry {
            gid: nss::id(&fields[2])?,
            fields,
        })
    }

    fn name(&self) -> &[u8] {
        &self.fields[0]
    }

    /// The member list: the fourth field's comma-separated names.
    fn members(&self) -> impl Iterator<Item = &[u8]> {
        self.fields[3]
            .split(|&b| b == b',')
            .filter(|m| !m.is_empty())
    }
}

impl Record for Entry {
    type C = Group;

    /// Fills `out` with this group, its strings and member array in `buf`.
    fn pack(&self, out: &mut Group, buf: &mut [u8]) -> Result<(), i32> {
        let mut packer = Packer::new(buf);
        let count = self.members().count();
        let members = packer.pointers(count + 1)?;
        for (slot, member) in members.iter_mut().zip(self.members()) {
            *slot = packer.string(member)?;
        }
        members[count] = core::ptr::null_mut();
        *out = Group {
            name: packer.string(&self.fields[0])?,
            password: packer.string(&self.fields[1])?,
            gid: self.gid,
            members: members.as_mut_ptr(),
        };
        Ok(())
    }
}

fn groups() -> impl Iterator<Item = Entry> {
    nss::records(GROUP).into_iter().filter_map(Entry::parse)
}

/// `getgrnam_r(3)`.
///
/// # Safety
/// `name` must be a C string, `out` and `result` valid for writes, `buf`
/// for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getgrnam_r(
    name: *const c_char,
    out: *mut Group,
    buf: *mut c_char,
    len: usize,
    result: *mut *mut Group,
) -> CInt {
    traced!("getgrnam_r"(name, len) {
    // SAFETY: per the caller.
    let name = unsafe { CStr::from_ptr(name) }.to_bytes();
    let entry = groups().find(|g| g.name() == name);
    // SAFETY: per the caller.
    unsafe { nss::answer(entry, out, buf, len, result) }
    })
}

/// `getgrgid_r(3)`.
///
/// # Safety
/// `out` and `result` must be valid for writes, `buf` for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getgrgid_r(
    gid: u32,
    out: *mut Group,
    buf: *mut c_char,
    len: usize,
    result: *mut *mut Group,
) -> CInt {
    traced!("getgrgid_r"(gid, len) {
    let entry = groups().find(|g| g.gid == gid);
    // SAFETY: per the caller.
    unsafe { nss::answer(entry, out, buf, len, result) }
    })
}

/// The record and strings `getgrnam` and `getgrgid` return.
struct Static {
    record: Group,
    strings: Vec<u8>,
}

// SAFETY: the raw pointers point into `strings`, owned alongside them.
unsafe impl Send for Static {}

static STATIC: Lock<Static> = Lock::new(Static {
    record: Group {
        name: core::ptr::null_mut(),
        password: core::ptr::null_mut(),
        gid: 0,
        members: core::ptr::null_mut(),
    },
    strings: Vec::new(),
});

/// Packs `entry` into the static record: the pointer the non-reentrant
/// calls return (valid until the next call, as glibc's), or null.
fn into_static(entry: Option<Entry>) -> *mut Group {
    let mut state = STATIC.lock();
    let Static {
        record, strings, ..
    } = &mut *state;
    nss::into_static(entry, record, strings)
}

/// `getgrnam(3)`.
///
/// # Safety
/// `name` must be a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getgrnam(name: *const c_char) -> *mut Group {
    // SAFETY: per the caller.
    let name = unsafe { CStr::from_ptr(name) }.to_bytes();
    into_static(groups().find(|g| g.name() == name))
}

/// `getgrgid(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn getgrgid(gid: u32) -> *mut Group {
    into_static(groups().find(|g| g.gid == gid))
}

/// `getgrouplist(3)`: `group` first, then every group that lists `user`
/// as a member, in file order. If more than `*count` fit, the first
/// `*count` are written, `*count` becomes the number found and the result
/// is -1, as glibc.
///
/// # Safety
/// `user` must be a C string, `count` valid for reads and writes and
/// `list` for `*count` ids.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getgrouplist(
    user: *const c_char,
    group: u32,
    list: *mut u32,
    count: *mut CInt,
) -> CInt {
    traced!("getgrouplist"(user, group, list, count) {
    // SAFETY: per the caller.
    let user = unsafe { CStr::from_ptr(user) }.to_bytes();
    let mut found = alloc::vec![group];
    for entry in groups() {
        if entry.gid != group && !found.contains(&entry.gid) && entry.members().any(|m| m == user) {
            found.push(entry.gid);
        }
    }
    // SAFETY: per the caller.
    let room = usize::try_from(unsafe { *count }).unwrap_or(0);
    let written = found.len().min(room);
    // SAFETY: per the caller, `list` holds `*count` ids.
    unsafe { crate::c_slice_mut(list, written) }.copy_from_slice(&found[..written]);
    // SAFETY: per the caller.
    unsafe { count.write(found.len() as CInt) };
    if written < found.len() { -1 } else { found.len() as CInt }
    })
}
