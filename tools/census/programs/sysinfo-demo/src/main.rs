//! sysinfo's view of the machine and its processes.
fn main() {
    let mut sys = sysinfo::System::new_all();
    sys.refresh_all();
    println!(
        "{} {} {}",
        sys.total_memory(),
        sys.cpus().len(),
        sys.processes().len()
    );
    println!(
        "{:?} {:?}",
        sysinfo::System::host_name(),
        sysinfo::System::kernel_version()
    );
}
