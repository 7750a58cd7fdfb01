//! Guest memory, and the only way the monitor touches it.
//!
//! Every access names a guest-physical range and is checked against the
//! memory's size without overflow before any byte moves; a range the guest
//! supplied that fails the check becomes a [`GuestAccessError`], never a
//! host fault.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap, VolatileSlice};

use crate::crash::unwind::StackMemory;

/// A guest-supplied range that is not inside guest memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{len:#x} bytes at guest address {addr:#x} are outside guest memory (size {size:#x})")]
pub struct GuestAccessError {
    /// Start of the range.
    pub addr: u64,
    /// Its length.
    pub len: u64,
    /// The guest memory size.
    pub size: u64,
}

/// Anonymous, lazily backed guest memory starting at guest-physical 0: a
/// host reservation of the whole limit, of which the first `size` bytes are
/// the guest's memory now (the rest is mapped into the VM as it grows).
pub struct GuestMemory {
    inner: GuestMemoryMmap,
    size: AtomicU64,
    limit: u64,
}

impl fmt::Debug for GuestMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuestMemory")
            .field("size", &self.size())
            .field("limit", &self.limit)
            .finish()
    }
}

impl GuestMemory {
    /// Reserves `limit` bytes, of which the first `size` are guest memory
    /// now. Nothing is backed until first touched (`MAP_NORESERVE`), so a
    /// large limit costs only what the guest uses.
    pub fn new(size: u64, limit: u64) -> std::io::Result<Self> {
        let len = usize::try_from(limit).map_err(std::io::Error::other)?;
        let inner = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), len)])
            .map_err(std::io::Error::other)?;
        let memory = Self {
            inner,
            size: AtomicU64::new(size.min(limit)),
            limit,
        };
        // Instances of one image hold the same loaded segments: a host
        // that runs KSM (/sys/kernel/mm/ksm/run) may share those pages, as
        // it does for VMs' memory elsewhere. Only advice: without KSM it
        // does nothing, and a refusal leaves the memory as it was.
        // SAFETY: the range is exactly this memory's own mapping; the
        // advice changes no contents.
        unsafe { libc::madvise(memory.host_base().cast(), len, libc::MADV_MERGEABLE) };
        Ok(memory)
    }

    /// Bytes of guest memory now.
    pub fn size(&self) -> u64 {
        self.size.load(Ordering::Relaxed)
    }

    /// The most bytes guest memory may grow to.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Makes the first `size` bytes of the reservation guest memory, once
    /// the VM maps them.
    pub fn grow_to(&self, size: u64) {
        debug_assert!(size <= self.limit);
        self.size.fetch_max(size.min(self.limit), Ordering::Relaxed);
    }

    /// The host address where guest-physical 0 is mapped, for KVM.
    pub fn host_base(&self) -> *mut u8 {
        self.inner
            .get_host_address(GuestAddress(0))
            .expect("guest memory always contains address 0")
    }

    /// Checks that `len` bytes at `addr` lie inside guest memory.
    pub fn check(&self, addr: u64, len: u64) -> Result<(), GuestAccessError> {
        match addr.checked_add(len) {
            Some(end) if end <= self.size() => Ok(()),
            _ => Err(self.error(addr, len)),
        }
    }

    /// Maps `len` bytes of `file` from `offset` privately (copy on write)
    /// at guest address `addr`, over what the reservation held there:
    /// pages are read from the host's page cache as the guest touches
    /// them, shared by every VM of the same image until written. `addr`,
    /// `len` and `offset` are page-aligned, and the range lies in memory.
    pub fn map_file(
        &self,
        addr: u64,
        len: u64,
        file: std::os::fd::BorrowedFd<'_>,
        offset: u64,
    ) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        self.check(addr, len).map_err(std::io::Error::other)?;
        let (Ok(at), Ok(count), Ok(offset)) = (
            usize::try_from(addr),
            usize::try_from(len),
            libc::off_t::try_from(offset),
        ) else {
            return Err(std::io::Error::from(std::io::ErrorKind::InvalidInput));
        };
        // SAFETY: the range is inside this memory's own reservation (checked
        // above), which nothing else uses; `MAP_FIXED` replaces those pages
        // with the file's, and the reservation's unmapping later covers them.
        let mapped = unsafe {
            libc::mmap(
                self.host_base().add(at).cast(),
                count,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_FIXED,
                file.as_raw_fd(),
                offset,
            )
        };
        if mapped == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// Backs `len` bytes at `addr` with written (private, zeroed) host
    /// pages now, in one call, rather than page by page as they are first
    /// touched; only advice, so a kernel without `MADV_POPULATE_WRITE`
    /// (before 5.14) leaves the pages to be faulted in later. Pages the
    /// host already backs are left as they are.
    pub fn populate(&self, addr: u64, len: u64) -> Result<(), GuestAccessError> {
        self.check(addr, len)?;
        let (Ok(at), Ok(count)) = (usize::try_from(addr), usize::try_from(len)) else {
            return Err(self.error(addr, len));
        };
        // SAFETY: the range is inside this memory's own mapping (checked
        // above); populating changes no contents.
        unsafe {
            libc::madvise(
                self.host_base().add(at).cast(),
                count,
                libc::MADV_POPULATE_WRITE,
            )
        };
        Ok(())
    }

    /// Reads a plain-data struct.
    pub fn read_obj<T: vm_memory::ByteValued>(&self, addr: u64) -> Result<T, GuestAccessError> {
        self.check(addr, size_of::<T>() as u64)?;
        self.inner
            .read_obj(GuestAddress(addr))
            .map_err(|_| self.error(addr, size_of::<T>() as u64))
    }

    /// Writes a plain-data struct.
    pub fn write_obj<T: vm_memory::ByteValued>(
        &self,
        value: T,
        addr: u64,
    ) -> Result<(), GuestAccessError> {
        self.check(addr, size_of::<T>() as u64)?;
        self.inner
            .write_obj(value, GuestAddress(addr))
            .map_err(|_| self.error(addr, size_of::<T>() as u64))
    }

    /// Reads an aligned `u64` the guest may be writing at the same time, in
    /// one load (acquire: what the guest wrote before it is visible).
    pub fn load_u64(&self, addr: u64) -> Result<u64, GuestAccessError> {
        self.check(addr, 8)?;
        self.inner
            .load(GuestAddress(addr), Ordering::Acquire)
            .map_err(|_| self.error(addr, 8))
    }

    /// Writes an aligned `u64` the guest may be reading at the same time,
    /// in one store (release: what the monitor did before is done).
    pub fn store_u64(&self, value: u64, addr: u64) -> Result<(), GuestAccessError> {
        self.check(addr, 8)?;
        self.inner
            .store(value, GuestAddress(addr), Ordering::Release)
            .map_err(|_| self.error(addr, 8))
    }

    /// Copies `len` bytes out of guest memory into `buf` (replacing its contents).
    pub fn read_bytes(
        &self,
        addr: u64,
        len: u64,
        buf: &mut Vec<u8>,
    ) -> Result<(), GuestAccessError> {
        self.check(addr, len)?;
        let count = usize::try_from(len).map_err(|_| self.error(addr, len))?;
        buf.clear();
        buf.resize(count, 0);
        self.inner
            .read_slice(buf, GuestAddress(addr))
            .map_err(|_| self.error(addr, len))
    }

    /// Fills `buf` from guest memory at `addr`.
    pub fn read_exact(&self, addr: u64, buf: &mut [u8]) -> Result<(), GuestAccessError> {
        self.check(addr, buf.len() as u64)?;
        self.inner
            .read_slice(buf, GuestAddress(addr))
            .map_err(|_| self.error(addr, buf.len() as u64))
    }

    /// Copies `bytes` into guest memory.
    pub fn write_bytes(&self, addr: u64, bytes: &[u8]) -> Result<(), GuestAccessError> {
        self.check(addr, bytes.len() as u64)?;
        self.inner
            .write_slice(bytes, GuestAddress(addr))
            .map_err(|_| self.error(addr, bytes.len() as u64))
    }

    /// The host mapping of `len` bytes at `addr`, for system calls that
    /// move data straight between a host file and guest memory. `len` may
    /// not be 0 (an empty range has no mapping to point at).
    pub fn slice(&self, addr: u64, len: u64) -> Result<VolatileSlice<'_>, GuestAccessError> {
        self.check(addr, len)?;
        let count = usize::try_from(len).map_err(|_| self.error(addr, len))?;
        self.inner
            .get_slice(GuestAddress(addr), count)
            .map_err(|_| self.error(addr, len))
    }

    fn error(&self, addr: u64, len: u64) -> GuestAccessError {
        GuestAccessError {
            addr,
            len,
            size: self.size(),
        }
    }
}

impl StackMemory for GuestMemory {
    fn read_u64(&self, addr: u64) -> Option<u64> {
        self.read_obj(addr).ok()
    }
}
