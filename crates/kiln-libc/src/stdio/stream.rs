//! The `FILE` object: a descriptor with a buffer, as glibc keeps one.
//!
//! Output collects in the buffer until it is full (fully buffered), a
//! newline is written (line buffered) or always goes straight out
//! (unbuffered). Input is read ahead into the same buffer. `stdin` and
//! `stdout` are fully buffered and `stderr` unbuffered: glibc's choice when
//! the descriptors are pipes, which is what Kiln's console is to the
//! program. Pending output is written at `exit`.
//!
//! A call on a stream ([`stream`]) and the open list's changes
//! ([`allocate`], [`discard`], [`for_each_open`]) hold one recursive mutex
//! for all streams, a sleeping lock (a thread that blocks in a read or
//! write while holding it lets the others run, and they wait for it). glibc
//! has one per stream; C code in Rust programs uses stdio little enough
//! that one lock costs nothing measurable, and it makes the open list and
//! every stream safe together, on any number of vCPUs.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, Ordering};

use kiln_libos::fs::{
    self,
    flags::{SEEK_CUR, SEEK_END, SEEK_SET},
};

use crate::CInt;
use crate::errno::{self, code};
use crate::malloc::{free, malloc};

/// C's `EOF`.
pub const EOF: CInt = -1;
/// glibc's `_IO_EOF_SEEN` and `_IO_ERR_SEEN` bits of `_flags`.
const FLAG_EOF: CInt = 0x10;
const FLAG_ERR: CInt = 0x20;
/// glibc sizes a stream's buffer by the descriptor's `st_blksize`: 4096
/// for pipes and files on Linux.
pub const BUFFER_SIZE: usize = 4096;

/// How a stream hands on its output (`setvbuf`'s modes).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Buffering {
    Full,
    Line,
    Unbuffered,
}

/// A C `FILE`.
#[repr(C)]
pub struct File {
    /// glibc's `_flags`, at glibc's offset: its inline `feof_unlocked` and
    /// `ferror_unlocked` read the EOF and error bits there.
    flags: CInt,
    /// glibc's `_IO_read_ptr` .. `_IO_buf_end`, always null: glibc's inline
    /// `getc_unlocked`/`putc_unlocked` then find no room and call
    /// `__uflow`/`__overflow`, which this C library provides.
    glibc_pointers: [*mut u8; 8],
    pub(crate) fd: CInt,
    readable: bool,
    writable: bool,
    buffering: Buffering,
    /// The buffer, `capacity` bytes; null until first used.
    buf: *mut u8,
    capacity: usize,
    /// Whether `buf` is ours to free (not the program's, from `setvbuf`).
    owns_buf: bool,
    /// Unbuffered streams read one byte at a time through this.
    one: [u8; 1],
    /// Output not yet written: `buf[..pending]`.
    pending: usize,
    /// Input read ahead and not yet consumed: `buf[read_pos..read_len]`.
    read_pos: usize,
    read_len: usize,
    /// Whether this stream was allocated by `fopen`/`fdopen` (not a
    /// standard stream), and the next such stream in the open list.
    heap: bool,
    next: *mut File,
}

impl File {
    const fn new(fd: CInt, readable: bool, writable: bool, buffering: Buffering) -> Self {
        Self {
            flags: 0,
            glibc_pointers: [core::ptr::null_mut(); 8],
            fd,
            readable,
            writable,
            buffering,
            buf: core::ptr::null_mut(),
            capacity: 0,
            owns_buf: false,
            one: [0],
            pending: 0,
            read_pos: 0,
            read_len: 0,
            heap: false,
            next: core::ptr::null_mut(),
        }
    }

    pub fn at_eof(&self) -> bool {
        self.flags & FLAG_EOF != 0
    }

    pub fn has_error(&self) -> bool {
        self.flags & FLAG_ERR != 0
    }

    pub fn clear_flags(&mut self) {
        self.flags &= !(FLAG_EOF | FLAG_ERR);
    }

    fn fail(&mut self, value: CInt) -> bool {
        self.flags |= FLAG_ERR;
        errno::set(value);
        false
    }

