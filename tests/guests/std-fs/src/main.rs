//! Exercises `std::fs` the way services do and checks each answer against
//! what Linux gives, section by section (named by the arguments):
//!
//! - `tmp`: the in-memory filesystem, every errno case;
//! - `baked`: the files `kiln build` baked in at `/etc/std-fs` (read-only);
//! - `volume DIR`: a writable host volume mounted at `DIR`;
//! - `ro DIR`: a read-only host volume at `DIR`;
//! - `escape DIR`: a volume at `DIR` holding links planted to lead outside;
//! - `pipe`: a pipe between two threads;
//! - `posix DIR`: the C calls' edge cases in a new directory `DIR`
//!   (see `posix.rs`; also runs natively, to check the expected answers);
//! - `durable FILE`: writes and syncs `FILE`, says so, and waits to be killed;
//! - `full`: fills memory with `/tmp` files, then makes files until an
//!   allocation fails: that must end in a crash report, not a hang.
//!
//! Each check prints `ok` or `WRONG`; the exit status is the number wrong.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

mod posix;

struct Checks {
    wrong: u8,
}

impl Checks {
    fn check(&mut self, what: &str, ok: bool, detail: impl std::fmt::Debug) {
        println!("{what}: {} ({detail:?})", if ok { "ok" } else { "WRONG" });
        if !ok {
            self.wrong += 1;
        }
    }

    /// Checks that `result` failed with Linux's `errno`.
    fn fails<T: std::fmt::Debug>(&mut self, what: &str, result: std::io::Result<T>, errno: i32) {
        let got = result.as_ref().err().and_then(|e| e.raw_os_error());
        self.check(what, got == Some(errno), result.map_err(|e| e.to_string()));
    }
}

const ENOENT: i32 = 2;
const EEXIST: i32 = 17;
const EXDEV: i32 = 18;
const ENOTDIR: i32 = 20;
const EISDIR: i32 = 21;
const EROFS: i32 = 30;
const ENOTEMPTY: i32 = 39;
const W_OK: i32 = 2;
const O_TRUNC: i32 = 0o1000;

