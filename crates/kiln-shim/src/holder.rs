//! The pod holder: what runs for a pod's sandbox ("pause") container.
//!
//! A Kiln pod needs no VM of its own: the sandbox only has to keep the
//! pod's network namespace alive and give CRI a process inside it, whose
//! `/proc/PID/ns/net` CRI names in the spec of each of the pod's containers.
//! The shim runs its own binary for that (`containerd-shim-kiln-v1
//! hold-pod`, started in the namespace), which waits for its signal, so no
//! pause image's program is ever run.

/// The shim binary's argument that makes it a pod holder.
pub const HOLD: &str = "hold-pod";

/// Waits until a signal ends the process (SIGTERM or SIGKILL from CRI's
/// StopPodSandbox), or the shim that started it dies.
pub fn hold() -> ! {
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    // The shim may have died before the request took effect.
    let supervisor = std::env::var(crate::process::SUPERVISOR_ENV)
        .ok()
        .and_then(|pid| pid.parse::<libc::pid_t>().ok());
    // SAFETY: getppid takes nothing and cannot fail.
    if supervisor.is_some_and(|pid| pid != unsafe { libc::getppid() }) {
        std::process::exit(1);
    }
    loop {
        // SAFETY: pause(2) only waits for a signal.
        unsafe { libc::pause() };
    }
}
