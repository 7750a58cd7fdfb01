//! The task service: the containers of one shim (one, or a CRI pod's),
//! each one's process `kiln run` (or the pod holder).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use containerd_shim::api::{self, Status};
use containerd_shim::event::Event;
use containerd_shim::mount::{mount_rootfs, umount_recursive};
use containerd_shim::protos::events::task::{TaskCreate, TaskDelete, TaskExit, TaskIO, TaskStart};
use containerd_shim::protos::protobuf::MessageField;
use containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim::protos::ttrpc::{self, Code};
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::synchronous::monitor::{Subscription, wait_pid};
use containerd_shim::{Context, ExitSignal, TtrpcContext, TtrpcResult, error, info, warn};

use crate::answers::Gate;
use crate::holder;
use crate::netns::{self, NetNs};
use crate::process::{Spawner, Stdio3, find_kiln, run_to_end};
use crate::spec::{GuestNetwork, Spec};
use crate::stats;

/// Where the task's process is in its life.
#[derive(Clone, Copy)]
enum Phase {
    /// Created, not started: no process yet.
    Created,
    /// The monitor runs as this pid.
    Running { pid: u32 },
    /// The monitor (if there was one) ended with this code.
    Stopped { pid: u32, code: u32, at: SystemTime },
}

/// A container this shim runs.
struct Container {
    id: String,
    bundle: PathBuf,
    stdin: String,
    stdout: String,
    stderr: String,
    /// The task's program (`kiln`, or this shim as the pod holder).
    program: PathBuf,
    args: Vec<std::ffi::OsString>,
    /// The network namespace the program starts in, if not the shim's.
    netns: Option<NetNs>,
    /// Whether the guest's TAP device was made in `netns` (and must go).
    linked: bool,
    /// A pod's sandbox: nothing is mounted, the holder runs.
    sandbox: bool,
    phase: Phase,
}

impl Container {
    fn rootfs(&self) -> PathBuf {
        self.bundle.join("rootfs")
    }

    fn pid(&self) -> u32 {
        match self.phase {
            Phase::Created => 0,
            Phase::Running { pid } | Phase::Stopped { pid, .. } => pid,
        }
    }
}

/// State shared by the request threads and the exit waiter.
#[derive(Default)]
struct Shared {
    /// By id.
    containers: Mutex<HashMap<String, Container>>,
    /// Signalled when a container stops.
    stopped: Condvar,
}

/// The ttrpc `Task` service.
pub struct Service {
    namespace: String,
    exit: Arc<ExitSignal>,
    shared: Arc<Shared>,
    events: Sender<Box<dyn Event + Send>>,
    spawner: Spawner,
    /// Kill calls not yet answered: an exit is shown only after them.
    gate: Arc<Gate>,
}

impl Service {
    /// The service, publishing events to containerd in order from a thread
    /// of its own (so no request waits on containerd while holding a lock),
    /// each once the Kill calls begun before it are answered (an exit event
    /// must not overtake the answer to the Kill that caused it).
    pub fn new(
        namespace: String,
        exit: Arc<ExitSignal>,
        gate: Arc<Gate>,
        publisher: RemotePublisher,
    ) -> Self {
        let (events, queue) = channel::<Box<dyn Event + Send>>();
        let ns = namespace.clone();
        let answered = Arc::clone(&gate);
        std::thread::Builder::new()
            .name("events".into())
            .spawn(move || {
                for event in queue {
                    answered.wait_idle();
                    let topic = event.topic();
                    if let Err(e) = publisher.publish(Context::default(), &topic, &ns, event) {
                        error!("publish {topic}: {e}");
                    }
                }
            })
            .expect("start the event thread");
        Self {
            namespace,
            exit,
            shared: Arc::default(),
            events,
            spawner: Spawner::new(),
            gate,
        }
    }

