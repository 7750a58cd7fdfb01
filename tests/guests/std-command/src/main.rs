//! An ordinary program that tries to start another process, which a
//! unikernel cannot do: the errors must come back cleanly at run time, as
//! `ENOSYS` ("Function not implemented", `ErrorKind::Unsupported`).

use std::ffi::{c_char, c_void};
use std::io;
use std::process::{Command, Stdio};

// SAFETY: the C library's process calls, as glibc declares them.
unsafe extern "C" {
    fn fork() -> i32;
    fn vfork() -> i32;
    fn execv(path: *const c_char, argv: *const *const c_char) -> i32;
    fn execvp(file: *const c_char, argv: *const *const c_char) -> i32;
    fn execve(path: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> i32;
    fn system(command: *const c_char) -> i32;
    fn popen(command: *const c_char, mode: *const c_char) -> *mut c_void;
    fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
}

/// A C call's result and the errno it left.
fn report(name: &str, result: i64) {
    let error = io::Error::last_os_error();
    println!("{name}: {result} ({error})");
}

fn main() {
    match Command::new("ls").arg("/").status() {
        Ok(status) => println!("status: ls ran?! {status}"),
        Err(e) => println!("status: {e} ({:?})", e.kind()),
    }
    // `output` opens /dev/null for the child's stdin before it spawns.
    println!(
        "/dev/null opens: {}",
        std::fs::File::open("/dev/null").is_ok()
    );
    match Command::new("ls").arg("/").output() {
        Ok(output) => println!("output: ls ran?! {}", output.status),
        Err(e) => println!("output: {e} ({:?})", e.kind()),
    }
    match Command::new("ls").stdin(Stdio::inherit()).output() {
        Ok(output) => println!("output with stdin: ls ran?! {}", output.status),
        Err(e) => println!("output with stdin: {e} ({:?})", e.kind()),
    }
    let ls = c"/bin/ls";
    let argv = [ls.as_ptr(), std::ptr::null()];
    let env = [std::ptr::null::<c_char>()];
    // SAFETY: each call gets valid NUL-terminated strings and arrays.
    unsafe {
        report("fork", i64::from(fork()));
        report("vfork", i64::from(vfork()));
        report("execv", i64::from(execv(ls.as_ptr(), argv.as_ptr())));
        report("execvp", i64::from(execvp(c"ls".as_ptr(), argv.as_ptr())));
        report(
            "execve",
            i64::from(execve(ls.as_ptr(), argv.as_ptr(), env.as_ptr())),
        );
        report("system", i64::from(system(c"ls".as_ptr())));
        let stream = popen(c"ls".as_ptr(), c"r".as_ptr());
        report("popen", if stream.is_null() { 0 } else { 1 });
        report("waitpid", i64::from(waitpid(-1, std::ptr::null_mut(), 0)));
    }
    // SAFETY: a null command asks whether a shell exists (0: none).
    println!("system(NULL): {}", unsafe { system(std::ptr::null()) });
    println!("still running");
}
