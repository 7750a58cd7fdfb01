//! tracing with tracing-subscriber's formatter and env filter.
fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    tracing::info!(answer = 42, "hello");
    let span = tracing::info_span!("work");
    let _guard = span.enter();
    tracing::warn!("inside");
}
