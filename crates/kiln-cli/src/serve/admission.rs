//! Admission: accepting connections so that idle or abusive clients cannot
//! starve real ones, nor make `kiln serve` spin or grow.
//!
//! One thread accepts, and holds every connection that has not sent its
//! first byte yet: watched with the listener in one epoll set, it costs a
//! descriptor and a few bytes, no thread and no instance (`kiln serve` is
//! for protocols whose client speaks first: HTTP, gRPC, Redis...). A
//! connection that sends is handed to a thread of its own, which leases it
//! an instance and proxies it ([`super::proxy`]); one that sends nothing
//! within the handshake timeout, or closes first, is closed. Held and
//! proxied connections together are bounded (`--max-connections`, lowered
//! to fit the descriptor limit: two descriptors each, and a reserve for
//! the instances): at the bound a new connection evicts the longest-held
//! silent one, and when every connection is proxied, accepting pauses
//! until one ends, leaving the rest in the kernel's backlog. A failed
//! `accept` (no descriptors left) evicts a held connection, or backs off;
//! it never spins.
//!
//! Why not an async runtime: a held connection is the only kind there can
//! be many of, and one epoll set serves them; a proxied one is
//! bounded, and its hand-over (replaying a request to a booting instance)
//! is simplest as the blocking code it is.

use std::collections::{HashMap, VecDeque};
use std::io::ErrorKind;
use std::net::{TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use rustix::buffer::spare_capacity;
use rustix::event::Timespec;
use rustix::event::epoll::{self, EventData, EventFlags};
use rustix::net::RecvFlags;

use super::pool::Pool;
use super::proxy;

/// Descriptors kept for everything but connections: the listener, the
/// instances' pipes and processes, the spare, the state files.
const RESERVED_FDS: u64 = 64;
/// The first wait after `accept` failed for want of descriptors, and the
/// longest (it doubles).
const FIRST_BACKOFF: Duration = Duration::from_millis(5);
const MAX_BACKOFF: Duration = Duration::from_millis(200);
/// How often a paused accept loop looks whether a proxied connection ended.
const PAUSE_CHECK: Duration = Duration::from_millis(20);

/// The bounds on connections.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Held and proxied connections at once, at most.
    pub max: usize,
    /// How long a connection may stay silent before its first byte.
    pub handshake: Duration,
    /// How long a proxied connection may carry nothing either way.
    pub idle: Duration,
}

/// The connections that have not sent anything yet, in an epoll set
/// (one wake-up costs the same beside 10 held connections as beside
/// 10,000), oldest first for eviction and the handshake timeout.
struct Held {
    epoll: OwnedFd,
    /// By token: the stream.
    streams: HashMap<u64, TcpStream>,
    /// Tokens in arrival order, with arrival times; a token whose stream
    /// was dispatched is skipped when met.
    order: VecDeque<(u64, Instant)>,
    next_token: u64,
}

/// The listener's token in the epoll set.
const LISTENER: u64 = u64::MAX;

impl Held {
    fn len(&self) -> usize {
        self.streams.len()
    }

    fn push(&mut self, stream: TcpStream) {
        let token = self.next_token;
        self.next_token += 1;
        // Not watched, it could never be dispatched: it is closed instead.
        if epoll::add(
            &self.epoll,
            &stream,
            EventData::new_u64(token),
            EventFlags::IN,
        )
        .is_ok()
        {
            self.streams.insert(token, stream);
            self.order.push_back((token, Instant::now()));
        }
    }

    /// The stream of `token`, out of the set.
    fn take(&mut self, token: u64) -> Option<TcpStream> {
        let stream = self.streams.remove(&token)?;
        let _ = epoll::delete(&self.epoll, &stream);
        Some(stream)
    }

    /// The oldest held connection's arrival, skipping dispatched ones.
    fn oldest(&mut self) -> Option<Instant> {
        while let Some(&(token, since)) = self.order.front() {
            if self.streams.contains_key(&token) {
                return Some(since);
            }
            self.order.pop_front();
        }
        None
    }

    /// Closes the oldest held connection; whether there was one.
    fn evict(&mut self) -> bool {
        self.oldest().is_some()
            && self
                .order
                .pop_front()
                .and_then(|(token, _)| self.take(token))
                .is_some()
    }
}

