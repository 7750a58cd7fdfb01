//! `link.h`'s `dl_iterate_phdr`: the one object a static image has, the
//! program, with its program headers. Backtraces (std's, through its
//! `backtrace` symbolizer) walk these to map addresses to the program and
//! then read its symbols from `/proc/self/exe`.
//!
//! The loaded segments need not include the ELF header, so the headers are
//! read from the image file the monitor holds (`ReadImage`), once.

use core::ffi::{c_char, c_int, c_void};
use core::sync::atomic::{AtomicPtr, AtomicU16, Ordering};

use alloc::vec;

use kiln_libos::platform;

/// glibc's `struct dl_phdr_info` (x86_64).
#[repr(C)]
pub struct DlPhdrInfo {
    /// Load bias: 0, the image is linked where it runs.
    addr: u64,
    /// "" for the program itself.
    name: *const c_char,
    phdr: *const u8,
    phnum: u16,
    /// Objects loaded and unloaded so far.
    adds: u64,
    subs: u64,
    /// The program's TLS module (1) when it has a TLS segment, else 0.
    tls_modid: usize,
    tls_data: *mut c_void,
}

/// `callback(info, size, data)` as `dl_iterate_phdr` calls it.
type Callback = unsafe extern "C" fn(*mut DlPhdrInfo, usize, *mut c_void) -> c_int;

/// ELF: `PT_TLS`.
const PT_TLS: u32 = 7;

static HEADERS: AtomicPtr<u8> = AtomicPtr::new(core::ptr::null_mut());
static COUNT: AtomicU16 = AtomicU16::new(0);

/// The program headers (56 bytes each) and their count, read from the image
/// file on first use; `None` if the monitor has no image file or it is not
/// a 64-bit ELF file.
fn program_headers() -> Option<(*const u8, u16)> {
    let cached = HEADERS.load(Ordering::Acquire);
    if !cached.is_null() {
        return Some((cached, COUNT.load(Ordering::Relaxed)));
    }
    let mut header = [0u8; 64];
    if platform::read_image(0, &mut header) != header.len() || &header[..5] != b"\x7fELF\x02" {
        return None;
    }
    let offset = u64::from_le_bytes(header[32..40].try_into().ok()?);
    let entry_size = u16::from_le_bytes(header[54..56].try_into().ok()?);
    let count = u16::from_le_bytes(header[56..58].try_into().ok()?);
    if entry_size != 56 || count == 0 {
        return None;
    }
    let mut headers = vec![0u8; usize::from(count) * 56].into_boxed_slice();
    if platform::read_image(offset, &mut headers) != headers.len() {
        return None;
    }
    let leaked = alloc::boxed::Box::leak(headers).as_mut_ptr();
    COUNT.store(count, Ordering::Relaxed);
    match HEADERS.compare_exchange(
        core::ptr::null_mut(),
        leaked,
        Ordering::AcqRel,
        Ordering::Acquire,
    ) {
        Ok(_) => Some((leaked, count)),
        // Another thread read them first: both copies say the same.
        Err(first) => Some((first, count)),
    }
}

/// `dl_iterate_phdr(3)`: calls `callback` once, for the program.
///
/// # Safety
/// `callback` must be callable as glibc documents it, with `data`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dl_iterate_phdr(callback: Option<Callback>, data: *mut c_void) -> c_int {
    traced!("dl_iterate_phdr"(data) {
    let (Some(callback), Some((phdr, phnum))) = (callback, program_headers()) else {
        return 0;
    };
    // SAFETY: `phnum` headers of 56 bytes each at `phdr`, read above.
    let headers = unsafe { core::slice::from_raw_parts(phdr, usize::from(phnum) * 56) };
    let has_tls = headers
        .chunks(56)
        .any(|h| u32::from_le_bytes([h[0], h[1], h[2], h[3]]) == PT_TLS);
    let mut info = DlPhdrInfo {
        addr: 0,
        name: c"".as_ptr(),
        phdr,
        phnum,
        adds: 1,
        subs: 0,
        tls_modid: usize::from(has_tls),
        tls_data: core::ptr::null_mut(),
    };
    // SAFETY: per the caller; `info` lives across the call.
    unsafe { callback(&mut info, size_of::<DlPhdrInfo>(), data) }
    })
}
