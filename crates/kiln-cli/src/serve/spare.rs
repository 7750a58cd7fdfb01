//! Monitors prepared ahead of a boot.
//!
//! Every instance is a `kiln run --standby`: a monitor that has parsed its
//! arguments, mapped the image and started passt on the instance's private
//! port, then waits for one byte on stdin before it creates the VM. When no
//! instance runs, one such spare waits (it has no VM; zero instances is
//! zero VMs), so a cold connection's boot skips the process and passt
//! start-up, about half of a cold request. Without a spare, one is started
//! and told to boot at once.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::{Child, ChildStdin, Command, Stdio};

use crate::instance::SUPERVISOR_ENV;

/// A monitor waiting for the order to boot.
pub struct Spare {
    /// Where its guest port is published (passt listens there already).
    pub addr: SocketAddr,
    pub child: Child,
    /// One byte boots it; closing it ends it.
    order: ChildStdin,
}

/// How to start one: `kiln run` with these flags and image, publishing
/// `guest_port`, the guest's arguments after `--`.
pub struct Recipe<'a> {
    pub run_args: &'a [String],
    pub guest_args: &'a [String],
    pub guest_port: u16,
}

impl Spare {
    /// The command for a new spare, and where it will publish the port.
    pub fn command(recipe: &Recipe<'_>) -> Result<(Command, SocketAddr), String> {
        // The kernel's free port; passt binds it a moment later (a lost
        // race makes the monitor fail, and the connection boots again).
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free loopback port: {e}"))?
            .port();
        let exe = std::env::current_exe().map_err(|e| format!("cannot find kiln itself: {e}"))?;
        let mut command = Command::new(exe);
        command
            .arg("run")
            .arg("--standby")
            .args(recipe.run_args)
            .arg("-p")
            .arg(format!("127.0.0.1:{port}:{}", recipe.guest_port))
            .arg("--")
            .args(recipe.guest_args)
            // The monitor dies with us even if we are killed outright.
            .env(SUPERVISOR_ENV, std::process::id().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null());
        Ok((command, SocketAddr::from((Ipv4Addr::LOCALHOST, port))))
    }

    /// A spare from a command [`Self::command`] made, once spawned.
    pub fn new(mut child: Child, addr: SocketAddr) -> Result<Self, String> {
        let order = child.stdin.take().ok_or("no pipe to the new monitor")?;
        Ok(Self { addr, child, order })
    }

    /// Tells it to boot. Fails if it has ended (its pipe is closed).
    pub fn boot(mut self) -> Result<(SocketAddr, Child), (String, Child)> {
        match self.order.write_all(b"\n") {
            Ok(()) => Ok((self.addr, self.child)),
            Err(e) => Err((format!("the prepared monitor is gone: {e}"), self.child)),
        }
    }
}
