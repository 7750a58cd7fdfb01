//! The network device: virtio-net over virtio-mmio, with a host backend.
//!
//! The contract is `kiln_abi::net`: one device whose register window is at
//! `MMIO_BASE`, queues 0 (receive) and 1 (transmit), no interrupts. The
//! monitor carries out the transmit queue when the guest writes
//! `QueueNotify`, fills receive buffers at every exit while frames wait,
//! and the `Block` hypercall also wakes when a frame arrives. Every exit
//! costs tens of microseconds on our hosts, so each one moves as many
//! frames as there are buffers for.
//!
//! - [`mmio`]: the register file;
//! - [`queue`]: the split virtqueues, walked with every index and buffer
//!   checked;
//! - [`backend`]: the host side, [`passt`] (user mode, rootless),
//!   [`ports`] (published ports only, forwarded by a monitor thread) or
//!   [`tap`] (an existing TAP device);
//! - [`spec`]: what `kiln run` asks for.

pub mod backend;
mod framing;
pub mod mmio;
pub mod passt;
pub mod ports;
pub mod queue;
pub mod spec;
pub mod tap;
#[cfg(test)]
mod tests;

use std::io;
use std::os::fd::RawFd;

use kiln_abi::net::MMIO_BASE;

use crate::memory::GuestMemory;
use backend::{Backend, MAX_FRAME};
use mmio::{Action, Misuse, QUEUES, Registers, STATUS_DRIVER_OK};
use queue::{Buffer, Queue, QueueError};
pub use spec::{Addressing, BackendSpec, NetSpec, PortForward, Protocol};

/// Bytes of `virtio_net_hdr_v1` in front of every frame.
pub const HEADER_LEN: usize = 12;

/// The receive header: no offloads, and `num_buffers` = 1 (its last field),
/// which a modern device sets even without mergeable buffers.
const RX_HEADER: [u8; HEADER_LEN] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0];

const RX: usize = 0;
const TX: usize = 1;
const QUEUE_NAMES: [&str; QUEUES] = ["receive", "transmit"];

/// How the guest misused the device; ends the VM.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NetViolation {
    /// A register access the transport does not define.
    #[error(transparent)]
    Register(#[from] Misuse),
    /// A malformed queue.
    #[error("{queue} queue: {error}")]
    Queue {
        /// "receive" or "transmit".
        queue: &'static str,
        /// What is wrong.
        error: QueueError,
    },
    /// `QueueNotify` naming a queue that does not exist.
    #[error("QueueNotify for queue {0}, which does not exist")]
    Notify(u32),
    /// A transmit chain too short for the header, or too long for a frame.
    #[error("transmit chain of {0} bytes (a 12-byte header and a frame of at most {MAX_FRAME})")]
    FrameSize(u64),
}

/// Why the device could not be created.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// passt could not be started.
    #[error("cannot start passt: {0}")]
    Passt(io::Error),
    /// The published ports could not be bound or their forwarder started.
    #[error("cannot publish the ports: {0}")]
    Ports(io::Error),
    /// The TAP device could not be attached.
    #[error("cannot attach to TAP device {name}: {error}")]
    Tap {
        /// Its name.
        name: String,
        /// Why.
        error: io::Error,
    },
}

/// The device: registers, queues and the backend.
pub struct NetDevice {
    registers: Registers,
    queues: [Option<Queue>; QUEUES],
    /// `None` once the link failed (reported once on stderr).
    backend: Option<Box<dyn Backend>>,
    /// Transmit chains are gathered here.
    scratch: Vec<u8>,
    /// One bit per vCPU: frames were put in receive buffers since that
    /// vCPU last blocked. The guest may have looked at its ring before the
    /// exit that filled it, so no vCPU's next `Block` may sleep past them.
    unseen: u32,
    /// Frame bytes the guest has received and sent, for `kiln stats`.
    totals: [u64; 2],
}

impl NetDevice {
    /// Starts the backend `spec` asks for.
    pub fn new(spec: &NetSpec) -> Result<Self, NetError> {
        let backend: Box<dyn Backend> = match &spec.backend {
            BackendSpec::Passt { forwards } => {
                Box::new(passt::Passt::spawn(&spec.addressing, forwards).map_err(NetError::Passt)?)
            }
            BackendSpec::Ports { forwards } => {
                Box::new(ports::start(&spec.addressing, forwards).map_err(NetError::Ports)?)
            }
            BackendSpec::Tap { name } => {
                Box::new(tap::Tap::open(name).map_err(|error| NetError::Tap {
                    name: name.clone(),
                    error,
                })?)
            }
        };
        Ok(Self::with_backend(spec.addressing.mac, backend))
    }