    /// The buffer, allocated on first use; an unbuffered stream (or one
    /// whose allocation failed) uses its one-byte slot, as glibc does.
    fn buffer(&mut self) -> (*mut u8, usize) {
        if self.buffering != Buffering::Unbuffered && self.buf.is_null() {
            let buf = malloc(BUFFER_SIZE).cast::<u8>();
            if !buf.is_null() {
                self.buf = buf;
                self.capacity = BUFFER_SIZE;
                self.owns_buf = true;
            }
        }
        if self.buffering == Buffering::Unbuffered || self.buf.is_null() {
            (self.one.as_mut_ptr(), 1)
        } else {
            (self.buf, self.capacity)
        }
    }

    /// Writes all of `data` to the descriptor.
    fn write_out(&mut self, mut data: &[u8]) -> bool {
        while !data.is_empty() {
            match fs::write(self.fd, data, None) {
                Ok(0) => return self.fail(code::EIO),
                Ok(n) => data = &data[n..],
                Err(e) => return self.fail(e.0),
            }
        }
        true
    }

    /// Writes pending output and gives back read-ahead input (seeking the
    /// descriptor back over it), as `fflush` does.
    pub fn flush(&mut self) -> bool {
        if self.pending > 0 {
            let (buf, _) = self.buffer();
            let pending = self.pending;
            self.pending = 0;
            // SAFETY: `buf[..pending]` holds the output written so far.
            let data = unsafe { core::slice::from_raw_parts(buf, pending) };
            return self.write_out(data);
        }
        self.drop_read_ahead();
        true
    }

    /// Forgets read-ahead input, moving the descriptor back to the
    /// stream's position (where it can: a pipe cannot seek back).
    fn drop_read_ahead(&mut self) {
        let unread = self.read_len - self.read_pos;
        if unread > 0 {
            let _ = fs::seek(self.fd, -(unread as i64), SEEK_CUR);
        }
        self.read_pos = 0;
        self.read_len = 0;
    }

    /// Writes `data` through the buffer. A line-buffered stream hands on
    /// everything up to its last newline.
    pub fn put(&mut self, data: &[u8]) -> bool {
        if !self.writable {
            return self.fail(code::EBADF);
        }
        if self.read_len > 0 {
            self.drop_read_ahead();
        }
        let (_, capacity) = self.buffer();
        if self.buffering == Buffering::Unbuffered || capacity == 1 {
            return self.write_out(data);
        }
        if self.buffering == Buffering::Line
            && let Some(last) = data.iter().rposition(|&b| b == b'\n')
        {
            let (lines, rest) = data.split_at(last + 1);
            return self.put_buffered(lines) && self.flush() && self.put_buffered(rest);
        }
        self.put_buffered(data)
    }

