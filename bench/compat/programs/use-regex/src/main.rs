//! regex: captures, iteration, replacement and Unicode classes.
use regex::Regex;

fn main() {
    let text = "alice@example.org wrote to bob@test.net on 2024-03-15; Ünïcödé wörds 42 and 7";
    let email = Regex::new(r"(?P<user>[a-z]+)@(?P<host>[a-z.]+)").expect("regex");
    for caps in email.captures_iter(text) {
        println!("user={} host={}", &caps["user"], &caps["host"]);
    }
    let date = Regex::new(r"(\d{4})-(\d{2})-(\d{2})").expect("regex");
    println!("{}", date.replace_all(text, "$3/$2/$1"));
    let words = Regex::new(r"\p{L}+").expect("regex");
    println!(
        "{:?}",
        words
            .find_iter(text)
            .map(|m| m.as_str())
            .collect::<Vec<_>>()
    );
    let numbers: u32 = Regex::new(r"\b\d+\b")
        .expect("regex")
        .find_iter(text)
        .map(|m| m.as_str().parse::<u32>().expect("number"))
        .sum();
    println!("sum of numbers {numbers}");
    println!(
        "{:?}",
        Regex::new(r"(unclosed").err().map(|e| e.to_string())
    );
}
