//! crossterm: terminal size and raw mode.
fn main() -> std::io::Result<()> {
    println!("{:?}", crossterm::terminal::size());
    crossterm::terminal::enable_raw_mode()?;
    crossterm::terminal::disable_raw_mode()?;
    Ok(())
}
