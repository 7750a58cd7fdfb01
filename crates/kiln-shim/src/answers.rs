//! Kill answers ahead of the exits they cause.
//!
//! containerd closes its connection to a shim as soon as the shim answers
//! Shutdown, and a call still unanswered then fails with `ttrpc: closed`.
//! Shutdown comes after Delete, and Delete after containerd sees the task's
//! exit (a Wait answer or the `/tasks/exit` event). ttrpc's generated
//! handler queues a Kill's answer only after the service's `kill` returns;
//! a thread preempted in between (a likely moment: the signal has just
//! woken the exit waiter) let the exit, Delete and Shutdown overtake the
//! answer, and CRI's StopPodSandbox failed although the pod had stopped.
//! Answers on one connection are written in the order they are queued, so
//! an exit is shown only once every Kill begun has its answer queued.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use containerd_shim::protos::ttrpc::{self, MethodHandler, Request, TtrpcContext};

/// Counts the Kill calls whose answers are not queued yet.
#[derive(Default)]
pub struct Gate {
    pending: Mutex<usize>,
    idle: Condvar,
}

impl Gate {
    fn pending(&self) -> MutexGuard<'_, usize> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until every Kill begun so far has its answer queued.
    pub fn wait_idle(&self) {
        let mut pending = self.pending();
        while *pending > 0 {
            pending = self.idle.wait(pending).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// One Kill in progress: from before the service sees it until its answer
/// is queued.
struct Passage<'a>(&'a Gate);

impl<'a> Passage<'a> {
    fn enter(gate: &'a Gate) -> Self {
        *gate.pending() += 1;
        Self(gate)
    }
}

impl Drop for Passage<'_> {
    fn drop(&mut self) {
        let mut pending = self.0.pending();
        *pending -= 1;
        if *pending == 0 {
            self.0.idle.notify_all();
        }
    }
}

/// A generated method handler (which calls the service, then queues the
/// answer) counted through the gate.
struct Counted {
    handler: Box<dyn MethodHandler + Send + Sync>,
    gate: Arc<Gate>,
}

impl MethodHandler for Counted {
    fn handler(&self, ctx: TtrpcContext, req: Request) -> ttrpc::Result<()> {
        let _passage = Passage::enter(&self.gate);
        self.handler.handler(ctx, req)
    }
}

/// The task service's methods, Kill counted through `gate`.
pub fn count_kills(
    methods: std::collections::HashMap<String, Box<dyn MethodHandler + Send + Sync>>,
    gate: &Arc<Gate>,
) -> std::collections::HashMap<String, Box<dyn MethodHandler + Send + Sync>> {
    methods
        .into_iter()
        .map(|(path, handler)| {
            let handler: Box<dyn MethodHandler + Send + Sync> = if path.ends_with("/Kill") {
                Box::new(Counted {
                    handler,
                    gate: Arc::clone(gate),
                })
            } else {
                handler
            };
            (path, handler)
        })
        .collect()
}
