//! Files in unmodified `std` programs: `/tmp` in memory, files baked into
//! the image, host volumes (`-v`), their confinement and durability.
//!
//! The checks run inside `tests/guests/std-fs`, which compares every answer
//! with what Linux gives and exits with the number that differ.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{code, image, kiln, require_kvm, run_image};

/// A fresh, empty directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kiln-files-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn volume(host: &Path, guest: &str, options: &str) -> String {
    format!("{}:{guest}{options}", host.display())
}

/// Runs std-fs with `flags` and `sections`; every check must pass.
fn std_fs(flags: &[&str], sections: &[&str]) -> String {
    let run = run_image(&image("tests/guests/std-fs", false), flags, sections);
    let wrong: Vec<&str> = run.stdout.lines().filter(|l| !l.contains(": ok")).collect();
    assert!(
        run.code == 0 && wrong.is_empty(),
        "exit {}; wrong: {wrong:#?}\nstderr: {}",
        run.code,
        run.stderr
    );
    run.stdout
}

#[test]
fn tmp_is_a_linux_like_filesystem_in_memory_and_pipes_work() {
    let out = std_fs(&[], &["tmp", "pipe", "posix", "/tmp/posix"]);
    for check in [
        "getdents64 of an empty dir: . and ..: ok",
        "rename a dir into itself: ok",
        "unlink file/: ok",
        ".. after a link: ok",
        "a 256-byte name: ok",
        "a short non-blocking write says what it wrote: ok",
        "50 MiB of churn in memory: ok",
        "open missing: ok",
        "rmdir not empty: ok",
        "open dir for writing: ok",
        "path through a file: ok",
        "remove_dir_all: ok",
        "pipe between threads: ok",
    ] {
        assert!(out.contains(check), "{check} missing from:\n{out}");
    }
}

#[test]
fn baked_files_are_readable_and_read_only() {
    let out = std_fs(&[], &["baked"]);
    assert!(out.contains("write baked: ok"), "{out}");
    assert!(out.contains("create in baked dir: ok"), "{out}");
}

