//! Mutexes: the three types, static initialisers, attributes, trylock,
//! timed locks and unlocking by a thread that is not the owner.

use std::thread;

use libc::{CLOCK_MONOTONIC, CLOCK_REALTIME, pthread_mutex_t, pthread_mutexattr_t};

use crate::ffi::{PTHREAD_MUTEX_ROBUST, PTHREAD_PRIO_INHERIT, pthread_mutex_clocklock};
use crate::{Shared, bad_nanoseconds, in_ms, long_ago, show, zeroed};

pub fn run() {
    default_mutex();
    error_checking();
    recursive();
    static_initialisers();
    timed();
    attributes();
}

/// A mutex of `kind`, initialised through an attribute object.
fn with_type(kind: i32) -> Box<Shared<pthread_mutex_t>> {
    let mutex = Box::new(Shared::new(zeroed::<pthread_mutex_t>()));
    let mut attr = zeroed::<pthread_mutexattr_t>();
    // SAFETY: valid, exclusively owned objects.
    unsafe {
        libc::pthread_mutexattr_init(&mut attr);
        libc::pthread_mutexattr_settype(&mut attr, kind);
        show("mutex init", libc::pthread_mutex_init(mutex.get(), &attr));
        libc::pthread_mutexattr_destroy(&mut attr);
    }
    mutex
}

fn default_mutex() {
    let mutex = Shared::new(libc::PTHREAD_MUTEX_INITIALIZER);
    let m = mutex.get();
    // SAFETY: an initialised mutex, used by this thread and one it joins.
    unsafe {
        show("default lock", libc::pthread_mutex_lock(m));
        show("default trylock held", libc::pthread_mutex_trylock(m));
        show("default destroy held", libc::pthread_mutex_destroy(m));
        // glibc does not check the owner of a normal mutex.
        let unlocked = thread::scope(|s| {
            s.spawn(|| libc::pthread_mutex_unlock(mutex.get()))
                .join()
                .unwrap()
        });
        show("default unlock by another thread", unlocked);
        show("default trylock free", libc::pthread_mutex_trylock(m));
        show("default unlock", libc::pthread_mutex_unlock(m));
        show("default destroy", libc::pthread_mutex_destroy(m));
    }
}

fn error_checking() {
    let mutex = with_type(libc::PTHREAD_MUTEX_ERRORCHECK);
    let m = mutex.get();
    // SAFETY: an initialised mutex, used by this thread and one it joins.
    unsafe {
        show("errorcheck unlock unlocked", libc::pthread_mutex_unlock(m));
        show("errorcheck lock", libc::pthread_mutex_lock(m));
        show("errorcheck relock", libc::pthread_mutex_lock(m));
        show("errorcheck trylock own", libc::pthread_mutex_trylock(m));
        let (unlock, trylock) = thread::scope(|s| {
            s.spawn(|| {
                (
                    libc::pthread_mutex_unlock(mutex.get()),
                    libc::pthread_mutex_trylock(mutex.get()),
                )
            })
            .join()
            .unwrap()
        });
        show("errorcheck unlock by another thread", unlock);
        show("errorcheck trylock by another thread", trylock);
        show("errorcheck unlock", libc::pthread_mutex_unlock(m));
        show("errorcheck unlock again", libc::pthread_mutex_unlock(m));
        show("errorcheck destroy", libc::pthread_mutex_destroy(m));
    }
}

fn recursive() {
    let mutex = with_type(libc::PTHREAD_MUTEX_RECURSIVE);
    let m = mutex.get();
    // SAFETY: an initialised mutex, used by this thread and one it joins.
    unsafe {
        for depth in 1..=3 {
            show(
                &format!("recursive lock {depth}"),
                libc::pthread_mutex_lock(m),
            );
        }
        show("recursive trylock own", libc::pthread_mutex_trylock(m));
        let (unlock, trylock) = thread::scope(|s| {
            s.spawn(|| {
                (
                    libc::pthread_mutex_unlock(mutex.get()),
                    libc::pthread_mutex_trylock(mutex.get()),
                )
            })
            .join()
            .unwrap()
        });
        show("recursive unlock by another thread", unlock);
        show("recursive trylock by another thread", trylock);
        for depth in (1..=4).rev() {
            show(
                &format!("recursive unlock {depth}"),
                libc::pthread_mutex_unlock(m),
            );
        }
        show("recursive unlock again", libc::pthread_mutex_unlock(m));
        show("recursive destroy", libc::pthread_mutex_destroy(m));
    }
}

fn static_initialisers() {
    let recursive = Shared::new(libc::PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP);
    let checking = Shared::new(libc::PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP);
    let adaptive = Shared::new(libc::PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP);
    // SAFETY: statically initialised mutexes.
    unsafe {
        show(
            "static recursive lock",
            libc::pthread_mutex_lock(recursive.get()),
        );
        show(
            "static recursive relock",
            libc::pthread_mutex_lock(recursive.get()),
        );
        show(
            "static errorcheck lock",
            libc::pthread_mutex_lock(checking.get()),
        );
        show(
            "static errorcheck relock",
            libc::pthread_mutex_lock(checking.get()),
        );
        show(
            "static adaptive lock",
            libc::pthread_mutex_lock(adaptive.get()),
        );
        show(
            "static adaptive trylock",
            libc::pthread_mutex_trylock(adaptive.get()),
        );
    }
}

