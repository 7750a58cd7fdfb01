//! The instances `kiln serve` runs: booting, choosing one for a connection,
//! and stopping idle ones.
//!
//! Each instance is a child `kiln run` publishing the guest port on a
//! private loopback port, started ahead as a [`Spare`] when it can be.
//! Everything is under one mutex: the decisions are a few comparisons, and
//! holding the lock while one is taken is what makes "a connection never
//! goes to an instance being stopped" true.

use std::net::SocketAddr;
use std::process::{Child, Command};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use kiln_monitor::clock::format_ns;

use super::records::Records;
use super::spare::{Recipe, Spare};
use crate::instance::Instance as Record;

/// How long after an instance first answered the next spare is started:
/// starting one (a `kiln run` and its passt, ~10 ms of CPU) while the new
/// instance sends its first response would slow that response down.
const SPARE_DELAY: Duration = Duration::from_millis(20);

/// What to boot, and when to boot and stop.
pub struct Plan {
    /// `kiln run` flags and the image, without `-p`.
    pub run_args: Vec<String>,
    /// Arguments for the guest program.
    pub guest_args: Vec<String>,
    /// The guest port to publish.
    pub guest_port: u16,
    /// Stop an instance after this long without a connection.
    pub idle: Duration,
    /// At most this many instances at once.
    pub max: usize,
    /// Keep a monitor prepared for the next boot.
    pub spare: bool,
}

/// One running (or booting) instance.
struct Instance {
    /// Counts from 1, for the messages.
    number: u64,
    /// Where its guest port is published.
    addr: SocketAddr,
    child: Child,
    started: Instant,
    /// Connections proxied to it now.
    active: usize,
    /// Whether it has answered a connection (then no handshake is needed).
    ready: bool,
    /// When its last connection ended.
    idle_since: Instant,
    /// Its entry in the instance store.
    record: Option<Record>,
}

struct State {
    instances: Vec<Instance>,
    /// The monitor prepared for the next boot.
    spare: Option<Spare>,
    /// When an instance last answered for the first time.
    last_ready: Option<Instant>,
    booted: u64,
    shutting_down: bool,
}

/// The instances, shared by the connection threads and the reaper.
pub struct Pool {
    plan: Plan,
    state: Mutex<State>,
    /// Wakes the reaper early on shutdown.
    wake: Condvar,
    /// Asks the spawner thread for a child.
    spawner: Mutex<Sender<SpawnRequest>>,
    records: Records,
}

/// A command to spawn, and where to send the result.
type SpawnRequest = (Command, Sender<std::io::Result<Child>>);

/// A connection's claim on an instance, released by [`Pool::release`].
pub struct Lease {
    pub number: u64,
    pub addr: SocketAddr,
    /// The instance had answered before: connect and proxy, no replay.
    pub ready: bool,
    /// This connection booted the instance.
    pub booted: bool,
}

