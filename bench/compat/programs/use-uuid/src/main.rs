//! uuid: name-based ids (deterministic), random and time-ordered ids (their
//! properties), parsing and formatting.
use uuid::Uuid;

fn main() {
    let v5 = Uuid::new_v5(&Uuid::NAMESPACE_DNS, b"example.org");
    println!("v5 {v5} {}", v5.urn());
    let v4a = Uuid::new_v4();
    let v4b = Uuid::new_v4();
    println!(
        "v4 version {} distinct {}",
        v4a.get_version_num(),
        v4a != v4b
    );
    let v7a = Uuid::now_v7();
    let v7b = Uuid::now_v7();
    println!("v7 version {} ordered {}", v7a.get_version_num(), v7a < v7b);
    let parsed = Uuid::parse_str("67E55044-10B1-426F-9247-BB680E5FE0C8").expect("parse");
    println!("{} {:?}", parsed.hyphenated(), parsed.get_variant());
    println!(
        "{:?}",
        Uuid::parse_str("not-a-uuid").err().map(|e| e.to_string())
    );
}
