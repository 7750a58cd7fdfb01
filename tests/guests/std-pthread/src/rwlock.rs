//! Reader-writer locks: shared and exclusive holding, try and timed
//! variants, deadlock detection, attributes and writer preference.

use std::mem::size_of;
use std::thread;
use std::time::{Duration, Instant};

use libc::{CLOCK_MONOTONIC, CLOCK_REALTIME, pthread_rwlock_t, pthread_rwlockattr_t};

use crate::ffi::{
    pthread_rwlock_clockrdlock, pthread_rwlock_clockwrlock, pthread_rwlock_timedrdlock,
    pthread_rwlock_timedwrlock,
};
use crate::{Shared, bad_nanoseconds, in_ms, long_ago, show, zeroed};

pub fn run() {
    basics();
    timed();
    attributes();
    writer_preference();
}

fn basics() {
    let lock = Shared::new(libc::PTHREAD_RWLOCK_INITIALIZER);
    let l = lock.get();
    // SAFETY: an initialised lock, used by this thread and one it joins.
    unsafe {
        show("rdlock", libc::pthread_rwlock_rdlock(l));
        show("rdlock again", libc::pthread_rwlock_rdlock(l));
        show("tryrdlock read-held", libc::pthread_rwlock_tryrdlock(l));
        show("trywrlock read-held", libc::pthread_rwlock_trywrlock(l));
        let other = thread::scope(|s| {
            s.spawn(|| {
                (
                    libc::pthread_rwlock_tryrdlock(lock.get()),
                    libc::pthread_rwlock_unlock(lock.get()),
                    libc::pthread_rwlock_trywrlock(lock.get()),
                )
            })
            .join()
            .unwrap()
        });
        show("tryrdlock by another thread", other.0);
        show("its unlock", other.1);
        show("trywrlock by another thread", other.2);
        for n in 1..=3 {
            show(&format!("read unlock {n}"), libc::pthread_rwlock_unlock(l));
        }
        show("wrlock", libc::pthread_rwlock_wrlock(l));
        show("rdlock write-held by me", libc::pthread_rwlock_rdlock(l));
        show("wrlock write-held by me", libc::pthread_rwlock_wrlock(l));
        show("tryrdlock write-held", libc::pthread_rwlock_tryrdlock(l));
        show("trywrlock write-held", libc::pthread_rwlock_trywrlock(l));
        show("write unlock", libc::pthread_rwlock_unlock(l));
        show("rwlock destroy", libc::pthread_rwlock_destroy(l));
    }
}

fn timed() {
    let lock = Shared::new(zeroed::<pthread_rwlock_t>());
    let l = lock.get();
    // SAFETY: an initialised lock, used by this thread and ones it joins.
    unsafe {
        show(
            "rwlock init",
            libc::pthread_rwlock_init(l, std::ptr::null()),
        );
        show(
            "timedrdlock bad timespec free",
            pthread_rwlock_timedrdlock(l, &bad_nanoseconds()),
        );
        show(
            "clockwrlock bad clock free",
            pthread_rwlock_clockwrlock(
                l,
                libc::CLOCK_PROCESS_CPUTIME_ID,
                &in_ms(CLOCK_REALTIME, 10),
            ),
        );
        show(
            "timedwrlock free",
            pthread_rwlock_timedwrlock(l, &in_ms(CLOCK_REALTIME, 30)),
        );
        show(
            "timedrdlock write-held by me",
            pthread_rwlock_timedrdlock(l, &in_ms(CLOCK_REALTIME, 30)),
        );
        let answers = thread::scope(|s| {
            s.spawn(|| {
                let l = lock.get();
                [
                    pthread_rwlock_timedrdlock(l, &in_ms(CLOCK_REALTIME, 30)),
                    pthread_rwlock_timedwrlock(l, &in_ms(CLOCK_REALTIME, 30)),
                    pthread_rwlock_clockrdlock(l, CLOCK_MONOTONIC, &in_ms(CLOCK_MONOTONIC, 30)),
                    pthread_rwlock_clockwrlock(l, CLOCK_MONOTONIC, &in_ms(CLOCK_MONOTONIC, 30)),
                    pthread_rwlock_timedrdlock(l, &long_ago()),
                ]
            })
            .join()
            .unwrap()
        });
        for (label, answer) in [
            "timedrdlock",
            "timedwrlock",
            "clockrdlock",
            "clockwrlock",
            "timedrdlock past",
        ]
        .iter()
        .zip(answers)
        {
            show(&format!("{label} by another thread"), answer);
        }
        let got = thread::scope(|s| {
            let waiter = s.spawn(|| {
                let result = pthread_rwlock_timedrdlock(lock.get(), &in_ms(CLOCK_REALTIME, 60_000));
                libc::pthread_rwlock_unlock(lock.get());
                result
            });
            libc::pthread_rwlock_unlock(lock.get());
            waiter.join().unwrap()
        });
        show("timedrdlock after release", got);
    }
}

