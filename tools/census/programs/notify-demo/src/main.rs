//! File-system notifications (inotify on Linux).
use notify::{RecursiveMode, Watcher};

fn main() -> notify::Result<()> {
    let (tx, rx) = std::sync::mpsc::channel();
    let mut watcher = notify::recommended_watcher(tx)?;
    watcher.watch(&std::env::temp_dir(), RecursiveMode::NonRecursive)?;
    if let Ok(event) = rx.recv_timeout(std::time::Duration::from_millis(10)) {
        println!("{event:?}");
    }
    Ok(())
}
