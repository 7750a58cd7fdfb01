//! Packs the guest sources (the ABI, the library OS, the C library, with
//! their lock files) into the `kiln` binary, so an installed `kiln` builds
//! `std` programs with no checkout (see `src/guest_build/sources.rs`).
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
    let workspace_manifest = crates.join("../Cargo.toml");
    println!("cargo::rerun-if-changed={}", workspace_manifest.display());

    let mut tar = tar::Builder::new(Vec::new());
    tar.mode(tar::HeaderMode::Deterministic);
    append(&mut tar, "Cargo.toml", &root_manifest(&workspace_manifest));
    for name in CRATES {
        let dir = crates.join(name);
        println!("cargo::rerun-if-changed={}", dir.display());
        for entry in walkdir::WalkDir::new(&dir)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| !skipped(e.file_name().to_string_lossy().as_ref()))
        {
            let entry = entry.expect("reading the guest sources");
            if entry.file_type().is_file() {
                let relative = entry.path().strip_prefix(&crates).expect("under crates/");
                let bytes = std::fs::read(entry.path()).expect("reading a guest source");
                append(&mut tar, &relative.to_string_lossy(), &bytes);
            }
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

/// The workspace manifest the packed ABI crate inherits from: the
/// repository's `[workspace.package]`, lints and registry dependencies, with
/// the ABI as the only member (the library OS and the C library are
/// workspaces of their own, as in the repository).
fn root_manifest(path: &Path) -> Vec<u8> {
    let text = std::fs::read_to_string(path).expect("reading the workspace manifest");
    let repository: toml_edit::DocumentMut = text.parse().expect("a valid workspace manifest");
    let workspace = repository["workspace"]
        .as_table()
        .expect("a [workspace] table");
    let mut packed = toml_edit::Table::new();
    packed.insert("resolver", workspace["resolver"].clone());
    packed.insert(
        "members",
        toml_edit::value(toml_edit::Array::from_iter(["kiln-abi"])),
    );
    packed.insert(
        "exclude",
        toml_edit::value(toml_edit::Array::from_iter(["kiln-libos", "kiln-libc"])),
    );
    for key in ["package", "lints"] {
        if let Some(item) = workspace.get(key) {
            packed.insert(key, item.clone());
        }
    }
    if let Some(dependencies) = workspace
        .get("dependencies")
        .and_then(|d| d.as_table_like())
    {
        let mut registry = toml_edit::Table::new();
        for (name, spec) in dependencies.iter() {
            let local = spec.as_table_like().is_some_and(|s| s.contains_key("path"));
            if !local {
                registry.insert(name, spec.clone());
            }
        }
        packed.insert("dependencies", toml_edit::Item::Table(registry));
    }
    let mut document = toml_edit::DocumentMut::new();
    document.insert("workspace", toml_edit::Item::Table(packed));
    document.to_string().into_bytes()
}