    fn publish(&self, event: impl Event + Send + 'static) {
        if self.events.send(Box::new(event)).is_err() {
            error!("the event thread is gone");
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Container>> {
        self.shared
            .containers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for the monitor's exit in a thread, then records it and
    /// publishes `/tasks/exit`.
    fn watch(&self, id: String, pid: u32, subscription: Subscription) {
        let shared = Arc::clone(&self.shared);
        let events = self.events.clone();
        std::thread::spawn(move || {
            let code = wait_pid(pid as i32, subscription) as u32;
            let at = SystemTime::now();
            let mut guard = shared.containers.lock().unwrap_or_else(|e| e.into_inner());
            let Some(container) = guard.get_mut(&id) else {
                return;
            };
            container.phase = Phase::Stopped { pid, code, at };
            info!("{}: pid {pid} exited with {code}", container.id);
            let exit = TaskExit {
                container_id: container.id.clone(),
                id: container.id.clone(),
                pid,
                exit_status: code,
                exited_at: MessageField::some(timestamp(at)),
                ..Default::default()
            };
            // Queued under the lock: after the start event, before delete.
            let _ = events.send(Box::new(exit));
            shared.stopped.notify_all();
        });
    }

    /// Kill's work: the signal to the task's process, or the end of a task
    /// not yet started.
    fn signal(&self, req: &api::KillRequest) -> TtrpcResult<api::Empty> {
        let mut guard = self.lock();
        let container = named(&mut guard, &req.id)?;
        match container.phase {
            Phase::Running { pid } => {
                info!("{}: signal {} to pid {pid}", container.id, req.signal);
                // SAFETY: kill(2) takes no pointers and touches no memory
                // of this process. (The pid is our child; once reaped, the
                // waiter marks it stopped under this lock, leaving only the
                // instant between the reap and that record for pid reuse.)
                if unsafe { libc::kill(pid as i32, req.signal as i32) } != 0 {
                    let e = std::io::Error::last_os_error();
                    if e.raw_os_error() == Some(libc::ESRCH) {
                        return Err(status(Code::NOT_FOUND, "process already finished"));
                    }
                    return Err(status(Code::INTERNAL, format!("kill pid {pid}: {e}")));
                }
                Ok(api::Empty::default())
            }
            Phase::Created => {
                // Nothing runs yet: the task simply ends, as killed.
                let at = SystemTime::now();
                let code = 128 + req.signal;
                container.phase = Phase::Stopped { pid: 0, code, at };
                let exit = TaskExit {
                    container_id: container.id.clone(),
                    id: container.id.clone(),
                    exit_status: code,
                    exited_at: MessageField::some(timestamp(at)),
                    ..Default::default()
                };
                self.publish(exit);
                self.shared.stopped.notify_all();
                Ok(api::Empty::default())
            }
            Phase::Stopped { .. } => Err(status(Code::NOT_FOUND, "process already finished")),
        }
    }

    fn create_container(&self, req: &api::CreateTaskRequest) -> Result<Container, String> {
        if req.terminal {
            return Err("a terminal (-t) is not supported for Kiln guests".into());
        }
        let bundle = PathBuf::from(&req.bundle);
        let spec = Spec::load(&bundle)?;
        let netns = spec.network_namespace().map(NetNs::open).transpose()?;
        let mut container = Container {
            id: req.id.clone(),
            bundle: bundle.clone(),
            stdin: req.stdin.clone(),
            stdout: req.stdout.clone(),
            stderr: req.stderr.clone(),
            program: PathBuf::new(),
            args: Vec::new(),
            netns,
            linked: false,
            sandbox: spec.is_sandbox(),
            phase: Phase::Created,
        };
        if container.sandbox {
            // The pause image's root filesystem is never used: nothing of
            // it runs, so it is not even mounted.
            container.program =
                std::env::current_exe().map_err(|e| format!("this shim's own binary: {e}"))?;
            container.args = vec![holder::HOLD.into()];
            return Ok(container);
        }
        let rootfs = bundle.join("rootfs");
        std::fs::create_dir_all(&rootfs)
            .map_err(|e| format!("create {}: {e}", rootfs.display()))?;
        for mount in &req.rootfs {
            if let Err(e) = mount_rootfs(
                Some(mount.type_.as_str()),
                Some(mount.source.as_str()),
                &mount.options,
                &rootfs,
            ) {
                unmount(&rootfs);
                return Err(format!("mount the root filesystem: {e}"));
            }
        }
        match prepare(&spec, &rootfs, container.netns.as_ref()) {
            Ok((kiln, args)) => {
                container.program = kiln;
                container.args = args;
                container.linked = container.netns.is_some();
                Ok(container)
            }
            Err(e) => {
                unmount(&rootfs);
                Err(e)
            }
        }
    }
}

/// `kiln` and its arguments for the container, once the program is known to
/// be a Kiln image; with a network namespace, the guest's TAP device made
/// and linked to the pod's interface.
fn prepare(
    spec: &Spec,
    rootfs: &std::path::Path,
    netns: Option<&NetNs>,
) -> Result<(PathBuf, Vec<std::ffi::OsString>), String> {
    let mut launch = spec.launch(rootfs)?;
    let kiln = find_kiln()?;
    let mut inspect = std::process::Command::new(&kiln);
    inspect.arg("inspect").arg(&launch.elf);
    let checked = run_to_end(inspect)?;
    if checked.code != 0 {
        let program = launch.elf.strip_prefix(rootfs).unwrap_or(&launch.elf);
        return Err(format!(
            "/{} is not a Kiln image, so runtime io.containerd.kiln.v1 cannot run it: {}",
            program.display(),
            checked.stderr.trim().trim_start_matches("kiln: error: ")
        ));
    }
    if let Some(netns) = netns {
        let address = netns.pod_address()?;
        netns.link_tap()?;
        launch.network = Some(GuestNetwork {
            tap: netns::TAP.to_string(),
            address,
            dns: spec.nameserver(),
        });
    }
    Ok((kiln, launch.kiln_args()))
}

/// Unmounts everything at and below `rootfs`.
pub fn unmount(rootfs: &std::path::Path) {
    if let Err(e) = umount_recursive(rootfs.to_str(), libc::MNT_DETACH) {
        warn!("unmount {}: {e}", rootfs.display());
    }
}

pub(crate) fn timestamp(at: SystemTime) -> Timestamp {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    Timestamp {
        seconds: since.as_secs() as i64,
        nanos: since.subsec_nanos() as i32,
        ..Default::default()
    }
}

fn status(code: Code, message: impl ToString) -> ttrpc::Error {
    ttrpc::Error::RpcStatus(ttrpc::get_status(code, message))
}

fn not_found(id: &str) -> ttrpc::Error {
    status(Code::NOT_FOUND, format!("container {id} not found"))
}

fn no_exec() -> ttrpc::Error {
    status(
        Code::UNIMPLEMENTED,
        "exec is not supported by unikernels: a Kiln guest is one program",
    )
}

/// The container named `id` in `guard`, or NotFound.
fn named<'a>(
    guard: &'a mut HashMap<String, Container>,
    id: &str,
) -> TtrpcResult<&'a mut Container> {
    guard.get_mut(id).ok_or_else(|| not_found(id))
}

fn already_exists(id: &str) -> ttrpc::Error {
    status(
        Code::ALREADY_EXISTS,
        format!("this shim already has container {id}"),
    )
}

impl containerd_shim::Task for Service {
    fn create(
        &self,
        _ctx: &TtrpcContext,
        req: api::CreateTaskRequest,
    ) -> TtrpcResult<api::CreateTaskResponse> {
        if self.lock().contains_key(&req.id) {
            return Err(already_exists(&req.id));
        }
        // Made unlocked (mounts, `kiln inspect`): the pod's other
        // containers are served meanwhile.
        let container = self
            .create_container(&req)
            .map_err(|e| status(Code::FAILED_PRECONDITION, e))?;
        let mut guard = self.lock();
        if guard.contains_key(&req.id) {
            return Err(already_exists(&req.id));
        }
        info!(
            "{}: created, will run {} {:?}",
            container.id,
            container.program.display(),
            container.args
        );
        self.publish(TaskCreate {
            container_id: req.id.clone(),
            bundle: req.bundle.clone(),
            rootfs: req.rootfs.clone(),
            io: MessageField::some(TaskIO {
                stdin: req.stdin.clone(),
                stdout: req.stdout.clone(),
                stderr: req.stderr.clone(),
                terminal: req.terminal,
                ..Default::default()
            }),
            checkpoint: req.checkpoint.clone(),
            pid: 0,
            ..Default::default()
        });
        guard.insert(req.id.clone(), container);
        Ok(api::CreateTaskResponse::default())
    }