impl Pool {
    /// An empty pool and its reaper thread (which also keeps the spare).
    pub fn start(plan: Plan, records: Records) -> Arc<Pool> {
        // A child's monitor dies with the *thread* that spawned it (the
        // parent-death signal it sets follows the thread), so children are
        // spawned by one thread that lives as long as kiln serve, not by
        // the connection threads.
        let (spawner, requests) = channel::<SpawnRequest>();
        thread::spawn(move || {
            for (mut command, reply) in requests {
                let _ = reply.send(command.spawn());
            }
        });
        let pool = Arc::new(Pool {
            plan,
            state: Mutex::new(State {
                instances: Vec::new(),
                spare: None,
                last_ready: None,
                booted: 0,
                shutting_down: false,
            }),
            wake: Condvar::new(),
            spawner: Mutex::new(spawner),
            records,
        });
        let reaper = Arc::clone(&pool);
        thread::spawn(move || reaper.reap());
        pool
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking connection thread must not take the whole server down.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An instance for a new connection. The rule: the idle instance if
    /// there is one; else boot another while under `--max`; else the one
    /// with the fewest connections.
    pub fn acquire(&self) -> Result<Lease, String> {
        let mut state = self.lock();
        if state.shutting_down {
            return Err("shutting down".into());
        }
        let room = state.instances.len() < self.plan.max;
        let least = state
            .instances
            .iter_mut()
            .min_by_key(|i| (i.active, !i.ready));
        let pick = match least {
            Some(i) if i.active == 0 => Some(i),
            Some(_) if room => None,
            other => other,
        };
        if let Some(instance) = pick {
            instance.active += 1;
            return Ok(Lease {
                number: instance.number,
                addr: instance.addr,
                ready: instance.ready,
                booted: false,
            });
        }
        // Booting takes a write to the spare, or a spawn (about a
        // millisecond) without one; doing it under the lock keeps a burst
        // of connections from booting more than one instance each.
        let number = state.booted + 1;
        let spare = state.spare.take();
        let mut instance = self.boot(number, spare)?;
        state.booted = number;
        instance.active = 1;
        let lease = Lease {
            number,
            addr: instance.addr,
            ready: false,
            booted: true,
        };
        state.instances.push(instance);
        Ok(lease)
    }

    /// Boots instance `number` on the spare, or on a new monitor if there
    /// is none or it has ended.
    fn boot(&self, number: u64, spare: Option<Spare>) -> Result<Instance, String> {
        let started = Instant::now();
        let (addr, child) = match spare.map(Spare::boot) {
            Some(Ok(booted)) => booted,
            Some(Err((why, child))) => {
                tell!("kiln serve: {why}; starting another");
                reap(child);
                self.boot_new()?
            }
            None => self.boot_new()?,
        };
        let record = self.records.add(child.id());
        Ok(Instance {
            number,
            addr,
            child,
            started,
            active: 0,
            ready: false,
            idle_since: started,
            record,
        })
    }

    /// A new monitor, told to boot at once.
    fn boot_new(&self) -> Result<(SocketAddr, Child), String> {
        self.prepare()?.boot().map_err(|(why, child)| {
            reap(child);
            why
        })
    }

    /// A new monitor, waiting for the order to boot.
    fn prepare(&self) -> Result<Spare, String> {
        let (command, addr) = Spare::command(&Recipe {
            run_args: &self.plan.run_args,
            guest_args: &self.plan.guest_args,
            guest_port: self.plan.guest_port,
        })?;
        Spare::new(self.spawn(command)?, addr)
    }

    /// Spawns `command` on the spawner thread.
    fn spawn(&self, command: Command) -> Result<Child, String> {
        let (reply, result) = channel();
        let sent = self
            .spawner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send((command, reply));
        sent.ok()
            .and_then(|()| result.recv().ok())
            .ok_or("the spawner thread is gone")?
            .map_err(|e| format!("cannot start kiln run: {e}"))
    }

    /// Records that instance `number` answered a connection (the first
    /// time, that is its boot time).
    pub fn mark_ready(&self, number: u64) {
        let mut state = self.lock();
        if let Some(i) = state.instances.iter_mut().find(|i| i.number == number)
            && !i.ready
        {
            i.ready = true;
            let ns = i.started.elapsed().as_nanos() as u64;
            tell!("kiln serve: started instance {number} ({})", format_ns(ns));
            state.last_ready = Some(Instant::now());
        }
    }

    /// Whether instance `number` is still there to connect to (a connection
    /// stops retrying an instance that ended).
    pub fn is_running(&self, number: u64) -> bool {
        let mut state = self.lock();
        let Some(index) = state.instances.iter().position(|i| i.number == number) else {
            return false;
        };
        match state.instances[index].child.try_wait() {
            Ok(None) => true,
            Ok(Some(status)) => {
                let instance = state.instances.remove(index);
                drop(state);
                self.forget(&instance);
                tell!("kiln serve: instance {number} ended ({status})");
                false
            }
            Err(_) => false,
        }
    }

    /// Ends a connection's claim.
    pub fn release(&self, number: u64) {
        let mut state = self.lock();
        if let Some(i) = state.instances.iter_mut().find(|i| i.number == number) {
            i.active -= 1;
            if i.active == 0 {
                i.idle_since = Instant::now();
            }
        }
    }

    /// Stops instances idle for `--idle`, and keeps a spare ready while no
    /// instance boots or has just booted (a spare started then would
    /// compete with it for the CPU).
    fn reap(&self) {
        let tick = (self.plan.idle / 4).clamp(Duration::from_millis(5), Duration::from_secs(1));
        let mut state = self.lock();
        while !state.shutting_down {
            let now = Instant::now();
            let mut stopping = Vec::new();
            let mut index = 0;
            while index < state.instances.len() {
                let i = &mut state.instances[index];
                let idle = i.active == 0 && now.duration_since(i.idle_since) >= self.plan.idle;
                if idle || matches!(i.child.try_wait(), Ok(Some(_))) {
                    stopping.push(state.instances.remove(index));
                } else {
                    index += 1;
                }
            }
            if let Some(spare) = &mut state.spare
                && !matches!(spare.child.try_wait(), Ok(None))
            {
                tell!("kiln serve: the prepared monitor ended; starting another");
                state.spare = None;
            }
            let settled = state.last_ready.map(|t| t + SPARE_DELAY);
            let want_spare = self.plan.spare
                && state.spare.is_none()
                && state.instances.iter().all(|i| i.ready)
                && settled.is_none_or(|t| now >= t);
            drop(state);
            for instance in stopping {
                let number = instance.number;
                let record = instance.record.clone();
                let ended = stop(instance);
                if let Some(record) = &record {
                    self.records.remove(record);
                }
                match ended {
                    Some(status) => tell!("kiln serve: instance {number} ended ({status})"),
                    None => tell!(
                        "kiln serve: stopped instance {number} (idle {})",
                        format_ns(self.plan.idle.as_nanos() as u64)
                    ),
                }
            }
            let spare = if want_spare {
                self.prepare()
                    .map_err(|why| tell!("kiln serve: cannot prepare a monitor: {why}"))
                    .ok()
            } else {
                None
            };
            state = self.lock();
            if let Some(spare) = spare {
                if state.shutting_down || state.spare.is_some() {
                    drop(state);
                    stop_child(spare.child);
                    state = self.lock();
                } else {
                    state.spare = Some(spare);
                }
            }
            // A spare put off until the last boot settles is made then.
            let left = settled.and_then(|t| t.checked_duration_since(Instant::now()));
            let wait = match left {
                Some(left) if self.plan.spare && state.spare.is_none() => tick.min(left),
                _ => tick,
            };
            state = self
                .wake
                .wait_timeout(state, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Deletes an ended instance's record.
    fn forget(&self, instance: &Instance) {
        if let Some(record) = &instance.record {
            self.records.remove(record);
        }
    }

    /// Stops every instance and the spare (SIGINT/SIGTERM to `kiln serve`).
    pub fn shutdown(&self) {
        let (instances, spare) = {
            let mut state = self.lock();
            state.shutting_down = true;
            (std::mem::take(&mut state.instances), state.spare.take())
        };
        self.wake.notify_all();
        if let Some(spare) = spare {
            stop_child(spare.child);
        }
        for instance in instances {
            let number = instance.number;
            let record = instance.record.clone();
            stop(instance);
            if let Some(record) = &record {
                self.records.remove(record);
            }
            tell!("kiln serve: stopped instance {number} (shutting down)");
        }
    }
}

/// Stops an instance's monitor: SIGTERM, then SIGKILL if it lingers.
/// Returns its status if it had already ended on its own.
fn stop(mut instance: Instance) -> Option<std::process::ExitStatus> {
    if let Ok(Some(status)) = instance.child.try_wait() {
        return Some(status);
    }
    stop_child(instance.child);
    None
}

/// SIGTERM, then SIGKILL if it lingers, and reaps it.
fn stop_child(mut child: Child) {
    crate::instance::signal(child.id(), false);
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        thread::sleep(Duration::from_millis(1));
    }
    reap(child);
}

/// Kills and reaps a child whatever it is doing.
fn reap(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}
