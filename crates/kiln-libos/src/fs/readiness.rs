//! Readiness and waiting: `poll`'s answers, epoll, and the wake-ups that
//! end their waits.

use super::*;

/// Which of `wanted`'s `poll` events `fd` has now (`POLLNVAL` if it is not open).
pub fn poll_ready(fd: i32, wanted: i16) -> i16 {
    use events::*;
    #[cfg(feature = "net")]
    if let Ok((id, _)) = socket(fd) {
        return crate::fd::socket_hooks().map_or(POLLNVAL, |net| (net.poll_ready)(id, wanted));
    }
    with(|fs| {
        if let Some(ready) = fs.unix_ready(fd, wanted) {
            return ready;
        }
        let Ok((description, _, pipes)) = fs.split(fd) else {
            return POLLNVAL;
        };
        match description.object {
            Object::Console(0) => stdin::poll(wanted),
            Object::Console(_) => wanted & POLLOUT,
            Object::PipeRead(n) => {
                let pipe = pipes[n].as_ref().expect("open ends keep their pipe");
                let mut ready = if pipe.buffered() > 0 {
                    wanted & POLLIN
                } else {
                    0
                };
                if pipe.writers == 0 {
                    ready |= POLLHUP;
                }
                ready
            }
            Object::PipeWrite(n) => {
                let pipe = pipes[n].as_ref().expect("open ends keep their pipe");
                let mut ready = if pipe.has_room() { wanted & POLLOUT } else { 0 };
                if pipe.readers == 0 {
                    ready |= POLLERR;
                }
                ready
            }
            // Asked below, without the file lock.
            #[cfg(feature = "net")]
            Object::Socket(_) => 0,
            Object::EventFd { count, .. } => {
                let mut ready = if count > 0 { wanted & POLLIN } else { 0 };
                if count < event::EVENTFD_MAX {
                    ready |= wanted & POLLOUT;
                }
                ready
            }
            Object::Pair { read, write } => {
                let incoming = pipes[read].as_ref().expect("open ends keep their pipe");
                let outgoing = pipes[write].as_ref().expect("open ends keep their pipe");
                let mut ready = 0;
                if incoming.buffered() > 0 || incoming.writers == 0 {
                    ready |= wanted & POLLIN;
                }
                if outgoing.has_room() || outgoing.readers == 0 {
                    ready |= wanted & POLLOUT;
                }
                if incoming.writers == 0 && outgoing.readers == 0 {
                    ready |= POLLHUP;
                }
                ready
            }
            Object::Inotify(ref instance) if instance.is_readable() => wanted & POLLIN,
            Object::Inotify(_) => 0,
            // Nested epoll instances are not supported: never ready.
            Object::Epoll(_) => 0,
            _ => wanted & (POLLIN | POLLOUT),
        }
    })
}

/// `epoll_create1(2)` (`cloexec`: `EPOLL_CLOEXEC`).
pub fn epoll_create(cloexec: bool) -> Result<i32> {
    with(|fs| fs.install(Object::Epoll(Vec::new()), Vec::new(), O_RDWR, 0, cloexec))
}

