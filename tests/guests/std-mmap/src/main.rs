//! `mmap` of files, printing what each step sees. Argument: the directory
//! to work in (a directory of the guest's own files, or a volume).
//! `shared-writable DIR` prints only what a shared writable mapping of a
//! file answers.

use std::ffi::CString;
use std::io::Error;
use std::ptr;

fn path(dir: &str, name: &str) -> CString {
    CString::new(format!("{dir}/{name}")).expect("no NUL")
}

fn open(path: &CString, flags: i32) -> i32 {
    // SAFETY: a NUL-terminated path.
    let fd = unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC, 0o600) };
    assert!(fd >= 0, "open {path:?}: {}", Error::last_os_error());
    fd
}

/// `mmap`'s answer: the address, or the errno's number.
fn map(len: usize, prot: i32, flags: i32, fd: i32, offset: i64) -> Result<*mut u8, i32> {
    // SAFETY: no fixed address; the kernel (or Kiln) picks one.
    let p = unsafe { libc::mmap(ptr::null_mut(), len, prot, flags, fd, offset) };
    if p == libc::MAP_FAILED {
        Err(Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        Ok(p.cast())
    }
}

/// `len` bytes at `offset` of a mapping, shown as text.
fn show(p: *mut u8, offset: usize, len: usize) -> String {
    // SAFETY: callers stay inside the mapping's pages within the file.
    let bytes = unsafe { std::slice::from_raw_parts(p.add(offset), len) };
    bytes
        .iter()
        .map(|&b| if b == 0 { '.' } else { b as char })
        .collect()
}

fn pwrite(fd: i32, data: &[u8], offset: i64) {
    // SAFETY: a live buffer of `data.len()` bytes.
    let n = unsafe { libc::pwrite(fd, data.as_ptr().cast(), data.len(), offset) };
    assert_eq!(n, data.len() as isize, "pwrite: {}", Error::last_os_error());
}

fn main() {
    let mut args = std::env::args().skip(1);
    let first = args.next().expect("a directory");
    if first == "store-at-exit" {
        // A store the program never syncs reaches the file when it ends.
        let dir = args.next().expect("a directory");
        let file = path(&dir, "mmap-at-exit");
        let fd = open(&file, libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC);
        pwrite(fd, &[b'-'; 64], 0);
        let map = map(
            64,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd,
            0,
        )
        .expect("shared writable");
        // SAFETY: 18 bytes inside the 64-byte mapping.
        unsafe { ptr::copy_nonoverlapping(b"stored before exit".as_ptr(), map, 18) };
        println!("stored");
        return;
    }
    let dir = first;
    let file = path(&dir, "mmap-test");
    let fd = open(&file, libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC);
    let mut contents = b"hello mapped world|".to_vec();
    contents.resize(10_000, b'a');
    contents[4096..4101].copy_from_slice(b"PAGE1");
    contents[9990..].copy_from_slice(b"last bytes");
    pwrite(fd, &contents, 0);

    let shared = map(12_288, libc::PROT_READ, libc::MAP_SHARED, fd, 0).expect("shared");
    println!("shared: {}", show(shared, 0, 19));
    println!(
        "shared end: {} then {}",
        show(shared, 9990, 10),
        show(shared, 10_000, 8)
    );
    let private = map(
        8192,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_PRIVATE,
        fd,
        4096,
    )
    .expect("private");
    println!("private at 4096: {}", show(private, 0, 5));
    // SAFETY: inside the private mapping, which is writable.
    unsafe { private.write(b'p') };
    let mut back = [0u8; 5];
    // SAFETY: a live buffer of 5 bytes.
    unsafe { libc::pread(fd, back.as_mut_ptr().cast(), 5, 4096) };
    println!(
        "private store: map {} file {}",
        show(private, 0, 5),
        String::from_utf8_lossy(&back)
    );

    pwrite(fd, b"XYZ", 6);
    println!("after pwrite: {}", show(shared, 0, 19));
    // Another descriptor for the same file, and the mapping's own closed.
    let other = open(&file, libc::O_WRONLY | libc::O_APPEND);
    // SAFETY: closing a descriptor this program opened.
    unsafe { libc::close(fd) };
    // SAFETY: a live buffer of 6 bytes.
    let n = unsafe { libc::write(other, b"APPEND".as_ptr().cast(), 6) };
    assert_eq!(n, 6);
    println!("after append: {}", show(shared, 9990, 20));
    let lseek_write = open(&file, libc::O_WRONLY);
    // SAFETY: plain calls on a descriptor this program opened.
    unsafe {
        libc::lseek(lseek_write, 12, libc::SEEK_SET);
        libc::write(lseek_write, b"world!".as_ptr().cast(), 6);
    }
    println!("after write: {}", show(shared, 0, 19));
    // SAFETY: truncating a file this program owns.
    unsafe { libc::ftruncate(lseek_write, 100) };
    println!(
        "after truncate: {} then {}",
        show(shared, 90, 10),
        show(shared, 100, 10)
    );
    // SAFETY: as above.
    unsafe { libc::ftruncate(lseek_write, 5000) };
    println!("after extend: {}", show(shared, 95, 10));
    // SAFETY: unmapping whole mappings made above; closing own descriptors.
    unsafe {
        assert_eq!(libc::munmap(shared.cast(), 12_288), 0);
        assert_eq!(libc::munmap(private.cast(), 8192), 0);
        libc::close(lseek_write);
    }
    pwrite(other, b"after unmap", 0);
    println!("written after munmap: ok");

    // A shared writable mapping: its stores are the file's for every
    // reader, and the program's writes show in it.
    let file = path(&dir, "mmap-writable");
    let rw = open(&file, libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC);
    pwrite(rw, &[b'b'; 8192], 0);
    let writable = map(
        8192,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_SHARED,
        rw,
        0,
    )
    .expect("shared writable");
    // SAFETY: inside the writable mapping.
    unsafe { ptr::copy_nonoverlapping(b"STORED".as_ptr(), writable.add(10), 6) };
    let mut seen = [0u8; 8];
    // SAFETY: a live buffer of 8 bytes.
    unsafe { libc::pread(rw, seen.as_mut_ptr().cast(), 8, 9) };
    println!("read sees the store: {}", String::from_utf8_lossy(&seen));
    pwrite(rw, b"PW", 100);
    println!("the map sees pwrite: {}", show(writable, 98, 6));
    // SAFETY: inside the writable mapping; then an msync of it.
    unsafe {
        ptr::copy_nonoverlapping(b"SYNCED".as_ptr(), writable.add(5000), 6);
        println!(
            "msync: {}",
            libc::msync(writable.cast(), 8192, libc::MS_SYNC)
        );
    }
    let reader = open(&file, libc::O_RDONLY);
    let copy = map(8192, libc::PROT_READ, libc::MAP_PRIVATE, reader, 0).expect("copy");
    println!("a new mapping sees it: {}", show(copy, 4999, 8));
    // SAFETY: inside the writable mapping; then unmapping it whole.
    unsafe {
        writable.add(8000).write(b'U');
        assert_eq!(libc::munmap(writable.cast(), 8192), 0);
        libc::pread(reader, seen.as_mut_ptr().cast(), 3, 7999);
    }
    println!("after munmap: {}", String::from_utf8_lossy(&seen[..3]));

    // The errors, in Linux's order of checks.
    let read_only = open(&file, libc::O_RDONLY);
    let write_only = other;
    let directory = open(
        &CString::new(dir.clone()).expect("no NUL"),
        libc::O_RDONLY | libc::O_DIRECTORY,
    );
    let mut pipe = [0; 2];
    // SAFETY: room for two descriptors.
    unsafe { libc::pipe(pipe.as_mut_ptr()) };
    let cases: [(&str, usize, i32, i32, i32, i64); 8] = [
        (
            "write-only descriptor",
            4096,
            libc::PROT_READ,
            libc::MAP_SHARED,
            write_only,
            0,
        ),
        (
            "shared writable, read-only descriptor",
            4096,
            libc::PROT_WRITE,
            libc::MAP_SHARED,
            read_only,
            0,
        ),
        (
            "directory",
            4096,
            libc::PROT_READ,
            libc::MAP_PRIVATE,
            directory,
            0,
        ),
        ("pipe", 4096, libc::PROT_READ, libc::MAP_PRIVATE, pipe[0], 0),
        (
            "unaligned offset",
            4096,
            libc::PROT_READ,
            libc::MAP_PRIVATE,
            read_only,
            100,
        ),
        (
            "negative offset",
            4096,
            libc::PROT_READ,
            libc::MAP_PRIVATE,
            read_only,
            -4096,
        ),
        (
            "no length",
            0,
            libc::PROT_READ,
            libc::MAP_PRIVATE,
            read_only,
            0,
        ),
        (
            "closed descriptor",
            4096,
            libc::PROT_READ,
            libc::MAP_PRIVATE,
            999,
            0,
        ),
    ];
    for (what, len, prot, flags, fd, offset) in cases {
        println!(
            "{what}: {:?}",
            map(len, prot, flags, fd, offset).map(|_| "mapped")
        );
    }
    let zero = open(&CString::new("/dev/zero").expect("no NUL"), libc::O_RDWR);
    let anonymous = map(
        8192,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_PRIVATE,
        zero,
        0,
    )
    .expect("/dev/zero");
    // SAFETY: inside the writable mapping.
    unsafe { anonymous.add(5000).write(7) };
    println!("/dev/zero: {} then {}", show(anonymous, 0, 4), unsafe {
        *anonymous.add(5000)
    });
    let private_read_only =
        map(4096, libc::PROT_READ, libc::MAP_PRIVATE, read_only, 0).expect("read-only private");
    println!("read-only private: {}", show(private_read_only, 0, 11));
}