    /// A device on `backend` (tests use a socket).
    pub fn with_backend(mac: [u8; 6], backend: Box<dyn Backend>) -> Self {
        let mut registers = Registers::new(mac);
        registers.set_link(backend.ready());
        Self {
            registers,
            queues: [None, None],
            backend: Some(backend),
            scratch: Vec::with_capacity(HEADER_LEN + MAX_FRAME),
            unseen: 0,
            totals: [0; 2],
        }
    }

    /// Frame bytes the guest has received and sent so far.
    pub fn totals(&self) -> [u64; 2] {
        self.totals
    }

    /// Whether `gpa` is in the register window.
    pub fn contains(gpa: u64) -> bool {
        (MMIO_BASE..MMIO_BASE + kiln_abi::net::MMIO_SIZE).contains(&gpa)
    }

    /// A guest read in the register window.
    pub fn mmio_read(&self, gpa: u64, data: &mut [u8]) -> Result<(), NetViolation> {
        Ok(self.registers.read(gpa - MMIO_BASE, data)?)
    }

    /// A guest write in the register window.
    pub fn mmio_write(
        &mut self,
        memory: &GuestMemory,
        gpa: u64,
        data: &[u8],
    ) -> Result<(), NetViolation> {
        match self.registers.write(gpa - MMIO_BASE, data)? {
            Action::None => {}
            Action::Reset => {
                self.registers.reset();
                self.queues = [None, None];
            }
            Action::Start(index) => {
                let setup = self.registers.queues[index].0;
                let queue = Queue::new(memory, setup, index == RX).map_err(|error| {
                    NetViolation::Queue {
                        queue: QUEUE_NAMES[index],
                        error,
                    }
                })?;
                self.queues[index] = Some(queue);
                self.registers.set_ready(index);
            }
            Action::Notify(n) if n as usize == TX => self.transmit(memory)?,
            // New receive buffers: frames may be waiting for them.
            Action::Notify(n) if n as usize == RX => {
                self.receive(memory)?;
            }
            Action::Notify(n) => return Err(NetViolation::Notify(n)),
        }
        Ok(())
    }

    /// Moves waiting frames into the guest's receive buffers, as many as
    /// fit. Returns how many.
    pub fn receive(&mut self, memory: &GuestMemory) -> Result<usize, NetViolation> {
        let Self {
            registers,
            queues,
            backend: link,
            totals,
            ..
        } = self;
        let (Some(rx), Some(backend)) = (live(registers, &mut queues[RX]), link.as_mut()) else {
            return Ok(0);
        };
        let queue_error = |error| NetViolation::Queue {
            queue: QUEUE_NAMES[RX],
            error,
        };
        let mut delivered = 0;
        let mut starved = true;
        while rx.has_available(memory).map_err(queue_error)? {
            let frame = match backend.peek() {
                Ok(Some(frame)) => frame,
                Ok(None) => {
                    starved = false;
                    break;
                }
                Err(error) => {
                    link_down(link, &error);
                    break;
                }
            };
            let Some(chain) = rx.pop(memory).map_err(queue_error)? else {
                break;
            };
            let len = HEADER_LEN + frame.len();
            if chain.len < len as u64 {
                // Too small for this frame (the guest sized its buffers for
                // a smaller MTU): drop the frame, keep the buffer.
                rx.unpop();
                backend.consume();
                continue;
            }
            scatter(memory, &chain.buffers, &[&RX_HEADER, frame]).map_err(queue_error)?;
            totals[0] += frame.len() as u64;
            backend.consume();
            rx.push_used(memory, chain.head, len as u32)
                .map_err(queue_error)?;
            delivered += 1;
        }
        // Only while the guest has no buffer: after the backend ran dry,
        // what arrives next must stay in its descriptor, where `block`'s
        // poll sees it; read into our hold, it would wait for the next frame.
        if starved
            && let Some(backend) = link.as_mut()
            && let Err(error) = backend.prefetch()
        {
            link_down(link, &error);
        }
        registers.set_link(link.as_ref().is_some_and(|backend| backend.ready()));
        if delivered > 0 {
            self.unseen = u32::MAX;
        }
        Ok(delivered)
    }

