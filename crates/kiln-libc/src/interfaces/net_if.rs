//! `net/if.h`: interface names and indexes (`if_nametoindex`,
//! `if_indextoname`, `if_nameindex`), over [`super::interfaces`].

use core::ffi::{CStr, c_char};

use super::{NAME_SIZE, interfaces};
use crate::errno::{self, code};
use crate::malloc;

/// `struct if_nameindex`.
#[repr(C)]
pub struct NameIndex {
    index: u32,
    name: *mut c_char,
}

/// `if_nametoindex(3)`: 0 and `ENODEV` for a name no interface has.
///
/// # Safety
/// `name` must be a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn if_nametoindex(name: *const c_char) -> u32 {
    traced!("if_nametoindex"(name) {
    // SAFETY: per the caller.
    let name = unsafe { CStr::from_ptr(name) };
    match interfaces().find(|interface| interface.name == name) {
        Some(interface) => interface.index,
        None => {
            errno::set(code::ENODEV);
            0
        }
    }
    })
}

/// `if_indextoname(3)`: null and `ENXIO` for an index no interface has.
///
/// # Safety
/// `buf` must be valid for `IF_NAMESIZE` (16) bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn if_indextoname(index: u32, buf: *mut c_char) -> *mut c_char {
    traced!("if_indextoname"(index, buf) {
    let Some(interface) = interfaces().find(|interface| interface.index == index) else {
        return errno::fail_null(code::ENXIO);
    };
    let name = interface.name.to_bytes_with_nul();
    // SAFETY: per the caller; names are shorter than `IF_NAMESIZE`.
    unsafe { core::ptr::copy_nonoverlapping(name.as_ptr(), buf.cast::<u8>(), name.len()) };
    buf
    })
}

/// `if_nameindex(3)`: every interface, then `{0, NULL}`; one allocation,
/// the names after the array, which [`if_freenameindex`] frees.
#[unsafe(no_mangle)]
pub extern "C" fn if_nameindex() -> *mut NameIndex {
    traced!("if_nameindex"() {
    let count = interfaces().count();
    let array_size = (count + 1) * size_of::<NameIndex>();
    let block = malloc::malloc(array_size + count * NAME_SIZE).cast::<u8>();
    if block.is_null() {
        return errno::fail_null(code::ENOBUFS);
    }
    let array = block.cast::<NameIndex>();
    for (i, interface) in interfaces().enumerate() {
        let name = interface.name.to_bytes_with_nul();
        // SAFETY: the block holds `count + 1` entries and then `count`
        // names of `NAME_SIZE` bytes (`malloc` aligns for any type); each
        // name fits in its slot.
        unsafe {
            let slot = block.add(array_size + i * NAME_SIZE);
            core::ptr::copy_nonoverlapping(name.as_ptr(), slot, name.len());
            array.add(i).write(NameIndex {
                index: interface.index,
                name: slot.cast(),
            });
        }
    }
    // SAFETY: the terminating entry is the array's last.
    unsafe {
        array.add(count).write(NameIndex {
            index: 0,
            name: core::ptr::null_mut(),
        })
    };
    array
    })
}

/// `if_freenameindex(3)`.
///
/// # Safety
/// `array` must come from [`if_nameindex`] (or be null).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn if_freenameindex(array: *mut NameIndex) {
    // SAFETY: per the caller, one `malloc` block.
    unsafe { malloc::free(array.cast()) };
}
