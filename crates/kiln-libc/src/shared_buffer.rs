//! The one kind of static result buffer that C's non-reentrant calls
//! (`gmtime`, `localtime`, `asctime`, `strsignal`, `seed48`...) return
//! pointers into, as glibc's do.

use core::cell::UnsafeCell;

/// A buffer every thread may write, whose address C callers keep.
pub(crate) struct SharedBuffer<T>(UnsafeCell<T>);

// SAFETY: a call writes the buffer and hands the caller a pointer into it,
// which no lock can cover after the call returns; the functions that use
// one are those POSIX lets be thread-unsafe (glibc marks them
// `MT-Unsafe race`), so two threads calling one at once race in glibc too.
// This relies on no scheduler guarantee: a program that serialises its own
// calls is correct under preemption and on many CPUs.
unsafe impl<T> Sync for SharedBuffer<T> {}

impl<T> SharedBuffer<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self(UnsafeCell::new(value))
    }

    pub(crate) fn get(&self) -> *mut T {
        self.0.get()
    }
}
