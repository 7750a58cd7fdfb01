//! serde_json round trip.
#[derive(serde::Serialize, serde::Deserialize, Debug)]
struct Point {
    x: f64,
    y: f64,
    name: String,
}

fn main() {
    let text = serde_json::to_string(&Point {
        x: 1.5,
        y: -2.0,
        name: "p".into(),
    })
    .unwrap();
    let back: Point = serde_json::from_str(&text).unwrap();
    println!("{text} {back:?}");
}
