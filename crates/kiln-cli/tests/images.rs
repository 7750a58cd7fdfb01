//! OCI images end to end, against the real components a user meets: a
//! CNCF distribution registry (Debian's `docker-registry`) on a free
//! loopback port with its own storage, `htpasswd` for a password file, and
//! containerd's `ctr image import` for archives. Each test has its own kiln
//! state directory.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use common::{Run, code, free_port, kiln, kiln_in, require_kvm, root};
use kiln_oci::digest::Digest;

/// `kiln`'s exit code for a missing image or a registry failure.
const REGISTRY: i32 = 120;

/// A scratch directory removed at the end of the test.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("kiln-images-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the scratch directory");
        Self(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn assert_ok(run: &Run, what: &str) {
    assert_eq!(
        run.code, 0,
        "{what}: stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
}

/// A registry process, stopped when dropped.
struct Registry {
    child: Child,
    port: u16,
    storage: PathBuf,
}

impl Registry {
    /// Starts `docker-registry` on a free loopback port, storing under
    /// `dir`; with `htpasswd`, only that password file's users get in.
    fn start(dir: &Path, htpasswd: Option<&Path>) -> Self {
        Self::start_with(dir, htpasswd, None)
    }

    /// Starts it with TLS (PEM certificate and key) when `tls` is given.
    fn start_with(dir: &Path, htpasswd: Option<&Path>, tls: Option<(&Path, &Path)>) -> Self {
        let port = free_port();
        let storage = dir.join("registry-storage");
        let auth = htpasswd.map_or_else(String::new, |file| {
            format!(
                "auth:\n  htpasswd:\n    realm: kiln-test\n    path: {}\n",
                file.display()
            )
        });
        let tls = tls.map_or_else(String::new, |(certificate, key)| {
            format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                certificate.display(),
                key.display()
            )
        });
        let config = dir.join("registry.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{tls}{auth}",
                storage.display()
            ),
        )
        .expect("write the registry's config");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry (apt install docker-registry)");
        let registry = Self {
            child,
            port,
            storage,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the registry did not start listening"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        registry
    }

    fn host(&self) -> String {
        format!("localhost:{}", self.port)
    }

    /// The registry's own file for the blob `digest`.
    fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.storage
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Builds `examples/std-env` (prints its arguments and environment) and
/// stores it under `references` with the given extra `kiln build` flags.
fn build_tagged(state: &Path, references: &[&str], flags: &[&str]) -> Run {
    // One build at a time: cargo replaces the program file even when it is
    // up to date, and a concurrent build could read it in between.
    static BUILDS: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = BUILDS.lock().unwrap_or_else(|e| e.into_inner());
    let dir = root().join("examples/std-env");
    let mut args = vec!["build", dir.to_str().expect("utf-8 path"), "--release"];
    for reference in references {
        args.extend(["-t", reference]);
    }
    args.extend_from_slice(flags);
    let run = kiln_in(state, &args);
    assert_ok(&run, "kiln build -t");
    run
}

/// The digests of the manifest's config and layers, from `kiln save`.
fn stored_manifest(state: &Path, reference: &str) -> serde_json::Value {
    let images = kiln_in(state, &["images", "--format", "json"]);
    assert_ok(&images, "kiln images");
    let listed: serde_json::Value = serde_json::from_str(&images.stdout).expect("json");
    let digest = listed
        .as_array()
        .expect("a list")
        .iter()
        .find(|image| image["reference"] == reference)
        .unwrap_or_else(|| panic!("{reference} not in {listed}"))["digest"]
        .as_str()
        .expect("a digest")
        .to_string();
    stored_blob(state, &serde_json::Value::from(digest))
}

/// The stored JSON blob (a manifest, a config) with this digest.
fn stored_blob(state: &Path, digest: &serde_json::Value) -> serde_json::Value {
    let hex = digest
        .as_str()
        .expect("a digest")
        .trim_start_matches("sha256:");
    let bytes = std::fs::read(state.join("images/blobs/sha256").join(hex)).expect("the blob");
    serde_json::from_slice(&bytes).expect("JSON")
}

fn blobs_in(state: &Path) -> Vec<String> {
    let dir = state.join("images/blobs/sha256");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn an_image_built_with_settings_runs_by_reference_with_them() {
    require_kvm();
    let scratch = Scratch::new("settings");
    let state = scratch.path("state");
    let built = build_tagged(
        &state,
        &["envtest:v1", "team/envtest"],
        &[
            "-e",
            "FROM_IMAGE=yes",
            "-e",
            "B=image",
            "-m",
            "64M",
            "--expose",
            "8080",
            "--",
            "a1",
            "a2",
        ],
    );
    assert!(
        built.stdout.contains("Tagged envtest:v1"),
        "{}",
        built.stdout
    );
    assert!(
        built.stdout.contains("Tagged team/envtest:latest"),
        "{}",
        built.stdout
    );

    let run = kiln_in(&state, &["run", "envtest:v1"]);
    assert!(
        run.stdout.contains(r#"args: ["std-env", "a1", "a2"]"#),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains(r#"("B", "image"), ("FROM_IMAGE", "yes")"#),
        "{}",
        run.stdout
    );
    // Arguments given replace the image's; -e wins over the image's value.
    let run = kiln_in(&state, &["run", "-e", "B=cli", "envtest:v1", "--", "x"]);
    assert!(
        run.stdout.contains(r#"args: ["std-env", "x"]"#),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains(r#"("B", "cli"), ("FROM_IMAGE", "yes")"#),
        "{}",
        run.stdout
    );
    // The image's memory limit applies unless -m says otherwise.
    let verbose = kiln_in(&state, &["run", "--verbose", "envtest:v1"]);
    assert!(verbose.stderr.contains("of 64 MiB"), "{}", verbose.stderr);

    let images = kiln_in(&state, &["images", "--format", "json"]);
    let listed: serde_json::Value = serde_json::from_str(&images.stdout).expect("json");
    let references: Vec<&str> = listed
        .as_array()
        .expect("list")
        .iter()
        .map(|i| i["reference"].as_str().expect("reference"))
        .collect();
    assert_eq!(
        references,
        [
            "docker.io/library/envtest:v1",
            "docker.io/team/envtest:latest"
        ]
    );
    assert_eq!(listed[0]["digest"], listed[1]["digest"]);
    let table = kiln_in(&state, &["images"]);
    assert!(
        table
            .stdout
            .lines()
            .any(|l| l.starts_with("envtest ") && l.contains(" v1 ")),
        "{}",
        table.stdout
    );

    // A standard config: Entrypoint names the ELF in the layer's root.
    let manifest = stored_manifest(&state, "docker.io/library/envtest:v1");
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        manifest["annotations"]["dev.kiln.abi-version"],
        kiln_abi::ABI_VERSION.to_string()
    );
    let config = stored_blob(&state, &manifest["config"]["digest"]);
    assert_eq!(config["os"], "linux");
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/std-env"])
    );
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["a1", "a2"]));
    assert_eq!(
        config["config"]["ExposedPorts"],
        serde_json::json!({"8080/tcp": {}})
    );
    assert_eq!(
        config["config"]["Labels"]["dev.kiln.memory"],
        (64u64 << 20).to_string()
    );

    let inspect = kiln_in(&state, &["inspect", "envtest:v1", "--format", "json"]);
    assert_ok(&inspect, "kiln inspect REF");
    let inspected: serde_json::Value = serde_json::from_str(&inspect.stdout).expect("json");
    assert_eq!(inspected["program"], "std-env");
    assert_eq!(inspected["args"], serde_json::json!(["a1", "a2"]));
    assert_eq!(inspected["memory"], 64u64 << 20);
    assert_eq!(inspected["exposed_ports"], serde_json::json!(["8080/tcp"]));

    // Tag, then remove: blobs go only with the last reference.
    assert_ok(
        &kiln_in(&state, &["tag", "envtest:v1", "envtest:v2"]),
        "kiln tag",
    );
    let before = blobs_in(&state);
    assert_eq!(before.len(), 3, "{before:?}");
    let rmi = kiln_in(&state, &["rmi", "envtest:v1", "team/envtest"]);
    assert_ok(&rmi, "kiln rmi");
    assert_eq!(blobs_in(&state), before, "envtest:v2 still needs them");
    let rmi = kiln_in(&state, &["rmi", "envtest:v2"]);
    assert!(rmi.stdout.contains("Deleted: 3 blobs"), "{}", rmi.stdout);
    assert!(blobs_in(&state).is_empty());
    assert!(
        walk(&state.join("images/unpacked")).is_empty(),
        "the program unpacked to run it goes with its layer"
    );
    kiln_in(&state, &["rmi", "envtest:v2"])
        .assert_clean_error(REGISTRY, "no image 'envtest:v2' here");
    // A reference not stored is pulled, as `docker run` does (there is no
    // Docker Hub here: the pull fails, naming it).
    let run = kiln_in(&state, &["run", "envtest:v2"]);
    assert_eq!(run.code, REGISTRY, "{}", run.stderr);
    assert!(
        run.stderr
            .starts_with("kiln: envtest:v2 is not here; pulling it\nkiln: error: docker.io: "),
        "{}",
        run.stderr
    );
}

/// Waits for `kiln` output `needle` on a child's stderr (lines read so far
/// returned on failure).
fn wait_for_line(reader: &mut impl std::io::BufRead, needle: &str) -> String {
    let mut seen = String::new();
    let mut line = String::new();
    while reader.read_line(&mut line).expect("read stderr") > 0 {
        seen.push_str(&line);
        if line.contains(needle) {
            return seen;
        }
        line.clear();
    }
    panic!("no {needle:?} in:\n{seen}");
}

#[test]
fn instances_and_kiln_serve_run_images_by_reference() {
    require_kvm();
    let scratch = Scratch::new("instances");
    let state = scratch.path("state");
    let dir = root().join("examples/http-hello");
    let dir = dir.to_str().expect("utf-8");
    // Only this test builds http-hello: no other build rewrites it meanwhile.
    assert_ok(
        &kiln_in(
            &state,
            &[
                "build",
                dir,
                "--release",
                "-t",
                "hello-http:v1",
                "--",
                "8080",
            ],
        ),
        "kiln build -t",
    );
    // [package.metadata.kiln.image] (expose 80, an env entry) and the
    // command line's argument are both in the image's config.
    let manifest = stored_manifest(&state, "docker.io/library/hello-http:v1");
    let config = stored_blob(&state, &manifest["config"]["digest"]);
    assert_eq!(
        config["config"]["ExposedPorts"],
        serde_json::json!({"80/tcp": {}})
    );
    assert_eq!(
        config["config"]["Env"],
        serde_json::json!(["HELLO_IMAGE=1"])
    );
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["8080"]));

    // kiln run -d REF: an instance whose image is listed by reference.
    let id = kiln_in(
        &state,
        &[
            "run",
            "-d",
            "--net",
            "ports",
            "-p",
            &format!("127.0.0.1:{}:8080", free_port()),
            "hello-http:v1",
        ],
    );
    assert_ok(&id, "kiln run -d REF");
    let ps = kiln_in(&state, &["ps", "--format", "json"]);
    assert!(
        ps.stdout.contains(r#""image": "hello-http:v1""#),
        "{}",
        ps.stdout
    );
    assert_ok(&kiln_in(&state, &["stop", id.stdout.trim()]), "kiln stop");

    // kiln serve REF boots the image (its Cmd: port 8080) on demand.
    let port = free_port();
    let mut serve = kiln()
        .env("KILN_STATE_DIR", &state)
        .args([
            "serve",
            "--net",
            "ports",
            "--no-spare",
            "-p",
            &format!("127.0.0.1:{port}:8080"),
            "hello-http:v1",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kiln serve");
    let mut stderr = std::io::BufReader::new(serve.stderr.take().expect("stderr"));
    wait_for_line(&mut stderr, "kiln serve: listening on");
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to kiln serve");
    let (status, body) = common::http_get(&mut std::io::BufReader::new(stream), "/");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.contains("Hello from Kiln"), "{body}");
    let _ = Command::new("kill").arg(serve.id().to_string()).status();
    let _ = serve.wait();

    // The stopped instance could start again: its image stays unless forced.
    kiln_in(&state, &["rmi", "hello-http:v1"])
        .assert_clean_error(code::USAGE, "is used by instance");
    assert_ok(
        &kiln_in(&state, &["rmi", "-f", "hello-http:v1"]),
        "kiln rmi -f",
    );
    assert!(walk(&state.join("images/blobs")).is_empty());
}

#[test]
fn bad_references_and_flags_are_one_clear_line() {
    let scratch = Scratch::new("bad-references");
    let state = scratch.path("state");
    for args in [
        &["pull", "Upper/Case"][..],
        &["push", "app:"],
        &["tag", "a", "b"],
        &["rmi", "x@sha256:1234"],
        &["save", "bad::ref", "-o", "/dev/null"],
        &["run", "Not_A:Ref!"],
    ] {
        let run = kiln_in(&state, args);
        let expected = if args[0] == "tag" {
            REGISTRY
        } else {
            code::USAGE
        };
        let needle = if args[0] == "tag" {
            "no image 'a' here"
        } else {
            ""
        };
        run.assert_clean_error(expected, needle);
    }
    let dir = root().join("examples/std-env");
    let dir = dir.to_str().expect("utf-8");
    for (flags, needle) in [
        (
            &["-t", "app", "--expose", "http"][..],
            "invalid --expose 'http'",
        ),
        (&["-t", "app", "-e", "=x"], "invalid --env '=x'"),
        (&["-t", "UPPER"], "invalid reference 'UPPER'"),
    ] {
        let mut args = vec!["build", dir];
        args.extend_from_slice(flags);
        kiln_in(&state, &args).assert_clean_error(code::USAGE, needle);
    }
}

#[test]
fn push_then_pull_and_run_from_a_registry() {
    require_kvm();
    let scratch = Scratch::new("push-pull");
    let registry = Registry::start(&scratch.0, None);
    let state = scratch.path("state");
    let reference = format!("{}/team/envtest:v1", registry.host());
    build_tagged(&state, &[&reference], &["--", "from-registry"]);

    let push = kiln_in(&state, &["push", &reference]);
    assert_ok(&push, "kiln push");
    assert_eq!(
        push.stderr.matches(": pushed ").count(),
        2,
        "layer and config:\n{}",
        push.stderr
    );
    let manifest = stored_manifest(&state, &reference);
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .expect("layer digest")
        .to_string();
    assert!(
        registry.blob_file(&layer).is_file(),
        "the registry stored the layer"
    );
    // Pushing again sends no blob: the registry says it has them.
    let again = kiln_in(&state, &["push", &reference]);
    assert_ok(&again, "kiln push again");
    assert!(!again.stderr.contains("pushed"), "{}", again.stderr);
    assert_eq!(
        again.stderr.matches("already there").count(),
        2,
        "{}",
        again.stderr
    );

    // Rebuilding the unchanged program gives the same layer (reproducible
    // links and layers): only the new config (its creation time) is sent.
    build_tagged(&state, &[&reference], &["--", "from-registry"]);
    let rebuilt = kiln_in(&state, &["push", &reference]);
    assert_ok(&rebuilt, "kiln push after a rebuild");
    let layer_short = &layer.trim_start_matches("sha256:")[..12];
    assert!(
        rebuilt
            .stderr
            .contains(&format!("{layer_short}: already there")),
        "{}",
        rebuilt.stderr
    );

    // Another machine: run by reference pulls first.
    let other = scratch.path("other");
    let run = kiln_in(&other, &["run", &reference]);
    assert_eq!(run.code, 7, "std-env's exit code; stderr:\n{}", run.stderr);
    assert!(
        run.stderr.contains("is not here; pulling it"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains(r#"args: ["std-env", "from-registry"]"#),
        "{}",
        run.stdout
    );
    assert_eq!(blobs_in(&other), blobs_in(&state));
    // The second run uses the stored image.
    let run = kiln_in(&other, &["run", &reference]);
    assert!(!run.stderr.contains("pulling"), "{}", run.stderr);
    let pull = kiln_in(&other, &["pull", &reference]);
    assert_ok(&pull, "kiln pull of a stored image");
    assert!(pull.stderr.contains("already there"), "{}", pull.stderr);

    kiln_in(
        &other,
        &["pull", &format!("{}/team/nothing:v1", registry.host())],
    )
    .assert_clean_error(REGISTRY, "no such image");
}

#[test]
fn a_password_protected_registry_needs_a_login() {
    require_kvm();
    let scratch = Scratch::new("auth");
    let htpasswd = scratch.path("htpasswd");
    let made = Command::new("htpasswd")
        .args(["-Bbc", htpasswd.to_str().expect("utf-8"), "alice", "s3cret"])
        .output()
        .expect("run htpasswd (apt install apache2-utils)");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let registry = Registry::start(&scratch.0, Some(&htpasswd));
    let state = scratch.path("state");
    let reference = format!("{}/envtest:v1", registry.host());
    build_tagged(&state, &[&reference], &[]);

    kiln_in(&state, &["push", &reference]).assert_clean_error(REGISTRY, "access denied");
    let login = |password: &str| -> Run {
        let mut child = kiln()
            .env("KILN_STATE_DIR", &state)
            .args(["login", &registry.host(), "-u", "alice", "--password-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kiln login");
        writeln!(child.stdin.take().expect("stdin"), "{password}").expect("write the password");
        child.wait_with_output().expect("kiln login").into()
    };
    login("wrong").assert_clean_error(REGISTRY, "access denied");
    assert!(
        !state.join("credentials.json").exists(),
        "a refused login is not kept"
    );
    let ok = login("s3cret");
    assert_ok(&ok, "kiln login");
    assert!(ok.stdout.contains("Login Succeeded"));
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(state.join("credentials.json"))
            .expect("credentials")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    assert_ok(
        &kiln_in(&state, &["push", &reference]),
        "kiln push after login",
    );

    // Without a login another machine cannot pull; Docker's login works too.
    let other = scratch.path("other");
    kiln_in(&other, &["pull", &reference]).assert_clean_error(REGISTRY, "access denied");
    let docker_config = scratch.path("docker");
    std::fs::create_dir_all(&docker_config).expect("mkdir");
    std::fs::write(
        docker_config.join("config.json"),
        format!(
            r#"{{"auths":{{"{}":{{"auth":"YWxpY2U6czNjcmV0"}}}}}}"#,
            registry.host()
        ),
    )
    .expect("write Docker's config");
    let pulled: Run = kiln()
        .env("KILN_STATE_DIR", &other)
        .env("DOCKER_CONFIG", &docker_config)
        .args(["pull", &reference])
        .output()
        .expect("kiln pull")
        .into();
    assert_ok(&pulled, "kiln pull with Docker's login");

    // On a terminal, kiln login asks, as docker login does: the password
    // is not echoed.
    let third = scratch.path("third");
    let (controller, terminal) = common::pseudo_terminal();
    let mut child = kiln()
        .env("KILN_STATE_DIR", &third)
        .args(["login", &registry.host()])
        .stdin(Stdio::from(
            terminal.try_clone().expect("clone the terminal"),
        ))
        .stdout(Stdio::from(
            terminal.try_clone().expect("clone the terminal"),
        ))
        .stderr(Stdio::from(terminal))
        .spawn()
        .expect("run kiln login");
    let mut screen = std::fs::File::from(controller);
    let mut seen = String::new();
    for (question, answer) in [("Username: ", "alice\n"), ("Password: ", "s3cret\n")] {
        while !seen.contains(question) {
            let mut buffer = [0u8; 256];
            let n = screen.read(&mut buffer).expect("read the terminal");
            seen.push_str(&String::from_utf8_lossy(&buffer[..n]));
        }
        screen.write_all(answer.as_bytes()).expect("answer");
    }
    while !seen.contains("Login Succeeded") {
        let mut buffer = [0u8; 256];
        match screen.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buffer[..n])),
        }
    }
    assert!(child.wait().expect("kiln login").success(), "{seen}");
    assert!(seen.contains("Login Succeeded"), "{seen}");
    assert!(
        seen.contains("alice") && !seen.contains("s3cret"),
        "echo: {seen}"
    );
    assert!(third.join("credentials.json").is_file());

    let logout = kiln_in(&state, &["logout", &registry.host()]);
    assert_ok(&logout, "kiln logout");
    kiln_in(&state, &["push", &reference]).assert_clean_error(REGISTRY, "access denied");
}

#[test]
fn a_registry_with_tls_is_trusted_through_certs_d() {
    require_kvm();
    let scratch = Scratch::new("tls");
    // A CA, and the registry's certificate signed by it (rustls refuses a
    // self-signed certificate that is its own CA).
    let path = |name: &str| scratch.path(name).to_str().expect("utf-8").to_string();
    let (ca, ca_key, certificate, key) = (
        path("ca.crt"),
        path("ca.key"),
        path("registry.crt"),
        path("registry.key"),
    );
    let extensions = path("registry.ext");
    std::fs::write(
        &extensions,
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write the extensions");
    let csr = path("registry.csr");
    for args in [
        vec![
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=kiln-test-ca",
            "-keyout",
            &ca_key,
            "-out",
            &ca,
        ],
        vec![
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            &key,
            "-out",
            &csr,
        ],
        vec![
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            &extensions,
            "-out",
            &certificate,
        ],
    ] {
        let made = Command::new("openssl")
            .args(&args)
            .output()
            .expect("run openssl");
        assert!(
            made.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&made.stderr)
        );
    }
    let (certificate, key) = (PathBuf::from(certificate), PathBuf::from(key));
    let registry = Registry::start_with(&scratch.0, None, Some((&certificate, &key)));
    let state = scratch.path("state");
    let reference = format!("{}/envtest:v1", registry.host());
    build_tagged(&state, &[&reference], &[]);

    // Plain HTTP to a TLS registry is refused by it.
    let refused = kiln_in(&state, &["push", &reference]);
    assert_eq!(refused.code, REGISTRY, "{}", refused.stderr);
    // Its certificate kept as Docker keeps one: HTTPS, trusted.
    let certs = state.join("certs.d").join(registry.host());
    std::fs::create_dir_all(&certs).expect("mkdir certs.d");
    std::fs::copy(&ca, certs.join("ca.crt")).expect("copy the CA certificate");
    assert_ok(
        &kiln_in(&state, &["push", &reference]),
        "kiln push over TLS",
    );
    let other = scratch.path("other");
    let untrusted = kiln_in(&other, &["pull", &reference]);
    assert_eq!(untrusted.code, REGISTRY, "{}", untrusted.stderr);
    let other_certs = other.join("certs.d").join(registry.host());
    std::fs::create_dir_all(&other_certs).expect("mkdir certs.d");
    std::fs::copy(&ca, other_certs.join("ca.crt")).expect("copy the CA certificate");
    assert_ok(
        &kiln_in(&other, &["pull", &reference]),
        "kiln pull over TLS",
    );
    let run = kiln_in(&other, &["run", &reference]);
    assert!(run.stdout.contains("args: [\"std-env\"]"), "{}", run.stdout);

    // A damaged certificate is an error, not a quiet fall back to a client
    // without it.
    let damaged = scratch.path("damaged");
    let damaged_certs = damaged.join("certs.d").join(registry.host());
    std::fs::create_dir_all(&damaged_certs).expect("mkdir certs.d");
    std::fs::write(
        damaged_certs.join("ca.crt"),
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .expect("write a damaged certificate");
    kiln_in(&damaged, &["pull", &reference])
        .assert_clean_error(REGISTRY, "cannot set up the HTTP client");
}

#[test]
fn a_corrupted_blob_in_the_registry_never_enters_the_store() {
    require_kvm();
    let scratch = Scratch::new("corrupt");
    let registry = Registry::start(&scratch.0, None);
    let state = scratch.path("state");
    let reference = format!("{}/envtest:v1", registry.host());
    build_tagged(&state, &[&reference], &[]);
    assert_ok(&kiln_in(&state, &["push", &reference]), "kiln push");
    let manifest = stored_manifest(&state, &reference);
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .expect("layer digest")
        .to_string();
    let file = registry.blob_file(&layer);
    let mut bytes = std::fs::read(&file).expect("the registry's blob");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&file, &bytes).expect("corrupt the blob");

    let other = scratch.path("other");
    kiln_in(&other, &["pull", &reference]).assert_clean_error(code::IMAGE, "digest");
    assert!(blobs_in(&other).is_empty(), "{:?}", blobs_in(&other));
    let images = kiln_in(&other, &["images", "--format", "json"]);
    assert_eq!(images.stdout.trim(), "[]");
}

/// A TCP relay to `target` that stops passing the server's bytes after
/// `limit` of them, and reports when it has.
fn stalling_relay(target: u16, limit: u64) -> (u16, mpsc::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the relay");
    let port = listener.local_addr().expect("address").port();
    let (stalled_tx, stalled_rx) = mpsc::channel();
    let passed = Arc::new(AtomicU64::new(0));
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { continue };
            let mut server = TcpStream::connect(("127.0.0.1", target)).expect("reach the registry");
            let (mut client_in, mut server_out) = (
                client.try_clone().expect("clone"),
                server.try_clone().expect("clone"),
            );
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut client_in, &mut server_out);
            });
            let passed = Arc::clone(&passed);
            let stalled_tx = stalled_tx.clone();
            std::thread::spawn(move || {
                let mut buffer = [0u8; 4096];
                loop {
                    if passed.load(Ordering::SeqCst) >= limit {
                        let _ = stalled_tx.send(());
                        std::thread::sleep(Duration::from_secs(600));
                        return;
                    }
                    match server.read(&mut buffer) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            passed.fetch_add(n as u64, Ordering::SeqCst);
                            if client.write_all(&buffer[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    (port, stalled_rx)
}

#[test]
fn a_killed_pull_leaves_nothing_behind() {
    require_kvm();
    let scratch = Scratch::new("killed-pull");
    let registry = Registry::start(&scratch.0, None);
    let state = scratch.path("state");
    let reference = format!("{}/envtest:v1", registry.host());
    build_tagged(&state, &[&reference], &[]);
    assert_ok(&kiln_in(&state, &["push", &reference]), "kiln push");

    // Through the relay the pull gets the manifest, the config and part of
    // the layer, then nothing more: it is killed in the middle.
    let (relay, stalled) = stalling_relay(registry.port, 64 << 10);
    let through_relay = format!("localhost:{relay}/envtest:v1");
    let other = scratch.path("other");
    let mut pull = kiln()
        .env("KILN_STATE_DIR", &other)
        .args(["pull", &through_relay])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start kiln pull");
    stalled
        .recv_timeout(Duration::from_secs(60))
        .expect("the pull got 64 KiB through the relay");
    std::thread::sleep(Duration::from_millis(200));
    pull.kill().expect("kill the pull");
    pull.wait().expect("reap the pull");

    assert!(blobs_in(&other).is_empty(), "{:?}", blobs_in(&other));
    let images = kiln_in(&other, &["images", "--format", "json"]);
    assert_eq!(images.stdout.trim(), "[]");
    // Nothing half-written anywhere in the store, and a new pull works.
    let leftovers: Vec<_> = walk(&other.join("images"))
        .into_iter()
        .filter(|p| {
            !["oci-layout", "gc.lock", "index.lock", "index.json"]
                .contains(&p.file_name().and_then(|n| n.to_str()).unwrap_or(""))
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_ok(
        &kiln_in(&other, &["pull", &reference]),
        "a pull after the killed one",
    );
    assert_eq!(blobs_in(&other), blobs_in(&state));
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Uploads `bytes` as a blob of `repository` with the registry's API
/// (curl): a POST opens an upload, a PUT to its location completes it.
fn upload_blob(registry: &Registry, repository: &str, bytes: &[u8]) -> String {
    let digest = Digest::of(bytes).to_string();
    let (status, headers) = curl(
        &[
            "-X",
            "POST",
            &format!("http://{}/v2/{repository}/blobs/uploads/", registry.host()),
        ],
        b"",
    );
    assert_eq!(status, "202", "upload start: {headers}");
    let location = headers
        .lines()
        .find_map(|line| {
            line.strip_prefix("Location: ")
                .or_else(|| line.strip_prefix("location: "))
        })
        .expect("a Location header")
        .trim()
        .to_string();
    let separator = if location.contains('?') { '&' } else { '?' };
    let (status, headers) = curl(
        &[
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/octet-stream",
            "--data-binary",
            "@-",
            &format!("{location}{separator}digest={digest}"),
        ],
        bytes,
    );
    assert_eq!(status, "201", "blob upload: {headers}");
    digest
}

fn put_manifest(registry: &Registry, repository: &str, tag: &str, manifest: &serde_json::Value) {
    let (status, headers) = curl(
        &[
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/vnd.oci.image.manifest.v1+json",
            "--data-binary",
            "@-",
            &format!("http://{}/v2/{repository}/manifests/{tag}", registry.host()),
        ],
        manifest.to_string().as_bytes(),
    );
    assert_eq!(status, "201", "manifest upload: {headers}");
}

/// Runs curl with `body` on stdin; returns the status code and headers.
fn curl(args: &[&str], body: &[u8]) -> (String, String) {
    let mut child = Command::new("curl")
        .args(["-s", "-D", "-", "-o", "/dev/null", "-w", "%{http_code}"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run curl");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body)
        .expect("send the body");
    let output = child.wait_with_output().expect("curl");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (headers, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    (status.trim().to_string(), headers.to_string())
}

#[test]
fn images_kiln_cannot_run_are_refused_before_their_layer_is_fetched() {
    require_kvm();
    let scratch = Scratch::new("foreign");
    let registry = Registry::start(&scratch.0, None);
    let layer = upload_blob(&registry, "foreign", b"not a tar");
    let config = |labels: serde_json::Value| {
        serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Entrypoint": ["/app"], "Labels": labels},
            "rootfs": {"type": "layers", "diff_ids": [layer.clone()]}
        })
    };
    let manifest = |config_digest: &str, config_size: usize, layer_type: &str| {
        serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
            "layers": [{"mediaType": layer_type, "digest": layer, "size": 9}]
        })
    };
    let gzip = "application/vnd.oci.image.layer.v1.tar+gzip";
    for (tag, labels, layer_type, code, needle) in [
        (
            "plain",
            serde_json::json!({}),
            gzip,
            code::IMAGE,
            "is not a Kiln image",
        ),
        (
            "old-abi",
            serde_json::json!({"dev.kiln.abi-version": "1"}),
            gzip,
            code::IMAGE,
            "ABI version 1",
        ),
        (
            "odd-layer",
            serde_json::json!({"dev.kiln.abi-version": kiln_abi::ABI_VERSION.to_string()}),
            "application/x-odd",
            code::IMAGE,
            "unsupported layer media type application/x-odd",
        ),
    ] {
        let config_bytes = config(labels).to_string();
        let config_digest = upload_blob(&registry, "foreign", config_bytes.as_bytes());
        put_manifest(
            &registry,
            "foreign",
            tag,
            &manifest(&config_digest, config_bytes.len(), layer_type),
        );
        let state = scratch.path(tag);
        let reference = format!("{}/foreign:{tag}", registry.host());
        kiln_in(&state, &["pull", &reference]).assert_clean_error(code, needle);
        assert!(!blobs_in(&state).contains(&layer.trim_start_matches("sha256:").to_string()));
        assert_eq!(
            kiln_in(&state, &["images", "--format", "json"])
                .stdout
                .trim(),
            "[]"
        );
    }

    // A manifest that declares another ABI is refused on its word, before
    // any blob (here its config would pass).
    let config_bytes =
        config(serde_json::json!({"dev.kiln.abi-version": kiln_abi::ABI_VERSION.to_string()}))
            .to_string();
    let config_digest = upload_blob(&registry, "foreign", config_bytes.as_bytes());
    let mut declared = manifest(&config_digest, config_bytes.len(), gzip);
    declared["annotations"] = serde_json::json!({"dev.kiln.abi-version": "1"});
    put_manifest(&registry, "foreign", "declared-old", &declared);
    let state = scratch.path("declared-old");
    let reference = format!("{}/foreign:declared-old", registry.host());
    kiln_in(&state, &["pull", &reference]).assert_clean_error(code::IMAGE, "ABI version 1");
    assert!(blobs_in(&state).is_empty(), "{:?}", blobs_in(&state));
}

#[test]
fn save_and_load_round_trip_and_containerd_imports_the_archive() {
    require_kvm();
    let scratch = Scratch::new("save-load");
    let state = scratch.path("state");
    build_tagged(&state, &["envtest:v1"], &["--", "saved"]);
    let archive = scratch.path("envtest.tar");
    let archive_arg = archive.to_str().expect("utf-8");
    assert_ok(
        &kiln_in(&state, &["save", "envtest:v1", "-o", archive_arg]),
        "kiln save",
    );

    let other = scratch.path("other");
    let load = kiln_in(&other, &["load", "-i", archive_arg]);
    assert_ok(&load, "kiln load");
    assert!(
        load.stdout.contains("Loaded image: envtest:v1"),
        "{}",
        load.stdout
    );
    let run = kiln_in(&other, &["run", "envtest:v1"]);
    assert!(
        run.stdout.contains(r#"args: ["std-env", "saved"]"#),
        "{}",
        run.stdout
    );

    // A damaged archive is refused, and what it names never enters.
    let mut bytes = std::fs::read(&archive).expect("archive");
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    let damaged = scratch.path("damaged.tar");
    std::fs::write(&damaged, &bytes).expect("write the damaged archive");
    let third = scratch.path("third");
    kiln_in(&third, &["load", "-i", damaged.to_str().expect("utf-8")])
        .assert_clean_error(code::IMAGE, "digest mismatch");
    assert_eq!(
        kiln_in(&third, &["images", "--format", "json"])
            .stdout
            .trim(),
        "[]"
    );

    // containerd knows nothing of Kiln: it imports and unpacks the image,
    // and the ELF is the Entrypoint's file in the root filesystem.
    let containerd = Containerd::start(&scratch.0);
    let import = containerd.ctr(&["image", "import", archive_arg]);
    assert!(import.contains("docker.io/library/envtest:v1"), "{import}");
    let mount = scratch.path("mnt");
    std::fs::create_dir_all(&mount).expect("mkdir");
    containerd.ctr(&[
        "image",
        "mount",
        "docker.io/library/envtest:v1",
        mount.to_str().expect("utf-8"),
    ]);
    let unpacked = std::fs::read(mount.join("std-env"));
    containerd.ctr(&["image", "unmount", mount.to_str().expect("utf-8")]);
    // The same bytes kiln itself unpacked from the layer to boot it.
    let booted = walk(&other.join("images/unpacked"))
        .into_iter()
        .find(|p| p.ends_with("std-env"))
        .expect("kiln unpacked std-env");
    let booted = std::fs::read(booted).expect("read kiln's unpacked file");
    let unpacked = unpacked.expect("/std-env in the unpacked root filesystem");
    assert!(unpacked.starts_with(b"\x7fELF"), "an ELF file");
    assert!(
        unpacked == booted,
        "containerd and kiln unpack the same file"
    );
}

/// A containerd of the test's own (its root, state and socket in `dir`).
struct Containerd {
    child: Child,
    socket: PathBuf,
}

impl Containerd {
    fn start(dir: &Path) -> Self {
        let socket = dir.join("containerd.sock");
        let config = dir.join("containerd.toml");
        std::fs::write(
            &config,
            format!(
                "version = 2\nroot = \"{}\"\nstate = \"{}\"\n[grpc]\n  address = \"{}\"\n",
                dir.join("containerd-root").display(),
                dir.join("containerd-state").display(),
                socket.display()
            ),
        )
        .expect("write containerd's config");
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start containerd (apt install containerd)");
        let containerd = Self { child, socket };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !containerd.socket.exists() {
            assert!(Instant::now() < deadline, "containerd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        containerd
    }

    fn ctr(&self, args: &[&str]) -> String {
        let output = Command::new("ctr")
            .arg("--address")
            .arg(&self.socket)
            .args(["--namespace", "kiln-test"])
            .args(args)
            .output()
            .expect("run ctr");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "ctr {args:?}: {text}");
        text
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
