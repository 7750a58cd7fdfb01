//! Packs the guest sources (the ABI, the library OS, the C library, with
//! their lock files) into the `kiln` binary, so an installed `kiln` builds
//! `std` programs with no checkout (see `src/guest_build/sources.rs`).
//!
//! They are laid out as in `crates/`, with the C library's workspace root
//! (manifest and lock file) at the top (see [`split_profiles`]).
//!
//! The archive is a gzipped tar with fixed metadata (sorted paths, no
//! times, no owners): the same sources give the same bytes, and
//! `KILN_GUEST_SOURCES_HASH`, the SHA-256 of the tar, names them.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::Digest as _;

/// The crates a guest build needs, beside this one in the repository.
const CRATES: [&str; 3] = ["kiln-abi", "kiln-libos", "kiln-libc"];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let crates = manifest_dir.join("..");

    let mut tar = tar::Builder::new(Vec::new());
    tar.mode(tar::HeaderMode::Deterministic);
    let (libc_manifest, root_manifest) = split_profiles(&crates.join("kiln-libc/Cargo.toml"));
    append(&mut tar, "Cargo.toml", &root_manifest);
    for name in CRATES {
        let dir = crates.join(name);
        println!("cargo::rerun-if-changed={}", dir.display());
        for entry in walkdir::WalkDir::new(&dir)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| !skipped(e.file_name().to_string_lossy().as_ref()))
        {
            let entry = entry.expect("reading the guest sources");
            if !entry.file_type().is_file() {
                continue;
            }
            let relative = entry.path().strip_prefix(&crates).expect("under crates/");
            let bytes = match relative.to_string_lossy().as_ref() {
                // The C library's workspace is the archive's root.
                "kiln-libc/Cargo.toml" => libc_manifest.clone(),
                "kiln-libc/Cargo.lock" => {
                    append(&mut tar, "Cargo.lock", &read(entry.path()));
                    continue;
                }
                _ => read(entry.path()),
            };
            append(&mut tar, &relative.to_string_lossy(), &bytes);
        }
    }
    let tar = tar.into_inner().expect("an in-memory archive");

    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&tar).expect("compressing in memory");
    let gz = gz.finish().expect("compressing in memory");
    std::fs::write(out.join("guest-sources.tar.gz"), gz).expect("writing OUT_DIR");
    let hash = sha2::Sha256::digest(&tar);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    println!("cargo::rustc-env=KILN_GUEST_SOURCES_HASH={hex}");
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("reading a guest source")
}

/// Build outputs and editor or VCS files are not sources.
fn skipped(name: &str) -> bool {
    name == "target" || name.starts_with('.')
}

fn append(tar: &mut tar::Builder<Vec<u8>>, path: &str, bytes: &[u8]) {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, path, bytes)
        .expect("appending to an in-memory archive");
}

/// The C library's manifest without its profiles, and the archive's root
/// workspace manifest with them. The C library is built in a workspace
/// whose root holds all three crates: cargo names the compiled crates
/// (`-C metadata`, hence every symbol's hash) after their paths relative
/// to the workspace root, or after their absolute paths when outside it,
/// and the absolute path is the user's cache. The ABI and the library OS
/// are path dependencies there, not members (a member's optional
/// dependencies would enter the lock file).
fn split_profiles(libc_manifest: &Path) -> (Vec<u8>, Vec<u8>) {
    let text = std::fs::read_to_string(libc_manifest).expect("reading the C library's manifest");
    let mut libc: toml_edit::DocumentMut = text.parse().expect("a valid manifest");
    let profiles = libc.remove("profile");
    let mut workspace = toml_edit::Table::new();
    workspace.insert("resolver", toml_edit::value("3"));
    workspace.insert(
        "members",
        toml_edit::value(toml_edit::Array::from_iter(["kiln-libc"])),
    );
    workspace.insert(
        "exclude",
        toml_edit::value(toml_edit::Array::from_iter(["kiln-abi", "kiln-libos"])),
    );
    let mut root = toml_edit::DocumentMut::new();
    root.insert("workspace", toml_edit::Item::Table(workspace));
    if let Some(profiles) = profiles {
        root.insert("profile", profiles);
    }
    (libc.to_string().into_bytes(), root.to_string().into_bytes())
}
