//! Host files baked into the image: `--include HOST:GUEST` and the
//! manifest's `[package.metadata.kiln] include`.
//!
//! The files are gathered into a tree ([`tree`]), packed into one blob in
//! the `kiln_abi::fs_image` format ([`blob`]), and wrapped in an object
//! file ([`object_file`]) that the program's final link takes as one more
//! input. The linker script puts its section in the read-only segment.

mod blob;
mod include;
mod object_file;
mod tree;

use std::hash::Hasher;
use std::path::Path;

pub use include::Include;

use crate::exit_code::{BUILD, Failure};

/// Parses the manifest's include list; host paths are relative to the
/// crate directory `dir`.
pub fn manifest_includes(
    specs: &[String],
    dir: &Path,
    manifest: &Path,
) -> Result<Vec<Include>, Failure> {
    specs
        .iter()
        .map(|spec| {
            Include::parse(spec, dir).map_err(|e| {
                Failure::new(
                    BUILD,
                    format!(
                        "{}: [package.metadata.kiln] include '{spec}': {e}",
                        manifest.display()
                    ),
                )
            })
        })
        .collect()
}

/// Bakes `includes` into an object file in `target_dir` and returns the
/// arguments for the program's final `rustc` invocation that link it in.
/// Without includes there is nothing to link.
pub fn link_flags(
    target_dir: &Path,
    bin: &str,
    includes: &[Include],
) -> Result<Vec<String>, Failure> {
    if includes.is_empty() {
        return Ok(Vec::new());
    }
    let failure = |message: String| Failure::new(BUILD, message);
    let mut tree = tree::Tree::default();
    for include in includes {
        tree.add(include).map_err(failure)?;
    }
    let blob = blob::build(&tree.root).map_err(failure)?;
    let object = object_file::elf(&blob).map_err(failure)?;
    let path = target_dir.join("baked").join(format!("{bin}.o"));
    object_file::write_if_changed(&path, &object).map_err(failure)?;
    Ok(vec![
        format!("-Clink-arg={}", path.display()),
        // The object file is no input cargo tracks: this argument, part of
        // the program's fingerprint, changes with its contents, so new
        // contents relink the program (and dropping every include, which
        // drops the argument, does too).
        format!("--cfg=kiln_fs=\"{:016x}\"", fingerprint(&blob)),
    ])
}

