//! uzers (the maintained fork of users): the user and group databases.
fn main() {
    println!("{:?}", uzers::get_current_username());
    println!(
        "{:?}",
        uzers::get_user_by_uid(0).map(|u| u.name().to_owned())
    );
    println!(
        "{:?}",
        uzers::get_group_by_gid(0).map(|g| g.name().to_owned())
    );
}
