//! `mmap` of files (`tests/guests/std-mmap`): private copies, shared
//! read-only mappings that follow the program's own `pwrite`, `write` and
//! `ftruncate` through any descriptor, and Linux's errors, on the guest's
//! own files and on a volume; run natively, the same program prints the
//! same. Shared writable mappings are refused with `ENODEV`.

mod common;

use common::{image, run_image, run_native};

const GUEST: &str = "tests/guests/std-mmap";

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("kiln-mmap-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

fn linux() -> String {
    let dir = scratch("native");
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
    assert_eq!(kiln.stdout, linux());
}

#[test]
fn files_on_a_volume_map_as_on_linux() {
    let dir = scratch("volume");
    let volume = format!("{}:/data", dir.display());
    let kiln = run_image(&image(GUEST, false), &["-v", &volume], &["/data"]);
    let left = std::fs::read(dir.join("mmap-test")).expect("the file stays on the host");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(kiln.code, 0, "{}", kiln.stderr);
    assert_eq!(kiln.stdout, linux());
    // Written through an O_APPEND descriptor: at the end, even by pwrite.
    assert!(
        left.ends_with(b"after unmap"),
        "the host file ends {:?}",
        String::from_utf8_lossy(&left[left.len().saturating_sub(20)..])
    );
}

#[test]
fn a_shared_writable_mapping_of_a_file_is_refused() {
    let kiln = run_image(&image(GUEST, false), &[], &["shared-writable", "/tmp"]);
    assert_eq!(
        (kiln.code, kiln.stdout.as_str()),
        (0, "shared writable: Err(19)\n"),
        "{}",
        kiln.stderr
    );
    let dir = scratch("writable");
    let native = run_native(
        GUEST,
        &["shared-writable", dir.to_str().expect("utf-8")],
        b"",
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(native.stdout, "shared writable: Ok(\"mapped\")\n");
}
