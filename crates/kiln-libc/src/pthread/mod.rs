//! POSIX threads: creation and joining, thread-specific keys, attributes,
//! and the synchronisation objects (mutexes, reader-writer locks,
//! condition variables, `pthread_once`, spin locks, barriers).
//!
//! Every blocking object is an atomic state word plus the C library's
//! [`futex`](crate::futex) wait and wake, as in glibc and musl, so each is
//! correct when threads run in parallel; none relies on Kiln's scheduler
//! being cooperative. The objects keep glibc's sizes, and the fields C's
//! static initialisers set sit at glibc's offsets.

pub(crate) mod attr;
mod barrier;
mod cond;
mod control;
mod create;
mod keys;
pub(crate) mod mutex;
mod mutex_attr;
mod once;
mod rwlock;
mod spin;
