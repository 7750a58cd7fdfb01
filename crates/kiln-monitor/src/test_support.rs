//! Helpers shared by the unit tests.

/// Set in a child process that runs one test of this binary.
const IN_CHILD: &str = "KILN_MONITOR_TEST_IN_CHILD";

/// For a test whose seccomp filter would bind the whole test process (and
/// whose miss kills it): outside a child, runs `test` (its full path) again
/// in a child process, checks that it passed, and returns false; inside
/// the child, returns true.
pub fn in_child(test: &str) -> bool {
    in_child_under(test, &[])
}

/// [`in_child`], with the child started through `wrapper` (a command and
/// its arguments, e.g. `unshare --mount --`), if not empty.
pub fn in_child_under(test: &str, wrapper: &[&str]) -> bool {
    if std::env::var_os(IN_CHILD).is_some() {
        return true;
    }
    let exe = std::env::current_exe().expect("the test binary");
    let mut command = match wrapper.split_first() {
        Some((program, args)) => {
            let mut command = std::process::Command::new(program);
            command.args(args).arg(exe);
            command
        }
        None => std::process::Command::new(exe),
    };
    let output = command
        .args([test, "--exact", "--nocapture"])
        .env(IN_CHILD, "1")
        .output()
        .expect("run the test in a child");
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("1 passed"));
    false
}