/// `access(2)`, as an `io::Result`.
fn access(path: &str, mode: i32) -> std::io::Result<()> {
    unsafe extern "C" {
        fn access(path: *const std::ffi::c_char, mode: i32) -> i32;
    }
    let path = std::ffi::CString::new(path)?;
    // SAFETY: a NUL-terminated path.
    match unsafe { access(path.as_ptr(), mode) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

fn names(dir: &str) -> std::io::Result<Vec<String>> {
    let mut names: Vec<String> = fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    names.sort();
    Ok(names)
}

fn tmp(c: &mut Checks) -> std::io::Result<()> {
    let tmp = File::open("/tmp")?;
    c.check(
        "/tmp nlink",
        tmp.metadata()?.nlink() == 2,
        tmp.metadata()?.nlink(),
    );
    fs::remove_dir("/tmp")?;
    c.check(
        "a removed dir has nlink 0",
        tmp.metadata()?.nlink() == 0,
        tmp.metadata()?.nlink(),
    );
    drop(tmp);
    fs::create_dir("/tmp")?;
    fs::write("/tmp/a.txt", b"hello")?;
    c.check("read back", fs::read("/tmp/a.txt")? == b"hello", ());
    c.check("size", fs::metadata("/tmp/a.txt")?.len() == 5, ());
    let mut f = OpenOptions::new().append(true).open("/tmp/a.txt")?;
    f.write_all(b" world")?;
    drop(f);
    c.check(
        "append",
        fs::read_to_string("/tmp/a.txt")? == "hello world",
        (),
    );
    let mut f = File::open("/tmp/a.txt")?;
    f.seek(SeekFrom::Start(6))?;
    let mut rest = String::new();
    f.read_to_string(&mut rest)?;
    c.check("seek and read", rest == "world", &rest);
    let mut clone = f.try_clone()?;
    c.check("dup shares the offset", clone.stream_position()? == 11, ());
    let f = OpenOptions::new().write(true).open("/tmp/a.txt")?;
    f.set_len(2)?;
    c.check("truncate", fs::read("/tmp/a.txt")? == b"he", ());
    c.fails("open missing", File::open("/tmp/missing"), ENOENT);
    c.fails("open in missing dir", File::create("/tmp/no/such"), ENOENT);
    c.fails(
        "create_new existing",
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open("/tmp/a.txt"),
        EEXIST,
    );
    fs::create_dir("/tmp/d")?;
    c.fails("mkdir existing", fs::create_dir("/tmp/d"), EEXIST);
    fs::write("/tmp/d/inner", b"x")?;
    c.fails("rmdir not empty", fs::remove_dir("/tmp/d"), ENOTEMPTY);
    c.fails(
        "open dir for writing",
        OpenOptions::new().write(true).open("/tmp/d"),
        EISDIR,
    );
    c.fails("path through a file", File::open("/tmp/a.txt/x"), ENOTDIR);
    c.fails("rmdir a file", fs::remove_dir("/tmp/a.txt"), ENOTDIR);
    c.fails("unlink a dir", fs::remove_file("/tmp/d"), EISDIR);
    c.fails(
        "rename dir over file",
        fs::rename("/tmp/d", "/tmp/a.txt"),
        ENOTDIR,
    );
    fs::rename("/tmp/a.txt", "/tmp/b.txt")?;
    c.check("rename", names("/tmp")? == ["b.txt", "d"], names("/tmp"));
    std::os::unix::fs::symlink("/tmp/b.txt", "/tmp/link")?;
    c.check(
        "readlink",
        fs::read_link("/tmp/link")? == Path::new("/tmp/b.txt"),
        (),
    );
    c.check("read through a link", fs::read("/tmp/link")? == b"he", ());
    c.check(
        "lstat sees the link",
        fs::symlink_metadata("/tmp/link")?.is_symlink(),
        (),
    );
    fs::remove_dir_all("/tmp/d")?;
    c.check(
        "remove_dir_all",
        names("/tmp")? == ["b.txt", "link"],
        names("/tmp"),
    );
    fs::set_permissions("/tmp/b.txt", fs::Permissions::from_mode(0o600))?;
    fs::copy("/tmp/b.txt", "/tmp/copy.txt")?;
    let mode = fs::metadata("/tmp/copy.txt")?.mode();
    c.check(
        "chmod, and fs::copy copies the mode",
        mode == 0o100600,
        mode,
    );
    fs::remove_file("/tmp/copy.txt")?;
    std::env::set_current_dir("/tmp")?;
    c.check("relative path after chdir", fs::read("b.txt")? == b"he", ());
    c.check(
        "canonicalize",
        fs::canonicalize("./../tmp/b.txt")? == Path::new("/tmp/b.txt"),
        (),
    );
    std::env::set_current_dir("/")?;
    Ok(())
}

fn baked(c: &mut Checks) -> std::io::Result<()> {
    let config = fs::read_to_string("/etc/std-fs/config.toml")?;
    c.check(
        "baked file",
        config == "name = \"std-fs\"\nlevel = 3\n",
        &config,
    );
    c.check(
        "baked dir",
        names("/etc/std-fs/docs")? == ["a.txt", "b.txt"],
        names("/etc/std-fs/docs"),
    );
    let meta = fs::metadata("/etc/std-fs/docs/b.txt")?;
    c.check("baked size", meta.len() == 7 && meta.is_file(), meta.len());
    let nlinks =
        ["/etc/std-fs", "/etc/std-fs/docs"].map(|dir| fs::metadata(dir).map(|m| m.nlink()));
    c.check(
        "baked dirs' nlink",
        matches!(nlinks, [Ok(3), Ok(2)]),
        nlinks,
    );
    c.fails(
        "write baked",
        OpenOptions::new()
            .write(true)
            .open("/etc/std-fs/config.toml"),
        EROFS,
    );
    c.fails(
        "remove baked",
        fs::remove_file("/etc/std-fs/config.toml"),
        EROFS,
    );
    c.fails(
        "create in baked dir",
        File::create("/etc/std-fs/new"),
        EROFS,
    );
    c.fails(
        "mkdir in baked dir",
        fs::create_dir("/etc/std-fs/new"),
        EROFS,
    );
    c.fails("create in a baked parent", File::create("/etc/new"), EROFS);
    c.fails(
        "access W_OK to a baked file",
        access("/etc/std-fs/config.toml", W_OK),
        EROFS,
    );
    c.fails(
        "O_RDONLY|O_TRUNC on a baked file",
        OpenOptions::new()
            .read(true)
            .custom_flags(O_TRUNC)
            .open("/etc/std-fs/config.toml"),
        EROFS,
    );
    c.fails(
        "rename a baked file",
        fs::rename("/etc/std-fs/config.toml", "/etc/std-fs/x"),
        EROFS,
    );
    c.fails(
        "symlink in a baked dir",
        std::os::unix::fs::symlink("x", "/etc/std-fs/link"),
        EROFS,
    );
    // As on a read-only Linux mount: removing and renaming say EROFS
    // before looking; creating says EEXIST for what is there.
    c.fails(
        "unlink missing in a baked dir",
        fs::remove_file("/etc/std-fs/missing"),
        EROFS,
    );
    c.fails(
        "rmdir missing in a baked dir",
        fs::remove_dir("/etc/std-fs/missing"),
        EROFS,
    );
    c.fails(
        "unlink a baked dir",
        fs::remove_file("/etc/std-fs/docs"),
        EROFS,
    );
    c.fails(
        "rename missing in a baked dir",
        fs::rename("/etc/std-fs/missing", "/etc/std-fs/x"),
        EROFS,
    );
    c.fails(
        "mkdir over a baked dir",
        fs::create_dir("/etc/std-fs/docs"),
        EEXIST,
    );
    c.fails(
        "symlink over a baked file",
        std::os::unix::fs::symlink("x", "/etc/std-fs/config.toml"),
        EEXIST,
    );
    c.fails(
        "chmod a baked file",
        fs::set_permissions("/etc/std-fs/config.toml", fs::Permissions::from_mode(0o600)),
        EROFS,
    );
    c.check(
        "O_CREAT without writing a baked file",
        OpenOptions::new()
            .read(true)
            .custom_flags(0o100)
            .open("/etc/std-fs/config.toml")
            .is_ok(),
        (),
    );
    fs::create_dir_all("/var/lib/std-fs")?;
    fs::write("/var/lib/std-fs/state", b"memory")?;
    c.check(
        "write outside baked",
        fs::read("/var/lib/std-fs/state")? == b"memory",
        (),
    );
    Ok(())
}

fn volume(c: &mut Checks, dir: &str) -> std::io::Result<()> {
    let file = format!("{dir}/log.txt");
    fs::write(&file, b"one\n")?;
    let mut f = OpenOptions::new().append(true).open(&file)?;
    f.write_all(b"two\n")?;
    f.sync_all()?;
    drop(f);
    c.check(
        "volume append",
        fs::read_to_string(&file)? == "one\ntwo\n",
        (),
    );
    fs::create_dir(format!("{dir}/sub"))?;
    fs::rename(&file, format!("{dir}/sub/log.txt"))?;
    c.check(
        "volume rename",
        names(&format!("{dir}/sub"))? == ["log.txt"],
        names(dir),
    );
    c.check(
        "volume stat",
        fs::metadata(format!("{dir}/sub/log.txt"))?.len() == 8,
        (),
    );
    c.fails(
        "volume open missing",
        File::open(format!("{dir}/missing")),
        ENOENT,
    );
    c.fails(
        "volume mkdir existing",
        fs::create_dir(format!("{dir}/sub")),
        EEXIST,
    );
    c.fails(
        "volume rmdir not empty",
        fs::remove_dir(format!("{dir}/sub")),
        ENOTEMPTY,
    );
    c.fails(
        "volume to memory rename",
        fs::rename(format!("{dir}/sub/log.txt"), "/tmp/x"),
        EXDEV,
    );
    let mut f = File::open(format!("{dir}/sub/log.txt"))?;
    f.seek(SeekFrom::Start(4))?;
    let mut rest = String::new();
    f.read_to_string(&mut rest)?;
    c.check("volume seek and read", rest == "two\n", &rest);
    fs::remove_dir_all(format!("{dir}/sub"))?;
    deferred(c, dir)?;
    too_deep(c, dir)?;
    c.check("volume remove_dir_all", names(dir)?.is_empty(), names(dir));
    Ok(())
}

/// Small writes and closes on a volume wait to ride along with the next
/// call; what the program sees must be as if each had been done at once.
fn deferred(c: &mut Checks, dir: &str) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let path = format!("{dir}/queued.txt");
    let mut f = File::create(&path)?;
    let mut expected = Vec::new();
    for i in 0..65 {
        let line = format!("line {i:03}\n");
        f.write_all(line.as_bytes())?;
        expected.extend_from_slice(line.as_bytes());
    }
    let block = vec![b'x'; 60_000];
    f.write_all(&block)?;
    expected.extend_from_slice(&block);
    drop(f);
    let got = fs::read(&path)?;
    c.check(
        "a full queue of small writes, then a larger one",
        got == expected,
        String::from_utf8_lossy(&got[..got.len().min(600)]).into_owned(),
    );
    fs::remove_file(&path)?;
    // Past ext4's largest file: EFBIG, here or (deferred) at a later call.
    let huge = File::create(format!("{dir}/huge.txt"))?;
    let _ = huge.write_at(b"x", 1 << 50);
    drop(huge);
    let after = fs::write(format!("{dir}/after.txt"), b"fine");
    c.check(
        "a closed file's failed write is not another file's error",
        after.is_ok(),
        after.map_err(|e| e.to_string()),
    );
    fs::remove_file(format!("{dir}/huge.txt"))?;
    fs::remove_file(format!("{dir}/after.txt"))
}

/// Each File call carries a whole path from the volume's root, so a
/// volume cannot be deeper than PATH_MAX (Linux's can): past that, calls
/// fail with ENAMETOOLONG, and the program goes on.
fn too_deep(c: &mut Checks, dir: &str) -> std::io::Result<()> {
    let cwd = std::env::current_dir()?;
    std::env::set_current_dir(dir)?;
    let name = "d".repeat(200);
    let mut result = Ok(());
    for _ in 0..30 {
        result = fs::create_dir(&name).and_then(|()| std::env::set_current_dir(&name));
        if result.is_err() {
            break;
        }
    }
    std::env::set_current_dir(cwd)?;
    c.fails("a volume deeper than PATH_MAX", result, 36);
    fs::remove_dir_all(format!("{dir}/{name}"))
}

fn read_only(c: &mut Checks, dir: &str) -> std::io::Result<()> {
    let present = fs::read_to_string(format!("{dir}/present.txt"))?;
    c.check("ro read", present == "from the host\n", &present);
    c.fails(
        "ro write",
        OpenOptions::new()
            .write(true)
            .open(format!("{dir}/present.txt")),
        EROFS,
    );
    c.fails("ro create", File::create(format!("{dir}/new.txt")), EROFS);
    c.fails(
        "ro access W_OK",
        access(&format!("{dir}/present.txt"), W_OK),
        EROFS,
    );
    c.fails("ro mkdir", fs::create_dir(format!("{dir}/new")), EROFS);
    c.fails(
        "ro remove",
        fs::remove_file(format!("{dir}/present.txt")),
        EROFS,
    );
    c.fails(
        "ro rename",
        fs::rename(format!("{dir}/present.txt"), format!("{dir}/x")),
        EROFS,
    );
    Ok(())
}

fn escape(c: &mut Checks, dir: &str) {
    for link in ["absolute", "relative", "updir"] {
        let result = fs::read_to_string(format!("{dir}/{link}/secret.txt"));
        c.fails(&format!("escape through {link} link"), result, EXDEV);
    }
    c.fails(
        "escape by canonicalize",
        fs::canonicalize(format!("{dir}/updir")),
        EXDEV,
    );
    c.fails(
        "escape by write",
        fs::write(format!("{dir}/updir/planted.txt"), b"x"),
        EXDEV,
    );
}

fn pipe(c: &mut Checks) -> std::io::Result<()> {
    let (mut reader, mut writer) = std::io::pipe()?;
    let sender = std::thread::spawn(move || {
        for i in 0..100 {
            writer.write_all(&[i; 1000]).unwrap();
        }
    });
    let mut got = Vec::new();
    reader.read_to_end(&mut got)?;
    sender.join().unwrap();
    let expected: Vec<u8> = (0..100).flat_map(|i| [i; 1000]).collect();
    c.check("pipe between threads", got == expected, got.len());
    Ok(())
}

fn durable(path: &str) -> std::io::Result<()> {
    let mut f = File::create(path)?;
    f.write_all(b"acknowledged data\n")?;
    f.sync_all()?;
    println!("synced");
    loop {
        std::thread::sleep(std::time::Duration::from_secs(60));
    }
}

fn full() -> std::io::Result<()> {
    use std::fmt::Write as _;
    // One name buffer, so that the allocations that fail are the file
    // calls' own (std puts short paths on the stack).
    let mut name = String::with_capacity(128);
    let block = vec![1u8; 64 * 1024];
    for i in 0.. {
        name.clear();
        let _ = write!(name, "/tmp/full-{i}");
        let mut f = File::create(&name)?;
        if f.write_all(&block).is_err() {
            break;
        }
    }
    println!("memory full");
    for i in 0.. {
        name.clear();
        let _ = write!(name, "/tmp/a-longer-name-that-takes-memory-{i}");
        let _ = File::create(&name);
    }
    Ok(())
}

fn main() {
    let mut c = Checks { wrong: 0 };
    let mut args = std::env::args().skip(1);
    while let Some(section) = args.next() {
        let mut dir = || args.next().expect("a directory argument");
        let result = match section.as_str() {
            "tmp" => tmp(&mut c),
            "baked" => baked(&mut c),
            "volume" => volume(&mut c, &dir()),
            "ro" => read_only(&mut c, &dir()),
            "escape" => {
                escape(&mut c, &dir());
                Ok(())
            }
            "pipe" => pipe(&mut c),
            "posix" => posix::posix(&mut c, &dir()),
            "durable" => durable(&dir()),
            "full" => full(),
            other => panic!("unknown section {other}"),
        };
        if let Err(e) = result {
            c.check(&format!("section {section}"), false, e.to_string());
        }
    }
    std::process::exit(c.wrong.into());
}