    /// Buffers `data` as glibc does: fill the buffer, write it when full,
    /// write whole buffers' worth directly, keep the remainder.
    fn put_buffered(&mut self, mut data: &[u8]) -> bool {
        let (buf, capacity) = self.buffer();
        while !data.is_empty() {
            let n = data.len().min(capacity - self.pending);
            // SAFETY: `pending + n <= capacity` bytes fit in `buf`.
            unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), buf.add(self.pending), n) };
            self.pending += n;
            data = &data[n..];
            flush_at_exit_needed();
            if data.is_empty() {
                break;
            }
            if !self.flush() {
                return false;
            }
            let direct = data.len() - data.len() % capacity;
            if direct > 0 {
                if !self.write_out(&data[..direct]) {
                    return false;
                }
                data = &data[direct..];
            }
        }
        true
    }

    /// Refills the read-ahead; false at end of file (setting the EOF flag)
    /// or on error (setting the error flag).
    fn fill(&mut self) -> bool {
        if !self.readable {
            return self.fail(code::EBADF);
        }
        if self.pending > 0 && !self.flush() {
            return false;
        }
        if self.buffering != Buffering::Full {
            flush_line_buffered_stdout(self);
        }
        let (buf, capacity) = self.buffer();
        // SAFETY: `buf` holds `capacity` bytes and nothing else borrows it.
        let space = unsafe { core::slice::from_raw_parts_mut(buf, capacity) };
        match fs::read(self.fd, space, None) {
            Ok(0) => {
                self.flags |= FLAG_EOF;
                false
            }
            Ok(n) => {
                self.read_pos = 0;
                self.read_len = n;
                true
            }
            Err(e) => self.fail(e.0),
        }
    }

    /// The next byte, or `None` at end of file or on error.
    pub fn get(&mut self) -> Option<u8> {
        if self.read_pos == self.read_len && !self.fill() {
            return None;
        }
        let (buf, _) = self.buffer();
        // SAFETY: `read_pos < read_len <= capacity`.
        let byte = unsafe { buf.add(self.read_pos).read() };
        self.read_pos += 1;
        Some(byte)
    }

    /// Reads up to `out.len()` bytes; fewer only at end of file or on error.
    /// Whole buffers' worth go straight into `out`.
    pub fn read(&mut self, out: &mut [u8]) -> usize {
        let mut done = 0;
        while done < out.len() {
            let available = self.read_len - self.read_pos;
            let (_, capacity) = self.buffer();
            if available == 0 && out.len() - done >= capacity && capacity > 1 {
                if self.pending > 0 && !self.flush() {
                    break;
                }
                match fs::read(self.fd, &mut out[done..], None) {
                    Ok(0) => {
                        self.flags |= FLAG_EOF;
                        break;
                    }
                    Ok(n) => done += n,
                    Err(e) => {
                        self.fail(e.0);
                        break;
                    }
                }
            } else if available > 0 {
                let n = available.min(out.len() - done);
                let (buf, _) = self.buffer();
                // SAFETY: `buf[read_pos..read_pos + n]` is read-ahead input.
                unsafe {
                    core::ptr::copy_nonoverlapping(
                        buf.add(self.read_pos),
                        out[done..].as_mut_ptr(),
                        n,
                    )
                };
                self.read_pos += n;
                done += n;
            } else if !self.fill() {
                break;
            }
        }
        done
    }

    /// Pushes `byte` back in front of the unread input (`ungetc`).
    pub fn unget(&mut self, byte: u8) -> bool {
        if !self.readable || self.pending > 0 {
            return false;
        }
        let (buf, capacity) = self.buffer();
        if self.read_pos == 0 {
            if self.read_len == capacity {
                return false;
            }
            // SAFETY: `read_len < capacity`: the unread input moves up one.
            unsafe { core::ptr::copy(buf, buf.add(1), self.read_len) };
            self.read_pos = 1;
            self.read_len += 1;
        }
        self.read_pos -= 1;
        // SAFETY: `read_pos < capacity`.
        unsafe { buf.add(self.read_pos).write(byte) };
        self.flags &= !FLAG_EOF;
        true
    }

    /// The stream's position: the descriptor's, less unread input, plus
    /// unwritten output.
    pub fn tell(&mut self) -> fs::Result<i64> {
        let at = fs::seek(self.fd, 0, SEEK_CUR)? as i64;
        Ok(at - (self.read_len - self.read_pos) as i64 + self.pending as i64)
    }

    /// Moves the stream (`fseek`): pending output is written, read-ahead
    /// dropped and the EOF flag cleared.
    pub fn seek(&mut self, offset: i64, whence: CInt) -> fs::Result<()> {
        if !(SEEK_SET..=SEEK_END).contains(&whence) {
            return Err(fs::Errno(code::EINVAL));
        }
        if self.pending > 0 && !self.flush() {
            return Err(fs::Errno(errno::get()));
        }
        let offset = if whence == SEEK_CUR {
            offset - (self.read_len - self.read_pos) as i64
        } else {
            offset
        };
        fs::seek(self.fd, offset, whence)?;
        self.read_pos = 0;
        self.read_len = 0;
        self.flags &= !FLAG_EOF;
        Ok(())
    }

    /// `setvbuf`: a new mode and, optionally, the program's buffer.
    pub fn set_buffering(&mut self, buffering: Buffering, buf: *mut u8, size: usize) {
        let _ = self.flush();
        self.release_buffer();
        self.buffering = buffering;
        if !buf.is_null() && size > 1 && buffering != Buffering::Unbuffered {
            self.buf = buf;
            self.capacity = size;
            self.owns_buf = false;
        }
    }

    fn release_buffer(&mut self) {
        if self.owns_buf {
            // SAFETY: an owned buffer came from `malloc` and is no longer used.
            unsafe { free(self.buf.cast()) };
        }
        self.buf = core::ptr::null_mut();
        self.capacity = 0;
        self.owns_buf = false;
    }

    /// Flushes and closes the descriptor; the stream itself is not freed.
    pub fn close(&mut self) -> bool {
        let flushed = !self.writable || self.flush();
        self.release_buffer();
        let closed = fs::close(self.fd);
        self.fd = -1;
        if let Err(e) = closed {
            errno::set(e.0);
            return false;
        }
        flushed
    }
}

