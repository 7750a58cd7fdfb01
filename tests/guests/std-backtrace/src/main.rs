//! Captures a backtrace from inside two named functions and says whether
//! their names were resolved, then checks what `/proc/self/exe` and
//! `current_exe()` give: the program's own ELF file, with its real size.

use std::backtrace::Backtrace;
use std::io::Read;

#[inline(never)]
fn outer_frame_for_kiln() -> String {
    inner_frame_for_kiln()
}

#[inline(never)]
fn inner_frame_for_kiln() -> String {
    Backtrace::force_capture().to_string()
}

fn main() {
    let trace = outer_frame_for_kiln();
    if std::env::args().any(|a| a == "print") {
        println!("{trace}");
    }
    println!(
        "backtrace names inner: {}",
        trace.contains("inner_frame_for_kiln")
    );
    println!(
        "backtrace names outer: {}",
        trace.contains("outer_frame_for_kiln")
    );
    println!(
        "backtrace names main: {}",
        trace.contains("std_backtrace::main")
    );
    let exe = std::env::current_exe().expect("current_exe");
    let metadata = std::fs::metadata(&exe).expect("metadata of current_exe");
    let mut file = std::fs::File::open("/proc/self/exe").expect("open /proc/self/exe");
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).expect("read /proc/self/exe");
    println!("exe is ELF: {}", bytes.starts_with(b"\x7fELF"));
    println!("exe size matches: {}", bytes.len() as u64 == metadata.len());
    println!(
        "exe is executable: {}",
        std::os::unix::fs::PermissionsExt::mode(&metadata.permissions()) & 0o111 != 0
    );
}
