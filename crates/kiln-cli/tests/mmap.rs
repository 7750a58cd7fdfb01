//! `mmap` of files (`tests/guests/std-mmap`): private copies, shared
//! mappings that follow the program's own `pwrite`, `write` and
//! `ftruncate` through any descriptor, shared writable ones whose stores
//! every reader sees, and Linux's errors, on the guest's own files and on
//! a volume; run natively, the same program prints the same.

mod common;

use common::{image, run_image, run_native};

const GUEST: &str = "tests/guests/std-mmap";

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("kiln-mmap-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// The program's output on Linux, working in a scratch directory of its own
/// (`name`: tests run at once).
fn linux(name: &str) -> String {
    let dir = scratch(name);
    let native = run_native(GUEST, &[dir.to_str().expect("utf-8")], b"");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(native.code, 0, "{}", native.stderr);
    assert!(native.stdout.lines().count() >= 20, "{}", native.stdout);
    native.stdout
}

#[test]
fn files_of_the_guest_map_as_on_linux() {
    let kiln = run_image(&image(GUEST, false), &[], &["/tmp"]);
    assert_eq!(kiln.code, 0, "{}", kiln.stderr);
    assert_eq!(kiln.stdout, linux("native-tree"));
}

#[test]
fn files_on_a_volume_map_as_on_linux() {
    let dir = scratch("volume");
    let volume = format!("{}:/data", dir.display());
    let kiln = run_image(&image(GUEST, false), &["-v", &volume], &["/data"]);
    let left = std::fs::read(dir.join("mmap-test")).expect("the file stays on the host");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(kiln.code, 0, "{}", kiln.stderr);
    assert_eq!(kiln.stdout, linux("native-volume"));
    // Written through an O_APPEND descriptor: at the end, even by pwrite.
    assert!(
        left.ends_with(b"after unmap"),
        "the host file ends {:?}",
        String::from_utf8_lossy(&left[left.len().saturating_sub(20)..])
    );
}

/// A store in a shared mapping that the program never syncs or unmaps is
/// in the host's file once the program has ended, as on Linux.
#[test]
fn stores_in_a_shared_mapping_reach_a_volume_file_at_exit() {
    let expected = b"stored before exit----";
    let native_dir = scratch("exit-native");
    let native = run_native(
        GUEST,
        &["store-at-exit", native_dir.to_str().expect("utf-8")],
        b"",
    );
    assert_eq!((native.code, native.stdout.as_str()), (0, "stored\n"));
    let on_linux = std::fs::read(native_dir.join("mmap-at-exit")).expect("native file");
    let _ = std::fs::remove_dir_all(&native_dir);
    assert!(on_linux.starts_with(expected), "{on_linux:?}");

    let dir = scratch("exit");
    let volume = format!("{}:/data", dir.display());
    let kiln = run_image(
        &image(GUEST, false),
        &["-v", &volume],
        &["store-at-exit", "/data"],
    );
    let on_kiln = std::fs::read(dir.join("mmap-at-exit")).expect("the host file");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        (kiln.code, kiln.stdout.as_str()),
        (0, "stored\n"),
        "{}",
        kiln.stderr
    );
    assert_eq!(on_kiln, on_linux);
}
