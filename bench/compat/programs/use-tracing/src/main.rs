//! tracing + tracing-subscriber's fmt layer (to stdout, no timestamps so the
//! runs compare): levels, fields, nested spans, an EnvFilter directive.
use tracing::{debug, error, info, info_span, instrument, trace, warn};
use tracing_subscriber::EnvFilter;

#[instrument]
fn load(user: &str, attempts: u32) -> Result<usize, String> {
    debug!(attempts, "loading");
    if attempts > 2 {
        warn!("too many attempts");
        return Err(format!("{user}: gave up"));
    }
    Ok(user.len() * 10)
}

fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stdout)
        .with_env_filter(EnvFilter::new("info,use_tracing=debug"))
        .without_time()
        .with_ansi(false)
        .with_thread_names(true)
        .init();
    info!(version = 1, "starting");
    trace!("filtered out");
    let span = info_span!("request", id = 42, path = "/users");
    let _guard = span.enter();
    for (user, attempts) in [("ada", 1), ("grace", 3)] {
        match load(user, attempts) {
            Ok(size) => info!(size, "loaded"),
            Err(e) => error!(error = %e, "failed"),
        }
    }
    let worker = std::thread::Builder::new()
        .name("worker".into())
        .spawn(|| info!(items = ?vec![1, 2, 3], "from a thread"))
        .expect("spawn");
    worker.join().expect("join");
    drop(_guard);
    info!("done");
}
