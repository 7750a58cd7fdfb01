//! Kiln outside its checkout: every workspace's lock file is committed (so
//! builds and `.ci/lint` work offline and resolve the same versions).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::root;

/// Every `Cargo.toml` the repository tracks.
fn tracked_manifests(root: &Path) -> Vec<PathBuf> {
    let output = Command::new("git")
        .args(["ls-files", "-z", "--", "Cargo.toml", "**/Cargo.toml"])
        .current_dir(root)
        .output()
        .expect("run git");
    assert!(output.status.success(), "git ls-files failed");
    output
        .stdout
        .split(|&b| b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| root.join(String::from_utf8_lossy(p).as_ref()))
        .collect()
}

#[test]
fn every_workspace_commits_its_lock_file() {
    let root = root().canonicalize().expect("repository root");
    let mut workspaces = BTreeSet::new();
    for manifest in tracked_manifests(&root) {
        let output = Command::new(env!("CARGO"))
            .args(["locate-project", "--workspace", "--offline"])
            .args(["--message-format", "plain", "--manifest-path"])
            .arg(&manifest)
            .output()
            .expect("run cargo");
        assert!(
            output.status.success(),
            "cargo locate-project {}: {}",
            manifest.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        let workspace = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
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
