//! The objects' sizes, `pthread_once`, spin locks and barriers.

use std::mem::size_of;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;

use libc::{pthread_barrier_t, pthread_barrierattr_t, pthread_spinlock_t};

use crate::{Shared, show, zeroed};

/// The sizes C code compiled against glibc's headers allocates.
pub fn sizes() {
    println!(
        "sizeof pthread_mutex_t: {}",
        size_of::<libc::pthread_mutex_t>()
    );
    println!(
        "sizeof pthread_mutexattr_t: {}",
        size_of::<libc::pthread_mutexattr_t>()
    );
    println!(
        "sizeof pthread_rwlock_t: {}",
        size_of::<libc::pthread_rwlock_t>()
    );
    println!(
        "sizeof pthread_rwlockattr_t: {}",
        size_of::<libc::pthread_rwlockattr_t>()
    );
    println!(
        "sizeof pthread_cond_t: {}",
        size_of::<libc::pthread_cond_t>()
    );
    println!(
        "sizeof pthread_condattr_t: {}",
        size_of::<libc::pthread_condattr_t>()
    );
    println!(
        "sizeof pthread_barrier_t: {}",
        size_of::<pthread_barrier_t>()
    );
    println!(
        "sizeof pthread_barrierattr_t: {}",
        size_of::<pthread_barrierattr_t>()
    );
    println!(
        "sizeof pthread_spinlock_t: {}",
        size_of::<pthread_spinlock_t>()
    );
    println!(
        "sizeof pthread_once_t: {}",
        size_of::<libc::pthread_once_t>()
    );
    println!(
        "sizeof pthread_attr_t: {}",
        size_of::<libc::pthread_attr_t>()
    );
    println!("sizeof sem_t: {}", size_of::<libc::sem_t>());
}

pub fn run() {
    once();
    spin();
    barrier();
}

static ONCE: Shared<libc::pthread_once_t> = Shared::new(libc::PTHREAD_ONCE_INIT);
static ONCE_RUNS: AtomicU32 = AtomicU32::new(0);

extern "C" fn once_routine() {
    ONCE_RUNS.fetch_add(1, Ordering::SeqCst);
    // Long enough for the other callers to find it running.
    thread::sleep(std::time::Duration::from_millis(20));
}

fn once() {
    let results: Vec<i32> = thread::scope(|s| {
        let callers: Vec<_> = (0..6)
            // SAFETY: a statically initialised once control.
            .map(|_| s.spawn(|| unsafe { libc::pthread_once(ONCE.get(), once_routine) }))
            .collect();
        callers.into_iter().map(|c| c.join().unwrap()).collect()
    });
    println!(
        "once results: {results:?}, runs {}",
        ONCE_RUNS.load(Ordering::SeqCst)
    );
    // SAFETY: as above.
    show("once again", unsafe {
        libc::pthread_once(ONCE.get(), once_routine)
    });
    println!(
        "once runs after another call: {}",
        ONCE_RUNS.load(Ordering::SeqCst)
    );
}

fn spin() {
    let lock = Shared::new(zeroed::<pthread_spinlock_t>());
    let l = lock.get();
    // SAFETY: an initialised spin lock, used by this thread and one it joins.
    unsafe {
        show(
            "spin init",
            libc::pthread_spin_init(l, libc::PTHREAD_PROCESS_PRIVATE),
        );
        show("spin lock", libc::pthread_spin_lock(l));
        show("spin trylock held", libc::pthread_spin_trylock(l));
        let other = thread::scope(|s| {
            s.spawn(|| libc::pthread_spin_trylock(lock.get()))
                .join()
                .unwrap()
        });
        show("spin trylock by another thread", other);
        show("spin unlock", libc::pthread_spin_unlock(l));
        show("spin trylock free", libc::pthread_spin_trylock(l));
        show("spin unlock again", libc::pthread_spin_unlock(l));
        show("spin destroy", libc::pthread_spin_destroy(l));
    }
}

fn barrier() {
    let barrier = Shared::new(zeroed::<pthread_barrier_t>());
    let mut attr = zeroed::<pthread_barrierattr_t>();
    let mut value = -1;
    // SAFETY: exclusively owned objects, then a barrier shared with joined
    // threads.
    unsafe {
        show(
            "barrierattr init",
            libc::pthread_barrierattr_init(&mut attr),
        );
        libc::pthread_barrierattr_getpshared(&attr, &mut value);
        println!("barrierattr default pshared: {value}");
        show(
            "barrierattr setpshared 5",
            libc::pthread_barrierattr_setpshared(&mut attr, 5),
        );
        show(
            "barrierattr setpshared shared",
            libc::pthread_barrierattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED),
        );
        libc::pthread_barrierattr_getpshared(&attr, &mut value);
        println!("barrierattr pshared: {value}");
        show(
            "barrier init count 0",
            libc::pthread_barrier_init(barrier.get(), &attr, 0),
        );
        show(
            "barrier init",
            libc::pthread_barrier_init(barrier.get(), &attr, 3),
        );
        libc::pthread_barrierattr_destroy(&mut attr);
        let serial: Vec<i32> = thread::scope(|s| {
            let threads: Vec<_> = (0..3)
                .map(|_| s.spawn(|| libc::pthread_barrier_wait(barrier.get())))
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        let serials = serial
            .iter()
            .filter(|&&r| r == libc::PTHREAD_BARRIER_SERIAL_THREAD)
            .count();
        let zeros = serial.iter().filter(|&&r| r == 0).count();
        println!("barrier round: {serials} serial, {zeros} zero");
        show(
            "barrier destroy",
            libc::pthread_barrier_destroy(barrier.get()),
        );
    }
}
