//! serde_json: derive round trip, untyped values, and a typed error.
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Order {
    id: u64,
    items: Vec<String>,
    total: f64,
    note: Option<String>,
}

fn main() {
    let orders: Vec<Order> = (0..50)
        .map(|i| Order {
            id: i,
            items: (0..i % 4).map(|k| format!("item-{k}")).collect(),
            total: i as f64 * 1.25,
            note: (i % 3 == 0).then(|| format!("note \"{i}\" é")),
        })
        .collect();
    let text = serde_json::to_string_pretty(&orders).expect("serialize");
    let back: Vec<Order> = serde_json::from_str(&text).expect("deserialize");
    assert_eq!(orders, back);
    println!(
        "{} bytes, total {}",
        text.len(),
        back.iter().map(|o| o.total).sum::<f64>()
    );
    let value: serde_json::Value =
        serde_json::from_str(r#"{"a":[1,2.5,"x",null,true],"b":{"c":1e300,"d":-0.0}}"#)
            .expect("value");
    println!("{value}");
    println!("{}", value["a"][1].as_f64().expect("number") * 2.0);
    match serde_json::from_str::<Order>(r#"{"id": -1}"#) {
        Ok(order) => println!("unexpected {order:?}"),
        Err(error) => println!("error: {error}"),
    }
}