    fn start(
        &self,
        _ctx: &TtrpcContext,
        req: api::StartRequest,
    ) -> TtrpcResult<api::StartResponse> {
        if !req.exec_id.is_empty() {
            return Err(no_exec());
        }
        let mut guard = self.lock();
        let container = named(&mut guard, &req.id)?;
        if !matches!(container.phase, Phase::Created) {
            return Err(status(
                Code::FAILED_PRECONDITION,
                format!("container {} was already started", container.id),
            ));
        }
        let stdio = Stdio3::open(&container.stdin, &container.stdout, &container.stderr)
            .map_err(|e| status(Code::INTERNAL, e))?;
        let mut command = match &container.netns {
            Some(netns) => netns.command(&container.program),
            None => std::process::Command::new(&container.program),
        };
        command.args(&container.args).current_dir(&container.bundle);
        let (pid, subscription) = self
            .spawner
            .spawn(command, stdio)
            .map_err(|e| status(Code::INTERNAL, e))?;
        container.phase = Phase::Running { pid };
        info!(
            "{}: {:?} started as pid {pid}",
            container.id,
            container.args.first()
        );
        self.publish(TaskStart {
            container_id: container.id.clone(),
            pid,
            ..Default::default()
        });
        // The waiter takes the lock to record the exit, so the exit event
        // is queued after the start event above.
        self.watch(container.id.clone(), pid, subscription);
        Ok(api::StartResponse {
            pid,
            ..Default::default()
        })
    }

