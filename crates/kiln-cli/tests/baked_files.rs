//! Files baked into images: `kiln build --include HOST:GUEST`, the
//! manifest's `[package.metadata.kiln] include`, what `kiln inspect` lists,
//! and the errors.
//!
//! Each test builds its own small crate in a scratch directory (never an
//! example other tests use), into the test guests' target directory, so
//! the library OS and the C library are compiled once for all tests.

mod common;

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Run, code, kiln, require_kvm, root};

/// A guest crate in a fresh scratch directory; `kiln` runs from that
/// scratch directory, so relative `--include` paths are taken from there.
struct Guest {
    scratch: PathBuf,
    dir: PathBuf,
}

impl Guest {
    /// A native guest (the minimal test guest's program) named `name`, with
    /// `manifest_extra` appended to its manifest.
    fn native(name: &str, manifest_extra: &str) -> Self {
        let libos = root().join("crates/kiln-libos");
        let dependency = format!(
            "[dependencies]\nkiln = {{ package = \"kiln-libos\", path = \"{}\", default-features = false, features = [\"native\"] }}\n",
            libos.display()
        );
        let main = std::fs::read_to_string(root().join("tests/guests/minimal/src/main.rs"))
            .expect("the minimal guest's source");
        Self::new(name, &format!("{dependency}{manifest_extra}"), &main)
    }

    /// A `std` program named `name`.
    fn std(name: &str) -> Self {
        Self::new(name, "", "fn main() {\n    println!(\"std\");\n}\n")
    }