fn attributes() {
    let mut attr = zeroed::<pthread_rwlockattr_t>();
    let mut value = -1;
    // SAFETY: an exclusively owned attribute object and out-pointers.
    unsafe {
        show("rwlockattr init", libc::pthread_rwlockattr_init(&mut attr));
        libc::pthread_rwlockattr_getkind_np(&attr, &mut value);
        println!("rwlockattr default kind: {value}");
        show(
            "rwlockattr setkind 9",
            libc::pthread_rwlockattr_setkind_np(&mut attr, 9),
        );
        show(
            "rwlockattr setkind writer-nonrecursive",
            libc::pthread_rwlockattr_setkind_np(
                &mut attr,
                crate::ffi::PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP,
            ),
        );
        libc::pthread_rwlockattr_getkind_np(&attr, &mut value);
        println!("rwlockattr kind: {value}");
        show(
            "rwlockattr setpshared 9",
            libc::pthread_rwlockattr_setpshared(&mut attr, 9),
        );
        show(
            "rwlockattr setpshared shared",
            libc::pthread_rwlockattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED),
        );
        libc::pthread_rwlockattr_getpshared(&attr, &mut value);
        println!("rwlockattr pshared: {value}");
        show(
            "rwlockattr destroy",
            libc::pthread_rwlockattr_destroy(&mut attr),
        );
    }
}

/// glibc's `PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP`, which the
/// `libc` crate lacks: all zeros but the kind, at byte 48.
fn writer_nonrecursive_initializer() -> pthread_rwlock_t {
    let mut bytes = [0u8; size_of::<pthread_rwlock_t>()];
    bytes[48] = crate::ffi::PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP as u8;
    // SAFETY: a pthread_rwlock_t is plain bytes of this size.
    unsafe { std::mem::transmute(bytes) }
}

/// A lock of `kind` made through its attributes.
fn with_kind(kind: i32) -> pthread_rwlock_t {
    let mut lock = zeroed::<pthread_rwlock_t>();
    let mut attr = zeroed::<pthread_rwlockattr_t>();
    // SAFETY: exclusively owned objects; a rwlock may be moved before use.
    unsafe {
        libc::pthread_rwlockattr_init(&mut attr);
        libc::pthread_rwlockattr_setkind_np(&mut attr, kind);
        libc::pthread_rwlock_init(&mut lock, &attr);
    }
    lock
}

/// With `PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP`, a waiting writer
/// keeps new readers out; with the default kind it does not.
fn writer_preference() {
    let locks = [
        (
            "readers first",
            with_kind(crate::ffi::PTHREAD_RWLOCK_PREFER_READER_NP),
            true,
        ),
        (
            "writers first",
            with_kind(crate::ffi::PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP),
            false,
        ),
        (
            "static writers first",
            writer_nonrecursive_initializer(),
            false,
        ),
    ];
    for (label, lock, readers_first) in locks {
        let lock = Shared::new(lock);
        // SAFETY: an initialised lock shared with one joined thread.
        unsafe {
            libc::pthread_rwlock_rdlock(lock.get());
            let shut_out = thread::scope(|s| {
                let writer = s.spawn(|| {
                    let result = libc::pthread_rwlock_wrlock(lock.get());
                    libc::pthread_rwlock_unlock(lock.get());
                    result
                });
                // The writer gets to wait at some point; until it does (or
                // always, when readers go first) a new reader gets in. Only
                // the answer for readers first depends on the time limit,
                // and it cannot change with it.
                let limit = if readers_first { 300 } else { 30_000 };
                let start = Instant::now();
                let shut_out = loop {
                    let result = libc::pthread_rwlock_tryrdlock(lock.get());
                    if result != 0 {
                        break true;
                    }
                    libc::pthread_rwlock_unlock(lock.get());
                    if start.elapsed() > Duration::from_millis(limit) {
                        break false;
                    }
                    thread::yield_now();
                };
                libc::pthread_rwlock_unlock(lock.get());
                show(
                    &format!("{label}: writer after readers"),
                    writer.join().unwrap(),
                );
                shut_out
            });
            println!("{label}: readers kept out while a writer waits: {shut_out}");
        }
    }
}