    fn state(
        &self,
        _ctx: &TtrpcContext,
        req: api::StateRequest,
    ) -> TtrpcResult<api::StateResponse> {
        if !req.exec_id.is_empty() {
            return Err(no_exec());
        }
        let mut guard = self.lock();
        let container = named(&mut guard, &req.id)?;
        let mut state = api::StateResponse {
            id: container.id.clone(),
            bundle: container.bundle.display().to_string(),
            pid: container.pid(),
            stdin: container.stdin.clone(),
            stdout: container.stdout.clone(),
            stderr: container.stderr.clone(),
            ..Default::default()
        };
        state.status = match container.phase {
            Phase::Created => Status::CREATED,
            Phase::Running { .. } => Status::RUNNING,
            Phase::Stopped { code, at, .. } => {
                state.exit_status = code;
                state.exited_at = MessageField::some(timestamp(at));
                Status::STOPPED
            }
        }
        .into();
        Ok(state)
    }

    fn wait(&self, _ctx: &TtrpcContext, req: api::WaitRequest) -> TtrpcResult<api::WaitResponse> {
        if !req.exec_id.is_empty() {
            return Err(no_exec());
        }
        let mut guard = self.lock();
        let (code, at) = loop {
            let container = named(&mut guard, &req.id)?;
            if let Phase::Stopped { code, at, .. } = container.phase {
                break (code, at);
            }
            guard = self
                .shared
                .stopped
                .wait(guard)
                .unwrap_or_else(|e| e.into_inner());
        };
        drop(guard);
        // Not before the answer to the Kill that stopped it.
        self.gate.wait_idle();
        Ok(api::WaitResponse {
            exit_status: code,
            exited_at: MessageField::some(timestamp(at)),
            ..Default::default()
        })
    }

