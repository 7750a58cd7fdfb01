//! Helpers shared by the unit tests.

/// Set in a child process that runs one test of this binary.
const IN_CHILD: &str = "KILN_MONITOR_TEST_IN_CHILD";

/// For a test whose seccomp filter would bind the whole test process (and
/// whose miss kills it): outside a child, runs `test` (its full path) again
/// in a child process, checks that it passed, and returns false; inside
/// the child, returns true.
pub fn in_child(test: &str) -> bool {
    if std::env::var_os(IN_CHILD).is_some() {
        return true;
    }
    let output = std::process::Command::new(std::env::current_exe().expect("the test binary"))
        .args([test, "--exact", "--nocapture"])
        .env(IN_CHILD, "1")
        .output()
        .expect("run the test in a child");
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("1 passed"));
    false
}