/// `epoll_ctl(2)`: `op` is `EPOLL_CTL_ADD`, `_MOD` or `_DEL`; `events`
/// and `data` are the `epoll_event` (ignored for `_DEL`).
pub fn epoll_ctl(epfd: i32, op: i32, fd: i32, events: u32, data: u64) -> Result<()> {
    use event::bits::*;
    let result = with(|fs| {
        let target = fs.fd(fd)?.description;
        let own = fs.fd(epfd)?.description;
        let target_object = &fs.descriptions[target]
            .as_ref()
            .expect("descriptors refer to live descriptions")
            .object;
        // As Linux: regular files and directories cannot be watched.
        if matches!(
            target_object,
            Object::File(_) | Object::Dir { .. } | Object::Volume { .. }
        ) {
            return Err(Errno(kiln_abi::errno::EPERM));
        }
        let nested = matches!(target_object, Object::Epoll(_));
        let description = fs.descriptions[own]
            .as_mut()
            .expect("descriptors refer to live descriptions");
        let Object::Epoll(interests) = &mut description.object else {
            return Err(Errno(EINVAL));
        };
        if fd == epfd || (nested && op != EPOLL_CTL_DEL) {
            return Err(Errno(EINVAL));
        }
        let found = interests
            .iter()
            .position(|i| i.fd == fd && i.description == target);
        match (op, found) {
            (EPOLL_CTL_ADD, Some(_)) => Err(Errno(EEXIST)),
            (EPOLL_CTL_ADD, None) => {
                interests.push(event::Interest {
                    fd,
                    description: target,
                    events,
                    data,
                    reported: 0,
                    epoch: 0,
                });
                Ok(())
            }
            (EPOLL_CTL_MOD, Some(at)) => {
                let interest = &mut interests[at];
                interest.events = events;
                interest.data = data;
                interest.reported = 0;
                Ok(())
            }
            (EPOLL_CTL_DEL, Some(at)) => {
                interests.remove(at);
                Ok(())
            }
            (EPOLL_CTL_MOD | EPOLL_CTL_DEL, None) => Err(Errno(ENOENT)),
            _ => Err(Errno(EINVAL)),
        }
    });
    // As Linux: a descriptor that is ready already when it is added (or
    // changed) wakes the threads waiting in `epoll_wait`, which look again.
    // A loopback connection can be made before the program registers it,
    // and then nothing else would change to wake them.
    if result.is_ok() && op != EPOLL_CTL_DEL {
        crate::fd::wake_pollers();
    }
    result
}

/// `epoll_wait(2)`: fills `out` with the ready registrations, waiting
/// until one is ready or `deadline` (ns since boot) passes (then 0).
pub fn epoll_wait(epfd: i32, out: &mut [Event], deadline: u64) -> Result<usize> {
    if out.is_empty() {
        return Err(Errno(EINVAL));
    }
    loop {
        let start = crate::fd::changes();
        let watched: Vec<(i32, usize, i16)> = with(|fs| match &fs.description(epfd)?.object {
            Object::Epoll(interests) => Ok(interests
                .iter()
                .map(|i| (i.fd, i.description, event::poll_wanted(i.events)))
                .collect()),
            _ => Err(Errno(EINVAL)),
        })?;
        // Asked without the file lock: a socket's readiness takes it.
        let ready: Vec<i16> = watched
            .iter()
            .map(|&(fd, _, wanted)| poll_ready(fd, wanted))
            .collect();
        let count = with(|fs| {
            let Ok(index) = fs.fd(epfd).map(|fd| fd.description) else {
                return 0;
            };
            let Some(Description {
                object: Object::Epoll(interests),
                ..
            }) = &fs.descriptions[index]
            else {
                return 0;
            };
            // Another thread may have added, changed or removed a
            // registration meanwhile (a runtime's workers do, while its
            // driver waits here): each answer goes to the registration it
            // was asked for, found by position while the list is as it
            // was, else searched. Handing one registration its neighbour's
            // answer would report a readiness it does not have and spend an
            // edge it does. One added since waits for the next look.
            let answers: Vec<Option<i16>> = interests
                .iter()
                .enumerate()
                .map(|(at, interest)| {
                    let key = (
                        interest.fd,
                        interest.description,
                        event::poll_wanted(interest.events),
                    );
                    match watched.get(at) {
                        Some(&asked) if asked == key => Some(ready[at]),
                        _ => watched
                            .iter()
                            .position(|&asked| asked == key)
                            .map(|i| ready[i]),
                    }
                })
                .collect();
            // What has changed each registered description since its last
            // report: sockets share the stack's count, read before asking.
            let generations: Vec<u64> = interests
                .iter()
                .map(|interest| fs.generation(interest.description, start))
                .collect();
            let Some(Description {
                object: Object::Epoll(interests),
                ..
            }) = &mut fs.descriptions[index]
            else {
                return 0;
            };
            let mut count = 0;
            for ((interest, &answer), &generation) in
                interests.iter_mut().zip(&answers).zip(&generations)
            {
                if count == out.len() {
                    break;
                }
                let Some(ready) = answer else { continue };
                let events = interest.report(ready & !events::POLLNVAL, generation);
                if events != 0 {
                    out[count] = Event {
                        events,
                        data: interest.data,
                    };
                    count += 1;
                }
            }
            count
        });
        if count > 0 || crate::clock::Instant::now().as_nanos_since_boot() >= deadline {
            return Ok(count);
        }
        // Something changed while looking: look again before waiting.
        wait_for_change(start, deadline);
    }
}
