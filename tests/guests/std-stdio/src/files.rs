//! FILE streams on files in /tmp: writing, seeking, reading back, pushing
//! back, lines, end of file and errors, and the calls' failures.

use std::ffi::{CStr, CString, c_char, c_int};
use std::ptr::null_mut;

use crate::c::{self, File};

/// A path in /tmp, unique to this process.
fn tmp_path(name: &str) -> CString {
    // SAFETY: getpid cannot fail.
    let pid = unsafe { c::getpid() };
    CString::new(format!("/tmp/std-stdio-{pid}-{name}")).expect("no NUL")
}

fn status(label: &str, file: *mut File) {
    // SAFETY: an open stream.
    let (eof, error) = unsafe { (c::feof(file), c::ferror(file)) };
    println!("{label}: eof {} error {}", eof != 0, error != 0);
}

pub fn run() {
    write_seek_read();
    lines();
    modes_and_failures();
    descriptors_and_temporaries();
    scan_a_file();
}

fn write_seek_read() {
    let path = tmp_path("data");
    // SAFETY: valid strings; every stream below is open when used.
    unsafe {
        let file = c::fopen(path.as_ptr(), c!("w+"));
        assert!(!file.is_null(), "fopen w+");
        let n = c::fprintf(
            file,
            c!("line one\nline %d\n%s"),
            2,
            c!("last without newline"),
        );
        println!("fprintf to file: {n}, ftell {}", c::ftell(file));
        println!(
            "fputs {} fputc {} putc {}",
            c::fputs(c!("!"), file) >= 0,
            c::fputc(b'?' as c_int, file),
            c::putc(0x141, file)
        );
        let block = [7u8, 8, 9, 10];
        println!(
            "fwrite: {} ftell {}",
            c::fwrite(block.as_ptr().cast(), 2, 2, file),
            c::ftello(file)
        );
        println!("fseek: {} ftell {}", c::fseek(file, 5, 0), c::ftell(file));
        let mut word = [0u8; 4];
        println!(
            "fread: {} {:?}",
            c::fread(word.as_mut_ptr().cast(), 1, 3, file),
            &word[..3]
        );
        println!(
            "fgetc {} ungetc {} getc {} ftell {}",
            c::fgetc(file),
            c::ungetc(b'X' as c_int, file),
            c::getc(file),
            c::ftell(file)
        );
        println!("ungetc EOF: {}", c::ungetc(-1, file));
        println!(
            "fseek cur: {} ftell {}",
            c::fseek(file, -3, 1),
            c::ftell(file)
        );
        println!(
            "fseek end: {} ftell {}",
            c::fseeko(file, -4, 2),
            c::ftell(file)
        );
        let mut tail = [0u8; 8];
        println!(
            "fread past end: {} {:?}",
            c::fread(tail.as_mut_ptr().cast(), 1, 8, file),
            &tail
        );
        status("after short fread", file);
        println!("fgetc at end: {}", c::fgetc(file));
        c::clearerr(file);
        status("after clearerr", file);
        println!(
            "fseek bad whence: {} errno {}",
            c::fseek(file, 0, 7),
            c::errno()
        );
        println!(
            "fseek before start: {} errno {}",
            c::fseek(file, -100, 0),
            c::errno()
        );
        c::rewind(file);
        let mut buf = [0u8; 16];
        let got = c::fgets(buf.as_mut_ptr().cast(), 16, file);
        println!(
            "fgets: {} {:?}",
            !got.is_null(),
            CStr::from_ptr(buf.as_ptr().cast())
        );
        let got = c::fgets(buf.as_mut_ptr().cast(), 4, file);
        println!(
            "fgets short: {} {:?}",
            !got.is_null(),
            CStr::from_ptr(buf.as_ptr().cast())
        );
        let got = c::fgets(buf.as_mut_ptr().cast(), 1, file);
        println!(
            "fgets size 1: {} {:?}",
            !got.is_null(),
            CStr::from_ptr(buf.as_ptr().cast())
        );
        println!("fclose: {}", c::fclose(file));
        println!(
            "remove: {} then {} errno {}",
            c::remove(path.as_ptr()),
            c::remove(path.as_ptr()),
            c::errno()
        );
    }
}

