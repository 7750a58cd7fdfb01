//! serde_yaml: a config struct to YAML and back, untyped values, and the
//! parser's error messages.
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Service {
    name: String,
    replicas: u32,
    ports: Vec<u16>,
    env: BTreeMap<String, String>,
    memory: Option<String>,
}

fn main() {
    let service = Service {
        name: "web".into(),
        replicas: 3,
        ports: vec![80, 443],
        env: BTreeMap::from([
            ("RUST_LOG".into(), "info".into()),
            ("TZ".into(), "UTC".into()),
        ]),
        memory: None,
    };
    let yaml = serde_yaml::to_string(&service).expect("serialize");
    print!("{yaml}");
    let back: Service = serde_yaml::from_str(&yaml).expect("deserialize");
    println!("round trip equal: {}", back == service);

    let doc = "services:\n  - name: db\n    replicas: 1\n    ports: [5432]\n    env: {}\n    memory: 512M\nfloat: 1.5e3\nanchors:\n  base: &b {a: 1}\n  copy: *b\n";
    let value: serde_yaml::Value = serde_yaml::from_str(doc).expect("value");
    println!("{value:?}");
    let services: Vec<Service> =
        serde_yaml::from_value(value["services"].clone()).expect("services");
    println!("{services:?}");

    for bad in [
        "name: [unclosed",
        "replicas: many\nname: x\nports: []\nenv: {}",
        "\tkey: tab",
    ] {
        match serde_yaml::from_str::<Service>(bad) {
            Ok(s) => println!("unexpected {s:?}"),
            Err(e) => println!("error: {e}"),
        }
    }
}
