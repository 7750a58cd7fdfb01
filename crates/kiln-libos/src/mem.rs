//! The memory intrinsics and unwinding symbols the precompiled `core`
//! expects from its platform.
//!
//! `compiler_builtins` for this target does not export `memcpy` and friends
//! (glibc normally does), so the library OS provides them, and `strlen`,
//! which LLVM emits for string-scanning loops. The copy, fill and scan
//! functions are written with string instructions so LLVM cannot turn them
//! back into calls to themselves. `memcmp` and `bcmp` are plain loops: LLVM
//! recognises copy, fill and NUL-scan loops, not comparison loops, so a
//! comparison loop stays a loop (a release image's `memcmp` calls nothing).

use core::arch::asm;

/// # Safety
/// `dest` and `src` must be valid for `n` bytes and must not overlap.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcpy(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the caller guarantees both ranges are valid and disjoint;
    // `rep movsb` copies exactly `n` bytes forwards (DF is clear per the ABI).
    unsafe {
        asm!(
            "rep movsb",
            inout("rcx") n => _,
            inout("rdi") dest => _,
            inout("rsi") src => _,
            options(nostack, preserves_flags),
        );
    }
    dest
}

/// # Safety
/// `dest` and `src` must be valid for `n` bytes; they may overlap.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memmove(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dest as usize).wrapping_sub(src as usize) >= n {
        // Copying forwards never overwrites unread source bytes.
        // SAFETY: as for `memcpy`; a forward copy is correct for this overlap.
        return unsafe { memcpy(dest, src, n) };
    }
    // SAFETY: copy backwards from the last byte with DF set, then clear DF
    // again as the ABI requires; both ranges are valid per the caller.
    unsafe {
        asm!(
            "std",
            "rep movsb",
            "cld",
            inout("rcx") n => _,
            inout("rdi") dest.add(n - 1) => _,
            inout("rsi") src.add(n - 1) => _,
            options(nostack),
        );
    }
    dest
}

/// # Safety
/// `dest` must be valid for `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memset(dest: *mut u8, value: i32, n: usize) -> *mut u8 {
    // SAFETY: the caller guarantees `dest` is valid for `n` bytes.
    unsafe {
        asm!(
            "rep stosb",
            inout("rcx") n => _,
            inout("rdi") dest => _,
            in("al") value as u8,
            options(nostack, preserves_flags),
        );
    }
    dest
}

/// # Safety
/// `a` and `b` must be valid for `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    for i in 0..n {
        // SAFETY: `i < n` and the caller guarantees both ranges are valid.
        let (x, y) = unsafe { (*a.add(i), *b.add(i)) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
    }
    0
}

/// # Safety
/// `a` and `b` must be valid for `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: same contract as `memcmp`.
    unsafe { memcmp(a, b, n) }
}

/// LLVM recognises NUL-scanning loops and emits calls to `strlen`.
///
/// # Safety
/// `s` must point to a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strlen(s: *const u8) -> usize {
    let remaining: usize;
    // SAFETY: `repne scasb` scans from `s` for the NUL byte the caller
    // guarantees; DF is clear per the ABI.
    unsafe {
        asm!(
            "repne scasb",
            inout("rcx") usize::MAX => remaining,
            inout("rdi") s => _,
            in("al") 0u8,
            options(nostack, readonly),
        );
    }
    // rcx counted down once per byte scanned, the NUL included.
    !remaining - 1
}

/// The precompiled `core` and `alloc` are built to unwind and name a
/// personality routine; Kiln programs abort on panic, so it is never called.
/// (Under the C-library layer, `std` defines its own.)
#[cfg(feature = "native")]
#[unsafe(no_mangle)]
extern "C" fn rust_eh_personality() {}

/// Referenced by the precompiled `core`'s landing pads, which never run
/// under `panic = "abort"`. (The C-library layer defines all `_Unwind_*`.)
#[cfg(feature = "native")]
#[unsafe(no_mangle)]
extern "C" fn _Unwind_Resume() -> ! {
    crate::platform::report_panic(b"unwinding is not supported (_Unwind_Resume called)")
}