fn lines() {
    let path = tmp_path("lines");
    // SAFETY: valid strings; the streams are open when used; getline's
    // buffer is malloc'd by it and freed here.
    unsafe {
        let file = c::fopen(path.as_ptr(), c!("w"));
        for i in 0..5 {
            c::fprintf(
                file,
                c!("%d:%s\n"),
                i,
                if i % 2 == 0 {
                    c!("even,a,b")
                } else {
                    c!("odd")
                },
            );
        }
        c::fputs(c!("no newline at end"), file);
        c::fclose(file);
        let file = c::fopen(path.as_ptr(), c!("r"));
        let mut line: *mut c_char = null_mut();
        let mut capacity = 0usize;
        loop {
            let n = c::getline(&raw mut line, &raw mut capacity, file);
            if n < 0 {
                break;
            }
            println!(
                "getline {n} {:?} capacity>0 {}",
                CStr::from_ptr(line),
                capacity > 0
            );
        }
        status("after getline", file);
        println!(
            "getline at end: {}",
            c::getline(&raw mut line, &raw mut capacity, file)
        );
        c::rewind(file);
        status("after rewind", file);
        for _ in 0..4 {
            let n = c::getdelim(&raw mut line, &raw mut capacity, b',' as c_int, file);
            println!("getdelim {n} {:?}", CStr::from_ptr(line));
        }
        c::set_errno(0);
        println!(
            "getline null: {} errno {}",
            c::getline(null_mut(), &raw mut capacity, file),
            c::errno()
        );
        c::free(line.cast());
        println!(
            "fputc to a read-only stream: {} errno {}",
            c::fputc(b'x' as c_int, file),
            c::errno()
        );
        status("after failed write", file);
        c::fclose(file);
        // Append mode writes at the end, whatever the position.
        let file = c::fopen(path.as_ptr(), c!("a+"));
        c::fseek(file, 0, 0);
        c::fputs(c!("|appended"), file);
        c::fflush(file);
        println!("a+ ftell after append: {}", c::ftell(file));
        c::fseek(file, -9, 2);
        let mut buf = [0u8; 16];
        c::fgets(buf.as_mut_ptr().cast(), 16, file);
        println!("a+ read back: {:?}", CStr::from_ptr(buf.as_ptr().cast()));
        c::fclose(file);
        // r+ overwrites in place.
        let file = c::fopen(path.as_ptr(), c!("r+"));
        c::fputs(c!("ZZ"), file);
        c::fseek(file, 0, 0);
        println!(
            "r+ first bytes: {} {} {}",
            c::fgetc(file),
            c::fgetc(file),
            c::fgetc(file)
        );
        c::fclose(file);
        c::remove(path.as_ptr());
    }
}

fn modes_and_failures() {
    // SAFETY: valid strings.
    unsafe {
        let missing = c::fopen(c!("/tmp/std-stdio-does-not-exist/x"), c!("r"));
        println!("fopen missing: {} errno {}", missing.is_null(), c::errno());
        let bad = c::fopen(c!("/tmp"), c!("q"));
        println!("fopen bad mode: {} errno {}", bad.is_null(), c::errno());
        let dir = c::fopen(c!("/tmp"), c!("w"));
        println!(
            "fopen a directory for writing: {} errno {}",
            dir.is_null(),
            c::errno()
        );
        let path = tmp_path("excl");
        let file = c::fopen(path.as_ptr(), c!("wx"));
        println!("fopen wx: {}", !file.is_null());
        c::fclose(file);
        let again = c::fopen(path.as_ptr(), c!("wx"));
        println!("fopen wx again: {} errno {}", again.is_null(), c::errno());
        let dir_path = tmp_path("dir");
        c::mkdir(dir_path.as_ptr(), 0o755);
        println!("remove a directory: {}", c::remove(dir_path.as_ptr()));
        c::remove(path.as_ptr());
    }
}

