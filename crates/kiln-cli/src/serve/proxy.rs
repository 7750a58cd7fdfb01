//! One client connection: find it an instance, hand it over without losing
//! a byte, then copy both ways until both sides are done.
//!
//! While an instance boots, its published port may refuse a connection
//! (passt is not up yet) or accept it and then reset or ignore it (the
//! guest is not listening yet; passt does not resend a SYN the guest never
//! saw). So until an instance has answered once, what the client sends is
//! kept and replayed on each new attempt, and an attempt counts only once
//! the instance sends its first byte back. An instance that has answered is
//! connected to directly. The cost: a request sent during a boot may reach
//! the guest more than once (an attempt that timed out may still have
//! arrived), which is fine for the idempotent requests such services get
//! first, and documented.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};

use super::pool::{Lease, Pool};

/// How long an instance may take to answer its first connection.
const BOOT_TIMEOUT: Duration = Duration::from_secs(10);
/// The first wait for an answer before trying again; it doubles each try.
const FIRST_ANSWER_WAIT: Duration = Duration::from_millis(5);
/// The last wait for an answer: a slow first response is replayed at most
/// once a second.
const MAX_ANSWER_WAIT: Duration = Duration::from_secs(1);
/// How much a client may send before the instance answers and still be
/// replayed; past this, the current attempt is the only one.
const REPLAY_LIMIT: usize = 1 << 20;
/// Instances that end before answering, per connection, before giving up.
const BOOT_ATTEMPTS: usize = 3;

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
}

/// Serves one client connection to the end.
pub fn serve(pool: &Pool, client: TcpStream) {
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
            pipe(&client, upstream);
        }
        pool.release(lease.number);
        if !matches!(attempt, Attempt::InstanceGone) {
            return;
        }
    }
    tell!("kiln serve: dropped a connection: {BOOT_ATTEMPTS} instances ended before answering");
}

/// Connects the client to the leased instance, replaying what it sent
/// until the instance answers.
fn hand_over(pool: &Pool, lease: &Lease, client: &TcpStream, replay: &mut Replay) -> Attempt {
    let deadline = Instant::now() + BOOT_TIMEOUT;
    let mut wait = FIRST_ANSWER_WAIT;
    let mut backoff = Duration::from_micros(100);
    while Instant::now() < deadline {
        let upstream = match TcpStream::connect(lease.addr) {
            Ok(stream) => stream,
            Err(_) => {
                if !pool.is_running(lease.number) {
                    return Attempt::InstanceGone;
                }
                thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_millis(2));
                continue;
            }
        };
        // Connecting to a loopback port nobody listens on yet can pick
        // that very port as the source and connect to itself.
        if upstream.local_addr().ok() == upstream.peer_addr().ok() {
            continue;
        }
        let _ = upstream.set_nodelay(true);
        if (&upstream).write_all(&replay.bytes).is_err()
            || (replay.eof && upstream.shutdown(Shutdown::Write).is_err())
        {
            continue;
        }
        if lease.ready {
            return Attempt::Connected(upstream);
        }
        match first_answer(client, &upstream, replay, wait) {
            Answer::Answered => {
                pool.mark_ready(lease.number);
                return Attempt::Connected(upstream);
            }
            Answer::Committed => return Attempt::Connected(upstream),
            Answer::ClientGone => return Attempt::ClientGone,
            Answer::None => {
                if !pool.is_running(lease.number) {
                    return Attempt::InstanceGone;
                }
                wait = (wait * 2).min(MAX_ANSWER_WAIT);
            }
        }
    }
    tell!(
        "kiln serve: instance {} did not answer within {BOOT_TIMEOUT:?}",
        lease.number
    );
    Attempt::InstanceGone
}

enum Answer {
    /// The instance sent its first bytes, now passed to the client.
    Answered,
    /// The client sent more than can be replayed: stay with this attempt.
    Committed,
    /// The instance closed, reset or stayed silent for the whole wait.
    None,
    ClientGone,
}

/// Forwards (and keeps) client bytes until the instance sends its first.
fn first_answer(
    client: &TcpStream,
    upstream: &TcpStream,
    replay: &mut Replay,
    wait: Duration,
) -> Answer {
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 16 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Answer::None;
        }
        let timeout = Timespec::try_from(left).unwrap_or(Timespec {
            tv_sec: 1,
            tv_nsec: 0,
        });
        let mut fds = vec![PollFd::new(upstream, PollFlags::IN)];
        if !replay.eof {
            fds.push(PollFd::new(client, PollFlags::IN));
        }
        match poll(&mut fds, Some(&timeout)) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return Answer::None,
        }
        let upstream_ready = !fds[0].revents().is_empty();
        let client_ready = fds.get(1).is_some_and(|fd| !fd.revents().is_empty());
        if upstream_ready {
            return match (&*upstream).read(&mut buf) {
                Ok(0) | Err(_) => Answer::None,
                Ok(n) => match (&*client).write_all(&buf[..n]) {
                    Ok(()) => Answer::Answered,
                    Err(_) => Answer::ClientGone,
                },
            };
        }
        if client_ready {
            match (&*client).read(&mut buf) {
                // A client that leaves without sending a byte (a port
                // probe) is owed nothing; retrying for it would keep the
                // instance busy.
                Ok(0) if replay.bytes.is_empty() => return Answer::ClientGone,
                Ok(0) => {
                    replay.eof = true;
                    let _ = upstream.shutdown(Shutdown::Write);
                }
                Ok(n) => {
                    replay.bytes.extend_from_slice(&buf[..n]);
                    if (&*upstream).write_all(&buf[..n]).is_err() {
                        return Answer::None;
                    }
                    if replay.bytes.len() > REPLAY_LIMIT {
                        return Answer::Committed;
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Answer::ClientGone,
            }
        }
    }
}

/// Copies both ways until both directions have ended; each side's end of
/// sending is passed on as a half-close, so request/response protocols
/// that signal "done" with a FIN keep working.
fn pipe(client: &TcpStream, upstream: &TcpStream) {
    thread::scope(|scope| {
        scope.spawn(|| copy(client, upstream));
        copy(upstream, client);
    });
}

fn copy(from: &TcpStream, to: &TcpStream) {
    let mut buf = [0u8; 64 * 1024];
    loop {
        match (&*from).read(&mut buf) {
            Ok(0) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => {
                if (&*to).write_all(&buf[..n]).is_err() {
                    // The receiver is gone: end the other direction too.
                    let _ = from.shutdown(Shutdown::Both);
                    return;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => {
                let _ = to.shutdown(Shutdown::Both);
                return;
            }
        }
    }
}
