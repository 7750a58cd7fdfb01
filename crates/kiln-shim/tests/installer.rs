//! The installer's containerd config editor
//! (`deploy/kubernetes/installer/containerd-config.sh`) on copies of real
//! configs: containerd 1.6's own default (checked by containerd itself,
//! `config dump`), a containerd 2.x (version 3) one and an old version 1
//! one (checked by a TOML parser, Python's tomllib), run twice, and
//! removed again.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/kubernetes/installer/containerd-config.sh")
}

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kiln-installer-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    dir
}

fn edit(action: &str, config: &Path) -> Output {
    Command::new(script())
        .arg(action)
        .arg(config)
        .output()
        .expect("run containerd-config.sh")
}

fn edited(action: &str, config: &Path) -> String {
    let output = edit(action, config);
    assert!(
        output.status.success(),
        "{action}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::read_to_string(config).expect("the config")
}

/// The `runtime_type` of CRI runtime `handler` in the TOML file, by the
/// table path `plugin` (a list of keys), as Python's tomllib reads it.
fn runtime_type(config: &Path, plugin: &[&str], handler: &str) -> String {
    let keys: Vec<String> = plugin
        .iter()
        .chain(&["containerd", "runtimes", handler, "runtime_type"])
        .map(|k| format!("[{k:?}]"))
        .collect();
    let program = format!(
        "import sys, tomllib; print(tomllib.load(open(sys.argv[1], 'rb')){}, end='')",
        keys.join("")
    );
    let output = Command::new("python3")
        .args(["-c", &program])
        .arg(config)
        .output()
        .expect("python3");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn containerd_1_6s_default_config_gets_the_kiln_runtime_and_loses_it_again() {
    let dir = scratch("v2");
    let config = dir.join("config.toml");
    let default = Command::new("containerd")
        .args(["config", "default"])
        .output()
        .expect("containerd");
    assert!(default.status.success());
    std::fs::write(&config, &default.stdout).expect("write");
    let original = std::fs::read_to_string(&config).expect("read");

    let once = edited("add", &config);
    let twice = edited("add", &config);
    assert_eq!(once, twice, "adding again changes nothing");
    assert_eq!(
        runtime_type(&config, &["plugins", "io.containerd.grpc.v1.cri"], "kiln"),
        "io.containerd.kiln.v1"
    );
    assert_eq!(
        runtime_type(&config, &["plugins", "io.containerd.grpc.v1.cri"], "runc"),
        "io.containerd.runc.v2",
        "the other runtimes stay"
    );
    // containerd itself reads the result and sees the runtime.
    let dump = Command::new("containerd")
        .arg("--config")
        .arg(&config)
        .args(["config", "dump"])
        .output()
        .expect("containerd");
    let dump_text = String::from_utf8_lossy(&dump.stdout);
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let table = dump_text
        .split("[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.kiln]")
        .nth(1)
        .expect("containerd sees the kiln runtime");
    assert!(
        table.contains("runtime_type = \"io.containerd.kiln.v1\""),
        "{table}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("config.toml.before-kiln")).expect("backup"),
        original
    );

    assert_eq!(
        edited("remove", &config),
        original,
        "remove restores the file"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn containerd_2_and_version_1_configs_use_their_own_table_names() {
    let dir = scratch("v3");
    let v3 = dir.join("v3.toml");
    let v3_text = "version = 3\nroot = \"/var/lib/containerd\"\n\n[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]\n  runtime_type = 'io.containerd.runc.v2'\n";
    std::fs::write(&v3, v3_text).expect("write");
    edited("add", &v3);
    assert_eq!(
        runtime_type(&v3, &["plugins", "io.containerd.cri.v1.runtime"], "kiln"),
        "io.containerd.kiln.v1"
    );
    assert_eq!(
        runtime_type(&v3, &["plugins", "io.containerd.cri.v1.runtime"], "runc"),
        "io.containerd.runc.v2"
    );
    assert_eq!(edited("remove", &v3), v3_text);

    let v1 = dir.join("v1.toml");
    std::fs::write(
        &v1,
        "[plugins.cri]\n  sandbox_image = \"registry.k8s.io/pause:3.6\"",
    )
    .expect("write");
    edited("add", &v1);
    assert_eq!(
        runtime_type(&v1, &["plugins", "cri"], "kiln"),
        "io.containerd.kiln.v1"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_runtime_defined_by_someone_else_a_missing_file_and_bad_usage_are_refused() {
    let dir = scratch("refused");
    let config = dir.join("config.toml");
    let text = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.kiln]\n  runtime_type = \"io.containerd.other.v1\"\n";
    std::fs::write(&config, text).expect("write");
    let output = edit("add", &config);
    assert_eq!(output.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&output.stderr).contains("already defines"));
    assert_eq!(
        std::fs::read_to_string(&config).expect("read"),
        text,
        "left alone"
    );

    let missing = edit("add", &dir.join("absent.toml"));
    assert_eq!(missing.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("containerd config default"));
    assert_eq!(edit("replace", &config).status.code(), Some(2));
    let _ = std::fs::remove_dir_all(dir);
}
