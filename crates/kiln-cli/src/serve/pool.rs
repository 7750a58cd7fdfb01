//! The instances `kiln serve` runs: booting, choosing one for a connection,
//! and stopping idle ones.
//!
//! Each instance is a child `kiln run` publishing the guest port on a
//! private loopback port. Everything is under one mutex: the decisions are
//! a few comparisons, and holding the lock while one is taken is what makes
//! "a connection never goes to an instance being stopped" true.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use kiln_monitor::clock::format_ns;

use crate::instance::SUPERVISOR_ENV;

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
}

struct State {
    instances: Vec<Instance>,
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
}

/// A command to spawn, and where to send the result.
type SpawnRequest = (Command, Sender<std::io::Result<Child>>);

/// A connection's claim on an instance, released by [`Pool::release`].
pub struct Lease {
    pub number: u64,
    pub addr: SocketAddr,
    /// The instance had answered before: connect and proxy, no replay.
    pub ready: bool,
}

impl Pool {
    /// An empty pool and its reaper thread.
    pub fn start(plan: Plan) -> Arc<Pool> {
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
                booted: 0,
                shutting_down: false,
            }),
            wake: Condvar::new(),
            spawner: Mutex::new(spawner),
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
            });
        }
        // Spawning takes about a millisecond; doing it under the lock keeps
        // a burst of connections from booting more than one instance each.
        let number = state.booted + 1;
        let mut instance = self.boot(number)?;
        state.booted = number;
        instance.active = 1;
        let lease = Lease {
            number,
            addr: instance.addr,
            ready: false,
        };
        state.instances.push(instance);
        Ok(lease)
    }

    fn boot(&self, number: u64) -> Result<Instance, String> {
        // The kernel's free port; the child binds it a moment later (a
        // lost race makes the child fail, and the connection boots again).
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free loopback port: {e}"))?
            .port();
        let exe = std::env::current_exe().map_err(|e| format!("cannot find kiln itself: {e}"))?;
        let mut command = Command::new(exe);
        command
            .arg("run")
            .args(&self.plan.run_args)
            .arg("-p")
            .arg(format!("127.0.0.1:{port}:{}", self.plan.guest_port))
            .arg("--")
            .args(&self.plan.guest_args)
            // The monitor dies with us even if we are killed outright.
            .env(SUPERVISOR_ENV, std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        let (reply, result) = channel();
        let sent = self
            .spawner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send((command, reply));
        let child = sent
            .ok()
            .and_then(|()| result.recv().ok())
            .ok_or("the spawner thread is gone")?
            .map_err(|e| format!("cannot start kiln run: {e}"))?;
        let now = Instant::now();
        Ok(Instance {
            number,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            child,
            started: now,
            active: 0,
            ready: false,
            idle_since: now,
        })
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
                state.instances.remove(index);
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

    /// Stops instances idle for `--idle`. Removing one from the pool and
    /// choosing one for a connection happen under the same lock, so a
    /// connection arriving now goes to another instance or a new one.
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
            drop(state);
            for instance in stopping {
                let number = instance.number;
                match stop(instance) {
                    Some(status) => tell!("kiln serve: instance {number} ended ({status})"),
                    None => tell!(
                        "kiln serve: stopped instance {number} (idle {})",
                        format_ns(self.plan.idle.as_nanos() as u64)
                    ),
                }
            }
            state = self.lock();
            state = self
                .wake
                .wait_timeout(state, tick)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Stops every instance (SIGINT/SIGTERM to `kiln serve`).
    pub fn shutdown(&self) {
        let instances = {
            let mut state = self.lock();
            state.shutting_down = true;
            std::mem::take(&mut state.instances)
        };
        self.wake.notify_all();
        for instance in instances {
            let number = instance.number;
            stop(instance);
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
    crate::instance::signal(instance.child.id(), false);
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = instance.child.try_wait() {
            return None;
        }
        thread::sleep(Duration::from_millis(1));
    }
    let _ = instance.child.kill();
    let _ = instance.child.wait();
    None
}
