//! whoami: user, real name and distribution.
fn main() {
    println!(
        "{} {} {}",
        whoami::username(),
        whoami::realname(),
        whoami::distro()
    );
}
