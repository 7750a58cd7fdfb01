//! The image file `kiln build` prints: replaced only when its content
//! changes, and then atomically, so an instance starting from it never
//! finds it missing or half written.

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

    /// `kiln build` with `args`, insisting on success: the image path.
    fn build(&self, args: &[&str]) -> PathBuf {
        let run: Run = kiln()
            .arg("build")
            .arg(&self.dir)
            .args(args)
            .env("CARGO_TARGET_DIR", root().join("tests/guests/target"))
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
    let main = guest.dir.join("src/main.rs");
    std::fs::write(&main, std::fs::read(&main).expect("read main.rs")).expect("touch main.rs");
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
