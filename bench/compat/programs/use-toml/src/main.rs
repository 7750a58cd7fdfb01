//! toml: parse a Cargo-style manifest into structs and into a table, edit it,
//! write it back, and the parser's error messages.
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    package: Package,
    #[serde(default)]
    dependencies: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Package {
    name: String,
    version: String,
    edition: Option<String>,
    authors: Vec<String>,
}

const MANIFEST: &str = r#"
[package]
name = "demo"
version = "0.3.1"
edition = "2021"
authors = ["Ada <ada@example.com>"]

[dependencies]
serde = { version = "1", features = ["derive"] }
rand = "0.9"

[profile.release]
lto = true
opt-level = 3
date = 1979-05-27T07:32:00-08:00
"#;

fn main() {
    let manifest: Manifest = toml::from_str(MANIFEST).expect("manifest");
    println!("{manifest:?}");
    let mut table: toml::Table = MANIFEST.parse().expect("table");
    println!("release: {}", table["profile"]["release"]);
    table["package"]["version"] = toml::Value::String("0.4.0".into());
    table.remove("profile");
    print!("{}", toml::to_string(&table).expect("to_string"));
    println!("---");
    print!("{}", toml::to_string_pretty(&manifest).expect("pretty"));
    for bad in [
        "a = ",
        "[x]\n[x]",
        "k = 1\nk = 2",
        "n = 99999999999999999999",
    ] {
        match bad.parse::<toml::Table>() {
            Ok(t) => println!("unexpected {t}"),
            Err(e) => println!("error: {e}"),
        }
    }
}