#[test]
fn volumes_are_read_write_or_read_only_on_the_host() {
    let rw = scratch("rw");
    let ro = scratch("ro");
    std::fs::write(ro.join("present.txt"), "from the host\n").expect("write");
    let flags = [
        "-v",
        &volume(&rw, "/vol", ""),
        "-v",
        &volume(&ro, "/ro", ":ro"),
    ];
    let sections = ["volume", "/vol", "posix", "/vol/posix", "ro", "/ro"];
    let out = std_fs(&flags, &sections);
    assert!(out.contains("ro create: ok"), "{out}");
    assert!(out.contains("canonicalize resolves links: ok"), "{out}");
    assert!(
        out.contains("a full queue of small writes, then a larger one: ok"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_dir(&rw).expect("list").count(),
        0,
        "the guest removes what it made"
    );
    let ro_files: Vec<_> = std::fs::read_dir(&ro).expect("list").collect();
    assert_eq!(ro_files.len(), 1, "the read-only volume is unchanged");
    assert_eq!(
        std::fs::read_to_string(ro.join("present.txt")).expect("read"),
        "from the host\n"
    );
}

#[test]
fn links_planted_on_the_host_cannot_lead_out_of_a_volume() {
    let outside = scratch("outside");
    std::fs::write(outside.join("secret.txt"), "secret\n").expect("write");
    let base = scratch("escape");
    let vol = base.join("vol");
    std::fs::create_dir(&vol).expect("mkdir");
    std::os::unix::fs::symlink(&outside, vol.join("absolute")).expect("symlink");
    let relative = Path::new("../..").join(outside.file_name().expect("name"));
    std::os::unix::fs::symlink(relative, vol.join("relative")).expect("symlink");
    std::os::unix::fs::symlink("..", vol.join("updir")).expect("symlink");
    std_fs(&["-v", &volume(&vol, "/esc", "")], &["escape", "/esc"]);
    assert!(
        !base.join("planted.txt").exists(),
        "a write escaped the volume"
    );
}

#[test]
fn data_fsynced_before_the_guest_is_killed_is_on_the_host() {
    require_kvm();
    let dir = scratch("durable");
    let std_fs = image("tests/guests/std-fs", false);
    let mut child = kiln()
        .args(["run", "-v", &volume(&dir, "/vol", "")])
        .arg(&std_fs)
        .args(["--", "durable", "/vol/acked.txt"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kiln");
    let stdout = child.stdout.take().expect("piped stdout");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut lines = BufReader::new(stdout).lines();
    loop {
        assert!(Instant::now() < deadline, "no 'synced' from the guest");
        match lines.next() {
            Some(Ok(line)) if line == "synced" => break,
            Some(Ok(_)) => {}
            other => panic!("guest output ended before 'synced': {other:?}"),
        }
    }
    // SIGKILL: no chance to flush anything after the guest's fsync returned.
    child.kill().expect("kill kiln");
    child.wait().expect("reap kiln");
    assert_eq!(
        std::fs::read_to_string(dir.join("acked.txt")).expect("the file exists"),
        "acknowledged data\n"
    );
}

/// Memory filled through files: std's own message reaches the console,
/// then Kiln's one line naming the guest memory and `-m`.
#[test]
fn running_out_of_memory_inside_a_file_call_says_so_in_one_line() {
    let std_fs = image("tests/guests/std-fs", false);
    let run = run_image(&std_fs, &["-m", "8M", "--timeout", "60s"], &["full"]);
    assert!(run.stdout.contains("memory full"), "{}", run.stdout);
    assert_eq!(run.code, code::OUT_OF_MEMORY, "stderr:\n{}", run.stderr);
    assert!(
        run.stderr.contains("memory allocation of"),
        "std's message reaches the console: {}",
        run.stderr
    );
    let last = run.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("kiln: error: the guest ran out of memory: ")
            && last.ends_with("give it more with -m (e.g. -m 16M)"),
        "{}",
        run.stderr
    );
}

#[test]
fn fs_demo_keeps_its_log_on_the_volume_across_runs() {
    let data = scratch("fs-demo");
    let demo = image("examples/fs-demo", false);
    let flags = ["-v", &volume(&data, "/data", "")];
    let first = run_image(&demo, &flags, &[]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(
        first.stdout,
        "Hello from a file baked into the image\n\
         asset /srv/assets/css/site.css (34 bytes)\n\
         asset /srv/assets/index.html (113 bytes)\n\
         /tmp/scratch.txt: kept in memory\n\
         /data/visits.log: 1 visits, last: visit 1\n"
    );
    let second = run_image(&demo, &flags, &[]);
    assert!(
        second
            .stdout
            .ends_with("/data/visits.log: 2 visits, last: visit 2\n"),
        "{}",
        second.stdout
    );
    assert_eq!(
        std::fs::read_to_string(data.join("visits.log")).expect("log on the host"),
        "visit 1\nvisit 2\n"
    );
    let without = run_image(&demo, &[], &[]);
    assert!(
        without
            .stdout
            .ends_with("no volume at /data (run with -v DIR:/data)\n"),
        "{}",
        without.stdout
    );
}

#[test]
fn http_static_serves_baked_files_through_publish() {
    use std::io::{Read, Write};
    let image = image("examples/http-static", false);
    let port = common::free_port();
    let publish = format!("{port}:80");
    let flags = ["--memory", "32M", "--timeout", "60s", "-p", &publish];
    let _server = common::start_server(&image, &flags, "serving /srv/www on port 80");
    let get = |target: &str| -> String {
        // passt may publish the port a moment after the guest listens.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                let request =
                    format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                stream.write_all(request.as_bytes()).expect("send");
                let mut response = String::new();
                if stream.read_to_string(&mut response).is_ok() && !response.is_empty() {
                    return response;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no answer from http-static for {target}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let index = get("/");
    assert!(index.starts_with("HTTP/1.1 200 OK\r\n"), "{index}");
    assert!(
        index.contains("<h1>Served from a unikernel</h1>"),
        "{index}"
    );
    let css = get("/css/site.css");
    assert!(
        css.contains("Content-Type: text/css") && css.ends_with("margin: 3em; }\n"),
        "{css}"
    );
    assert!(get("/missing").starts_with("HTTP/1.1 404"));
    assert!(get("/../etc/passwd").starts_with("HTTP/1.1 404"));
}