    /// The first half of vCPU `vcpu`'s `Block`, under the device's lock:
    /// delivers waiting frames, and says to return at once if there were
    /// any, or if frames were delivered at other exits since that vCPU's
    /// last `Block`; otherwise, which descriptor to poll for a frame (the
    /// backend's, when a receive buffer is posted).
    pub fn before_block(
        &mut self,
        memory: &GuestMemory,
        vcpu: u32,
    ) -> Result<BlockPlan, NetViolation> {
        self.receive(memory)?;
        let bit = 1 << vcpu;
        if self.unseen & bit != 0 {
            self.unseen &= !bit;
            return Ok(BlockPlan::Return);
        }
        let listening = match (live(&self.registers, &mut self.queues[RX]), &self.backend) {
            (Some(rx), Some(backend)) => rx
                .has_available(memory)
                .map_err(|error| NetViolation::Queue {
                    queue: QUEUE_NAMES[RX],
                    error,
                })?
                .then(|| backend.fd()),
            _ => None,
        };
        Ok(BlockPlan::Poll(listening))
    }

    /// The second half, when the wait saw the backend readable: delivers
    /// the frames to vCPU `vcpu`, whose `Block` returns now.
    pub fn after_block(&mut self, memory: &GuestMemory, vcpu: u32) -> Result<(), NetViolation> {
        self.receive(memory)?;
        self.unseen &= !(1 << vcpu);
        Ok(())
    }

    /// Sends the frames the transmit queue holds, in one batch.
    pub fn transmit(&mut self, memory: &GuestMemory) -> Result<(), NetViolation> {
        let Some(tx) = live(&self.registers, &mut self.queues[TX]) else {
            return Ok(());
        };
        let queue_error = |error| NetViolation::Queue {
            queue: QUEUE_NAMES[TX],
            error,
        };
        while let Some(chain) = tx.pop(memory).map_err(queue_error)? {
            if chain.len < HEADER_LEN as u64 || chain.len > (HEADER_LEN + MAX_FRAME) as u64 {
                return Err(NetViolation::FrameSize(chain.len));
            }
            self.scratch.clear();
            for buffer in &chain.buffers {
                let at = self.scratch.len();
                self.scratch.resize(at + buffer.len as usize, 0);
                memory
                    .read_exact(buffer.addr, &mut self.scratch[at..])
                    .map_err(|error| {
                        queue_error(QueueError::Memory {
                            what: "buffer",
                            error,
                        })
                    })?;
            }
            self.totals[1] += (self.scratch.len() - HEADER_LEN) as u64;
            if let Some(backend) = self.backend.as_mut()
                && let Err(error) = backend.send(&self.scratch[HEADER_LEN..])
            {
                link_down(&mut self.backend, &error);
            }
            tx.push_used(memory, chain.head, 0).map_err(queue_error)?;
        }
        if let Some(backend) = self.backend.as_mut()
            && let Err(error) = backend.flush()
        {
            link_down(&mut self.backend, &error);
        }
        Ok(())
    }
}

/// What a `Block` does about the network device.
#[derive(Debug, PartialEq, Eq)]
pub enum BlockPlan {
    /// Return at once: the guest has frames it has not seen.
    Return,
    /// Wait, polling this descriptor for frames, if any.
    Poll(Option<RawFd>),
}

/// The queue, if the driver has started it and the whole device.
fn live<'q>(registers: &Registers, queue: &'q mut Option<Queue>) -> Option<&'q mut Queue> {
    if registers.status & STATUS_DRIVER_OK == 0 {
        return None;
    }
    queue.as_mut()
}

/// Reports a failed link once and drops the backend: the guest keeps
/// running, as on a machine whose cable was pulled.
fn link_down(backend: &mut Option<Box<dyn Backend>>, error: &io::Error) {
    if backend.take().is_some() {
        eprintln!("kiln: network link down: {error}");
    }
}

/// Writes `parts`, one after the other, across `buffers` (already checked
/// to be large enough and inside guest memory).
fn scatter(memory: &GuestMemory, buffers: &[Buffer], parts: &[&[u8]]) -> Result<(), QueueError> {
    let mut buffers = buffers.iter();
    let mut current: Option<(u64, u64)> = None; // (address, room left)
    for part in parts {
        let mut part: &[u8] = part;
        while !part.is_empty() {
            let (addr, room) = match current {
                Some(c) if c.1 > 0 => c,
                _ => {
                    let Some(next) = buffers.next() else {
                        return Ok(());
                    };
                    (next.addr, u64::from(next.len))
                }
            };
            let n = part.len().min(usize::try_from(room).unwrap_or(usize::MAX));
            memory
                .write_bytes(addr, &part[..n])
                .map_err(|error| QueueError::Memory {
                    what: "buffer",
                    error,
                })?;
            part = &part[n..];
            current = Some((addr + n as u64, room - n as u64));
        }
    }
    Ok(())
}
