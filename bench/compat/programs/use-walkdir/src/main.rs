//! tempfile + walkdir: build a tree in a fresh temporary directory, walk it
//! sorted (depths, sizes, a pruned subtree, a symlink not followed), and
//! check the directory is gone once dropped.
use std::io::Write;
use walkdir::WalkDir;

fn main() {
    let root = tempfile::Builder::new()
        .prefix("compat-walk")
        .tempdir()
        .expect("tempdir");
    for dir in ["src/bin", "target/debug", "docs"] {
        std::fs::create_dir_all(root.path().join(dir)).expect("mkdir");
    }
    for (i, file) in [
        "src/main.rs",
        "src/lib.rs",
        "src/bin/tool.rs",
        "docs/a.md",
        "target/debug/out",
        "README",
    ]
    .iter()
    .enumerate()
    {
        let mut f = std::fs::File::create(root.path().join(file)).expect("create");
        f.write_all(&vec![b'x'; 100 * (i + 1)]).expect("write");
    }
    std::os::unix::fs::symlink("src", root.path().join("link-to-src")).expect("symlink");
    let mut named = tempfile::NamedTempFile::new_in(root.path()).expect("named");
    writeln!(named, "temporary").expect("write named");
    let kept = named.path().to_path_buf();

    let walk = WalkDir::new(root.path())
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.file_name() != "target");
    let mut total = 0;
    for entry in walk {
        let entry = entry.expect("entry");
        if entry.path() == kept {
            println!("(the named temporary file)");
            continue;
        }
        let relative = entry.path().strip_prefix(root.path()).expect("prefix");
        let meta = entry.metadata().expect("metadata");
        let kind = if entry.path_is_symlink() {
            "link"
        } else if meta.is_dir() {
            "dir"
        } else {
            "file"
        };
        if meta.is_file() {
            total += meta.len();
        }
        println!("{} {kind} {}", entry.depth(), relative.display());
    }
    println!("file bytes {total}");
    let followed = WalkDir::new(root.path())
        .follow_links(true)
        .into_iter()
        .count();
    println!("entries following links {followed}");
    drop(named);
    println!("named file removed: {}", !kept.exists());
    let path = root.path().to_path_buf();
    root.close().expect("close");
    println!("tempdir removed: {}", !path.exists());
}