fn timed() {
    let mutex = Shared::new(libc::PTHREAD_MUTEX_INITIALIZER);
    let m = mutex.get();
    // SAFETY: an initialised mutex, used by this thread and ones it joins.
    unsafe {
        show(
            "timedlock bad timespec free",
            libc::pthread_mutex_timedlock(m, &bad_nanoseconds()),
        );
        show(
            "clocklock bad clock",
            pthread_mutex_clocklock(
                m,
                libc::CLOCK_PROCESS_CPUTIME_ID,
                &in_ms(CLOCK_REALTIME, 10),
            ),
        );
        // The mutex is held (by the timedlock above): waits time out.
        show(
            "timedlock held",
            libc::pthread_mutex_timedlock(m, &in_ms(CLOCK_REALTIME, 30)),
        );
        show(
            "clocklock monotonic held",
            pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &in_ms(CLOCK_MONOTONIC, 30)),
        );
        show(
            "timedlock past",
            libc::pthread_mutex_timedlock(m, &long_ago()),
        );
        show(
            "timedlock bad timespec held",
            libc::pthread_mutex_timedlock(m, &bad_nanoseconds()),
        );
        // A waiter with a generous deadline gets the mutex once released.
        let got = thread::scope(|s| {
            let waiter = s.spawn(|| {
                let result =
                    libc::pthread_mutex_timedlock(mutex.get(), &in_ms(CLOCK_REALTIME, 60_000));
                libc::pthread_mutex_unlock(mutex.get());
                result
            });
            libc::pthread_mutex_unlock(mutex.get());
            waiter.join().unwrap()
        });
        show("timedlock after release", got);
    }
}

fn attributes() {
    let mut attr = zeroed::<pthread_mutexattr_t>();
    let mut value = -1;
    // SAFETY: an exclusively owned attribute object and out-pointers.
    unsafe {
        show("mutexattr init", libc::pthread_mutexattr_init(&mut attr));
        crate::ffi::pthread_mutexattr_gettype(&attr, &mut value);
        println!("mutexattr default type: {value}");
        show(
            "mutexattr settype 99",
            libc::pthread_mutexattr_settype(&mut attr, 99),
        );
        show(
            "mutexattr settype recursive",
            libc::pthread_mutexattr_settype(&mut attr, libc::PTHREAD_MUTEX_RECURSIVE),
        );
        crate::ffi::pthread_mutexattr_gettype(&attr, &mut value);
        println!("mutexattr type: {value}");
        show(
            "mutexattr setpshared 5",
            libc::pthread_mutexattr_setpshared(&mut attr, 5),
        );
        show(
            "mutexattr setpshared shared",
            libc::pthread_mutexattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED),
        );
        libc::pthread_mutexattr_getpshared(&attr, &mut value);
        println!("mutexattr pshared: {value}");
        show(
            "mutexattr setprotocol 7",
            libc::pthread_mutexattr_setprotocol(&mut attr, 7),
        );
        show(
            "mutexattr setprotocol inherit",
            libc::pthread_mutexattr_setprotocol(&mut attr, PTHREAD_PRIO_INHERIT),
        );
        libc::pthread_mutexattr_getprotocol(&attr, &mut value);
        println!("mutexattr protocol: {value}");
        crate::ffi::pthread_mutexattr_gettype(&attr, &mut value);
        println!("mutexattr type kept: {value}");
        show(
            "mutexattr setprotocol none",
            libc::pthread_mutexattr_setprotocol(&mut attr, 0),
        );
        // A shared recursive mutex behaves as a recursive one.
        let mutex = Shared::new(zeroed::<pthread_mutex_t>());
        show(
            "shared mutex init",
            libc::pthread_mutex_init(mutex.get(), &attr),
        );
        show("shared mutex lock", libc::pthread_mutex_lock(mutex.get()));
        show("shared mutex relock", libc::pthread_mutex_lock(mutex.get()));
        show(
            "mutexattr setrobust 5",
            libc::pthread_mutexattr_setrobust(&mut attr, 5),
        );
        show(
            "mutexattr setrobust robust",
            libc::pthread_mutexattr_setrobust(&mut attr, PTHREAD_MUTEX_ROBUST),
        );
        libc::pthread_mutexattr_getrobust(&attr, &mut value);
        println!("mutexattr robust: {value}");
        show(
            "mutexattr destroy",
            libc::pthread_mutexattr_destroy(&mut attr),
        );
        show(
            "mutex consistent on a normal mutex",
            libc::pthread_mutex_consistent(mutex.get()),
        );
    }
}
