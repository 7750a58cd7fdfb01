//! The pod sandbox image's program for the CRI tests: a native, static
//! "pause", as Kubernetes' own, for pods that runc runs (a Kiln pod never
//! runs it). Sleeps until SIGTERM or SIGINT, then exits 0.

use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn stop(_signal: i32) {
    STOP.store(true, Ordering::SeqCst);
}

// SAFETY: the C library's signal(2) and pause(2), as glibc declares them.
unsafe extern "C" {
    fn signal(signal: i32, handler: extern "C" fn(i32)) -> usize;
    fn pause() -> i32;
}

fn main() {
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        signal(15, stop);
        signal(2, stop);
    }
    while !STOP.load(Ordering::SeqCst) {
        // SAFETY: pause(2) only waits for a signal.
        unsafe { pause() };
    }
}
