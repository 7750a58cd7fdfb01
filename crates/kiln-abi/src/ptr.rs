//! Guest pointers as plain numbers.

use core::fmt;
use core::marker::PhantomData;

/// A guest-physical address of a `T`, as stored in ABI structs.
///
/// Guest memory is identity-mapped, so a guest's own pointer and the
/// guest-physical address are the same number. The host never dereferences
/// it: the monitor translates it through its bounds-checked guest-memory view.
#[repr(transparent)]
pub struct GuestPtr<T> {
    addr: u64,
    _type: PhantomData<fn() -> T>,
}

impl<T> GuestPtr<T> {
    /// The null pointer.
    pub const NULL: Self = Self::new(0);

    /// Wraps a raw guest address.
    pub const fn new(addr: u64) -> Self {
        Self {
            addr,
            _type: PhantomData,
        }
    }

    /// Wraps a guest-side pointer (guest code only; the address is the pointer's value).
    pub fn from_ptr(ptr: *const T) -> Self {
        Self::new(ptr as u64)
    }

    /// The raw guest address.
    pub const fn addr(self) -> u64 {
        self.addr
    }

    /// Whether this is the null pointer.
    pub const fn is_null(self) -> bool {
        self.addr == 0
    }
}

// Derives would demand `T: Clone` etc.; a pointer is copyable whatever it points to.
impl<T> Clone for GuestPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for GuestPtr<T> {}

impl<T> Default for GuestPtr<T> {
    fn default() -> Self {
        Self::NULL
    }
}

impl<T> PartialEq for GuestPtr<T> {
    fn eq(&self, other: &Self) -> bool {
        self.addr == other.addr
    }
}

impl<T> Eq for GuestPtr<T> {}

impl<T> fmt::Debug for GuestPtr<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.addr)
    }
}
