//! File locks and the calls that change no contents (times, write-back
//! hints, memory advice): `tests/guests/std-locks` answers as Linux does in
//! memory (`/tmp`) and on a volume, and locks on a volume are the host's,
//! so two Kiln instances, or a host process and a guest, exclude each other.

mod common;

use std::io::{BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::{Run, image, kiln, require_kvm, run_image, run_native};

const GUEST: &str = "tests/guests/std-locks";

/// A fresh host directory for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kiln-locks-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    dir
}

fn volume(dir: &Path) -> String {
    format!("{}:/data", dir.display())
}

#[test]
fn locks_times_and_hints_answer_as_linux_in_memory_and_on_a_volume() {
    let native_dir = scratch("native");
    let native = run_native(GUEST, &[native_dir.to_str().expect("utf-8 path")], b"");
    assert_eq!(native.code, 0, "{}", native.stderr);
    assert!(native.stdout.lines().count() > 80, "{}", native.stdout);
    assert!(
        native.stdout.contains("flock b exclusive: -1 EAGAIN"),
        "{}",
        native.stdout
    );
    let guest = image(GUEST, false);
    let in_memory = run_image(&guest, &[], &[]);
    assert_eq!(in_memory.code, 0, "{}", in_memory.stderr);
    assert_eq!(in_memory.stdout, native.stdout, "in /tmp");
    let host_dir = scratch("volume");
    let on_volume = run_image(&guest, &["-v", &volume(&host_dir)], &["/data"]);
    assert_eq!(on_volume.code, 0, "{}", on_volume.stderr);
    assert_eq!(on_volume.stdout, native.stdout, "on a volume");
    for dir in [native_dir, host_dir] {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// A guest holding an exclusive `flock` on `/data/lock` of a volume.
struct Holder {
    child: std::process::Child,
}

impl Holder {
    /// `kiln run -v DIR:/data std-locks hold /data/lock`, started; returns
    /// once the guest holds the lock, which it keeps until its stdin ends.
    fn start(dir: &Path) -> Self {
        require_kvm();
        let mut child = kiln()
            .arg("run")
            .args(["-v", &volume(dir)])
            .arg(image(GUEST, false))
            .args(["--", "hold", "/data/lock"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start kiln");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().expect("piped stdout"))
            .read_line(&mut line)
            .expect("read the holder's output");
        assert_eq!(line, "hold: flock exclusive: 0\n");
        Self { child }
    }

    /// Ends the guest's stdin, and so the guest.
    fn release(mut self) {
        drop(self.child.stdin.take());
        let output = self.child.wait_with_output().expect("wait for the holder");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&output.stdout), "hold: done\n");
    }
}

/// `std-locks try /data/lock` in a second instance on the same volume.
fn try_lock(dir: &Path) -> String {
    let run: Run = run_image(
        &image(GUEST, false),
        &["-v", &volume(dir)],
        &["try", "/data/lock"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout
}

#[test]
fn two_instances_sharing_a_volume_exclude_each_other_with_flock() {
    let dir = scratch("instances");
    let holder = Holder::start(&dir);
    assert_eq!(try_lock(&dir), "try: flock exclusive: -1 EAGAIN\n");
    assert_eq!(try_lock(&dir), "try: flock exclusive: -1 EAGAIN\n");
    holder.release();
    assert_eq!(try_lock(&dir), "try: flock exclusive: 0\n");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_host_process_and_a_guest_exclude_each_other() {
    let dir = scratch("host");
    let file = std::fs::File::create(dir.join("lock")).expect("create the lock file");
    // SAFETY: flock on a descriptor this test owns.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    assert_eq!(locked, 0, "the host takes the lock");
    assert_eq!(try_lock(&dir), "try: flock exclusive: -1 EAGAIN\n");
    drop(file);
    let holder = Holder::start(&dir);
    let file = std::fs::File::open(dir.join("lock")).expect("open the lock file");
    // SAFETY: as above.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    let error = std::io::Error::last_os_error();
    assert_eq!(locked, -1, "the guest's lock excludes the host");
    assert_eq!(error.raw_os_error(), Some(libc::EWOULDBLOCK));
    holder.release();
    // SAFETY: as above.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    assert_eq!(locked, 0, "the lock went with the guest");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn baked_files_keep_their_times() {
    let run = run_image(
        &image(GUEST, false),
        &[],
        &["times-of", "/etc/std-locks/file"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "utimensat: -1 EROFS\nfutimens: -1 EROFS\n");
}
