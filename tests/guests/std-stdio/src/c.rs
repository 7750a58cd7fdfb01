//! The C functions under test, declared as C headers declare them.

use std::ffi::{c_char, c_int, c_long, c_void};

/// glibc's `FILE`, opaque.
#[repr(C)]
pub struct File {
    _private: [u8; 0],
}

unsafe extern "C" {
    pub static mut stdin: *mut File;
    pub static mut stdout: *mut File;
    pub static mut stderr: *mut File;

    pub fn __errno_location() -> *mut c_int;
    pub fn free(ptr: *mut c_void);
    pub fn getpid() -> c_int;
    pub fn write(fd: c_int, buf: *const c_void, count: usize) -> isize;

    pub fn printf(format: *const c_char, ...) -> c_int;
    pub fn fprintf(file: *mut File, format: *const c_char, ...) -> c_int;
    pub fn sprintf(buf: *mut c_char, format: *const c_char, ...) -> c_int;
    pub fn snprintf(buf: *mut c_char, size: usize, format: *const c_char, ...) -> c_int;
    pub fn asprintf(out: *mut *mut c_char, format: *const c_char, ...) -> c_int;
    pub fn dprintf(fd: c_int, format: *const c_char, ...) -> c_int;
    pub fn __printf_chk(flag: c_int, format: *const c_char, ...) -> c_int;
    pub fn __fprintf_chk(file: *mut File, flag: c_int, format: *const c_char, ...) -> c_int;
    pub fn __sprintf_chk(
        buf: *mut c_char,
        flag: c_int,
        size: usize,
        format: *const c_char,
        ...
    ) -> c_int;
    pub fn __snprintf_chk(
        buf: *mut c_char,
        max: usize,
        flag: c_int,
        size: usize,
        format: *const c_char,
        ...
    ) -> c_int;
    pub fn __asprintf_chk(out: *mut *mut c_char, flag: c_int, format: *const c_char, ...) -> c_int;

    pub fn sscanf(s: *const c_char, format: *const c_char, ...) -> c_int;
    pub fn __isoc99_sscanf(s: *const c_char, format: *const c_char, ...) -> c_int;
    pub fn __isoc99_fscanf(file: *mut File, format: *const c_char, ...) -> c_int;
    pub fn __isoc99_scanf(format: *const c_char, ...) -> c_int;

    pub fn fopen(path: *const c_char, mode: *const c_char) -> *mut File;
    pub fn fdopen(fd: c_int, mode: *const c_char) -> *mut File;
    pub fn freopen(path: *const c_char, mode: *const c_char, file: *mut File) -> *mut File;
    pub fn fclose(file: *mut File) -> c_int;
    pub fn fread(buf: *mut c_void, size: usize, count: usize, file: *mut File) -> usize;
    pub fn fwrite(buf: *const c_void, size: usize, count: usize, file: *mut File) -> usize;
    pub fn fgets(buf: *mut c_char, size: c_int, file: *mut File) -> *mut c_char;
    pub fn fgetc(file: *mut File) -> c_int;
    pub fn getc(file: *mut File) -> c_int;
    pub fn getchar() -> c_int;
    pub fn ungetc(c: c_int, file: *mut File) -> c_int;
    pub fn fputs(s: *const c_char, file: *mut File) -> c_int;
    pub fn fputc(c: c_int, file: *mut File) -> c_int;
    pub fn putc(c: c_int, file: *mut File) -> c_int;
    pub fn putchar(c: c_int) -> c_int;
    pub fn puts(s: *const c_char) -> c_int;
    pub fn fflush(file: *mut File) -> c_int;
    pub fn fseek(file: *mut File, offset: c_long, whence: c_int) -> c_int;
    pub fn fseeko(file: *mut File, offset: i64, whence: c_int) -> c_int;
    pub fn ftell(file: *mut File) -> c_long;
    pub fn ftello(file: *mut File) -> i64;
    pub fn rewind(file: *mut File);
    pub fn feof(file: *mut File) -> c_int;
    pub fn ferror(file: *mut File) -> c_int;
    pub fn clearerr(file: *mut File);
    pub fn fileno(file: *mut File) -> c_int;
    pub fn setvbuf(file: *mut File, buf: *mut c_char, mode: c_int, size: usize) -> c_int;
    pub fn setbuf(file: *mut File, buf: *mut c_char);
    pub fn setlinebuf(file: *mut File);
    pub fn getline(line: *mut *mut c_char, capacity: *mut usize, file: *mut File) -> isize;
    pub fn getdelim(
        line: *mut *mut c_char,
        capacity: *mut usize,
        delimiter: c_int,
        file: *mut File,
    ) -> isize;
    pub fn tmpfile() -> *mut File;
    pub fn remove(path: *const c_char) -> c_int;
    pub fn perror(s: *const c_char);
    pub fn open(path: *const c_char, flags: c_int, mode: u32) -> c_int;
    pub fn mkdir(path: *const c_char, mode: u32) -> c_int;
}

/// A NUL-terminated literal as a C string pointer.
#[macro_export]
macro_rules! c {
    ($text:literal) => {
        concat!($text, "\0").as_ptr().cast::<std::ffi::c_char>()
    };
}

pub fn errno() -> c_int {
    // SAFETY: the calling thread's errno slot.
    unsafe { *__errno_location() }
}

pub fn set_errno(value: c_int) {
    // SAFETY: as in `errno`.
    unsafe { *__errno_location() = value };
}

/// `perror` after a failure, and with an empty and a null prefix.
///
/// # Safety
/// None beyond the C functions'.
pub unsafe fn errno_set_and_perror() {
    set_errno(2);
    // SAFETY: valid strings.
    unsafe {
        perror(c!("perror prefix"));
        set_errno(13);
        perror(c!(""));
        set_errno(12345);
        perror(std::ptr::null());
    }
}
