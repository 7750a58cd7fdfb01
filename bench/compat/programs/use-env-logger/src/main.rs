//! log + env_logger: a filter spec as RUST_LOG would give it, modules with
//! their own levels, and records written to stdout without timestamps.
mod db {
    pub fn query(sql: &str) -> usize {
        log::trace!("query: {sql}");
        log::debug!("planning");
        sql.split_whitespace().count()
    }
}

fn main() {
    env_logger::Builder::new()
        .parse_filters("warn,use_env_logger=info,use_env_logger::db=trace")
        .target(env_logger::Target::Stdout)
        .format_timestamp(None)
        .write_style(env_logger::WriteStyle::Never)
        .init();
    log::info!("starting, max level {}", log::max_level());
    log::debug!("hidden: debug for the main module is off");
    let words = db::query("SELECT name FROM person WHERE age > 30");
    log::warn!("query had {words} words");
    log::error!(target: "audit", "target {} is warn and above", "audit");
    log::info!(target: "audit", "hidden");
    println!(
        "enabled trace for db: {}",
        log::log_enabled!(target: "use_env_logger::db", log::Level::Trace)
    );
}
