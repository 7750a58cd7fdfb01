//! The standard streams: stdout is fully buffered and stderr unbuffered
//! (glibc's choice for pipes), so raw writes to the descriptors overtake
//! stdout's buffered text but not stderr's; `fflush` and `exit` hand it on.

use std::ffi::c_int;

use crate::c;

fn raw(fd: c_int, text: &str) {
    // SAFETY: a valid buffer.
    unsafe { c::write(fd, text.as_ptr().cast(), text.len()) };
}

pub fn run() {
    // SAFETY: the standard streams are open; the formats match their arguments.
    unsafe {
        c::fflush(c::stdout);
        c::printf(c!("printf %s %d\n"), c!("buffered"), 1);
        let n = c::puts(c!("puts buffered"));
        println!("puts returned {n}");
        c::putchar(b'p' as c_int);
        c::putchar(b'\n' as c_int);
        c::__printf_chk(1, c!("__printf_chk %05.1f\n"), 2.25);
        c::__fprintf_chk(c::stdout, 1, c!("__fprintf_chk %x\n"), 0xbeef);
        raw(1, "raw write overtakes stdout's buffer\n");
        c::dprintf(1, c!("dprintf goes straight to fd %d\n"), 1);
        println!("fflush(stdout): {}", c::fflush(c::stdout));
        raw(1, "raw write after the flush\n");

        c::fprintf(c::stderr, c!("stderr %s "), c!("unbuffered"));
        raw(2, "then raw\n");
        c::errno_set_and_perror();
        c::fputs(c!("fputs to stderr\n"), c::stderr);

        // More than one buffer's worth: written as the buffer fills.
        let n = c::printf(c!("%5000d|\n"), 7);
        println!("\nprintf wide: {n}");
        c::fflush(c::stdout);

        // Line buffering hands each line on at its newline.
        c::setlinebuf(c::stdout);
        c::printf(c!("line buffered "));
        raw(1, "(raw before the newline) ");
        c::printf(c!("now the newline\n"));
        raw(1, "raw after the line\n");
        c::printf(c!("two\nlines and a tail "));
        raw(1, "(raw after the last newline) ");
        c::printf(c!("end\n"));
        c::setvbuf(c::stdout, std::ptr::null_mut(), 0, 0);

        let input = c::getchar();
        println!(
            "getchar on empty stdin: {input} eof {}",
            c::feof(c::stdin) != 0
        );
        let mut value = 0 as c_int;
        println!(
            "scanf on empty stdin: {}",
            c::__isoc99_scanf(c!("%d"), &raw mut value)
        );

        // Left in stdout's buffer: `exit` must write it.
        c::printf(c!("written at exit by %s\n"), c!("the C library"));
    }
}
