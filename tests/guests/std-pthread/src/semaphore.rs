//! Unnamed semaphores, and the named ones' failures.

use std::ffi::CString;
use std::thread;

use libc::{CLOCK_MONOTONIC, CLOCK_REALTIME, sem_t};

use crate::ffi::{sem_clockwait, sem_unlink};
use crate::{Shared, bad_nanoseconds, in_ms, long_ago, show_errno, zeroed};

const SEM_VALUE_MAX: u32 = i32::MAX as u32;

pub fn run() {
    let sem = Shared::new(zeroed::<sem_t>());
    let s = sem.get();
    let mut value = -1;
    // SAFETY: an initialised semaphore, used by this thread and one it joins.
    unsafe {
        show_errno(
            "sem_init above the maximum",
            libc::sem_init(s, 0, SEM_VALUE_MAX + 1),
        );
        show_errno("sem_init", libc::sem_init(s, 0, 2));
        libc::sem_getvalue(s, &mut value);
        println!("sem value: {value}");
        show_errno("sem_trywait", libc::sem_trywait(s));
        show_errno("sem_wait", libc::sem_wait(s));
        show_errno("sem_trywait at 0", libc::sem_trywait(s));
        show_errno(
            "sem_timedwait at 0",
            libc::sem_timedwait(s, &in_ms(CLOCK_REALTIME, 30)),
        );
        show_errno("sem_timedwait past", libc::sem_timedwait(s, &long_ago()));
        show_errno(
            "sem_clockwait monotonic at 0",
            sem_clockwait(s, CLOCK_MONOTONIC, &in_ms(CLOCK_MONOTONIC, 30)),
        );
        show_errno("sem_post", libc::sem_post(s));
        libc::sem_getvalue(s, &mut value);
        println!("sem value: {value}");
        show_errno(
            "sem_timedwait bad timespec",
            libc::sem_timedwait(s, &bad_nanoseconds()),
        );
        show_errno(
            "sem_clockwait bad clock",
            sem_clockwait(
                s,
                libc::CLOCK_PROCESS_CPUTIME_ID,
                &in_ms(CLOCK_REALTIME, 30),
            ),
        );
        show_errno(
            "sem_timedwait",
            libc::sem_timedwait(s, &in_ms(CLOCK_REALTIME, 30)),
        );
        let woken = thread::scope(|scope| {
            let waiter = scope.spawn(|| libc::sem_wait(sem.get()));
            libc::sem_post(sem.get());
            waiter.join().unwrap()
        });
        show_errno("sem_wait woken by a post", woken);
        show_errno("sem_destroy", libc::sem_destroy(s));
        show_errno(
            "sem_init at the maximum",
            libc::sem_init(s, 1, SEM_VALUE_MAX),
        );
        show_errno("sem_post at the maximum", libc::sem_post(s));
        libc::sem_getvalue(s, &mut value);
        println!("sem value: {value}");
        for name in ["/a/b", "/", "/kiln-no-such-semaphore"] {
            let c_name = CString::new(name).unwrap();
            let opened = libc::sem_open(c_name.as_ptr(), 0);
            let result = if opened == libc::SEM_FAILED { -1 } else { 0 };
            show_errno(&format!("sem_open {name}"), result);
        }
        let c_name = CString::new("/kiln-no-such-semaphore").unwrap();
        show_errno("sem_unlink", sem_unlink(c_name.as_ptr()));
    }
}
