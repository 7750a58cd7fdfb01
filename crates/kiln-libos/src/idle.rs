//! What an idle vCPU does besides waiting, handed to the scheduler, which
//! sits below the layers that know: poll the network stack, watch stdin,
//! flush deferred file writes, end the program. (The monitor empties the
//! console's ring itself before a vCPU idles.)

use crate::process;
use crate::sched::{Idle, IdleHooks};

static HOOKS: IdleHooks = IdleHooks {
    poll,
    frames_waiting,
    network_present,
    stdin_watched,
    stdin_ready,
    flush,
    flush_all: process::flush_output,
    exit: process::exit,
};

/// Puts the hooks in place, before the program's `main`.
pub(crate) fn install() {
    crate::sched::set_idle_hooks(&HOOKS);
}

fn poll() -> Idle {
    #[cfg(feature = "net")]
    if let Some(net) = crate::fd::socket_hooks() {
        return (net.idle)();
    }
    Idle::default()
}

fn frames_waiting() -> bool {
    #[cfg(feature = "net")]
    if let Some(net) = crate::fd::socket_hooks() {
        return (net.frames_waiting)();
    }
    false
}

fn network_present() -> bool {
    #[cfg(feature = "net")]
    if crate::fd::socket_hooks().is_some() {
        return crate::fd::network_device_present();
    }
    false
}

fn stdin_watched() -> bool {
    #[cfg(feature = "fs")]
    return crate::fs::stdin_watched();
    #[cfg(not(feature = "fs"))]
    false
}

fn stdin_ready() {
    #[cfg(feature = "fs")]
    crate::fs::stdin_ready();
}

fn flush() {
    #[cfg(feature = "fs")]
    crate::fs::flush();
}
