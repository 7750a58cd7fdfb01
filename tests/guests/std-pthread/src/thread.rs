//! Thread attributes, identity, names, signal masks, cancellation state
//! and `pthread_atfork`.

use std::ffi::{CStr, CString, c_void};
use std::ptr;
use std::thread;

use libc::{pthread_attr_t, sigset_t};

use crate::ffi::{
    PTHREAD_CANCEL_ASYNCHRONOUS, PTHREAD_CANCEL_DISABLE, PTHREAD_CANCEL_ENABLE,
    PTHREAD_EXPLICIT_SCHED, PTHREAD_SCOPE_PROCESS, PTHREAD_SCOPE_SYSTEM,
    pthread_attr_getdetachstate, pthread_attr_getscope, pthread_attr_setscope,
    pthread_setcancelstate, pthread_setcanceltype,
};
use crate::{Shared, show, zeroed};

pub fn run() {
    attributes();
    detached_thread();
    identity();
    names();
    signal_masks();
    cancellation();
}

fn attributes() {
    let mut attr = zeroed::<pthread_attr_t>();
    let attr = &mut attr;
    let mut value = -1;
    let mut size = 0usize;
    // SAFETY: an exclusively owned attribute object and out-pointers.
    unsafe {
        show("attr init", libc::pthread_attr_init(attr));
        pthread_attr_getdetachstate(attr, &mut value);
        println!("attr default detachstate: {value}");
        show(
            "attr setdetachstate 5",
            libc::pthread_attr_setdetachstate(attr, 5),
        );
        show(
            "attr setdetachstate detached",
            libc::pthread_attr_setdetachstate(attr, libc::PTHREAD_CREATE_DETACHED),
        );
        pthread_attr_getdetachstate(attr, &mut value);
        println!("attr detachstate: {value}");
        libc::pthread_attr_getguardsize(attr, &mut size);
        println!("attr default guardsize: {size}");
        show(
            "attr setguardsize",
            libc::pthread_attr_setguardsize(attr, 8192),
        );
        libc::pthread_attr_getguardsize(attr, &mut size);
        println!("attr guardsize: {size}");
        libc::pthread_attr_getstacksize(attr, &mut size);
        println!("attr default stacksize is set: {}", size >= 16384);
        show(
            "attr setstacksize 100",
            libc::pthread_attr_setstacksize(attr, 100),
        );
        show(
            "attr setstacksize 1 MiB",
            libc::pthread_attr_setstacksize(attr, 1 << 20),
        );
        libc::pthread_attr_getstacksize(attr, &mut size);
        println!("attr stacksize: {size}");
        let mut stack = ptr::null_mut();
        libc::pthread_attr_getstack(attr, &mut stack, &mut size);
        println!("attr getstack unset: null {}, size {size}", stack.is_null());
        let mut memory = vec![0u8; 1 << 16];
        let base = memory.as_mut_ptr().cast::<c_void>();
        show(
            "attr setstack 4 KiB",
            libc::pthread_attr_setstack(attr, base, 4096),
        );
        show(
            "attr setstack 64 KiB",
            libc::pthread_attr_setstack(attr, base, 1 << 16),
        );
        let mut stack = ptr::null_mut();
        libc::pthread_attr_getstack(attr, &mut stack, &mut size);
        println!("attr getstack: same address {}, size {size}", stack == base);
        libc::pthread_attr_getschedpolicy(attr, &mut value);
        println!("attr default schedpolicy: {value}");
        let mut param = zeroed::<libc::sched_param>();
        param.sched_priority = 5;
        show(
            "attr setschedparam 5 other",
            libc::pthread_attr_setschedparam(attr, &param),
        );
        show(
            "attr setschedpolicy 9",
            libc::pthread_attr_setschedpolicy(attr, 9),
        );
        show(
            "attr setschedpolicy fifo",
            libc::pthread_attr_setschedpolicy(attr, libc::SCHED_FIFO),
        );
        libc::pthread_attr_getschedpolicy(attr, &mut value);
        println!("attr schedpolicy: {value}");
        show(
            "attr setschedparam 5 fifo",
            libc::pthread_attr_setschedparam(attr, &param),
        );
        param.sched_priority = 0;
        libc::pthread_attr_getschedparam(attr, &mut param);
        println!("attr priority: {}", param.sched_priority);
        show(
            "attr setinheritsched 5",
            libc::pthread_attr_setinheritsched(attr, 5),
        );
        libc::pthread_attr_getinheritsched(attr, &mut value);
        println!("attr default inheritsched: {value}");
        show(
            "attr setinheritsched explicit",
            libc::pthread_attr_setinheritsched(attr, PTHREAD_EXPLICIT_SCHED),
        );
        libc::pthread_attr_getinheritsched(attr, &mut value);
        println!("attr inheritsched: {value}");
        show(
            "attr setscope process",
            pthread_attr_setscope(attr, PTHREAD_SCOPE_PROCESS),
        );
        show("attr setscope 7", pthread_attr_setscope(attr, 7));
        show(
            "attr setscope system",
            pthread_attr_setscope(attr, PTHREAD_SCOPE_SYSTEM),
        );
        pthread_attr_getscope(attr, &mut value);
        println!("attr scope: {value}");
        show("attr destroy", libc::pthread_attr_destroy(attr));
    }
}

