//! C stdio in Kiln's C library (`tests/guests/std-stdio`): FILE streams,
//! the printf and scanf families and the standard streams' buffering,
//! called through `extern "C"` declarations and from C compiled by the
//! `cc` crate against glibc's headers (fortified, inline `getc_unlocked`). The same program run natively against
//! glibc must print exactly the same, on stdout and on stderr.

mod common;

use common::{image, run_image, run_native};

#[test]
fn c_stdio_answers_as_glibc_does() {
    let native = run_native("tests/guests/std-stdio", &[], b"");
    assert_eq!(native.code, 0, "native run: {}", native.stderr);
    let kiln = run_image(&image("tests/guests/std-stdio", false), &[], &[]);
    assert_eq!(kiln.code, 0, "{}", kiln.stderr);
    // Non-trivial: the format table, the scanf cases and the file and
    // console sections all ran, down to the output left for `exit`.
    assert!(native.stdout.lines().count() > 2000, "{}", native.stdout);
    for needle in [
        "\"%a\" 0.1 => \"0x1.999999999999ap-4\" 20",
        "sizes => 5",
        "fclose: 0",
        "getc_unlocked read 20 bytes, 2 newlines, feof_unlocked 1",
        "long double 1.500000 1.000000e+10 0xcp-3",
        "C half returned 0",
        "written at exit by the C library",
    ] {
        assert!(
            native.stdout.contains(needle),
            "native output lacks {needle:?}"
        );
    }
    assert!(
        native
            .stderr
            .contains("perror prefix: No such file or directory")
    );
    for (kiln_line, native_line) in kiln.stdout.lines().zip(native.stdout.lines()) {
        assert_eq!(kiln_line, native_line, "first differing line");
    }
    assert_eq!(kiln.stdout, native.stdout);
    assert_eq!(kiln.stderr, native.stderr);
}
