//! Condition variables: attributes, timed waits on both clocks, wrong
//! mutexes, and wake-ups by signal and broadcast.

use std::thread;

use libc::{CLOCK_MONOTONIC, CLOCK_REALTIME, pthread_cond_t, pthread_condattr_t, pthread_mutex_t};

use crate::ffi::pthread_cond_clockwait;
use crate::{Shared, bad_nanoseconds, in_ms, long_ago, show, zeroed};

pub fn run() {
    attributes();
    timed();
    wake_ups();
}

fn attributes() {
    let mut attr = zeroed::<pthread_condattr_t>();
    let mut value = -1;
    // SAFETY: an exclusively owned attribute object and out-pointers.
    unsafe {
        show("condattr init", libc::pthread_condattr_init(&mut attr));
        libc::pthread_condattr_getclock(&attr, &mut value);
        println!("condattr default clock: {value}");
        show(
            "condattr setclock cputime",
            libc::pthread_condattr_setclock(&mut attr, libc::CLOCK_PROCESS_CPUTIME_ID),
        );
        show(
            "condattr setclock monotonic",
            libc::pthread_condattr_setclock(&mut attr, CLOCK_MONOTONIC),
        );
        libc::pthread_condattr_getclock(&attr, &mut value);
        println!("condattr clock: {value}");
        show(
            "condattr setpshared 3",
            libc::pthread_condattr_setpshared(&mut attr, 3),
        );
        show(
            "condattr setpshared shared",
            libc::pthread_condattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED),
        );
        libc::pthread_condattr_getpshared(&attr, &mut value);
        println!("condattr pshared: {value}");
        libc::pthread_condattr_getclock(&attr, &mut value);
        println!("condattr clock kept: {value}");
        show(
            "condattr destroy",
            libc::pthread_condattr_destroy(&mut attr),
        );
    }
}

fn timed() {
    let realtime = Shared::new(libc::PTHREAD_COND_INITIALIZER);
    let monotonic = Shared::new(zeroed::<pthread_cond_t>());
    let mutex = Shared::new(libc::PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP);
    let m = mutex.get();
    let mut attr = zeroed::<pthread_condattr_t>();
    // SAFETY: initialised objects used by this thread only.
    unsafe {
        libc::pthread_condattr_init(&mut attr);
        libc::pthread_condattr_setclock(&mut attr, CLOCK_MONOTONIC);
        show(
            "cond init monotonic",
            libc::pthread_cond_init(monotonic.get(), &attr),
        );
        show(
            "cond signal without waiters",
            libc::pthread_cond_signal(realtime.get()),
        );
        show(
            "cond broadcast without waiters",
            libc::pthread_cond_broadcast(realtime.get()),
        );
        show(
            "cond wait on an unlocked errorcheck mutex",
            libc::pthread_cond_wait(realtime.get(), m),
        );
        show(
            "cond timedwait on an unlocked errorcheck mutex",
            libc::pthread_cond_timedwait(realtime.get(), m, &in_ms(CLOCK_REALTIME, 30)),
        );
        libc::pthread_mutex_lock(m);
        show(
            "cond timedwait realtime",
            libc::pthread_cond_timedwait(realtime.get(), m, &in_ms(CLOCK_REALTIME, 30)),
        );
        show(
            "mutex held again after the wait",
            libc::pthread_mutex_lock(m),
        );
        show(
            "cond timedwait monotonic",
            libc::pthread_cond_timedwait(monotonic.get(), m, &in_ms(CLOCK_MONOTONIC, 30)),
        );
        show(
            "cond clockwait monotonic",
            pthread_cond_clockwait(
                realtime.get(),
                m,
                CLOCK_MONOTONIC,
                &in_ms(CLOCK_MONOTONIC, 30),
            ),
        );
        show(
            "cond clockwait realtime",
            pthread_cond_clockwait(
                monotonic.get(),
                m,
                CLOCK_REALTIME,
                &in_ms(CLOCK_REALTIME, 30),
            ),
        );
        show(
            "cond clockwait bad clock",
            pthread_cond_clockwait(
                realtime.get(),
                m,
                libc::CLOCK_PROCESS_CPUTIME_ID,
                &in_ms(CLOCK_REALTIME, 30),
            ),
        );
        show(
            "cond timedwait bad timespec",
            libc::pthread_cond_timedwait(realtime.get(), m, &bad_nanoseconds()),
        );
        show(
            "cond timedwait past",
            libc::pthread_cond_timedwait(realtime.get(), m, &long_ago()),
        );
        show("mutex still held", libc::pthread_mutex_lock(m));
        libc::pthread_mutex_unlock(m);
        show("cond destroy", libc::pthread_cond_destroy(monotonic.get()));
    }
}

