//! One client connection: find it an instance, hand it over without losing
//! a byte, then copy both ways until both sides are done.
//!
//! While an instance boots, its published port may refuse a connection
//! (passt is not up yet) or accept it and then reset or ignore it (the
//! guest is not listening yet; passt does not resend a SYN the guest never
//! saw). So until an instance has answered once, what the client sends is
//! kept and replayed on each new attempt, and an attempt counts only once
//! the instance sends its first byte back; the first attempt to answer is
//! kept, the others closed. A running instance gets one attempt at a time,
//! retried (a few times, spaced) only if it closes without answering. The
//! cost: a request sent during a boot may reach the guest more than once
//! (up to [`MAX_ATTEMPTS`] times), which is fine for the idempotent
//! requests such services get first.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};

use super::pool::{Lease, Pool};

/// How long an instance may take to answer its first connection.
const BOOT_TIMEOUT: Duration = Duration::from_secs(10);
/// The wait for an answer before adding another attempt beside an
/// unanswered one; it doubles each time. A booting guest that is not
/// listening yet resets an attempt, which is retried at once, so an extra
/// attempt is for a SYN lost on the way: it waits past a boot (~5-10 ms).
const FIRST_ANSWER_WAIT: Duration = Duration::from_millis(10);
/// The longest wait between attempts.
const MAX_ANSWER_WAIT: Duration = Duration::from_secs(1);
/// The wait before trying again after a refused or reset attempt (passt
/// or the guest's listener about to come up); it doubles each time.
const FIRST_RETRY_WAIT: Duration = Duration::from_micros(100);
/// The longest wait after a refused or reset attempt.
const MAX_RETRY_WAIT: Duration = Duration::from_micros(500);
/// Attempts open at once, which bounds how often a request sent during a
/// boot can be replayed.
const MAX_ATTEMPTS: usize = 8;
/// How much a client may send before the instance answers and still be
/// replayed; past this, the current attempt is the only one.
const REPLAY_LIMIT: usize = 1 << 20;
/// Instances that end before answering, per connection, before giving up.
const BOOT_ATTEMPTS: usize = 3;
/// New attempts after a running instance closed one without answering: a
/// guest whose listening sockets are all taken (a burst of connections,
/// more than it has accepted yet) resets the next one.
const READY_RETRIES: usize = 8;
/// The longest wait before such a new attempt; the waits double from
/// [`FIRST_RETRY_WAIT`], so the retries span about 20 ms.
const MAX_READY_RETRY_WAIT: Duration = Duration::from_millis(8);

/// What the client sent before an instance answered.
#[derive(Default)]
struct Replay {
    bytes: Vec<u8>,
    /// The client has closed its sending side.
    eof: bool,
}

enum Attempt {
    /// The instance answered (or the client committed past the replay limit).
    Connected(TcpStream),
    /// The instance ended or never answered: try another.
    InstanceGone,
    /// The client went away.
    ClientGone,
    /// A running instance closed each attempt without answering: the
    /// client sees that close.
    Closed,
}

/// Serves one client connection to the end; once connected, it ends after
/// `idle` without a byte either way.
pub fn serve(pool: &Pool, client: TcpStream, idle: Duration) {
    let _ = client.set_nodelay(true);
    let mut replay = Replay::default();
    for _ in 0..BOOT_ATTEMPTS {
        let lease = match pool.acquire() {
            Ok(lease) => lease,
            Err(why) => {
                tell!("kiln serve: dropped a connection: {why}");
                return;
            }
        };
        let attempt = hand_over(pool, &lease, &client, &mut replay);
        if let Attempt::Connected(upstream) = &attempt {
            pipe(&client, upstream, idle);
        }
        pool.release(lease.number);
        if !matches!(attempt, Attempt::InstanceGone) {
            return;
        }
    }
    tell!("kiln serve: dropped a connection: {BOOT_ATTEMPTS} instances ended before answering");
}

