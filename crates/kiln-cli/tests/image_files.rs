//! What a build leaves and says. The image file `kiln build` prints is
//! replaced only when its content changes, and then atomically, so an
//! instance starting from it never finds it missing or half written. A
//! quiet build (`kiln run DIR`) reports the crates cargo compiles: plain
//! lines when piped, a status line on a terminal, nothing when up to date.
//! Builds of one crate may run at once.

mod common;

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{Run, kiln, require_kvm, root};

/// A native guest (the minimal test guest's program) in a fresh scratch
/// directory, built into the test guests' target directory (the library
/// OS compiled once for all tests).
struct Guest {
    scratch: PathBuf,
    dir: PathBuf,
}

impl Guest {
    fn new(name: &str) -> Self {
        let scratch =
            std::env::temp_dir().join(format!("kiln-image-files-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&scratch);
        let dir = scratch.join("crate");
        std::fs::create_dir_all(dir.join("src")).expect("crate dir");
        let manifest = format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[workspace]\n\n\
             [dependencies]\nkiln = {{ package = \"kiln-libos\", path = \"{}\", default-features = false, features = [\"native\"] }}\n",
            root().join("crates/kiln-libos").display()
        );
        std::fs::write(dir.join("Cargo.toml"), manifest).expect("manifest");
        std::fs::copy(
            root().join("tests/guests/minimal/src/main.rs"),
            dir.join("src/main.rs"),
        )
        .expect("main.rs");
        Self { scratch, dir }
    }

    /// `kiln ARGS DIR`, guests built into the test guests' target directory.
    fn kiln(&self, args: &[&str]) -> Command {
        let mut command = kiln();
        command
            .args(args)
            .arg(&self.dir)
            .env("CARGO_TARGET_DIR", root().join("tests/guests/target"));
        command
    }

    /// Makes cargo compile the program again (same content, a new time).
    fn touch(&self) {
        let main = self.dir.join("src/main.rs");
        std::fs::write(&main, std::fs::read(&main).expect("read main.rs")).expect("touch main.rs");
    }

    /// `kiln build` with `args`, insisting on success: the image path.
    fn build(&self, args: &[&str]) -> PathBuf {
        let run: Run = self
            .kiln(&["build"])
            .args(args)
            .output()
            .expect("run kiln build")
            .into();
        assert_eq!(run.code, 0, "kiln build failed:\n{}", run.stderr);
        PathBuf::from(run.stdout.split(" (").next().expect("image path").trim())
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

fn identity(image: &Path) -> (u64, i64, i64) {
    let meta = std::fs::metadata(image).expect("the image exists");
    (meta.ino(), meta.mtime(), meta.mtime_nsec())
}

#[test]
fn an_unchanged_build_keeps_the_image_file() {
    let guest = Guest::new("unchanged-image");
    let image = guest.build(&[]);
    let before = identity(&image);
    // A rebuild that compiles again (the source's time changed) but links
    // the same bytes.
    guest.touch();
    assert_eq!(guest.build(&[]), image);
    assert_eq!(identity(&image), before, "the image file was replaced");
}

#[test]
fn instances_start_while_the_image_is_rebuilt() {
    require_kvm();
    let guest = Guest::new("rebuilt-image");
    let baked = guest.scratch.join("baked.txt");
    let include = format!("{}:/baked.txt", baked.display());
    std::fs::write(&baked, "0").expect("write the baked file");
    let image = guest.build(&["--include", &include]);
    let building = AtomicBool::new(true);
    std::thread::scope(|threads| {
        let runner = threads.spawn(|| {
            let mut runs = 0;
            while building.load(Ordering::Relaxed) || runs == 0 {
                let output = Command::new(env!("CARGO_BIN_EXE_kiln"))
                    .arg("run")
                    .arg(&image)
                    .output()
                    .expect("run kiln");
                let run: Run = output.into();
                assert_eq!(run.code, 0, "run {runs} failed: {}", run.stderr);
                assert_eq!(run.stdout, "minimal\n");
                runs += 1;
            }
            runs
        });
        // Each build bakes different content: each replaces the image.
        let mut inodes = std::collections::BTreeSet::new();
        for round in 1..=8 {
            std::fs::write(&baked, round.to_string()).expect("write the baked file");
            assert_eq!(guest.build(&["--include", &include]), image);
            inodes.insert(identity(&image).0);
        }
        building.store(false, Ordering::Relaxed);
        let runs = runner.join().expect("the runner thread");
        assert!(inodes.len() > 1, "the image was never replaced");
        assert!(runs > 0);
    });
}

/// Builds of one crate at once (two terminals, or tests side by side) all
/// succeed: cargo re-links its executable on every build, so copying it
/// out to the image path must wait for the other builds' cargo.
#[test]
fn builds_of_one_crate_at_once_all_succeed() {
    let guest = Guest::new("concurrent-builds");
    let image = guest.build(&[]);
    for _ in 0..8 {
        std::thread::scope(|threads| {
            let builds: Vec<_> = (0..4).map(|_| threads.spawn(|| guest.build(&[]))).collect();
            for build in builds {
                assert_eq!(build.join().expect("a build thread"), image);
            }
        });
    }
}

#[test]
fn a_quiet_build_reports_compiled_crates_in_plain_lines_when_piped() {
    require_kvm();
    let guest = Guest::new("piped-progress");
    guest.build(&[]);
    guest.touch();
    let run: Run = guest.kiln(&["run"]).output().expect("run kiln").into();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "minimal\n");
    assert_eq!(
        run.stderr, "kiln: building piped-progress: compiled piped-progress\n",
        "no terminal: plain lines, no escape sequences"
    );
    let again: Run = guest.kiln(&["run"]).output().expect("run kiln").into();
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.stderr, "", "an up-to-date build says nothing");
}

#[test]
fn a_quiet_build_shows_a_status_line_on_a_terminal() {
    use std::io::Read as _;
    use std::process::Stdio;
    require_kvm();
    let guest = Guest::new("terminal-progress");
    guest.build(&[]);
    guest.touch();
    let (controller, terminal) = common::pseudo_terminal();
    let mut child = guest
        .kiln(&["run"])
        .stdout(Stdio::piped())
        .stderr(Stdio::from(terminal))
        .spawn()
        .expect("run kiln");
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .expect("piped")
        .read_to_string(&mut stdout)
        .expect("read stdout");
    assert!(child.wait().expect("kiln run").success());
    assert_eq!(stdout, "minimal\n");
    // Everything kiln wrote to the terminal is in its buffer by now.
    let mut screen = std::fs::File::from(controller);
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    while !seen.ends_with(b"\x1b[2K\r") {
        let n = screen.read(&mut buffer).expect("read the terminal");
        assert!(n > 0, "the terminal closed");
        seen.extend_from_slice(&buffer[..n]);
    }
    let seen = String::from_utf8_lossy(&seen);
    assert!(
        seen.contains(
            "kiln: building terminal-progress: 1 crate compiled (terminal-progress)...\r"
        ),
        "{seen:?}"
    );
    assert!(!seen.contains('\n'), "a status line, not lines: {seen:?}");
}
