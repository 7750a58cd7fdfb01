//! `kiln serve`'s instances in the instance store, so `kiln ps`, `inspect`
//! and `stop` see them.
//!
//! kiln serve is their supervisor: the record names it (pid and start
//! time, so an instance whose kiln serve died reads as exited) and says
//! which kiln serve it is in the config. It is written once the monitor is
//! told to boot and removed when the instance ends, so only running
//! instances are listed. A store that cannot be opened costs the listing,
//! not the service.

use std::path::PathBuf;

use crate::instance::{Config, Instance, RestartPolicy, ServedBy, State, Store, now_ms};

/// Where and what to record.
pub struct Records {
    store: Option<Store>,
    image: PathBuf,
    run_args: Vec<String>,
    memory: u64,
    served_by: ServedBy,
}

impl Records {
    /// Opens the store; a failure is said once and records nothing.
    pub fn open(image: PathBuf, run_args: Vec<String>, memory: u64, address: String) -> Self {
        let store = match Store::open() {
            Ok(store) => Some(store),
            Err(failure) => {
                tell!(
                    "kiln serve: instances will not show in kiln ps: {}",
                    failure.message
                );
                None
            }
        };
        Self {
            store,
            image,
            run_args,
            memory,
            served_by: ServedBy {
                pid: std::process::id(),
                address,
            },
        }
    }

    /// Records a running instance whose monitor is `monitor_pid`.
    pub fn add(&self, monitor_pid: u32) -> Option<Instance> {
        let store = self.store.as_ref()?;
        let config = Config {
            name: String::new(),
            image: self.image.clone(),
            reference: None,
            run_args: self.run_args.clone(),
            restart: RestartPolicy::No,
            memory: self.memory,
            created_ms: now_ms(),
            served_by: Some(self.served_by.clone()),
        };
        let recorded = store.create(config).and_then(|instance| {
            let mut state = State::starting(crate::instance::me(), 0);
            state.monitor_pid = Some(monitor_pid);
            state.message = Some(format!("on demand (kiln serve {})", self.served_by.address));
            instance.write_state(&state).map(|()| instance)
        });
        recorded
            .map_err(|failure| tell!("kiln serve: cannot record an instance: {}", failure.message))
            .ok()
    }

    /// Deletes an ended instance's record.
    pub fn remove(&self, instance: &Instance) {
        if let Some(store) = &self.store
            && let Err(failure) = store.remove(instance)
        {
            tell!("kiln serve: cannot remove a record: {}", failure.message);
        }
    }
}
