//! The volume operations against real temporary directories, without a VM.

use std::os::unix::fs::{MetadataExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use kiln_abi::file::{CURRENT_POSITION, FSYNC_DATA_ONLY, STAT_NO_FOLLOW, UNLINK_DIRECTORY};
use libc::{
    EBADF, EBUSY, EEXIST, EINVAL, EISDIR, ELOOP, EMFILE, ENOENT, ENOTDIR, ENOTEMPTY, EROFS,
    ETXTBSY, EXDEV, O_APPEND, O_CREAT, O_DIRECTORY, O_EXCL, O_NOFOLLOW, O_RDONLY, O_RDWR, O_TRUNC,
    O_WRONLY,
};

use super::{Errno, FileId, MAX_HANDLES, VolumeError, VolumeSpec, Volumes};

const RW: u32 = 0;
const RO: u32 = 1;

/// A scratch directory holding `volume/` (mounted read-write as volume 0
/// and read-only as volume 1) and, beside it, `outside/secret`, which no
/// operation may reach.
struct Scratch {
    base: PathBuf,
    volumes: Volumes,
}

impl Scratch {
    fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let base = std::env::temp_dir().join(format!(
            "kiln-volume-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(base.join("volume")).expect("create volume");
        std::fs::create_dir_all(base.join("outside")).expect("create outside");
        std::fs::write(base.join("outside/secret"), "secret").expect("write secret");
        std::fs::write(base.join("volume/file"), "hello").expect("write file");
        let specs = [
            VolumeSpec::new(base.join("volume"), "/data", false).expect("spec"),
            VolumeSpec::new(base.join("volume"), "/ro", true).expect("spec"),
        ];
        let volumes = Volumes::new(&specs).expect("open volumes");
        Self { base, volumes }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.base.join(relative)
    }

    /// Opens `path` in `volume` and returns the handle, or the errno.
    fn open(&mut self, volume: u32, path: &str, flags: i32) -> Result<u64, Errno> {
        self.volumes
            .open(volume, path.as_bytes(), flags.cast_unsigned(), 0o644)
    }

    /// The outside secret is untouched and nothing new appeared beside it.
    fn assert_outside_untouched(&self) {
        assert_eq!(
            std::fs::read_to_string(self.path("outside/secret")).expect("secret"),
            "secret"
        );
        assert_eq!(names(&self.path("outside")), ["secret"]);
        assert_eq!(names(&self.base), ["outside", "volume"]);
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// The entries of a host directory, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read a scratch directory")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn err(errno: i32) -> Result<u64, Errno> {
    Err(Errno(errno))
}

#[test]
fn paths_cannot_leave_the_volume() {
    let mut s = Scratch::new();
    symlink("/etc", s.path("volume/etc")).expect("plant absolute link");
    symlink("../outside", s.path("volume/up")).expect("plant relative link");
    symlink("../outside/secret", s.path("volume/secret-link")).expect("plant file link");
    std::fs::create_dir(s.path("volume/a")).expect("mkdir a");
    for path in [
        "../outside/secret",
        "a/../../outside/secret",
        "/etc/passwd",
        "etc/passwd",
        "etc",
        "up/secret",
        "secret-link",
        "a/../up/secret",
    ] {
        for volume in [RW, RO] {
            assert_eq!(s.open(volume, path, O_RDONLY), err(EXDEV), "open {path}");
            let stat = s.volumes.stat_path(volume, path.as_bytes(), 0);
            assert_eq!(stat, Err(Errno(EXDEV)), "stat {path}");
        }
        assert_eq!(s.open(RW, path, O_RDWR | O_TRUNC), err(EXDEV), "{path}");
    }
    // Creating through an escaping link, or next to one.
    assert_eq!(s.open(RW, "up/new", O_RDWR | O_CREAT), err(EXDEV));
    assert_eq!(s.open(RW, "../new", O_RDWR | O_CREAT), err(EXDEV));
    symlink("../outside/new", s.path("volume/dangling")).expect("plant dangling link");
    assert_eq!(s.open(RW, "dangling", O_RDWR | O_CREAT), err(EXDEV));
    // Operations on a last component whose parent leaves the volume.
    let v = &s.volumes;
    assert_eq!(v.mkdir(RW, b"up/new", 0o755), err(EXDEV));
    assert_eq!(v.mkdir(RW, b"etc/new", 0o755), err(EXDEV));
    assert_eq!(v.mkdir(RW, b"/new", 0o755), err(EXDEV));
    assert_eq!(v.mkdir(RW, b"../new", 0o755), err(EXDEV));
    assert_eq!(v.mkdir(RW, b"/", 0o755), err(EXDEV));
    assert_eq!(v.unlink(RW, b"up/secret", 0), err(EXDEV));
    assert_eq!(v.unlink(RW, b"a/../../outside/secret", 0), err(EXDEV));
    assert_eq!(v.unlink(RW, b"up/..", UNLINK_DIRECTORY), err(EXDEV));
    assert_eq!(v.rename(RW, b"file", b"../file"), err(EXDEV));
    assert_eq!(v.rename(RW, b"file", b"up/file"), err(EXDEV));
    assert_eq!(v.rename(RW, b"up/secret", b"stolen"), err(EXDEV));
    assert_eq!(v.symlink(RW, b"up/link", b"x"), err(EXDEV));
    assert_eq!(v.read_link(RW, b"up/x", &mut [0; 64]), err(EXDEV));
    assert_eq!(v.stat_path(RW, b"..", 0), Err(Errno(EXDEV)));
    assert_eq!(v.stat_path(RW, b"/", 0), Err(Errno(EXDEV)));
    // The links themselves are entries of the volume: they can be read,
    // stat'ed without following, and removed.
    let mut text = [0u8; 64];
    assert_eq!(v.read_link(RW, b"etc", &mut text), Ok(4));
    assert_eq!(&text[..4], b"/etc");
    let link = v
        .stat_path(RW, b"etc", STAT_NO_FOLLOW)
        .expect("lstat a link");
    assert_eq!(link.mode & libc::S_IFMT, libc::S_IFLNK);
    assert_eq!(v.unlink(RW, b"up", 0), Ok(0));
    s.assert_outside_untouched();
}

#[test]
fn read_only_volumes_refuse_every_change() {
    let mut s = Scratch::new();
    std::fs::create_dir(s.path("volume/dir")).expect("mkdir");
    for flags in [
        O_WRONLY,
        O_RDWR,
        O_RDONLY | O_TRUNC,
        O_WRONLY | O_CREAT,
        O_RDONLY | O_CREAT | O_TRUNC,
    ] {
        assert_eq!(s.open(RO, "file", flags), err(EROFS), "flags {flags:#o}");
    }
    assert_eq!(s.open(RO, "missing", O_RDONLY | O_CREAT), err(EROFS));
    assert_eq!(
        s.open(RO, "missing", O_RDONLY | O_CREAT | O_EXCL),
        err(EROFS)
    );
    assert_eq!(s.open(RO, "file", O_RDONLY | O_CREAT | O_EXCL), err(EEXIST));
    assert_eq!(s.open(RO, "no-dir/x", O_RDONLY | O_CREAT), err(ENOENT));
    let handle = s
        .open(RO, "file", O_RDONLY | O_CREAT)
        .expect("open existing");
    let mut buf = [0u8; 16];
    assert_eq!(s.volumes.read(handle, 0, &mut buf), Ok(5));
    assert!(s.volumes.write(handle, 0, b"x").is_err());
    assert!(s.volumes.truncate(handle, 0).is_err());
    let v = &s.volumes;
    assert_eq!(v.mkdir(RO, b"new", 0o755), err(EROFS));
    assert_eq!(v.mkdir(RO, b"dir", 0o755), err(EROFS));
    assert_eq!(v.unlink(RO, b"file", 0), err(EROFS));
    assert_eq!(v.unlink(RO, b"dir", UNLINK_DIRECTORY), err(EROFS));
    assert_eq!(v.rename(RO, b"file", b"moved"), err(EROFS));
    assert_eq!(v.symlink(RO, b"link", b"file"), err(EROFS));
    assert_eq!(
        std::fs::read_to_string(s.path("volume/file")).expect("file"),
        "hello"
    );
    assert_eq!(names(&s.path("volume")), ["dir", "file"]);
}

#[test]
fn files_round_trip() {
    let mut s = Scratch::new();
    let handle = s
        .open(RW, "notes.txt", O_RDWR | O_CREAT | O_EXCL)
        .expect("create");
    let v = &mut s.volumes;
    assert_eq!(v.write(handle, CURRENT_POSITION, b"hello, "), Ok(7));
    assert_eq!(v.write(handle, CURRENT_POSITION, b"world"), Ok(5));
    let mut buf = [0u8; 32];
    assert_eq!(v.read(handle, 7, &mut buf), Ok(5));
    assert_eq!(&buf[..5], b"world");
    assert_eq!(
        v.read(handle, CURRENT_POSITION, &mut buf),
        Ok(0),
        "at the end"
    );
    assert_eq!(v.seek(handle, 0, libc::SEEK_SET as u32), Ok(0));
    assert_eq!(v.read(handle, CURRENT_POSITION, &mut buf[..5]), Ok(5));
    assert_eq!(&buf[..5], b"hello");
    assert_eq!(v.seek(handle, -2, libc::SEEK_END as u32), Ok(10));
    assert_eq!(v.write(handle, 100, b"!"), Ok(1), "pwrite past the end");
    assert_eq!(v.stat(handle).expect("fstat").size, 101);
    assert_eq!(v.truncate(handle, 3), Ok(0));
    assert_eq!(v.fsync(handle, 0), Ok(0));
    assert_eq!(v.fsync(handle, FSYNC_DATA_ONLY), Ok(0));
    let stat = v.stat_path(RW, b"notes.txt", 0).expect("stat");
    assert_eq!(stat.size, 3);
    assert_eq!(stat.mode & libc::S_IFMT, libc::S_IFREG);
    assert_eq!(stat.nlink, 1);
    assert!(stat.mtime_ns > 1_600_000_000 * 1_000_000_000, "{stat:?}");
    assert_eq!(v.close(handle), Ok(0));
    assert_eq!(v.close(handle), err(EBADF), "closed twice");
    assert_eq!(
        std::fs::read_to_string(s.path("volume/notes.txt")).expect("on the host"),
        "hel"
    );

    let v = &s.volumes;
    assert_eq!(v.mkdir(RW, b"dir", 0o755), Ok(0));
    assert_eq!(v.mkdir(RW, b"dir/", 0o755), err(EEXIST));
    assert_eq!(v.mkdir(RW, b"dir/sub", 0o755), Ok(0));
    assert_eq!(v.rename(RW, b"notes.txt", b"dir/sub/notes"), Ok(0));
    assert_eq!(v.unlink(RW, b"dir", UNLINK_DIRECTORY), err(ENOTEMPTY));
    assert_eq!(v.unlink(RW, b"dir/sub", 0), err(EISDIR));
    assert_eq!(v.symlink(RW, b"dir/link", b"sub/notes"), Ok(0));
    assert_eq!(v.stat_path(RW, b"dir/link", 0).map(|s| s.size), Ok(3));
    assert_eq!(v.unlink(RW, b"dir/link", 0), Ok(0));
    assert_eq!(v.unlink(RW, b"dir/sub/notes", 0), Ok(0));
    assert_eq!(v.unlink(RW, b"dir/sub", UNLINK_DIRECTORY), Ok(0));
    assert_eq!(v.unlink(RW, b"dir/./", UNLINK_DIRECTORY), err(EBUSY));
    assert_eq!(v.unlink(RW, b"dir", UNLINK_DIRECTORY), Ok(0));
    assert_eq!(names(&s.path("volume")), ["file"]);
}

#[test]
fn the_volume_root_is_a_directory_like_any_other() {
    let mut s = Scratch::new();
    let v = &s.volumes;
    assert_eq!(v.mkdir(RW, b"", 0o755), err(EEXIST));
    assert_eq!(v.mkdir(RW, b".", 0o755), err(EEXIST));
    assert_eq!(v.unlink(RW, b"", UNLINK_DIRECTORY), err(EBUSY));
    assert_eq!(v.unlink(RW, b"", 0), err(EISDIR));
    assert_eq!(v.rename(RW, b"", b"x"), err(EBUSY));
    assert_eq!(v.rename(RW, b"file", b""), err(EBUSY));
    let root = v.stat_path(RW, b"", 0).expect("stat the root");
    assert_eq!(root.mode & libc::S_IFMT, libc::S_IFDIR);
    let dir = s
        .open(RW, "", O_RDONLY | O_DIRECTORY)
        .expect("open the root");
    let mut records = [0u8; 4096];
    let filled = s.volumes.read_dir(dir, &mut records).expect("getdents");
    let mut listed = dirent_names(&records[..filled as usize]);
    listed.sort();
    assert_eq!(listed, [".", "..", "file"]);
    assert_eq!(s.volumes.read_dir(dir, &mut records), Ok(0), "end");
    assert_eq!(s.volumes.stat(dir).map(|s| s.ino), Ok(root.ino));
}

/// The names in a buffer of `linux_dirent64` records.
fn dirent_names(mut records: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    // d_ino (8), d_off (8), d_reclen (2), d_type (1), d_name.
    while records.len() >= 19 {
        let reclen = usize::from(u16::from_ne_bytes([records[16], records[17]]));
        let name = &records[19..reclen];
        let end = name.iter().position(|&b| b == 0).expect("NUL-terminated");
        names.push(String::from_utf8_lossy(&name[..end]).into_owned());
        records = &records[reclen..];
    }
    names
}

#[test]
fn errors_are_the_hosts() {
    let mut s = Scratch::new();
    std::fs::create_dir(s.path("volume/dir")).expect("mkdir");
    assert_eq!(s.open(RW, "missing", O_RDONLY), err(ENOENT));
    assert_eq!(s.open(RW, "dir", O_WRONLY), err(EISDIR));
    assert_eq!(s.open(RW, "file", O_RDONLY | O_DIRECTORY), err(ENOTDIR));
    assert_eq!(s.open(RW, "file/x", O_RDONLY), err(ENOTDIR));
    assert_eq!(s.open(RW, "file", O_RDWR | O_CREAT | O_EXCL), err(EEXIST));
    assert_eq!(s.open(RW, "bad\0name", O_RDONLY), err(EINVAL));
    let v = &s.volumes;
    assert_eq!(v.mkdir(RW, b"file", 0o755), err(EEXIST));
    assert_eq!(v.unlink(RW, b"missing", 0), err(ENOENT));
    assert_eq!(v.unlink(RW, b"file", UNLINK_DIRECTORY), err(ENOTDIR));
    assert_eq!(v.read_link(RW, b"file", &mut [0; 8]), err(EINVAL));
    assert_eq!(v.read_link(RW, b"", &mut [0; 8]), err(EINVAL));
    assert_eq!(v.rename(RW, b"missing", b"x"), err(ENOENT));
    assert_eq!(v.read(7, 0, &mut [0; 8]), err(EBADF), "no such handle");
    assert_eq!(v.read(u64::MAX, 0, &mut [0; 8]), err(EBADF));
    assert_eq!(v.mkdir(2, b"x", 0o755), err(EBADF), "no such volume");
    assert_eq!(v.stat_path(u32::MAX, b"", 0), Err(Errno(EBADF)));
}

#[test]
fn the_image_cannot_be_opened_for_writing() {
    let mut s = Scratch::new();
    std::fs::hard_link(s.path("volume/file"), s.path("volume/hard")).expect("hard link");
    symlink("file", s.path("volume/link")).expect("link");
    std::fs::write(s.path("volume/other"), "other").expect("write other");
    std::fs::write(s.path("volume/other-ro"), "other").expect("write other");
    std::fs::create_dir(s.path("volume/dir")).expect("mkdir");
    let image = std::fs::metadata(s.path("volume/file")).expect("stat the image");
    s.volumes.protect(FileId {
        dev: image.dev(),
        ino: image.ino(),
    });
    for path in ["file", "hard", "link", "dir/../file"] {
        for flags in [
            O_WRONLY,
            O_RDWR,
            O_WRONLY | O_APPEND,
            O_WRONLY | O_TRUNC,
            O_RDWR | O_CREAT | O_TRUNC,
            O_RDONLY | O_TRUNC,
        ] {
            assert_eq!(s.open(RW, path, flags), err(ETXTBSY), "{path} {flags:#o}");
        }
        let handle = s.open(RW, path, O_RDONLY).expect("open to read");
        assert_eq!(s.volumes.close(handle), Ok(0));
    }
    assert_eq!(s.open(RW, "link", O_WRONLY | O_NOFOLLOW), err(ELOOP));
    assert_eq!(
        s.open(RW, "link", O_RDONLY | O_TRUNC | O_NOFOLLOW),
        err(ELOOP)
    );
    assert_eq!(s.open(RW, "file", O_RDWR | O_CREAT | O_EXCL), err(EEXIST));
    assert_eq!(s.open(RO, "file", O_RDWR), err(EROFS));
    assert_eq!(
        std::fs::read_to_string(s.path("volume/file")).expect("the image"),
        "hello"
    );
    // Every other file opens as Linux opens it, O_TRUNC included.
    let other = s.open(RW, "other", O_WRONLY | O_TRUNC).expect("other");
    assert_eq!(s.volumes.write(other, CURRENT_POSITION, b"x"), Ok(1));
    let other_ro = s.open(RW, "other-ro", O_RDONLY | O_TRUNC).expect("other");
    assert!(s.volumes.write(other_ro, CURRENT_POSITION, b"x").is_err());
    assert!(s.open(RW, "new", O_WRONLY | O_CREAT | O_TRUNC).is_ok());
    assert_eq!(s.open(RW, "dir", O_WRONLY), err(EISDIR));
    assert_eq!(s.open(RW, "missing", O_RDONLY | O_TRUNC), err(ENOENT));
    assert_eq!(s.open(RW, "missing", O_WRONLY), err(ENOENT));
    assert_eq!(
        std::fs::read_to_string(s.path("volume/other")).expect("other"),
        "x"
    );
    assert_eq!(
        std::fs::read_to_string(s.path("volume/other-ro")).expect("other"),
        ""
    );
    s.assert_outside_untouched();
}

#[test]
fn modes_never_carry_special_bits() {
    let mut s = Scratch::new();
    let handle = s
        .volumes
        .open(RW, b"suid", (O_WRONLY | O_CREAT).cast_unsigned(), 0o4777)
        .expect("create");
    s.volumes.close(handle).expect("close");
    s.volumes.mkdir(RW, b"sticky", 0o1777).expect("mkdir");
    for name in ["suid", "sticky"] {
        let mode = s
            .volumes
            .stat_path(RW, name.as_bytes(), 0)
            .expect("stat")
            .mode;
        assert_eq!(mode & 0o7000, 0, "{name}: {mode:o}");
    }
}

#[test]
fn open_files_are_limited() {
    let mut s = Scratch::new();
    let handles: Vec<u64> = (0..MAX_HANDLES)
        .map(|_| s.open(RW, "file", O_RDONLY).expect("open"))
        .collect();
    assert_eq!(handles, (0..MAX_HANDLES as u64).collect::<Vec<_>>());
    assert_eq!(s.open(RW, "file", O_RDONLY), err(EMFILE));
    assert_eq!(s.volumes.close(5), Ok(0));
    assert_eq!(
        s.open(RW, "file", O_RDONLY),
        Ok(5),
        "the lowest free handle"
    );
}

#[test]
fn setup_errors_name_the_volume() {
    let missing = Path::new("/nonexistent/kiln-volume");
    let spec = VolumeSpec::new(missing, "/data", false).expect("spec");
    let error = Volumes::new(&[spec]).expect_err("missing directory");
    assert_eq!(
        error.to_string(),
        "volume /nonexistent/kiln-volume: No such file or directory (os error 2)"
    );
    let s = Scratch::new();
    let spec = VolumeSpec::new(s.path("volume/file"), "/data", false).expect("spec");
    let error = Volumes::new(&[spec]).expect_err("a file");
    assert!(error.to_string().ends_with("Not a directory (os error 20)"));
    let spec = VolumeSpec::new(s.path("volume"), "/data/", false).expect("spec");
    let twice = [
        spec.clone(),
        VolumeSpec::new(s.path("volume"), "/data", true).expect("spec"),
    ];
    assert!(matches!(
        Volumes::new(&twice),
        Err(VolumeError::Duplicate(path)) if path == "/data"
    ));
    let many = vec![spec; kiln_abi::file::MAX_VOLUMES + 1];
    assert!(matches!(Volumes::new(&many), Err(VolumeError::TooMany(65))));
}

#[test]
fn locks_are_the_host_files_and_never_wait() {
    use kiln_abi::file::{
        F_GETLK, F_OFD_GETLK, F_OFD_SETLK, F_SETLK, FileLock, LOCK_EX, LOCK_SH, LOCK_UN,
    };
    let mut s = Scratch::new();
    let a = s.open(RW, "file", O_RDWR).expect("open a");
    let b = s.open(RO, "file", O_RDONLY).expect("open b");
    assert_eq!(s.volumes.flock(a, LOCK_EX), Ok(0));
    // Another open file description: the host refuses at once.
    assert_eq!(s.volumes.flock(b, LOCK_SH), err(libc::EWOULDBLOCK));
    assert_eq!(s.volumes.flock(a, LOCK_UN), Ok(0));
    assert_eq!(s.volumes.flock(b, LOCK_SH), Ok(0));
    assert_eq!(s.volumes.flock(b, 3), err(EINVAL));
    assert_eq!(s.volumes.flock(99, LOCK_SH), err(EBADF));

    let whole = |kind| FileLock {
        kind,
        ..FileLock::default()
    };
    let (read, write, unlock) = (
        libc::F_RDLCK as i16,
        libc::F_WRLCK as i16,
        libc::F_UNLCK as i16,
    );
    // POSIX locks are the monitor's: they never conflict among its handles.
    assert_eq!(s.volumes.lock(a, F_SETLK, &mut whole(write)), Ok(0));
    let mut query = whole(write);
    assert_eq!(s.volumes.lock(a, F_GETLK, &mut query), Ok(0));
    assert_eq!(query.kind, unlock);
    // An OFD lock conflicts with them; the holder's pid is the monitor's.
    let mut query = whole(read);
    assert_eq!(s.volumes.lock(b, F_OFD_GETLK, &mut query), Ok(0));
    assert_eq!(query.kind, write);
    assert_eq!(
        s.volumes.lock(b, F_OFD_SETLK, &mut whole(read)),
        err(libc::EAGAIN)
    );
    assert_eq!(s.volumes.lock(a, 7, &mut whole(read)), err(EINVAL));
    assert_eq!(s.volumes.lock(a, F_SETLK, &mut whole(9)), err(EINVAL));
}

#[test]
fn times_are_set_on_the_host_except_on_read_only_volumes() {
    use kiln_abi::file::STAT_NO_FOLLOW as NO_FOLLOW;
    let mut s = Scratch::new();
    let at = |sec, nsec| libc::timespec {
        tv_sec: sec,
        tv_nsec: nsec,
    };
    let times = [at(1_000_000_000, 7), at(1_100_000_000, 9)];
    assert_eq!(s.volumes.set_times_path(RW, b"file", 0, &times), Ok(0));
    let meta = std::fs::metadata(s.path("volume/file")).expect("stat");
    assert_eq!((meta.atime(), meta.atime_nsec()), (1_000_000_000, 7));
    assert_eq!((meta.mtime(), meta.mtime_nsec()), (1_100_000_000, 9));
    symlink("file", s.path("volume/link")).expect("symlink");
    assert_eq!(
        s.volumes
            .set_times_path(RW, b"link", NO_FOLLOW, &[at(5, 0), at(6, 0)]),
        Ok(0)
    );
    let link = std::fs::symlink_metadata(s.path("volume/link")).expect("lstat");
    assert_eq!(link.mtime(), 6);
    assert_eq!(
        std::fs::metadata(s.path("volume/file"))
            .expect("stat")
            .mtime(),
        1_100_000_000
    );
    let handle = s.open(RW, "file", O_RDONLY).expect("open");
    assert_eq!(s.volumes.set_times(handle, &[at(1, 0), at(2, 0)]), Ok(0));
    assert_eq!(
        std::fs::metadata(s.path("volume/file"))
            .expect("stat")
            .mtime(),
        2
    );
    assert_eq!(
        s.volumes.set_times_path(RW, b"missing", 0, &times),
        err(ENOENT)
    );
    assert_eq!(
        s.volumes
            .set_times_path(RW, b"../outside/secret", 0, &times),
        err(EXDEV)
    );
    let read_only = s.open(RO, "file", O_RDONLY).expect("open read-only");
    assert_eq!(s.volumes.set_times(read_only, &times), err(EROFS));
    assert_eq!(s.volumes.set_times_path(RO, b"file", 0, &times), err(EROFS));
    assert_eq!(s.volumes.sync_range(handle, 0, 0, 1), Ok(0));
    assert_eq!(s.volumes.sync_range(handle, -1, 0, 0), err(EINVAL));
    assert_eq!(s.volumes.sync_range(handle, 0, u64::MAX, 0), err(EINVAL));
    s.assert_outside_untouched();
}

#[test]
fn allocation_is_the_hosts_and_needs_a_writable_handle() {
    let mut s = Scratch::new();
    let writable = s.open(RW, "file", O_RDWR).expect("open");
    assert_eq!(s.volumes.allocate(writable, 0, 0, 4096), Ok(0));
    assert_eq!(
        std::fs::metadata(s.path("volume/file"))
            .expect("stat")
            .len(),
        4096
    );
    assert_eq!(s.volumes.allocate(writable, 0, -1, 1), err(EINVAL));
    assert_eq!(
        s.volumes.allocate(writable, 0, 0, u64::MAX),
        err(libc::EFBIG)
    );
    let read_only = s.open(RO, "file", O_RDONLY).expect("open read-only");
    assert_eq!(s.volumes.allocate(read_only, 0, 0, 8192), err(EBADF));
    assert_eq!(
        std::fs::metadata(s.path("volume/file"))
            .expect("stat")
            .len(),
        4096
    );
}

#[test]
fn set_mode_changes_only_the_permission_bits_on_a_writable_volume() {
    use std::os::unix::fs::PermissionsExt;
    let mut s = Scratch::new();
    let handle = s.open(RW, "file", O_RDONLY).expect("open");
    // The file-type bits a caller may pass along are not the mode's.
    assert_eq!(s.volumes.set_mode(handle, 0o100640), Ok(0));
    let mode = |path: &str| {
        std::fs::metadata(s.path(path))
            .expect("stat")
            .permissions()
            .mode()
    };
    assert_eq!(mode("volume/file") & 0o7777, 0o640);
    let read_only = s.open(RO, "file", O_RDONLY).expect("open read-only");
    assert_eq!(s.volumes.set_mode(read_only, 0o600), err(EROFS));
    assert_eq!(s.volumes.set_mode(99, 0o600), err(EBADF));
    s.assert_outside_untouched();
}

/// A filesystem mounted inside a volume (here a tmpfs) is refused with
/// `EXDEV` unless the volume is given with its submounts (`rbind`); either
/// way the volume's own files are served. Needs root (CAP_SYS_ADMIN) for
/// `unshare --mount` and `mount`; without it the test fails, it does not
/// skip.
#[test]
fn mounts_inside_a_volume_are_crossed_only_when_asked() {
    let test = "volume::tests::mounts_inside_a_volume_are_crossed_only_when_asked";
    let namespace = ["unshare", "--mount", "--propagation", "private", "--"];
    if !crate::test_support::in_child_under(test, &namespace) {
        return;
    }
    let s = Scratch::new();
    let mounted = s.path("volume/mnt");
    std::fs::create_dir(&mounted).expect("mount point");
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "tmpfs"])
        .arg(&mounted)
        .status()
        .expect("run mount");
    assert!(status.success(), "mount a tmpfs in the volume");
    std::fs::write(mounted.join("other-fs"), "on the tmpfs").expect("write");
    let specs = [
        VolumeSpec::new(s.path("volume"), "/data", false).expect("spec"),
        VolumeSpec::new(s.path("volume"), "/all", false)
            .expect("spec")
            .with_submounts(),
    ];
    let mut volumes = Volumes::new(&specs).expect("open volumes");
    let read_only = O_RDONLY.cast_unsigned();
    for path in ["mnt/other-fs", "mnt", "mnt/", "./mnt/../mnt/other-fs"] {
        assert_eq!(
            volumes.open(0, path.as_bytes(), read_only, 0),
            Err(Errno(EXDEV)),
            "{path}"
        );
        assert_eq!(
            volumes.stat_path(0, path.as_bytes(), 0).map(|_| ()),
            Err(Errno(EXDEV)),
            "{path}"
        );
    }
    let create = (O_RDWR | O_CREAT).cast_unsigned();
    assert_eq!(
        volumes.open(0, b"mnt/new", create, 0o600),
        Err(Errno(EXDEV))
    );
    assert_eq!(volumes.mkdir(0, b"mnt/dir", 0o700), Err(Errno(EXDEV)));
    let file = volumes
        .open(0, b"file", read_only, 0)
        .expect("its own file");
    volumes.close(file).expect("close");
    let file = volumes
        .open(1, b"mnt/other-fs", read_only, 0)
        .expect("crossed with rbind");
    let mut buf = [0u8; 32];
    assert_eq!(volumes.read(file, -1, &mut buf), Ok(12));
    volumes.close(file).expect("close");
    let status = std::process::Command::new("umount")
        .arg(&mounted)
        .status()
        .expect("run umount");
    assert!(status.success());
}