/// Accepts and dispatches connections until the process ends (a signal);
/// returns only if the listener cannot be set up.
pub fn run(listener: &TcpListener, pool: &Arc<Pool>, limits: Limits) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let mut held = Held {
        epoll: epoll::create(epoll::CreateFlags::CLOEXEC)?,
        streams: HashMap::new(),
        order: VecDeque::new(),
        next_token: 0,
    };
    epoll::add(
        &held.epoll,
        listener,
        EventData::new_u64(LISTENER),
        EventFlags::IN,
    )?;
    let mut listening = true;
    let proxied = Arc::new(AtomicUsize::new(0));
    let mut backoff = FIRST_BACKOFF;
    let mut resume_at: Option<Instant> = None;
    let mut events = Vec::with_capacity(256);
    loop {
        let now = Instant::now();
        let bound = bound(limits.max);
        // At the bound with nothing to evict, new connections wait in the
        // backlog until a proxied one ends.
        let full = proxied.load(Ordering::Acquire) >= bound && held.len() == 0;
        let accepting = !full && resume_at.is_none_or(|t| now >= t);
        if accepting != listening {
            // Level-triggered: a listener watched but not accepted from
            // would wake the loop at once, forever.
            let flags = if accepting {
                EventFlags::IN
            } else {
                EventFlags::empty()
            };
            epoll::modify(&held.epoll, listener, EventData::new_u64(LISTENER), flags)?;
            listening = accepting;
        }
        let mut wake = held.oldest().map(|since| since + limits.handshake);
        if full {
            wake = Some(wake.map_or(now + PAUSE_CHECK, |w| w.min(now + PAUSE_CHECK)));
        }
        if let Some(t) = resume_at.filter(|_| !accepting) {
            wake = Some(wake.map_or(t, |w| w.min(t)));
        }
        let timeout = wake.map(|w| {
            Timespec::try_from(w.saturating_duration_since(now)).unwrap_or(Timespec {
                tv_sec: 1,
                tv_nsec: 0,
            })
        });
        events.clear();
        match epoll::wait(&held.epoll, spare_capacity(&mut events), timeout.as_ref()) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => {
                tell!("kiln serve: waiting for connections: {e}");
                thread::sleep(MAX_BACKOFF);
            }
        }
        let mut listener_ready = false;
        for event in &events {
            let data = event.data;
            let token = data.u64();
            if token == LISTENER {
                listener_ready = accepting;
            } else if let Some(stream) = held.take(token)
                && has_sent(&stream)
            {
                dispatch(pool, &proxied, stream, limits.idle);
            }
        }
        let now = Instant::now();
        while held
            .oldest()
            .is_some_and(|since| now >= since + limits.handshake)
        {
            held.evict();
        }
        if resume_at.is_some_and(|t| now >= t) {
            resume_at = None;
        }
        if listener_ready {
            accept_all(
                listener,
                &mut held,
                &proxied,
                bound,
                &mut backoff,
                &mut resume_at,
            );
        }
    }
}

/// Accepts what the backlog holds, within the bound.
fn accept_all(
    listener: &TcpListener,
    held: &mut Held,
    proxied: &AtomicUsize,
    bound: usize,
    backoff: &mut Duration,
    resume_at: &mut Option<Instant>,
) {
    loop {
        // Room for the newcomer: the longest-silent connection goes.
        if proxied.load(Ordering::Acquire) + held.len() >= bound && !held.evict() {
            return;
        }
        match listener.accept() {
            Ok((stream, _)) => {
                *backoff = FIRST_BACKOFF;
                held.push(stream);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if out_of_descriptors(&e) => {
                if !held.evict() {
                    *resume_at = Some(Instant::now() + *backoff);
                    *backoff = (*backoff * 2).min(MAX_BACKOFF);
                    return;
                }
            }
            // The client reset before it was accepted: that one only.
            Err(_) => {}
        }
    }
}

fn out_of_descriptors(error: &std::io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Whether a readable connection has bytes for us (not just its close).
fn has_sent(stream: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        rustix::net::recv(stream, &mut byte, RecvFlags::PEEK | RecvFlags::DONTWAIT),
        Ok((n, _)) if n > 0
    )
}

/// One proxied connection in the count, for as long as it lives.
struct Counted(Arc<AtomicUsize>);

impl Counted {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        Self(Arc::clone(count))
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Proxies `stream` on a thread of its own, counted while it runs.
fn dispatch(pool: &Arc<Pool>, proxied: &Arc<AtomicUsize>, stream: TcpStream, idle: Duration) {
    let counted = Counted::new(proxied);
    let pool = Arc::clone(pool);
    let spawned = thread::Builder::new().spawn(move || {
        let _counted = counted;
        proxy::serve(&pool, stream, idle);
    });
    // Without a thread, the connection (and its count) went with the closure.
    if let Err(e) = spawned {
        tell!("kiln serve: dropped a connection: no thread for it: {e}");
    }
}

/// The connections this process can hold now: `max`, lowered to what its
/// descriptor limit leaves after the reserve, two descriptors each.
fn bound(max: usize) -> usize {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX);
    let fit = usize::try_from(limit.saturating_sub(RESERVED_FDS) / 2).unwrap_or(usize::MAX);
    max.min(fit).max(1)
}
