//! File calls that change no contents: times (`utimensat`), write-back of
//! a range (`sync_file_range`) and access hints (`posix_fadvise`).

use kiln_abi::errno::{EBADF, EINVAL, ENOENT, ESPIPE};

use super::notify::mask;
use super::tree::Found;
use super::volume::{self, TimesOf};
use super::{Errno, Object, Result, flags, with};

/// `tv_nsec` of `utimensat`: the current time.
const UTIME_NOW: i64 = (1 << 30) - 1;
/// `tv_nsec` of `utimensat`: leave this time as it is.
const UTIME_OMIT: i64 = (1 << 30) - 2;

/// `utimensat(2)`: sets `[access, modification]` times, each
/// `[seconds, nanoseconds]` (`None`: both now) of `path` from `dirfd`, or of
/// the open file `dirfd` itself when `path` is `None` (`futimens`).
/// `follow`: a final symbolic link means its target. Files baked into the
/// image are read-only (`EROFS`); a volume's are changed on the host.
pub fn set_times(
    dirfd: i32,
    path: Option<&[u8]>,
    times: Option<[[i64; 2]; 2]>,
    follow: bool,
) -> Result<()> {
    let times = times.unwrap_or([[0, UTIME_NOW]; 2]);
    let valid = |[_, nsec]: [i64; 2]| {
        (0..1_000_000_000).contains(&nsec) || nsec == UTIME_NOW || nsec == UTIME_OMIT
    };
    if !times.into_iter().all(valid) {
        return Err(Errno(EINVAL));
    }
    // As Linux: nothing to change is done before the path is even looked at.
    if times.iter().all(|[_, nsec]| *nsec == UTIME_OMIT) {
        return Ok(());
    }
    with(|fs| {
        // No path: the descriptor itself, as a `/proc/self/fd` link is.
        let found = match path {
            None => Found::Fd {
                fd: dirfd,
                follow: true,
            },
            Some(path) => fs.locate(dirfd, path, follow)?.1,
        };
        let [atime, mtime] = times.map(in_nanoseconds);
        // As Linux reports the change to inotify: both times are an
        // attribute change, one alone an access or a modification.
        let change = match (atime, mtime) {
            (Some(_), Some(_)) => mask::ATTRIB,
            (Some(_), None) => mask::ACCESS,
            _ => mask::MODIFY,
        };
        let node = match found {
            Found::Fd { fd, .. } => match fs.description(fd)?.object {
                Object::File(ino) | Object::Dir { ino, .. } => ino,
                Object::Volume { handle } => {
                    return volume::set_times(TimesOf::Handle(handle), &times);
                }
                // Pipes, sockets and the console keep no times here.
                _ => return Ok(()),
            },
            Found::Node(ino) => ino,
            Found::Volume { volume, rest } if rest.is_empty() => {
                let root = volume::open(volume, b".", flags::O_RDONLY | flags::O_DIRECTORY, 0)?;
                let result = volume::set_times(TimesOf::Handle(root), &times);
                volume::close(root);
                return result;
            }
            Found::Volume { volume, rest } => {
                let at = TimesOf::Path {
                    volume,
                    path: &rest,
                    follow,
                };
                return volume::set_times(at, &times);
            }
            Found::Missing { .. } => return Err(Errno(ENOENT)),
        };
        fs.tree.set_times(node, atime, mtime)?;
        fs.notify_node(node, change);
        Ok(())
    })
}

/// A `utimensat` time in nanoseconds since the epoch; `None` to omit it.
fn in_nanoseconds([seconds, nanoseconds]: [i64; 2]) -> Option<i64> {
    match nanoseconds {
        UTIME_OMIT => None,
        UTIME_NOW => Some(crate::clock::unix_time().as_nanos() as i64),
        _ => Some(
            seconds
                .saturating_mul(1_000_000_000)
                .saturating_add(nanoseconds),
        ),
    }
}

/// `sync_file_range(2)`: a volume's file is written back by the host;
/// files in memory have nowhere further to go.
pub fn sync_range(fd: i32, offset: i64, len: i64, flags: u32) -> Result<()> {
    const VALID_FLAGS: u32 = 0b111;
    with(|fs| {
        let object = &fs.description(fd)?.object;
        let end = offset.checked_add(len);
        if flags & !VALID_FLAGS != 0 || offset < 0 || end.is_none_or(|end| end < offset) {
            return Err(Errno(EINVAL));
        }
        match *object {
            Object::Volume { handle } => volume::sync_range(handle, offset, len, flags),
            Object::File(_) | Object::Dir { .. } => Ok(()),
            _ => Err(Errno(ESPIPE)),
        }
    })
}

/// `posix_fadvise(2)`: hints, checked as Linux checks them, with nothing
/// to do (files in memory have no cache to fill or drop).
pub fn advise(fd: i32, len: i64, advice: i32) -> Result<()> {
    const POSIX_FADV_NOREUSE: i32 = 5;
    with(
        |fs| match fs.description(fd).map_err(|_| Errno(EBADF))?.object {
            Object::PipeRead(_) | Object::PipeWrite(_) | Object::Pair { .. } => Err(Errno(ESPIPE)),
            _ if len < 0 || !(0..=POSIX_FADV_NOREUSE).contains(&advice) => Err(Errno(EINVAL)),
            _ => Ok(()),
        },
    )
}