static DETACHED_DONE: Shared<libc::sem_t> = Shared::new(unsafe { std::mem::zeroed() });

extern "C" fn detached_main(_: *mut c_void) -> *mut c_void {
    // SAFETY: initialised before the thread was created.
    unsafe { libc::sem_post(DETACHED_DONE.get()) };
    ptr::null_mut()
}

/// A thread created detached through its attributes runs and cleans up
/// after itself.
fn detached_thread() {
    let mut attr = zeroed::<pthread_attr_t>();
    let mut id = zeroed::<libc::pthread_t>();
    // SAFETY: exclusively owned objects; the semaphore lives for good.
    unsafe {
        libc::sem_init(DETACHED_DONE.get(), 0, 0);
        libc::pthread_attr_init(&mut attr);
        libc::pthread_attr_setdetachstate(&mut attr, libc::PTHREAD_CREATE_DETACHED);
        libc::pthread_attr_setstacksize(&mut attr, 256 << 10);
        show(
            "create detached",
            libc::pthread_create(&mut id, &attr, detached_main, ptr::null_mut()),
        );
        libc::pthread_attr_destroy(&mut attr);
        println!(
            "detached thread ran: {}",
            libc::sem_wait(DETACHED_DONE.get()) == 0
        );
    }
}

fn identity() {
    // SAFETY: plain calls on live thread ids.
    unsafe {
        let me = libc::pthread_self();
        println!("equal to itself: {}", libc::pthread_equal(me, me) != 0);
        let other = thread::scope(|s| s.spawn(|| libc::pthread_self()).join().unwrap());
        println!("equal to another: {}", libc::pthread_equal(me, other) != 0);
        show("join itself", libc::pthread_join(me, ptr::null_mut()));
        show("kill 0", libc::pthread_kill(me, 0));
        show("kill 99", libc::pthread_kill(me, 99));
        show("atfork", libc::pthread_atfork(None, None, None));
    }
}

/// The calling thread's name.
fn my_name(len: usize) -> (i32, String) {
    let mut buffer = vec![0 as libc::c_char; len.max(1)];
    // SAFETY: a buffer of `len` bytes (at least 1).
    let result =
        unsafe { libc::pthread_getname_np(libc::pthread_self(), buffer.as_mut_ptr(), len) };
    // SAFETY: NUL-terminated when the call succeeded; otherwise all zeros.
    let name = unsafe { CStr::from_ptr(buffer.as_ptr()) };
    (result, name.to_string_lossy().into_owned())
}

