//! csv: write records, read them back into structs, aggregate, and report
//! a malformed row as the reader does.
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Serialize, Deserialize)]
struct Sale {
    city: String,
    product: String,
    units: u32,
    price: f64,
}

fn main() {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let cities = ["Paris", "Lyon", "Nantes, \"west\""];
    let products = ["tea", "coffee", "cocoa"];
    for i in 0..300u32 {
        writer
            .serialize(Sale {
                city: cities[i as usize % 3].into(),
                product: products[(i as usize / 3) % 3].into(),
                units: i % 17,
                price: f64::from(i % 11) * 1.25,
            })
            .expect("write");
    }
    let data = writer.into_inner().expect("flush");
    println!("{} bytes", data.len());
    print!("{}", String::from_utf8_lossy(&data[..200]));
    println!();

    let mut totals: BTreeMap<String, (u32, f64)> = BTreeMap::new();
    let mut reader = csv::Reader::from_reader(data.as_slice());
    for sale in reader.deserialize::<Sale>() {
        let sale = sale.expect("record");
        let entry = totals.entry(sale.city).or_default();
        entry.0 += sale.units;
        entry.1 += f64::from(sale.units) * sale.price;
    }
    for (city, (units, revenue)) in &totals {
        println!("{city}: {units} units, {revenue:.2}");
    }

    let broken = "city,product,units,price\nParis,tea,3,1.5\nLyon,coffee,many,2.0\nNantes,tea,1\n";
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(broken.as_bytes());
    for sale in reader.deserialize::<Sale>() {
        match sale {
            Ok(s) => println!("ok {s:?}"),
            Err(e) => println!("error: {e}"),
        }
    }
    let mut tsv = csv::ReaderBuilder::new()
        .delimiter(b'\t')
        .has_headers(false)
        .from_reader("a\tb\tc\n1\t2\t3\n".as_bytes());
    for record in tsv.records() {
        println!("{:?}", record.expect("tsv"));
    }
}
