//! clap: derive parser; errors and --help go through clap's own exits.
use clap::Parser;

/// Greets people a number of times.
#[derive(Parser, Debug)]
#[command(name = "greet", version = "1.2.3")]
struct Args {
    /// Who to greet.
    #[arg(short, long)]
    name: String,
    /// How many times.
    #[arg(short, long, default_value_t = 1)]
    count: u8,
    /// Shout.
    #[arg(long)]
    loud: bool,
}

fn main() {
    let args = Args::parse();
    for _ in 0..args.count {
        let line = format!("Hello, {}!", args.name);
        println!("{}", if args.loud { line.to_uppercase() } else { line });
    }
}
