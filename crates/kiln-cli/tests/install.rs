//! Kiln outside its checkout: `cargo install` gives a `kiln` that builds
//! and runs `std` and `no_std` crates anywhere with the checkout gone, its
//! C library shared through the per-user cache, its images the same
//! whichever cache built them; and every workspace's lock file is committed
//! (so builds and `.ci/lint` work offline and resolve the same versions).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{require_kvm, root};

/// A fresh directory under the system's temporary directory.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kiln-install-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    dir
}

fn check(output: Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Copies the repository's files (tracked, and new ones not ignored: the
/// work in progress) to `to`.
fn copy_checkout(from: &Path, to: &Path) {
    let files = check(
        Command::new("git")
            .args([
                "ls-files",
                "-z",
                "--cached",
                "--others",
                "--exclude-standard",
            ])
            .current_dir(from)
            .output()
            .expect("run git"),
        "git ls-files",
    );
    for file in files.split('\0').filter(|f| !f.is_empty()) {
        let source = from.join(file);
        if !source.is_file() {
            continue; // deleted in the work tree
        }
        let target = to.join(file);
        std::fs::create_dir_all(target.parent().expect("a parent")).expect("create a directory");
        std::fs::copy(&source, &target).expect("copy a file");
    }
}

/// Writes a crate: its manifest and `src/main.rs`.
fn write_crate(dir: &Path, manifest: &str, main: &str) {
    std::fs::create_dir_all(dir.join("src")).expect("create a crate");
    std::fs::write(dir.join("Cargo.toml"), manifest).expect("write Cargo.toml");
    std::fs::write(dir.join("src/main.rs"), main).expect("write main.rs");
}

const STD_MANIFEST: &str =
    "[package]\nname = \"outside\"\nversion = \"0.1.0\"\nedition = \"2024\"\n";
const STD_MAIN: &str = "fn main() {\n    let v: Vec<u32> = (1..=10).collect();\n    \
                        println!(\"std outside the repository: {}\", v.iter().sum::<u32>());\n}\n";

/// `kiln build` of `dir` with `kiln_binary`, the per-user cache in `cache`
/// (the user's own if `None`) and the crate's target directory `target`:
/// returns the image's bytes.
fn build_image(kiln_binary: &Path, dir: &Path, cache: Option<&Path>, target: &Path) -> Vec<u8> {
    let mut command = Command::new(kiln_binary);
    command
        .arg("build")
        .arg(dir)
        .env("CARGO_TARGET_DIR", target);
    if let Some(cache) = cache {
        command.env("XDG_CACHE_HOME", cache);
    }
    let stdout = check(command.output().expect("run kiln"), "kiln build");
    let path = stdout.rsplit_once(" (").expect("PATH (SIZE)").0;
    std::fs::read(path).expect("read the image")
}

/// Installs kiln from a copy of the checkout, deletes the copy, and builds
/// and runs a `std` crate and a `no_std` crate (on the library OS that
/// `kiln sources` names) in a directory outside the repository, with a
/// fresh per-user cache. The `std` image is byte for byte the one the
/// repository's own `kiln` builds with another cache.
#[test]
fn an_installed_kiln_builds_and_runs_crates_anywhere_without_the_checkout() {
    require_kvm();
    let work = scratch("anywhere");
    let checkout = work.join("checkout");
    copy_checkout(&root().canonicalize().expect("repository root"), &checkout);
    let install_root = work.join("installed");
    check(
        Command::new(env!("CARGO"))
            .args(["install", "--locked", "--debug", "--path"])
            .arg(checkout.join("crates/kiln-cli"))
            .arg("--root")
            .arg(&install_root)
            // The repository's own target directory, so a rerun reuses
            // the compiled dependencies.
            .env("CARGO_TARGET_DIR", root().join("target/install-test"))
            .output()
            .expect("run cargo install"),
        "cargo install",
    );
    std::fs::remove_dir_all(&checkout).expect("remove the copy of the checkout");
    let installed = install_root.join("bin/kiln");
    let cache = work.join("cache");
    let crates = work.join("crates");
    std::fs::create_dir_all(&crates).expect("create the crates' directory");
    let in_crates = |args: &[&str]| {
        Command::new(&installed)
            .args(args)
            .current_dir(&crates)
            .env("XDG_CACHE_HOME", &cache)
            .env_remove("CARGO_TARGET_DIR")
            .output()
            .expect("run the installed kiln")
    };

    let sources = PathBuf::from(check(in_crates(&["sources"]), "kiln sources").trim());
    assert!(
        sources.starts_with(cache.join("kiln")),
        "{}",
        sources.display()
    );
    assert!(sources.join("kiln-libos/Cargo.toml").is_file());

    write_crate(&crates.join("outside"), STD_MANIFEST, STD_MAIN);
    let run = check(in_crates(&["run", "outside"]), "kiln run (std)");
    assert_eq!(run, "std outside the repository: 55\n");
    // The C library was built in the cache, not in the crate's target directory.
    let libc_rlibs = |dir: &Path| {
        walk(dir)
            .into_iter()
            .filter(|p| p.to_string_lossy().contains("libkiln_libc-"))
            .count()
    };
    assert_eq!(libc_rlibs(&crates.join("outside/target")), 0);
    assert!(libc_rlibs(&cache.join("kiln/libc")) > 0);

    let native_manifest = format!(
        "[package]\nname = \"native\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
         [dependencies]\nkiln = {{ package = \"kiln-libos\", path = \"{}\" }}\n",
        sources.join("kiln-libos").display()
    );
    let native_main = "#![no_std]\n#![no_main]\nkiln::entry!(main);\n\
                       fn main() {\n    kiln::println!(\"no_std outside the repository\");\n}\n";
    write_crate(&crates.join("native"), &native_manifest, native_main);
    let run = check(in_crates(&["run", "native"]), "kiln run (no_std)");
    assert_eq!(run, "no_std outside the repository\n");

    // The same crate, built by the repository's kiln with the user's own
    // cache (where the other tests built the C library) and another target
    // directory: the same bytes (no cache path, no checkout path of Kiln's
    // in the image).
    let ours = build_image(
        Path::new(env!("CARGO_BIN_EXE_kiln")),
        &crates.join("outside"),
        None,
        &work.join("target-repository"),
    );
    let theirs = build_image(
        &installed,
        &crates.join("outside"),
        Some(&cache),
        &work.join("target-installed"),
    );
    assert!(
        ours == theirs,
        "images differ between caches and kiln builds"
    );
    // A build trusts the cache's record of a finished C library only while
    // its files are all there: one removed is built again.
    let libc_rlib = walk(&cache.join("kiln/libc"))
        .into_iter()
        .find(|p| {
            p.extension().is_some_and(|e| e == "rlib")
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("libkiln_libc"))
        })
        .expect("the C library's rlib in the cache");
    std::fs::remove_file(&libc_rlib).expect("remove the C library's rlib");
    let repaired = build_image(
        &installed,
        &crates.join("outside"),
        Some(&cache),
        &work.join("target-repaired"),
    );
    assert!(libc_rlib.is_file(), "the C library was not built again");
    assert!(
        repaired == theirs,
        "the image changed with the rebuilt C library"
    );
    let cache_path = cache.to_string_lossy();
    assert!(
        !ours
            .windows(cache_path.len())
            .any(|w| w == cache_path.as_bytes()),
        "the image names the cache"
    );
    let _ = std::fs::remove_dir_all(&work);
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// Every `Cargo.toml` the repository tracks.
fn tracked_manifests(root: &Path) -> Vec<PathBuf> {
    let files = check(
        Command::new("git")
            .args(["ls-files", "-z", "--", "Cargo.toml", "**/Cargo.toml"])
            .current_dir(root)
            .output()
            .expect("run git"),
        "git ls-files",
    );
    files
        .split('\0')
        .filter(|p| !p.is_empty())
        .map(|p| root.join(p))
        .collect()
}

#[test]
fn every_workspace_commits_its_lock_file() {
    let root = root().canonicalize().expect("repository root");
    let mut workspaces = BTreeSet::new();
    for manifest in tracked_manifests(&root) {
        let workspace = check(
            Command::new(env!("CARGO"))
                .args(["locate-project", "--workspace", "--offline"])
                .args(["--message-format", "plain", "--manifest-path"])
                .arg(&manifest)
                .output()
                .expect("run cargo"),
            "cargo locate-project",
        );
        let workspace = PathBuf::from(workspace.trim());
        workspaces.insert(workspace.parent().expect("a directory").to_path_buf());
    }
    assert!(workspaces.len() > 10, "found only {workspaces:?}");
    let missing: Vec<_> = workspaces
        .iter()
        .map(|w| w.join("Cargo.lock"))
        .filter(|lock| {
            let relative = lock.strip_prefix(&root).expect("inside the repository");
            !Command::new("git")
                .args(["ls-files", "--error-unmatch"])
                .arg(relative)
                .current_dir(&root)
                .output()
                .expect("run git")
                .status
                .success()
        })
        .collect();
    assert!(missing.is_empty(), "lock files not committed: {missing:?}");
}