fn fingerprint(blob: &[u8]) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    hasher.write(blob);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{PermissionsExt, symlink};
    use std::path::PathBuf;

    use kiln_abi::fs_image::{FsImage, kind};

    use super::*;

    /// A fresh directory for one test.
    fn scratch(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kiln-bake-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    fn write(path: &Path, text: &str, mode: u32) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
        std::fs::write(path, text).expect("write");
        chmod(path, mode);
    }

    fn include(host: &Path, guest: &str) -> Include {
        Include::from_arg(&format!("{}:{guest}", host.display())).expect("valid spec")
    }

    fn bake(includes: &[Include]) -> Result<Vec<u8>, String> {
        let mut tree = tree::Tree::default();
        for include in includes {
            tree.add(include)?;
        }
        blob::build(&tree.root)
    }

    /// Every entry as (path, mode, contents), in blob order.
    fn listing(blob: &[u8]) -> Vec<(String, u32, String)> {
        let image = FsImage::parse(blob).expect("a valid blob");
        let mut paths = vec![String::new()];
        let mut out = Vec::new();
        for entry in image.entries().skip(1) {
            let path = format!(
                "{}/{}",
                paths[entry.parent as usize],
                String::from_utf8_lossy(entry.name)
            );
            paths.push(path.clone());
            let data = String::from_utf8_lossy(entry.data).into_owned();
            out.push((path, entry.mode, data));
        }
        out
    }

    fn owned(entries: &[(&str, u32, &str)]) -> Vec<(String, u32, String)> {
        entries
            .iter()
            .map(|&(p, m, c)| (p.to_string(), m, c.to_string()))
            .collect()
    }

    /// A file, and a directory with a nested directory and a link.
    fn sample(dir: &Path) -> Vec<Include> {
        write(&dir.join("app.toml"), "port = 80\n", 0o600);
        write(&dir.join("www/index.html"), "<h1>hi</h1>\n", 0o644);
        write(&dir.join("www/css/site.css"), "p {}\n", 0o640);
        symlink("../index.html", dir.join("www/css/home")).expect("symlink");
        chmod(&dir.join("www"), 0o755);
        chmod(&dir.join("www/css"), 0o755);
        vec![
            include(&dir.join("app.toml"), "/etc/app.toml"),
            include(&dir.join("www"), "/srv/www"),
        ]
    }

    #[test]
    fn a_baked_tree_round_trips_through_the_parser() {
        let dir = scratch("round-trip");
        let blob = bake(&sample(&dir)).expect("bakes");
        let (d, f, l) = (kind::DIRECTORY, kind::FILE, kind::SYMLINK);
        // Breadth first, each directory's children in name order.
        let expected = owned(&[
            ("/etc", d | 0o755, ""),
            ("/srv", d | 0o755, ""),
            ("/etc/app.toml", f | 0o600, "port = 80\n"),
            ("/srv/www", d | 0o755, ""),
            ("/srv/www/css", d | 0o755, ""),
            ("/srv/www/index.html", f | 0o644, "<h1>hi</h1>\n"),
            ("/srv/www/css/home", l | 0o777, "../index.html"),
            ("/srv/www/css/site.css", f | 0o640, "p {}\n"),
        ]);
        assert_eq!(listing(&blob), expected);
        let image = FsImage::parse(&blob).expect("valid");
        let mtime = std::fs::metadata(dir.join("app.toml"))
            .expect("stat")
            .modified()
            .expect("mtime")
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        assert_eq!(image.entry(3).mtime, mtime as i64, "host mtime kept");
        assert_eq!(
            image.entry(1).mtime,
            0,
            "implied directories have a fixed time"
        );
    }

    #[test]
    fn the_same_inputs_give_the_same_bytes() {
        let dir = scratch("deterministic");
        let includes = sample(&dir);
        let first = bake(&includes).expect("bakes");
        assert_eq!(bake(&includes).expect("bakes"), first);
        // The order of includes that do not overlap does not matter either.
        let reversed: Vec<_> = includes.iter().rev().cloned().collect();
        assert_eq!(bake(&reversed).expect("bakes"), first);
        assert_eq!(object_file::elf(&first), object_file::elf(&first));
    }

    #[test]
    fn a_directory_at_the_root_fills_the_root_and_a_file_cannot() {
        let dir = scratch("root");
        write(&dir.join("tree/a"), "a", 0o644);
        chmod(&dir.join("tree"), 0o700);
        let blob = bake(&[include(&dir.join("tree"), "/")]).expect("bakes");
        assert_eq!(listing(&blob), owned(&[("/a", kind::FILE | 0o644, "a")]));
        let root = FsImage::parse(&blob).expect("valid").entry(0);
        assert_eq!(root.mode, kind::DIRECTORY | 0o700);
        let error = bake(&[include(&dir.join("tree/a"), "/")]).expect_err("a file at /");
        assert!(error.contains("cannot be baked at /"), "{error}");
    }

    #[test]
    fn directories_merge_and_a_named_one_keeps_its_mode() {
        let dir = scratch("merge");
        write(&dir.join("conf.toml"), "x", 0o644);
        write(&dir.join("etc/hosts"), "h", 0o644);
        chmod(&dir.join("etc"), 0o750);
        let blob = bake(&[
            include(&dir.join("conf.toml"), "/etc/conf.toml"),
            include(&dir.join("etc"), "/etc"),
        ])
        .expect("bakes");
        let expected = owned(&[
            ("/etc", kind::DIRECTORY | 0o750, ""),
            ("/etc/conf.toml", kind::FILE | 0o644, "x"),
            ("/etc/hosts", kind::FILE | 0o644, "h"),
        ]);
        assert_eq!(listing(&blob), expected);
    }

    #[test]
    fn conflicts_name_both_sources() {
        let dir = scratch("conflicts");
        write(&dir.join("a.txt"), "a", 0o644);
        write(&dir.join("b.txt"), "b", 0o644);
        write(&dir.join("d/a.txt"), "a", 0o644);
        let a = dir.join("a.txt").display().to_string();
        let b = dir.join("b.txt").display().to_string();
        let d = dir.join("d").display().to_string();
        let inner_a = dir.join("d/a.txt").display().to_string();
        for (includes, needles) in [
            (
                vec![
                    include(&dir.join("a.txt"), "/x"),
                    include(&dir.join("b.txt"), "/x"),
                ],
                vec!["at /x:", &a, &b],
            ),
            (
                vec![
                    include(&dir.join("a.txt"), "/x"),
                    include(&dir.join("d"), "/x"),
                ],
                vec!["at /x:", "the file", &a, "the directory", &d],
            ),
            (
                // A file where another include needs a directory.
                vec![
                    include(&dir.join("a.txt"), "/x"),
                    include(&dir.join("b.txt"), "/x/y"),
                ],
                vec!["at /x:", &a, "the directory made for", &b],
            ),
            (
                // Inside a merged directory.
                vec![
                    include(&dir.join("d"), "/"),
                    include(&dir.join("a.txt"), "/a.txt"),
                ],
                vec!["at /a.txt:", &inner_a, &a],
            ),
        ] {
            let error = bake(&includes).expect_err("a conflict");
            for needle in needles {
                assert!(error.contains(needle), "{needle:?} missing: {error}");
            }
        }
    }

    #[test]
    fn only_files_directories_and_links_can_be_baked() {
        let dir = scratch("special");
        let _listener = std::os::unix::net::UnixListener::bind(dir.join("sock")).expect("bind");
        let error = bake(&[include(&dir, "/d")]).expect_err("a socket");
        assert!(error.contains("sock: it is a socket"), "{error}");
        let error = bake(&[include(&dir.join("missing"), "/m")]).expect_err("missing");
        assert!(error.contains("missing"), "{error}");
    }

    #[test]
    fn more_than_the_limit_is_refused_before_reading() {
        let dir = scratch("limit");
        // Sparse: costs no disk, and is never read.
        let file = std::fs::File::create(dir.join("big")).expect("create");
        file.set_len(blob::MAX_LEN).expect("set_len");
        let error = bake(&[include(&dir.join("big"), "/big")]).expect_err("too large");
        assert!(error.contains("would exceed 1 GiB"), "{error}");
    }

    #[test]
    fn a_top_level_link_is_followed_and_inner_ones_are_not() {
        let dir = scratch("links");
        write(&dir.join("real/f"), "f", 0o644);
        symlink("real", dir.join("link")).expect("symlink");
        symlink("f", dir.join("real/g")).expect("symlink");
        let blob = bake(&[include(&dir.join("link"), "/x")]).expect("bakes");
        let kinds: Vec<_> = listing(&blob)
            .into_iter()
            .map(|(p, m, _)| (p, m & kind::MASK))
            .collect();
        let expected = [
            ("/x", kind::DIRECTORY),
            ("/x/f", kind::FILE),
            ("/x/g", kind::SYMLINK),
        ]
        .map(|(p, k)| (p.to_string(), k));
        assert_eq!(kinds, expected);
    }
}
