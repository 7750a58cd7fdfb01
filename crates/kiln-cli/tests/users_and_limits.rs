//! Users, groups, identities and resource limits in Kiln's C library
//! (`tests/guests/std-users`): its `same:` lines must match what glibc
//! answers natively to a root process (the tests run as root); its
//! `fixture:` lines must be what the baked `/etc/passwd` and `/etc/group`
//! (the fixture files next to the guest) say; its `kiln:` lines are the
//! guest's own limits.

mod common;

use common::{image, root, run_image, run_native};

const GUEST: &str = "tests/guests/std-users";

fn lines<'a>(output: &'a str, prefix: &str) -> Vec<&'a str> {
    output.lines().filter(|l| l.starts_with(prefix)).collect()
}

/// The fixture's records, split at colons, comments and malformed ones
/// (a non-numeric id) left out as glibc leaves them.
fn fixture(name: &str, id_field: usize) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(root().join(GUEST).join(name)).expect("fixture");
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split(':').map(str::to_string).collect::<Vec<_>>())
        .filter(|f| f[id_field].parse::<u32>().is_ok())
        .collect()
}

fn kiln_run() -> String {
    let image = image(GUEST, false);
    let run = run_image(&image, &["--memory", "64M", "--cpus", "3"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout
}

#[test]
fn identities_errors_and_limits_answer_as_linux_does_for_root() {
    let native = run_native(GUEST, &[], b"");
    assert_eq!(native.code, 0, "{}", native.stderr);
    let ours = kiln_run();
    let (linux, kiln) = (lines(&native.stdout, "same:"), lines(&ours, "same:"));
    assert!(linux.len() > 40, "too few lines:\n{}", native.stdout);
    for (linux, kiln) in linux.iter().zip(&kiln) {
        assert_eq!(kiln, linux);
    }
    assert_eq!(kiln.len(), linux.len(), "{ours}");
}

#[test]
fn users_and_groups_come_from_the_baked_files() {
    let out = kiln_run();
    let users = fixture("passwd", 2);
    let groups = fixture("group", 2);
    let user = |name: &str| users.iter().find(|u| u[0] == name).expect("user").join(":");
    let group = |gid: &str| {
        groups
            .iter()
            .find(|g| g[2] == gid)
            .expect("group")
            .join(":")
    };
    let uid_1001 = users
        .iter()
        .find(|u| u[2] == "1001")
        .expect("uid 1001")
        .join(":");
    let alice_groups: Vec<String> = std::iter::once("1000".to_string())
        .chain(
            groups
                .iter()
                .filter(|g| g[2] != "1000" && g[3].split(',').any(|m| m == "alice"))
                .map(|g| g[2].clone()),
        )
        .collect();
    let names: Vec<&str> = users.iter().map(|u| u[0].as_str()).collect();
    let expected = [
        format!("fixture: getpwnam_r alice rc 0 {}", user("alice")),
        format!("fixture: getpwuid_r 1001 rc 0 {uid_1001}"),
        "fixture: getpwnam_r broken rc 0 null".to_string(),
        format!("fixture: getgrnam_r users rc 0 {}", group("100")),
        format!("fixture: getgrgid_r 10 rc 0 {}", group("10")),
        "fixture: getgrnam_r users short rc 34 null".to_string(),
        format!("fixture: getpwnam alice {}", user("alice")),
        format!("fixture: getgrnam staff {}", group("50")),
        format!("fixture: getpwuid 1001 {uid_1001}"),
        format!(
            "fixture: getgrouplist alice room 1 -1 count {} first 1000",
            alice_groups.len()
        ),
        format!(
            "fixture: getgrouplist alice {} [{}]",
            alice_groups.len(),
            alice_groups.join(", ")
        ),
        format!(
            "fixture: getpwent {} then {}",
            names.join(","),
            user("root")
        ),
    ];
    assert_eq!(lines(&out, "fixture:"), expected, "{out}");
}

#[test]
fn limits_are_the_guests_own() {
    let out = kiln_run();
    let expected = [
        "kiln: raise NOFILE hard -1 errno 1",
        "kiln: NOFILE 1024 1024",
        "kiln: NPROC 1024 1024",
        "kiln: AS 67108864 67108864",
        "kiln: DATA 67108864 67108864",
        "kiln: CORE 0 0",
        "kiln: STACK positive true",
        "kiln: sysinfo totalram 67108864 procs 1 nprocs 3",
        "kiln: sysinfo procs with a second thread 2",
    ];
    assert_eq!(lines(&out, "kiln:"), expected, "{out}");
}
