//! nix's wrappers of POSIX calls.
use nix::unistd::{getpid, getuid, User};

fn main() {
    let user = User::from_uid(getuid()).ok().flatten().map(|u| u.name);
    println!("{} {:?} {:?}", getpid(), user, nix::unistd::gethostname());
    println!(
        "{:?}",
        nix::sys::utsname::uname().map(|u| u.release().to_owned())
    );
    let _ = nix::sys::signal::kill(getpid(), None);
}
