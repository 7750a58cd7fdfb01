//! The C half of program start: from the library OS's entry to `main`.

use core::ffi::c_char;

use kiln_libos::platform;

use crate::{CInt, stdlib, thread};

type InitFn = unsafe extern "C" fn(CInt, *const *const c_char, *const *const c_char);

// SAFETY: `main` is the C entry rustc emits for every binary crate; the
// `.init_array` bounds are defined by Kiln's linker script.
unsafe extern "C" {
    fn main(argc: CInt, argv: *const *const c_char, envp: *const *const c_char) -> CInt;
    static __init_array_start: [InitFn; 0];
    static __init_array_end: [InitFn; 0];
}

/// Names the main thread after the program, as Linux names a process after
/// its executable's file name.
///
/// # Safety
/// `argv` must hold `argc` NUL-terminated strings.
unsafe fn name_main_thread(tcb: &thread::Tcb, argc: CInt, argv: *const *const c_char) {
    if argc < 1 {
        return;
    }
    // SAFETY: per the caller.
    let program = unsafe { core::ffi::CStr::from_ptr(*argv) }.to_bytes();
    let file_name = program.rsplit(|&b| b == b'/').next().unwrap_or(program);
    thread::set_name(tcb, file_name);
}

/// Called by the library OS once the boot info is installed: sets up the
/// main thread's TLS and `environ`, runs the `.init_array` constructors with
/// `(argc, argv, envp)` as glibc does (`std` reads its arguments there), then
/// `main`, and exits with its status.
#[unsafe(no_mangle)]
pub extern "Rust" fn __kiln_libc_start() -> ! {
    let boot = platform::boot_info();
    let tcb = thread::create(&boot.tls);
    if tcb.is_null() {
        platform::report_panic(b"kiln-libc: no memory for the main thread's TLS block");
    }
    // SAFETY: a fresh TCB that lives as long as the program.
    unsafe { thread::install(tcb) };
    kiln_libos::sched::set_thread_pointers(
        || thread::create(&kiln_libos::platform::boot_info().tls) as u64,
        thread::destroy,
    );
    let argc = boot.argc as CInt;
    let argv = boot.argv.addr() as *const *const c_char;
    let envp = boot.envp.addr() as *const *const c_char;
    stdlib::set_environ(envp);
    // SAFETY: the TCB installed above; argv is the monitor's array.
    unsafe { name_main_thread(&*tcb, argc, argv) };
    // SAFETY: the linker script brackets `.init_array` with these symbols;
    // every entry is a constructor taking glibc's (argc, argv, envp).
    unsafe {
        let mut init = (&raw const __init_array_start).cast::<InitFn>();
        let end = (&raw const __init_array_end).cast::<InitFn>();
        while init < end {
            (*init)(argc, argv, envp);
            init = init.add(1);
        }
    }
    // SAFETY: argv and envp are the monitor's null-terminated arrays.
    let status = unsafe { main(argc, argv, envp) };
    stdlib::exit(status)
}