/// Waiters that count themselves in, then wait for `go`.
struct Gathering {
    mutex: Shared<pthread_mutex_t>,
    arrived: Shared<pthread_cond_t>,
    go_cond: Shared<pthread_cond_t>,
    waiting: Shared<u32>,
    go: Shared<u32>,
    woken: Shared<u32>,
}

impl Gathering {
    /// Counts the caller in, waits for a go, and counts it as woken.
    /// Returns the wait's results (the last one that returned).
    ///
    /// # Safety
    /// Called by the gathering's waiters, with `self` alive throughout.
    unsafe fn wait(&self) -> i32 {
        // SAFETY: the fields are guarded by `mutex`.
        unsafe {
            libc::pthread_mutex_lock(self.mutex.get());
            *self.waiting.get() += 1;
            libc::pthread_cond_signal(self.arrived.get());
            let mut result = 0;
            while *self.go.get() == 0 {
                result = libc::pthread_cond_wait(self.go_cond.get(), self.mutex.get());
            }
            *self.go.get() -= 1;
            *self.woken.get() += 1;
            libc::pthread_mutex_unlock(self.mutex.get());
            result
        }
    }

    /// Waits until `count` waiters are in, then lets `release` of them go
    /// with a signal each, or all of them with a broadcast.
    ///
    /// # Safety
    /// As for [`Gathering::wait`].
    unsafe fn release(&self, count: u32, broadcast: bool) {
        // SAFETY: the fields are guarded by `mutex`.
        unsafe {
            libc::pthread_mutex_lock(self.mutex.get());
            while *self.waiting.get() < count {
                libc::pthread_cond_wait(self.arrived.get(), self.mutex.get());
            }
            *self.go.get() = count;
            if broadcast {
                libc::pthread_cond_broadcast(self.go_cond.get());
            } else {
                for _ in 0..count {
                    libc::pthread_cond_signal(self.go_cond.get());
                }
            }
            libc::pthread_mutex_unlock(self.mutex.get());
        }
    }
}

fn wake_ups() {
    for broadcast in [false, true] {
        let gathering = Gathering {
            mutex: Shared::new(libc::PTHREAD_MUTEX_INITIALIZER),
            arrived: Shared::new(libc::PTHREAD_COND_INITIALIZER),
            go_cond: Shared::new(libc::PTHREAD_COND_INITIALIZER),
            waiting: Shared::new(0),
            go: Shared::new(0),
            woken: Shared::new(0),
        };
        let results: Vec<i32> = thread::scope(|s| {
            let waiters: Vec<_> = (0..4)
                // SAFETY: the gathering outlives the scope.
                .map(|_| s.spawn(|| unsafe { gathering.wait() }))
                .collect();
            // SAFETY: as above.
            unsafe { gathering.release(4, broadcast) };
            waiters.into_iter().map(|w| w.join().unwrap()).collect()
        });
        let how = if broadcast { "broadcast" } else { "signals" };
        // SAFETY: every waiter has been joined.
        let woken = unsafe { *gathering.woken.get() };
        println!("cond {how}: woke {woken} waiters, results {results:?}");
    }
}
