//! log with env_logger.
fn main() {
    env_logger::init();
    log::info!("hello");
    log::error!("an error");
}
