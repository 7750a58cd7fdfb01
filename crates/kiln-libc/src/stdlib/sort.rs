//! `qsort`, `qsort_r` and `bsearch`.

use alloc::vec::Vec;
use core::cmp::Ordering;
use core::ffi::{c_int, c_void};

/// A C comparison function, with or without the `qsort_r` argument.
type Compare = unsafe extern "C" fn(*const c_void, *const c_void) -> c_int;
type CompareWith = unsafe extern "C" fn(*const c_void, *const c_void, *mut c_void) -> c_int;

/// Sorts `order` (indices) stably by `less_or_equal`, by merging: glibc's
/// `qsort` is a merge sort too, so elements that compare equal keep the
/// order they have there. Written out because `core`'s sorts may panic
/// when a C comparison function is inconsistent, where C just sorts
/// badly.
fn merge_sort(
    order: &mut [usize],
    scratch: &mut [usize],
    in_order: &mut impl FnMut(usize, usize) -> bool,
) {
    if order.len() < 2 {
        return;
    }
    let middle = order.len() / 2;
    merge_sort(&mut order[..middle], scratch, in_order);
    merge_sort(&mut order[middle..], scratch, in_order);
    let (mut left, mut right, mut out) = (0, middle, 0);
    while left < middle && right < order.len() {
        if in_order(order[left], order[right]) {
            scratch[out] = order[left];
            left += 1;
        } else {
            scratch[out] = order[right];
            right += 1;
        }
        out += 1;
    }
    scratch[out..out + middle - left].copy_from_slice(&order[left..middle]);
    out += middle - left;
    scratch[out..out + order.len() - right].copy_from_slice(&order[right..]);
    order.copy_from_slice(&scratch[..order.len()]);
}

/// Sorts `count` elements of `size` bytes at `base` by `compare`.
///
/// # Safety
/// `base` must be valid for `count * size` bytes.
unsafe fn sort(
    base: *mut c_void,
    count: usize,
    size: usize,
    mut compare: impl FnMut(*const c_void, *const c_void) -> Ordering,
) {
    let Some(total) = count
        .checked_mul(size)
        .filter(|&total| total > 0 && count > 1)
    else {
        return;
    };
    let base = base.cast::<u8>();
    let element = |i: usize| base.wrapping_add(i * size).cast_const().cast::<c_void>();
    let mut order: Vec<usize> = (0..count).collect();
    let mut scratch = alloc::vec![0; count];
    merge_sort(&mut order, &mut scratch, &mut |a, b| {
        compare(element(a), element(b)) != Ordering::Greater
    });
    let mut sorted = Vec::with_capacity(total);
    for i in order {
        // SAFETY: element `i` is `size` readable bytes within `base`.
        sorted.extend_from_slice(unsafe {
            core::slice::from_raw_parts(element(i).cast::<u8>(), size)
        });
    }
    // SAFETY: `sorted` holds exactly the `total` bytes at `base`.
    unsafe { core::ptr::copy_nonoverlapping(sorted.as_ptr(), base, total) };
}

/// `qsort(3)`.
///
/// # Safety
/// `base` must be valid for `count * size` bytes; `compare` a comparison
/// function for its elements.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn qsort(base: *mut c_void, count: usize, size: usize, compare: Compare) {
    // SAFETY: per the caller.
    unsafe { sort(base, count, size, |a, b| compare(a, b).cmp(&0)) }
}

/// `qsort_r(3)` (GNU argument order).
///
/// # Safety
/// As [`qsort`]; `compare` accepts `arg`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn qsort_r(
    base: *mut c_void,
    count: usize,
    size: usize,
    compare: CompareWith,
    arg: *mut c_void,
) {
    // SAFETY: per the caller.
    unsafe { sort(base, count, size, |a, b| compare(a, b, arg).cmp(&0)) }
}

/// `bsearch(3)`.
///
/// # Safety
/// `base` must be valid for `count * size` bytes, sorted by `compare`,
/// which takes the key first.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bsearch(
    key: *const c_void,
    base: *const c_void,
    count: usize,
    size: usize,
    compare: Compare,
) -> *mut c_void {
    let (mut low, mut high) = (0, count);
    while low < high {
        let middle = low + (high - low) / 2;
        let element = base
            .cast::<u8>()
            .wrapping_add(middle * size)
            .cast::<c_void>();
        // SAFETY: per the caller.
        match unsafe { compare(key, element) }.cmp(&0) {
            Ordering::Less => high = middle,
            Ordering::Greater => low = middle + 1,
            Ordering::Equal => return element.cast_mut(),
        }
    }
    core::ptr::null_mut()
}