/// Connects the client to the leased instance, replaying what it sent
/// until the instance answers. Attempts are not abandoned: a guest's first
/// connection can take ~10 ms to be answered, and dropping it for a new one
/// would start that wait again. So new attempts are added beside the old
/// ones, further and further apart, and the first to answer wins.
fn hand_over(pool: &Pool, lease: &Lease, client: &TcpStream, replay: &mut Replay) -> Attempt {
    let deadline = Instant::now() + BOOT_TIMEOUT;
    let mut attempts: Vec<TcpStream> = Vec::new();
    let mut next_attempt = Instant::now();
    let mut spacing = FIRST_ANSWER_WAIT;
    let mut backoff = FIRST_RETRY_WAIT;
    let mut buf = [0u8; 16 * 1024];
    let mut closes = 0;
    loop {
        let now = Instant::now();
        if now >= deadline && !lease.ready {
            tell!(
                "kiln serve: instance {} did not answer within {BOOT_TIMEOUT:?}",
                lease.number
            );
            return Attempt::InstanceGone;
        }
        // A running instance that is slow to answer is just slow: it gets
        // one attempt at a time, and no deadline. Extra attempts during a
        // boot are for the connection that boots it only: each attempt the
        // guest accepts costs it a connection (often a thread), and a burst
        // of clients would multiply them.
        let most = if lease.booted && !lease.ready {
            MAX_ATTEMPTS
        } else {
            1
        };
        if now >= next_attempt && attempts.len() < most {
            match connect(lease, replay) {
                Ok(upstream) => {
                    attempts.push(upstream);
                    next_attempt = now + spacing;
                    spacing = (spacing * 2).min(MAX_ANSWER_WAIT);
                }
                Err(()) => {
                    if !pool.is_running(lease.number) {
                        return Attempt::InstanceGone;
                    }
                    next_attempt = now + backoff;
                    backoff = (backoff * 2).min(MAX_RETRY_WAIT);
                }
            }
            continue;
        }
        let until = match (attempts.len() < most, lease.ready) {
            (true, true) => next_attempt,
            (true, false) => next_attempt.min(deadline),
            (false, true) => now + Duration::from_secs(1),
            (false, false) => deadline,
        };
        let timeout =
            Timespec::try_from(until.saturating_duration_since(now)).unwrap_or(Timespec {
                tv_sec: 1,
                tv_nsec: 0,
            });
        let mut fds: Vec<PollFd<'_>> = attempts
            .iter()
            .map(|a| PollFd::new(a, PollFlags::IN))
            .collect();
        if !replay.eof {
            fds.push(PollFd::new(client, PollFlags::IN));
        }
        match poll(&mut fds, Some(&timeout)) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(_) => return Attempt::ClientGone,
        }
        let readable: Vec<bool> = fds.iter().map(|fd| !fd.revents().is_empty()).collect();
        drop(fds);
        let client_readable = !replay.eof && readable[attempts.len()];
        // Newest first, so removing one does not shift the others' indexes.
        for index in (0..attempts.len()).rev() {
            if !readable[index] {
                continue;
            }
            match (&attempts[index]).read(&mut buf) {
                Ok(n) if n > 0 => {
                    return match (&*client).write_all(&buf[..n]) {
                        Ok(()) => {
                            pool.mark_ready(lease.number);
                            Attempt::Connected(attempts.swap_remove(index))
                        }
                        Err(_) => Attempt::ClientGone,
                    };
                }
                // Closed or reset before answering (the guest was not
                // listening yet): that attempt is over.
                _ => {
                    attempts.remove(index);
                    if lease.ready {
                        closes += 1;
                        if closes > READY_RETRIES {
                            return Attempt::Closed;
                        }
                        next_attempt = now + backoff;
                        backoff = (backoff * 2).min(MAX_READY_RETRY_WAIT);
                    } else {
                        // A booting guest that resets a connection has its
                        // network up and is about to listen: try again
                        // soon, not at the next spaced attempt.
                        next_attempt = next_attempt.min(now + backoff);
                        backoff = (backoff * 2).min(MAX_RETRY_WAIT);
                    }
                }
            }
        }
        if client_readable {
            match (&*client).read(&mut buf) {
                // A client that leaves without sending a byte (a port
                // probe) is owed nothing; retrying for it would keep the
                // instance busy.
                Ok(0) if replay.bytes.is_empty() => return Attempt::ClientGone,
                Ok(0) => {
                    replay.eof = true;
                    for attempt in &attempts {
                        let _ = attempt.shutdown(Shutdown::Write);
                    }
                }
                Ok(n) => {
                    replay.bytes.extend_from_slice(&buf[..n]);
                    attempts.retain(|mut a| a.write_all(&buf[..n]).is_ok());
                    if replay.bytes.len() > REPLAY_LIMIT
                        && let Some(newest) = attempts.pop()
                    {
                        return Attempt::Connected(newest);
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Attempt::ClientGone,
            }
        }
    }
}

/// A new connection to the instance, sent what the client sent so far.
fn connect(lease: &Lease, replay: &Replay) -> Result<TcpStream, ()> {
    let upstream = TcpStream::connect(lease.addr).map_err(drop)?;
    // Connecting to a loopback port nobody listens on yet can pick that
    // very port as the source and connect to itself.
    if upstream.local_addr().ok() == upstream.peer_addr().ok() {
        return Err(());
    }
    let _ = upstream.set_nodelay(true);
    (&upstream).write_all(&replay.bytes).map_err(drop)?;
    if replay.eof {
        upstream.shutdown(Shutdown::Write).map_err(drop)?;
    }
    Ok(upstream)
}

/// Copies both ways until both directions have ended, or nothing moved
/// either way for `idle`; each side's end of sending is passed on as a
/// half-close, so request/response protocols that signal "done" with a
/// FIN keep working.
fn pipe(client: &TcpStream, upstream: &TcpStream, idle: Duration) {
    // Each direction wakes up at least every `idle` to look at the other's
    // last activity: a long download with a silent client is not idle.
    for stream in [client, upstream] {
        let _ = stream.set_read_timeout(Some(idle));
    }
    let started = Instant::now();
    let last = AtomicU64::new(0);
    thread::scope(|scope| {
        scope.spawn(|| copy(client, upstream, idle, started, &last));
        copy(upstream, client, idle, started, &last);
    });
}

fn copy(from: &TcpStream, to: &TcpStream, idle: Duration, started: Instant, last: &AtomicU64) {
    let mut buf = [0u8; 64 * 1024];
    let since_start = || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    loop {
        match (&*from).read(&mut buf) {
            Ok(0) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => {
                last.store(since_start(), Ordering::Relaxed);
                if (&*to).write_all(&buf[..n]).is_err() {
                    // The receiver is gone: end the other direction too.
                    let _ = from.shutdown(Shutdown::Both);
                    return;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                let quiet = since_start().saturating_sub(last.load(Ordering::Relaxed));
                if Duration::from_millis(quiet) >= idle {
                    let _ = from.shutdown(Shutdown::Both);
                    let _ = to.shutdown(Shutdown::Both);
                    return;
                }
            }
            Err(_) => {
                let _ = to.shutdown(Shutdown::Both);
                return;
            }
        }
    }
}