fn descriptors_and_temporaries() {
    let path = tmp_path("fd");
    // SAFETY: valid strings and descriptors; streams open when used.
    unsafe {
        let fd = c::open(path.as_ptr(), 0o1 | 0o100 | 0o1000, 0o644);
        let wrong = c::fdopen(fd, c!("r"));
        println!(
            "fdopen r on a write-only fd: {} errno {}",
            wrong.is_null(),
            c::errno()
        );
        let file = c::fdopen(fd, c!("w"));
        println!(
            "fdopen w: {} fileno matches {}",
            !file.is_null(),
            c::fileno(file) == fd
        );
        c::fprintf(file, c!("via fdopen %d\n"), c_int::from(fd > 2));
        c::fclose(file);
        let bad = c::fdopen(999, c!("r"));
        println!("fdopen bad fd: {} errno {}", bad.is_null(), c::errno());
        let file = c::fopen(path.as_ptr(), c!("r"));
        let reopened = c::freopen(path.as_ptr(), c!("a+"), file);
        println!("freopen same stream: {}", reopened == file);
        let mut buf = [0u8; 32];
        c::fgets(buf.as_mut_ptr().cast(), 32, reopened);
        println!("freopen read: {:?}", CStr::from_ptr(buf.as_ptr().cast()));
        c::fclose(reopened);
        c::remove(path.as_ptr());

        let tmp = c::tmpfile();
        println!("tmpfile: {}", !tmp.is_null());
        c::setbuf(tmp, null_mut());
        c::fputs(c!("temporary"), tmp);
        c::rewind(tmp);
        let mut word = [0u8; 16];
        let n = c::fread(word.as_mut_ptr().cast(), 1, 16, tmp);
        println!(
            "tmpfile read back: {n} {:?}",
            String::from_utf8_lossy(&word[..n])
        );
        c::fclose(tmp);

        // Buffering modes: a user buffer, line buffering, none.
        let path = tmp_path("buffers");
        let file = c::fopen(path.as_ptr(), c!("w+"));
        let mut user = [0u8; 64];
        println!(
            "setvbuf full: {}",
            c::setvbuf(file, user.as_mut_ptr().cast(), 0, user.len())
        );
        println!(
            "setvbuf bad mode: {} errno {}",
            c::setvbuf(file, null_mut(), 5, 0),
            c::errno()
        );
        for i in 0..20 {
            c::fprintf(file, c!("%02d "), i);
        }
        c::fflush(file);
        c::rewind(file);
        let mut all = [0u8; 128];
        let n = c::fread(all.as_mut_ptr().cast(), 1, 128, file);
        println!(
            "user buffer round trip: {n} {:?}",
            String::from_utf8_lossy(&all[..n])
        );
        c::fclose(file);

        // Blocks larger than the buffer, both ways, then an empty getline.
        let file = c::fopen(path.as_ptr(), c!("w+"));
        let block: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let written = c::fwrite(block.as_ptr().cast(), 1, block.len(), file);
        c::fseek(file, 3, 0);
        let mut back = vec![0u8; 12_000];
        let n = c::fread(back.as_mut_ptr().cast(), 1, back.len(), file);
        println!(
            "big block: wrote {written} read {n} same {}",
            back[..n] == block[3..]
        );
        status("after big fread", file);
        let mut line: *mut c_char = null_mut();
        let mut capacity = 0usize;
        let n = c::getline(&raw mut line, &raw mut capacity, file);
        println!("getline at end: {n} allocated {}", !line.is_null());
        c::free(line.cast());
        c::fclose(file);
        c::remove(path.as_ptr());
    }
}

fn scan_a_file() {
    let path = tmp_path("scan");
    // SAFETY: valid strings; the stream is open when used.
    unsafe {
        let file = c::fopen(path.as_ptr(), c!("w+"));
        c::fputs(c!("10 20 hello\n3.5 tail\n7"), file);
        c::rewind(file);
        let (mut a, mut b) = (0 as c_int, 0 as c_int);
        let mut word = [0u8; 16];
        let n = c::__isoc99_fscanf(
            file,
            c!("%d %d %15s"),
            &raw mut a,
            &raw mut b,
            word.as_mut_ptr(),
        );
        println!(
            "fscanf: {n} {a} {b} {:?}",
            CStr::from_ptr(word.as_ptr().cast())
        );
        let mut d = 0.0f64;
        let n = c::__isoc99_fscanf(file, c!("%lf"), &raw mut d);
        println!(
            "fscanf double: {n} {d:?} next char {:?}",
            c::fgetc(file) as u8 as char
        );
        let n = c::__isoc99_fscanf(file, c!("%d"), &raw mut a);
        println!("fscanf word as int: {n} ftell {}", c::ftell(file));
        let n = c::__isoc99_fscanf(file, c!("%*s %d"), &raw mut a);
        println!("fscanf last: {n} {a}");
        let n = c::__isoc99_fscanf(file, c!("%d"), &raw mut a);
        println!("fscanf at end: {n}");
        status("after fscanf", file);
        c::fclose(file);
        c::remove(path.as_ptr());
    }
}
