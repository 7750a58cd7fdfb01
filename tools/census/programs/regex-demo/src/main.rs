//! regex.
fn main() {
    let re = regex::Regex::new(r"(\d{4})-(\d{2})-(\d{2})").unwrap();
    for caps in re.captures_iter("2024-01-02 and 2025-03-04") {
        println!("{} {} {}", &caps[1], &caps[2], &caps[3]);
    }
}
