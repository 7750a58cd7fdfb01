//! A Ctrl-C handler.
fn main() {
    let (tx, rx) = std::sync::mpsc::channel();
    ctrlc::set_handler(move || tx.send(()).unwrap()).unwrap();
    let _ = rx.recv_timeout(std::time::Duration::from_millis(10));
    println!("bye");
}