/// `fopen`'s mode string: open flags, and whether the stream reads and writes.
pub struct Mode {
    pub flags: CInt,
    pub readable: bool,
    pub writable: bool,
}

/// Parses `r`, `w`, `a` with an optional `+`, then glibc's modifiers
/// (`b`, `x` for `O_EXCL`, `e` for `O_CLOEXEC`; `m` and `c` are accepted
/// and ignored). Anything else is `EINVAL`.
pub fn parse_mode(mode: &[u8]) -> Option<Mode> {
    use kiln_libos::fs::flags::{
        O_APPEND, O_CLOEXEC, O_CREAT, O_EXCL, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY,
    };
    let (&first, rest) = mode.split_first()?;
    let (mut flags, mut readable, mut writable) = match first {
        b'r' => (O_RDONLY, true, false),
        b'w' => (O_WRONLY | O_CREAT | O_TRUNC, false, true),
        b'a' => (O_WRONLY | O_CREAT | O_APPEND, false, true),
        _ => return None,
    };
    // glibc reads at most six modifier characters.
    for &c in rest.iter().take(6) {
        match c {
            b'+' => {
                flags = (flags & !(O_WRONLY | O_RDWR)) | O_RDWR;
                readable = true;
                writable = true;
            }
            b'x' => flags |= O_EXCL,
            b'e' => flags |= O_CLOEXEC,
            b'b' | b'm' | b'c' => {}
            _ => break,
        }
    }
    Some(Mode {
        flags,
        readable,
        writable,
    })
}

/// A standard stream's storage.
struct Standard(UnsafeCell<File>);

// SAFETY: the standard streams are only used with the streams' lock held
// (see the module comment).
unsafe impl Sync for Standard {}

static STDIN: Standard = Standard(UnsafeCell::new(File::new(0, true, false, Buffering::Full)));
static STDOUT: Standard = Standard(UnsafeCell::new(File::new(1, false, true, Buffering::Full)));
static STDERR: Standard = Standard(UnsafeCell::new(File::new(
    2,
    false,
    true,
    Buffering::Unbuffered,
)));

/// glibc's `stdin`, `stdout` and `stderr`: data symbols C code reads (and
/// may assign).
#[unsafe(no_mangle)]
pub static stdin: AtomicPtr<File> = AtomicPtr::new(STDIN.0.get());
/// See [`stdin`].
#[unsafe(no_mangle)]
pub static stdout: AtomicPtr<File> = AtomicPtr::new(STDOUT.0.get());
/// See [`stdin`].
#[unsafe(no_mangle)]
pub static stderr: AtomicPtr<File> = AtomicPtr::new(STDERR.0.get());

/// Streams from `fopen`/`fdopen`/`tmpfile`, newest first.
static OPEN: AtomicPtr<File> = AtomicPtr::new(core::ptr::null_mut());

/// Allocates a stream for `fd`, adding it to the open list; null (with
/// `ENOMEM`) if memory runs out.
pub fn allocate(fd: CInt, mode: &Mode) -> *mut File {
    let _locked = Locked::new();
    let file = malloc(size_of::<File>()).cast::<File>();
    if file.is_null() {
        return errno::fail_null(code::ENOMEM);
    }
    let mut value = File::new(fd, mode.readable, mode.writable, Buffering::Full);
    value.heap = true;
    value.next = OPEN.load(Ordering::Relaxed);
    // SAFETY: a fresh allocation of the right size and alignment.
    unsafe { file.write(value) };
    OPEN.store(file, Ordering::Relaxed);
    file
}

/// Reinitialises an open stream in place for `fd` (`freopen`).
pub fn reinit(file: &mut File, fd: CInt, mode: &Mode) {
    let (heap, next) = (file.heap, file.next);
    *file = File::new(fd, mode.readable, mode.writable, Buffering::Full);
    file.heap = heap;
    file.next = next;
}

