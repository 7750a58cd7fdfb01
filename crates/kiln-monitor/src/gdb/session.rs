//! One gdb session, on its own thread: `gdbstub`'s protocol over the
//! connection, waiting for the guest's stops between gdb's requests.
//!
//! When gdb detaches or its connection ends (including on a malformed
//! packet stream, which `gdbstub` rejects), the breakpoints are taken out
//! and the guest runs on without gdb; `kill` ends the VM.

use gdbstub::common::Signal;
use gdbstub::stub::run_blocking::{BlockingEventLoop, Event, WaitForStopReasonError};
use gdbstub::stub::{DisconnectReason, GdbStub, MultiThreadStopReason};
use gdbstub::target::ext::breakpoints::WatchKind;

use super::connection::{ConnectionError, GdbConnection, POLL_NS, Stream};
use super::target::{GuestTarget, TargetFault, tid_of};
use super::threads::Guest;
use super::{Debugger, Stop, StopKind};
use crate::Outcome;
use crate::clock::host_now_ns;
use crate::watchdog;

/// How a session ended, for the monitor to say.
#[derive(Debug)]
pub enum SessionEnd {
    /// gdb detached, or the VM ended: nothing to say.
    Quiet,
    /// gdb killed the guest.
    Killed,
    /// The connection or the protocol failed; the guest runs on.
    Failed(String),
}

/// Serves gdb on `stream` until it leaves or the VM ends.
pub fn serve<S: Stream>(stream: S, debugger: &Debugger, guest: Guest<'_>) -> SessionEnd {
    let vcpus = guest.vcpus;
    debugger.attach(vcpus);
    let mut target = GuestTarget {
        debugger,
        guest,
        step: None,
        locked: false,
        paused: watchdog::pause().ok(),
    };
    // gdb reads the registers of the stopped guest first thing.
    while all_parked(&target).is_none() {
        if vcpus.stopping() {
            return SessionEnd::Quiet;
        }
        let deadline = host_now_ns(libc::CLOCK_MONOTONIC) + POLL_NS;
        if crate::wait::until([Some(debugger.parked_fd())], deadline)[0] {
            debugger.take_parked();
        }
    }
    let connection = GdbConnection::new(stream, vcpus);
    let end = match GdbStub::new(connection).run_blocking::<EventLoop<'_, S>>(&mut target) {
        Ok(DisconnectReason::Kill) => SessionEnd::Killed,
        Ok(_) => SessionEnd::Quiet,
        Err(error) if vcpus.stopping() => {
            drop(error);
            SessionEnd::Quiet
        }
        Err(error) => SessionEnd::Failed(error.to_string()),
    };
    if let Some(paused) = target.paused.take() {
        // A clock that cannot restart leaves the guest without its
        // timeout, which only shortens nothing.
        let _ = paused.resume();
    }
    match end {
        SessionEnd::Killed => vcpus.finish(Ok(Outcome::Killed)),
        _ => debugger.detach(target.guest.memory),
    }
    debugger.vm_ended();
    end
}

struct EventLoop<'a, S>(std::marker::PhantomData<&'a S>);

type StopReason = MultiThreadStopReason<u64>;

impl<'a, S: Stream> BlockingEventLoop for EventLoop<'a, S> {
    type Target = GuestTarget<'a>;
    type Connection = GdbConnection<'a, S>;
    type StopReason = StopReason;

    fn wait_for_stop_reason(
        target: &mut GuestTarget<'a>,
        conn: &mut GdbConnection<'a, S>,
    ) -> Result<Event<StopReason>, WaitForStopReasonError<TargetFault, ConnectionError>> {
        let debugger = target.debugger;
        loop {
            if let Some(byte) = conn.take() {
                return Ok(Event::IncomingData(byte));
            }
            if target.guest.vcpus.stopping() {
                debugger.vm_ended();
                return Ok(Event::TargetStopped(ended(&target.guest)));
            }
            if let Some(stop) = all_parked(target) {
                target.paused = watchdog::pause().ok();
                return Ok(Event::TargetStopped(reason(target, stop)));
            }
            let deadline = host_now_ns(libc::CLOCK_MONOTONIC) + POLL_NS;
            let [input, parked] =
                crate::wait::until([Some(conn.fd()), Some(debugger.parked_fd())], deadline);
            if parked {
                debugger.take_parked();
            }
            if input {
                conn.fill().map_err(WaitForStopReasonError::Connection)?;
            }
        }
    }

    fn on_interrupt(target: &mut GuestTarget<'a>) -> Result<Option<StopReason>, TargetFault> {
        target.debugger.interrupt(target.guest.vcpus);
        // Reported when every vCPU has parked.
        Ok(None)
    }
}

/// The stop to report once every started vCPU has parked.
fn all_parked(target: &GuestTarget<'_>) -> Option<Stop> {
    let state = target.debugger.lock();
    let vcpus = target.guest.vcpus;
    let stop = state.stop.filter(|_| state.stopping)?;
    let parked = (0..vcpus.count())
        .all(|index| !vcpus.started(index) || state.parked[index as usize].is_some());
    parked.then_some(stop)
}

fn reason(target: &GuestTarget<'_>, stop: Stop) -> StopReason {
    let tid = tid_of(target, stop.vcpu);
    match stop.kind {
        StopKind::Breakpoint => MultiThreadStopReason::SwBreak(tid),
        StopKind::Watch(addr) => MultiThreadStopReason::Watch {
            tid,
            kind: WatchKind::Write,
            addr,
        },
        StopKind::Step | StopKind::Trap => MultiThreadStopReason::SignalWithThread {
            tid,
            signal: Signal::SIGTRAP,
        },
        StopKind::Interrupt => MultiThreadStopReason::SignalWithThread {
            tid,
            signal: Signal::SIGINT,
        },
    }
}

/// How the VM ended, as gdb hears it.
fn ended(guest: &Guest<'_>) -> StopReason {
    guest.vcpus.with_outcome(|outcome| match outcome {
        Some(Outcome::Exited(status)) => MultiThreadStopReason::Exited(*status as u8),
        Some(Outcome::Crashed(report)) if report.kind.is_panic() => {
            MultiThreadStopReason::Terminated(Signal::SIGABRT)
        }
        Some(Outcome::Crashed(_)) => MultiThreadStopReason::Terminated(Signal::SIGSEGV),
        Some(Outcome::TimedOut) => MultiThreadStopReason::Terminated(Signal::SIGALRM),
        _ => MultiThreadStopReason::Terminated(Signal::SIGKILL),
    })
}
