//! The memory intrinsics and unwinding symbols the precompiled `core`
//! expects from its platform.
//!
//! `compiler_builtins` for this target does not export `memcpy` and friends
//! (glibc normally does), and the crates.io `compiler_builtins` that has them
//! builds only on nightly, so the library OS provides them, and `strlen`,
//! which LLVM emits for string-scanning loops. Every program spends time
//! here (each `Vec` growth, string format and slice comparison), so they
//! follow glibc's shape rather than a byte loop:
//! - copies up to [`SMALL`] bytes: straight-line code with overlapping
//!   unaligned moves (the first and last 2, 4, 8, 16 or 32 bytes), all loads
//!   before any store, so the same code serves `memmove`;
//! - up to [`MEDIUM`] bytes for copies and [`MEDIUM_FILL`] for fills, a
//!   loop of SSE2 moves, 64 bytes a round for copies and 16 for fills (SSE2
//!   is baseline on x86_64, and guest code runs at CPL3, where SSE is
//!   native);
//! - beyond, `rep movsb`/`rep stosb`, whose start-up cost (measured ~150
//!   cycles for 200 bytes in a guest) only pays off on long runs;
//! - `memcmp` compares 16 bytes at a time and finds the first difference
//!   from the comparison mask (it was a byte loop: 20x slower than glibc on
//!   a 1 MiB comparison).
//!
//! LLVM turns simple copy and fill loops back into calls to `memcpy` and
//! `memset`, which here would call themselves: the loops carry an empty
//! `asm!` that may touch memory, which that transformation cannot see
//! through. It does not form comparison loops into calls.

use core::arch::asm;
use core::arch::x86_64::{
    __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8, _mm_storeu_si128,
};
use core::ptr::{read_unaligned, write_unaligned};

/// Sizes copied or filled by straight-line code.
const SMALL: usize = 64;
/// Sizes copied by the SSE2 loop (glibc's SSE2 threshold for `rep movsb`
/// too).
const MEDIUM: usize = 2048;
/// Sizes filled by the SSE2 loop: `rep stosb` fills 4 KiB in about half the
/// loop's time in a guest (`bench/hot-paths`), and starts up fast enough
/// beyond this.
const MEDIUM_FILL: usize = 256;

/// A barrier LLVM cannot move memory accesses across or reason about: it
/// keeps the loops below loops instead of calls to the function they are in.
#[inline(always)]
fn opaque() {
    // SAFETY: an empty assembly block; it only tells the compiler it may
    // read or write memory.
    unsafe { asm!("", options(nostack, preserves_flags)) };
}

/// # Safety
/// `p` must be readable for 16 bytes.
#[inline(always)]
unsafe fn load16(p: *const u8) -> __m128i {
    // SAFETY: per the caller; the load is unaligned.
    unsafe { _mm_loadu_si128(p.cast()) }
}

/// # Safety
/// `p` must be writable for 16 bytes.
#[inline(always)]
unsafe fn store16(p: *mut u8, v: __m128i) {
    // SAFETY: per the caller; the store is unaligned.
    unsafe { _mm_storeu_si128(p.cast(), v) }
}

/// # Safety
/// `p` must be readable for 64 bytes.
#[inline(always)]
unsafe fn load64(p: *const u8) -> [__m128i; 4] {
    // SAFETY: per the caller.
    unsafe {
        [
            load16(p),
            load16(p.add(16)),
            load16(p.add(32)),
            load16(p.add(48)),
        ]
    }
}

/// # Safety
/// `p` must be writable for 64 bytes.
#[inline(always)]
unsafe fn store64(p: *mut u8, [a, b, c, d]: [__m128i; 4]) {
    // SAFETY: per the caller.
    unsafe {
        store16(p, a);
        store16(p.add(16), b);
        store16(p.add(32), c);
        store16(p.add(48), d);
    }
}

/// Copies `n <= SMALL` bytes, loading every byte before storing any, so
/// `dest` and `src` may overlap.
///
/// # Safety
/// `src` readable and `dest` writable for `n` bytes.
#[inline(always)]
unsafe fn copy_small(dest: *mut u8, src: *const u8, n: usize) {
    // SAFETY: in every block, each access lies within the first or last
    // 2/4/8/16/32 bytes of ranges of at least that length, per the branch.
    unsafe {
        if n > 32 {
            let (a, b) = (load16(src), load16(src.add(16)));
            let (c, d) = (load16(src.add(n - 32)), load16(src.add(n - 16)));
            store16(dest, a);
            store16(dest.add(16), b);
            store16(dest.add(n - 32), c);
            store16(dest.add(n - 16), d);
        } else if n >= 16 {
            let (a, b) = (load16(src), load16(src.add(n - 16)));
            store16(dest, a);
            store16(dest.add(n - 16), b);
        } else if n >= 8 {
            let a = read_unaligned(src.cast::<u64>());
            let b = read_unaligned(src.add(n - 8).cast::<u64>());
            write_unaligned(dest.cast::<u64>(), a);
            write_unaligned(dest.add(n - 8).cast::<u64>(), b);
        } else if n >= 4 {
            let a = read_unaligned(src.cast::<u32>());
            let b = read_unaligned(src.add(n - 4).cast::<u32>());
            write_unaligned(dest.cast::<u32>(), a);
            write_unaligned(dest.add(n - 4).cast::<u32>(), b);
        } else if n >= 2 {
            let a = read_unaligned(src.cast::<u16>());
            let b = read_unaligned(src.add(n - 2).cast::<u16>());
            write_unaligned(dest.cast::<u16>(), a);
            write_unaligned(dest.add(n - 2).cast::<u16>(), b);
        } else if n == 1 {
            *dest = *src;
        }
    }
}

