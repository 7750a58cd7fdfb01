//! Whole-file locks (`sys/file.h`): `flock`.

use kiln_libos::fs;

use crate::CInt;
use crate::errno;

/// `flock(2)`: per open file description, as Linux; on a volume the host
/// file is locked, so other processes and VMs sharing it are excluded.
#[unsafe(no_mangle)]
pub extern "C" fn flock(fd: CInt, operation: CInt) -> CInt {
    traced!("flock"(fd, operation) {
    errno::check(fs::flock(fd, operation).map(|()| 0)) as CInt
    })
}