    fn kill(&self, _ctx: &TtrpcContext, req: api::KillRequest) -> TtrpcResult<api::Empty> {
        if !req.exec_id.is_empty() {
            return Err(no_exec());
        }
        let answer = self.signal(&req);
        // Stands for this thread being preempted before ttrpc queues the
        // answer, to test that the exit still waits for it.
        #[cfg(debug_assertions)]
        if let Some(ms) = std::env::var("KILN_SHIM_TEST_KILL_ANSWER_DELAY_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
        {
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
        answer
    }

    fn delete(
        &self,
        _ctx: &TtrpcContext,
        req: api::DeleteRequest,
    ) -> TtrpcResult<api::DeleteResponse> {
        if !req.exec_id.is_empty() {
            return Err(no_exec());
        }
        let mut guard = self.lock();
        let container = named(&mut guard, &req.id)?;
        let (pid, code, at) = match container.phase {
            Phase::Running { pid } => {
                return Err(status(
                    Code::FAILED_PRECONDITION,
                    format!(
                        "container {} is running (pid {pid}): kill it first",
                        container.id
                    ),
                ));
            }
            Phase::Created => (0, 0, SystemTime::now()),
            Phase::Stopped { pid, code, at } => (pid, code, at),
        };
        if container.linked
            && let Some(netns) = &container.netns
        {
            netns.unlink_tap();
        }
        if !container.sandbox {
            unmount(&container.rootfs());
        }
        self.publish(TaskDelete {
            container_id: container.id.clone(),
            id: container.id.clone(),
            pid,
            exit_status: code,
            exited_at: MessageField::some(timestamp(at)),
            ..Default::default()
        });
        info!("{}: deleted", container.id);
        guard.remove(&req.id);
        Ok(api::DeleteResponse {
            pid,
            exit_status: code,
            exited_at: MessageField::some(timestamp(at)),
            ..Default::default()
        })
    }

    fn pids(&self, _ctx: &TtrpcContext, req: api::PidsRequest) -> TtrpcResult<api::PidsResponse> {
        let mut guard = self.lock();
        let container = named(&mut guard, &req.id)?;
        let mut response = api::PidsResponse::default();
        if let Phase::Running { pid } = container.phase {
            response
                .processes
                .push(containerd_shim::protos::api::ProcessInfo {
                    pid,
                    ..Default::default()
                });
        }
        Ok(response)
    }

    fn stats(
        &self,
        _ctx: &TtrpcContext,
        req: api::StatsRequest,
    ) -> TtrpcResult<api::StatsResponse> {
        let mut guard = self.lock();
        let container = named(&mut guard, &req.id)?;
        let Phase::Running { pid } = container.phase else {
            return Err(status(
                Code::FAILED_PRECONDITION,
                format!("container {} is not running", container.id),
            ));
        };
        let stats = stats::of(pid).map_err(|e| status(Code::INTERNAL, e))?;
        Ok(api::StatsResponse {
            stats: MessageField::some(stats),
            ..Default::default()
        })
    }

    fn exec(&self, _ctx: &TtrpcContext, _req: api::ExecProcessRequest) -> TtrpcResult<api::Empty> {
        Err(no_exec())
    }

    fn close_io(&self, _ctx: &TtrpcContext, req: api::CloseIORequest) -> TtrpcResult<api::Empty> {
        // The monitor holds the only copy of the stdin FIFO: the shim has
        // nothing to close (the client closing its end is the guest's EOF).
        let mut guard = self.lock();
        named(&mut guard, &req.id)?;
        Ok(api::Empty::default())
    }

    fn connect(
        &self,
        _ctx: &TtrpcContext,
        req: api::ConnectRequest,
    ) -> TtrpcResult<api::ConnectResponse> {
        let mut guard = self.lock();
        let container = named(&mut guard, &req.id)?;
        Ok(api::ConnectResponse {
            shim_pid: std::process::id(),
            task_pid: container.pid(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            ..Default::default()
        })
    }

    fn shutdown(&self, _ctx: &TtrpcContext, req: api::ShutdownRequest) -> TtrpcResult<api::Empty> {
        // containerd asks after each delete; the shim goes once its
        // containers are gone (or when told to go now).
        if !self.lock().is_empty() && !req.now {
            return Ok(api::Empty::default());
        }
        info!("shutting down (namespace {})", self.namespace);
        self.exit.signal();
        Ok(api::Empty::default())
    }
}
