//! tempfile, terminal_size and rustix itself: temporary files and
//! directories, a terminal query on a pipe, and a few direct calls.

use std::io::{Read, Seek, SeekFrom, Write};

fn main() {
    let mut file = tempfile::tempfile().expect("tempfile");
    file.write_all(b"anonymous temporary file").expect("write");
    file.seek(SeekFrom::Start(10)).expect("seek");
    let mut rest = String::new();
    file.read_to_string(&mut rest).expect("read");
    println!("tempfile: {rest}");

    let dir = tempfile::tempdir().expect("tempdir");
    let mut named = tempfile::NamedTempFile::new_in(dir.path()).expect("named");
    writeln!(named, "named and persisted").expect("write");
    let kept = dir.path().join("kept.txt");
    named.persist(&kept).expect("persist");
    println!(
        "persisted: {}",
        std::fs::read_to_string(&kept).expect("read back").trim()
    );
    // A no-clobber persist: rustix's `renameat2` with `RENAME_NOREPLACE`.
    let taken = dir.path().join("taken.txt");
    std::fs::write(&taken, "first").expect("write");
    let mut second = tempfile::NamedTempFile::new_in(dir.path()).expect("named");
    write!(second, "second").expect("write");
    let second = match second.persist_noclobber(&taken) {
        Ok(_) => panic!("persist_noclobber replaced {}", taken.display()),
        Err(refused) => {
            println!("persist_noclobber onto a file: {:?}", refused.error.kind());
            refused.file
        }
    };
    let fresh = dir.path().join("fresh.txt");
    second.persist_noclobber(&fresh).expect("persist_noclobber");
    println!(
        "persist_noclobber onto a new name: {} beside {}",
        std::fs::read_to_string(&fresh).expect("read back"),
        std::fs::read_to_string(&taken).expect("read back")
    );
    let renamed = rustix::fs::renameat_with(
        rustix::fs::CWD,
        &fresh,
        rustix::fs::CWD,
        &taken,
        rustix::fs::RenameFlags::NOREPLACE,
    );
    println!("renameat2 no-replace onto a file: {renamed:?}");
    let path = dir.path().to_path_buf();
    drop(dir);
    println!("tempdir removed: {}", !path.exists());

    // stdout is a pipe here, on Linux and in the guest alike.
    println!(
        "terminal size of stdout: {:?}",
        terminal_size::terminal_size()
    );
    println!(
        "stdout is a tty: {}",
        rustix::termios::isatty(std::io::stdout())
    );

    let cwd = rustix::process::getcwd(Vec::new()).expect("getcwd");
    println!("getcwd is absolute: {}", cwd.to_bytes().starts_with(b"/"));
    let stat = rustix::fs::stat("/").expect("stat /");
    println!(
        "/ is a directory: {}",
        rustix::fs::FileType::from_raw_mode(stat.st_mode) == rustix::fs::FileType::Directory
    );
    match rustix::fs::stat("/no/such/file") {
        Ok(_) => println!("stat of a missing file: found"),
        Err(e) => println!("stat of a missing file: {e:?}"),
    }
}