    fn new(name: &str, manifest_extra: &str, main: &str) -> Self {
        let scratch =
            std::env::temp_dir().join(format!("kiln-baked-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&scratch);
        let dir = scratch.join("crate");
        std::fs::create_dir_all(dir.join("src")).expect("crate dir");
        std::fs::write(
            dir.join("Cargo.toml"),
            format!(
                "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[workspace]\n\n{manifest_extra}"
            ),
        )
        .expect("manifest");
        std::fs::write(dir.join("src/main.rs"), main).expect("main.rs");
        Self { scratch, dir }
    }

    /// Writes a file (under the scratch directory) with these permissions.
    fn file(&self, path: &str, text: &str, mode: u32) {
        let path = self.scratch.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
        std::fs::write(&path, text).expect("write");
        chmod(&path, mode);
    }

    /// `kiln ARGS`, from the scratch directory, guests built into the test
    /// guests' target directory.
    fn kiln(&self, args: &[&str]) -> Command {
        let mut command = kiln();
        command
            .args(args)
            .current_dir(&self.scratch)
            .env("CARGO_TARGET_DIR", root().join("tests/guests/target"));
        command
    }

    /// `kiln build` with `args`: the result, and the image path on success.
    fn build(&self, args: &[&str]) -> (Run, Option<PathBuf>) {
        let mut command = self.kiln(&["build"]);
        command.arg(&self.dir).args(args);
        let run: Run = command.output().expect("run kiln build").into();
        let image = (run.code == 0)
            .then(|| PathBuf::from(run.stdout.split(" (").next().expect("image path").trim()));
        (run, image)
    }

    /// Builds, insisting on success, and returns the image.
    fn built(&self, args: &[&str]) -> PathBuf {
        let (run, image) = self.build(args);
        assert_eq!(run.code, 0, "kiln build failed:\n{}", run.stderr);
        image.expect("an image")
    }
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// `kiln inspect`'s file listing: the heading, then each entry's line with
/// its columns separated by single spaces.
fn baked_listing(image: &Path) -> Vec<String> {
    let run: Run = kiln()
        .arg("inspect")
        .arg(image)
        .output()
        .expect("run kiln inspect")
        .into();
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout
        .lines()
        .skip_while(|l| !l.starts_with("files ("))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// `kiln run IMAGE`: boots, prints `expected`, exits 0.
fn assert_runs(image: &Path, expected: &str) {
    require_kvm();
    let run: Run = kiln()
        .arg("run")
        .arg(image)
        .output()
        .expect("run kiln")
        .into();
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, expected),
        "{}",
        run.stderr
    );
}

#[test]
fn included_files_and_directories_are_listed_and_changes_relink() {
    let guest = Guest::native(
        "baked-native",
        "[package.metadata.kiln]\ninclude = [\"../www:/srv/www\"]\n",
    );
    guest.file("app.toml", "port = 8080\n", 0o600);
    guest.file("www/index.html", "<h1>hello</h1>\n", 0o644);
    guest.file("www/css/site.css", "h1 {}\n", 0o640);
    symlink("../index.html", guest.scratch.join("www/css/home")).expect("symlink");
    chmod(&guest.scratch.join("www"), 0o755);
    chmod(&guest.scratch.join("www/css"), 0o750);

    // The manifest's path is relative to the crate, the flag's to the
    // current directory.
    let image = guest.built(&["--include", "app.toml:/etc/app.toml"]);
    let expected = |app_size: usize| {
        vec![
            format!("files (8 entries, {} B):", app_size + 15 + 6),
            "drwxr-xr-x /etc".to_string(),
            format!("-rw------- {app_size} /etc/app.toml"),
            "drwxr-xr-x /srv".to_string(),
            "drwxr-xr-x /srv/www".to_string(),
            "drwxr-x--- /srv/www/css".to_string(),
            "lrwxrwxrwx /srv/www/css/home -> ../index.html".to_string(),
            "-rw-r----- 6 /srv/www/css/site.css".to_string(),
            "-rw-r--r-- 15 /srv/www/index.html".to_string(),
        ]
    };
    assert_eq!(baked_listing(&image), expected(12));
    assert_corrupt_copy_is_refused(&image, &guest.scratch);
    // The image still boots with its filesystem in the read-only segment.
    assert_runs(&image, "minimal\n");

    // New contents relink the program, though no source changed.
    guest.file("app.toml", "port = 8080\nhost = \"example\"\n", 0o600);
    let image = guest.built(&["--include", "app.toml:/etc/app.toml"]);
    assert_eq!(baked_listing(&image), expected(29));
}

#[test]
fn std_programs_get_baked_files_too() {
    let guest = Guest::std("baked-std");
    guest.file("data/answer.txt", "42\n", 0o644);
    let image = guest.built(&["--include", "data:/"]);
    assert_eq!(
        baked_listing(&image),
        ["files (1 entry, 3 B):", "-rw-r--r-- 3 /answer.txt"]
    );
    assert_runs(&image, "std\n");
}

#[test]
fn bad_includes_are_one_line_errors() {
    let guest = Guest::native("baked-errors", "");
    guest.file("a.txt", "a", 0o644);
    guest.file("d/b.txt", "b", 0o644);
    let build_error = |args: &[&str], exit: i32, needle: &str| {
        let (run, _) = guest.build(args);
        run.assert_clean_error(exit, needle);
    };
    build_error(
        &["--include", "a.txt"],
        code::USAGE,
        "expected HOST_PATH:GUEST_PATH",
    );
    build_error(
        &["--include", "a.txt:etc/a.txt"],
        code::USAGE,
        "not absolute",
    );
    build_error(
        &["--include", "missing.txt:/m"],
        code::BUILD,
        "cannot include missing.txt: No such file or directory",
    );
    build_error(
        &["--include", "a.txt:/x", "--include", "d:/x"],
        code::BUILD,
        "conflicting includes at /x: the file a.txt and the directory d",
    );
    build_error(
        &["--include", "a.txt:/"],
        code::BUILD,
        "cannot be baked at /: only a directory can",
    );
    // `kiln run DIR` builds with the same options.
    let run: Run = guest
        .kiln(&["run", "--include", "a.txt", "crate"])
        .output()
        .expect("run kiln")
        .into();
    run.assert_clean_error(code::USAGE, "expected HOST_PATH:GUEST_PATH");

    // The manifest's list is checked as strictly.
    let manifest = guest.dir.join("Cargo.toml");
    let original = std::fs::read_to_string(&manifest).expect("manifest");
    for (list, needle) in [
        (
            "[\"../a.txt:a.txt\"]",
            "include '../a.txt:a.txt': the guest path 'a.txt' is not absolute",
        ),
        (
            "\"../a.txt:/a\"",
            "include must be a list of \"HOST_PATH:GUEST_PATH\" strings",
        ),
    ] {
        std::fs::write(
            &manifest,
            format!("{original}[package.metadata.kiln]\ninclude = {list}\n"),
        )
        .expect("manifest");
        build_error(&[], code::BUILD, needle);
    }
}

/// A copy of `image` with its baked filesystem's header corrupted is
/// refused by `kiln inspect` with one error line and nothing else.
fn assert_corrupt_copy_is_refused(image: &Path, scratch: &Path) {
    let mut bytes = std::fs::read(image).expect("read image");
    let offset = {
        use object::{Object, ObjectSection};
        let elf = object::File::parse(&*bytes).expect("an ELF image");
        let section = elf
            .section_by_name(kiln_abi::fs_image::SECTION)
            .expect("the baked filesystem's section");
        section.file_range().expect("section data in the file").0 as usize
    };
    // The entry count (after the 8-byte magic) far beyond the section.
    bytes[offset + 8..offset + 12].copy_from_slice(&u32::MAX.to_le_bytes());
    let corrupt = scratch.join("corrupt");
    std::fs::write(&corrupt, &bytes).expect("write corrupt image");
    let run: Run = kiln()
        .arg("inspect")
        .arg(&corrupt)
        .output()
        .expect("run kiln inspect")
        .into();
    run.assert_clean_error(code::IMAGE, "baked filesystem is truncated");
    assert_eq!(run.stdout, "", "nothing is printed for a corrupt image");
}