/// Copies `n > 64` bytes forwards in 64-byte blocks. The last 64 bytes are
/// loaded first and stored last, so a `dest` below an overlapping `src`
/// is copied correctly too.
///
/// # Safety
/// `src` readable and `dest` writable for `n > 64` bytes; if they overlap,
/// `dest < src`.
#[inline(always)]
unsafe fn copy_forward_blocks(dest: *mut u8, src: *const u8, n: usize) {
    // SAFETY: every block lies within the first `n` bytes of both ranges;
    // stores below `src + i` only overwrite bytes already loaded.
    unsafe {
        let tail = load64(src.add(n - 64));
        let mut i = 0;
        while i + 64 < n {
            store64(dest.add(i), load64(src.add(i)));
            opaque();
            i += 64;
        }
        store64(dest.add(n - 64), tail);
    }
}

/// # Safety
/// Both ranges valid for `n` bytes; `dest <= src` if they overlap.
#[inline(always)]
unsafe fn rep_movsb(dest: *mut u8, src: *const u8, n: usize) {
    // SAFETY: per the caller; `rep movsb` copies exactly `n` bytes forwards
    // (DF is clear per the ABI), which is correct for `dest <= src`.
    unsafe {
        asm!(
            "rep movsb",
            inout("rcx") n => _,
            inout("rdi") dest => _,
            inout("rsi") src => _,
            options(nostack, preserves_flags),
        );
    }
}

/// Copies `n` bytes forwards: correct for disjoint ranges, and for
/// overlapping ones when `n <= SMALL` or `dest` is below `src`. One copy of
/// the code serves `memcpy` and `memmove`.
///
/// # Safety
/// `src` readable and `dest` writable for `n` bytes, overlapping only as
/// above.
#[inline(never)]
unsafe fn copy(dest: *mut u8, src: *const u8, n: usize) {
    // SAFETY: per the caller.
    unsafe {
        if n <= SMALL {
            copy_small(dest, src, n);
        } else if n <= MEDIUM {
            copy_forward_blocks(dest, src, n);
        } else {
            rep_movsb(dest, src, n);
        }
    }
}

/// # Safety
/// `dest` and `src` must be valid for `n` bytes and must not overlap.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcpy(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the caller guarantees both ranges are valid and disjoint.
    unsafe { copy(dest, src, n) };
    dest
}

/// # Safety
/// `dest` and `src` must be valid for `n` bytes; they may overlap.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memmove(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if n <= SMALL || (dest as usize).wrapping_sub(src as usize) >= n {
        // Short moves load everything before storing; longer ones with
        // `dest` below `src` (or past its end) go forwards, which never
        // overwrites unread source bytes: `copy` does both.
        // SAFETY: per the caller, and `copy` is correct for these overlaps.
        unsafe { copy(dest, src, n) };
        return dest;
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
    let byte = value as u8;
    // SAFETY: in every branch, the caller guarantees `dest` is valid for `n`
    // bytes; each store lies within it (the last ones overlap the loop's).
    unsafe {
        if (16..=MEDIUM_FILL).contains(&n) {
            let v = _mm_set1_epi8(byte as i8);
            let mut i = 0;
            while i + 16 < n {
                store16(dest.add(i), v);
                opaque();
                i += 16;
            }
            store16(dest.add(n - 16), v);
        } else if (8..16).contains(&n) {
            let v = u64::from_ne_bytes([byte; 8]);
            write_unaligned(dest.cast::<u64>(), v);
            write_unaligned(dest.add(n - 8).cast::<u64>(), v);
        } else {
            // Long fills, and the rare short ones compilers do not inline.
            asm!(
                "rep stosb",
                inout("rcx") n => _,
                inout("rdi") dest => _,
                in("al") byte,
                options(nostack, preserves_flags),
            );
        }
    }
    dest
}

/// The sign-carrying difference of the first differing bytes at `a` and `b`.
///
/// # Safety
/// Both readable at `at`.
#[inline(always)]
unsafe fn byte_difference(a: *const u8, b: *const u8, at: usize) -> i32 {
    // SAFETY: per the caller.
    unsafe { i32::from(*a.add(at)) - i32::from(*b.add(at)) }
}

/// # Safety
/// `a` and `b` must be valid for `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: throughout, every access lies within the first `n` bytes of
    // both ranges, which the caller guarantees readable.
    unsafe {
        if n >= 16 {
            let mut i = 0;
            loop {
                // The last block may overlap the one before it: its first
                // bytes are known equal, so the first difference is still
                // the first in the whole range.
                let at = i.min(n - 16);
                let equal = _mm_movemask_epi8(_mm_cmpeq_epi8(load16(a.add(at)), load16(b.add(at))));
                let differ = !(equal as u32) & 0xffff;
                if differ != 0 {
                    return byte_difference(a, b, at + differ.trailing_zeros() as usize);
                }
                if at + 16 == n {
                    return 0;
                }
                i += 16;
            }
        }
        for i in 0..n {
            if *a.add(i) != *b.add(i) {
                return byte_difference(a, b, i);
            }
        }
        0
    }
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