fn names() {
    let program = std::env::args().next().unwrap_or_default();
    let program = program.rsplit('/').next().unwrap_or_default().to_string();
    let expected: String = program.chars().take(15).collect();
    let (result, name) = my_name(16);
    println!(
        "main thread named after the program: {} ({})",
        name == expected,
        crate::name(result)
    );
    let (result, _) = my_name(8);
    show("getname into 8 bytes", result);
    let long = CString::new("sixteen-bytes-xx").unwrap();
    let short = CString::new("kiln-main").unwrap();
    // SAFETY: NUL-terminated names and a live thread id.
    unsafe {
        show(
            "setname 16 bytes",
            libc::pthread_setname_np(libc::pthread_self(), long.as_ptr()),
        );
        show(
            "setname",
            libc::pthread_setname_np(libc::pthread_self(), short.as_ptr()),
        );
    }
    println!("name: {:?}", my_name(16));
    let barrier = Shared::new(zeroed::<libc::pthread_barrier_t>());
    // SAFETY: a barrier for two, shared with one joined thread.
    unsafe { libc::pthread_barrier_init(barrier.get(), ptr::null(), 2) };
    let child_id = Shared::new(zeroed::<libc::pthread_t>());
    let (inherited, renamed) = thread::scope(|s| {
        let child = s.spawn(|| {
            let inherited = my_name(16).1;
            // SAFETY: read by the main thread only after the barrier.
            unsafe { *child_id.get() = libc::pthread_self() };
            // SAFETY: as above.
            unsafe {
                libc::pthread_barrier_wait(barrier.get());
                libc::pthread_barrier_wait(barrier.get());
            }
            (inherited, my_name(16).1)
        });
        let worker = CString::new("kiln-worker").unwrap();
        // SAFETY: as above; the child is alive between the two waits.
        unsafe {
            libc::pthread_barrier_wait(barrier.get());
            show(
                "setname of another thread",
                libc::pthread_setname_np(*child_id.get(), worker.as_ptr()),
            );
            libc::pthread_barrier_wait(barrier.get());
        }
        child.join().unwrap()
    });
    println!("new thread's name: {inherited}, after renaming: {renamed}");
}

fn print_mask(label: &str, set: &sigset_t) {
    // SAFETY: glibc's sigset_t is 1024 bits, signal n at bit n - 1.
    let words: [u64; 16] = unsafe { std::mem::transmute_copy(set) };
    let blocked: Vec<u32> = (1..=64)
        .filter(|s| words[0] & (1 << (s - 1)) != 0)
        .collect();
    println!("{label}: {blocked:?}");
}

fn signal_masks() {
    let mut set = zeroed::<sigset_t>();
    let mut old = zeroed::<sigset_t>();
    // SAFETY: valid signal sets.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGUSR1);
        libc::sigaddset(&mut set, libc::SIGKILL);
        libc::sigemptyset(&mut old);
        show(
            "sigmask block",
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old),
        );
        print_mask("mask before", &old);
        show(
            "sigmask bad how",
            libc::pthread_sigmask(99, &set, ptr::null_mut()),
        );
        libc::sigemptyset(&mut old);
        show(
            "sigmask query",
            libc::pthread_sigmask(99, ptr::null(), &mut old),
        );
        print_mask("mask", &old);
        let inherited = thread::scope(|s| {
            s.spawn(|| {
                let mut old = zeroed::<sigset_t>();
                libc::sigemptyset(&mut old);
                libc::pthread_sigmask(libc::SIG_SETMASK, ptr::null(), &mut old);
                old
            })
            .join()
            .unwrap()
        });
        print_mask("new thread's mask", &inherited);
        show(
            "sigprocmask bad how",
            libc::sigprocmask(99, &set, ptr::null_mut()),
        );
        println!(
            "its errno: {}",
            crate::name(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
        );
        libc::sigemptyset(&mut old);
        show(
            "sigprocmask unblock",
            libc::sigprocmask(libc::SIG_UNBLOCK, &set, &mut old),
        );
        print_mask("mask before unblocking", &old);
        libc::sigemptyset(&mut old);
        libc::pthread_sigmask(libc::SIG_SETMASK, ptr::null(), &mut old);
        print_mask("mask after", &old);
    }
}

fn cancellation() {
    let mut old = -1;
    // SAFETY: a valid out-pointer.
    unsafe {
        show("setcancelstate 5", pthread_setcancelstate(5, &mut old));
        show(
            "setcancelstate disable",
            pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &mut old),
        );
        println!("old cancel state: {old}");
        show(
            "setcancelstate enable",
            pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &mut old),
        );
        println!("old cancel state: {old}");
        show("setcanceltype 5", pthread_setcanceltype(5, &mut old));
        show(
            "setcanceltype asynchronous",
            pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &mut old),
        );
        println!("old cancel type: {old}");
        show("setcanceltype deferred", pthread_setcanceltype(0, &mut old));
        println!("old cancel type: {old}");
    }
}