/// Removes a closed stream from the open list and frees it (standard
/// streams are static and stay).
///
/// # Safety
/// `file` is a stream no one uses any more.
pub unsafe fn discard(file: *mut File) {
    let _locked = Locked::new();
    // SAFETY: per the caller, a valid stream.
    let (heap, next) = unsafe { ((*file).heap, (*file).next) };
    if !heap {
        return;
    }
    let mut link = &OPEN;
    loop {
        let current = link.load(Ordering::Relaxed);
        if current.is_null() {
            break;
        }
        if current == file {
            link.store(next, Ordering::Relaxed);
            break;
        }
        // SAFETY: every stream in the list is valid; `next` is an atomic
        // view of the same field, used only here.
        link = unsafe { AtomicPtr::from_ptr(&raw mut (*current).next) };
    }
    // SAFETY: allocated by `allocate` and unlinked.
    unsafe { free(file.cast()) };
}

/// Calls `each` with every open stream: the standard ones, then the rest.
pub fn for_each_open(mut each: impl FnMut(&mut File)) {
    let _locked = Locked::new();
    for standard in [&STDIN, &STDOUT, &STDERR] {
        // SAFETY: the standard streams live forever; see the module comment.
        let file = unsafe { &mut *standard.0.get() };
        if file.fd >= 0 {
            each(file);
        }
    }
    let mut current = OPEN.load(Ordering::Relaxed);
    while !current.is_null() {
        // SAFETY: the open list holds live streams.
        let file = unsafe { &mut *current };
        current = file.next;
        each(file);
    }
}

/// Before an unbuffered or line-buffered stream reads, glibc writes a
/// line-buffered `stdout`'s pending output (a prompt before its answer).
fn flush_line_buffered_stdout(reader: &File) {
    let out = stdout.load(Ordering::Relaxed);
    if core::ptr::eq(out, reader) || out.is_null() {
        return;
    }
    // SAFETY: `stdout` points to a stream, not the one borrowed as `reader`.
    let out = unsafe { &mut *out };
    if out.buffering == Buffering::Line && out.pending > 0 {
        out.flush();
    }
}

/// Whether any stream has buffered output, so that `exit` must flush.
static OUTPUT_BUFFERED: AtomicBool = AtomicBool::new(false);

fn flush_at_exit_needed() {
    // One swap, so that two threads writing their first output at once
    // register the flush once.
    if !OUTPUT_BUFFERED.swap(true, Ordering::Relaxed) {
        crate::stdlib::at_exit_flush(flush_all);
    }
}

/// Writes every stream's pending output (`fflush(NULL)`, and `exit`).
pub fn flush_all() -> bool {
    let mut ok = true;
    for_each_open(|file| {
        if file.pending > 0 {
            ok &= file.flush();
        }
    });
    ok
}

/// The lock over every stream and the open list: a glibc
/// `pthread_mutex_t` initialised as `PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP`
/// (kind 1 in its fifth word), taken through the C library's own mutex.
static STDIO_LOCK: [AtomicI32; 10] = {
    let mut words = [const { AtomicI32::new(0) }; 10];
    words[4] = AtomicI32::new(1);
    words
};

/// Holds [`STDIO_LOCK`] while it lives.
struct Locked(());

impl Locked {
    fn new() -> Self {
        // SAFETY: a valid recursive mutex, only used through these calls;
        // locking it can only fail for a corrupt mutex, which it is not.
        unsafe { crate::pthread::mutex::pthread_mutex_lock(STDIO_LOCK.as_ptr().cast_mut().cast()) };
        Self(())
    }
}

impl Drop for Locked {
    fn drop(&mut self) {
        // SAFETY: this thread locked it in `new`.
        unsafe {
            crate::pthread::mutex::pthread_mutex_unlock(STDIO_LOCK.as_ptr().cast_mut().cast())
        };
    }
}

/// A stream in use by one call, with the streams' lock held until it is
/// dropped (see the module comment).
pub struct InUse<'a> {
    file: &'a mut File,
    _locked: Locked,
}

impl core::ops::Deref for InUse<'_> {
    type Target = File;

    fn deref(&self) -> &File {
        self.file
    }
}

impl core::ops::DerefMut for InUse<'_> {
    fn deref_mut(&mut self) -> &mut File {
        self.file
    }
}

/// A stream argument, for the length of one call.
///
/// # Safety
/// `file` must be a stream from this C library (a standard one or one
/// that `fopen` returned and that is not closed).
pub unsafe fn stream<'a>(file: *mut File) -> InUse<'a> {
    let locked = Locked::new();
    InUse {
        // SAFETY: per the caller; no other thread uses a stream until the
        // lock is released.
        file: unsafe { &mut *file },
        _locked: locked,
    }
}
