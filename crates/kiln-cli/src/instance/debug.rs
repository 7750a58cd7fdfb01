//! `kiln debug NAME --gdb [ADDR:]PORT`: gdb on a running background
//! instance. The CLI waits for gdb on the port, then relays its connection
//! to the monitor's control socket (`INSTANCE_DIR/control`, mode 0600;
//! see the monitor's `control` module). The guest stops when gdb attaches
//! and runs on when gdb detaches.

use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::process::ExitCode;

use kiln_monitor::control::GDB_REQUEST;

use super::Store;
use crate::Outcome;
use crate::exit_code::{Failure, HOST};

/// Attaches gdb, on `address`, to the instance `key`.
pub fn debug(key: &str, address: SocketAddr) -> Outcome {
    let instance = Store::open()?.find_running(key)?;
    let name = &instance.config.name;
    let control = instance.control_socket()?;
    let gdb = crate::run::gdb::wait_for_gdb(address, &instance.config.image)?;
    let unreachable = |e: std::io::Error| {
        Failure::new(HOST, format!("cannot reach the monitor of '{name}': {e}"))
    };
    let monitor = UnixStream::connect(&control).map_err(unreachable)?;
    (&monitor).write_all(GDB_REQUEST).map_err(unreachable)?;
    relay(&gdb, &monitor);
    tell!("kiln: gdb left '{name}', which runs on");
    Ok(ExitCode::SUCCESS)
}

/// Copies bytes both ways until each side has closed its end.
fn relay(gdb: &TcpStream, monitor: &UnixStream) {
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let _ = std::io::copy(&mut &*gdb, &mut &*monitor);
            let _ = monitor.shutdown(Shutdown::Write);
        });
        let _ = std::io::copy(&mut &*monitor, &mut &*gdb);
        let _ = gdb.shutdown(Shutdown::Both);
        // gdb's side may still be reading: the monitor has left.
        let _ = monitor.shutdown(Shutdown::Both);
    });
}
