//! The integrations' signing keys and browser origins, kept in memory so
//! that checking a connection token or answering a CORS preflight needs no
//! query. Reloaded when this instance changes an integration, when another
//! instance says it did (the cluster's "tokens changed" signal), and at
//! least every few seconds. Server only.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::store::integrations::IntegrationKey;
use crate::store::{Store, StoreError};

/// Longest a change made elsewhere goes unseen if its signal was lost.
const RELOAD_EVERY: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Snapshot {
    loaded_at: Option<Instant>,
    /// Moves on every `forget`: a load that began before one is not fresh.
    generation: u64,
    by_name: Arc<HashMap<String, IntegrationKey>>,
}

impl Snapshot {
    fn forget_now(&mut self) {
        self.loaded_at = None;
        self.generation += 1;
    }
}

/// The cache; cheap to clone.
#[derive(Clone, Default)]
pub struct IntegrationKeys {
    snapshot: Arc<RwLock<Snapshot>>,
}

impl IntegrationKeys {
    /// Makes the next read load the keys again.
    pub fn forget(&self) {
        self.snapshot
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .forget_now();
    }

    /// Every integration by name, loaded from `store` if stale.
    pub async fn current(
        &self,
        store: &Store,
    ) -> Result<Arc<HashMap<String, IntegrationKey>>, StoreError> {
        let generation = {
            let snapshot = self.snapshot.read().unwrap_or_else(|e| e.into_inner());
            if snapshot
                .loaded_at
                .is_some_and(|at| at.elapsed() < RELOAD_EVERY)
            {
                return Ok(snapshot.by_name.clone());
            }
            snapshot.generation
        };
        let started = Instant::now();
        let keys = store.integration_keys().await?;
        let by_name: Arc<HashMap<String, IntegrationKey>> = Arc::new(
            keys.into_iter()
                .map(|key| (key.name.clone(), key))
                .collect(),
        );
        let mut snapshot = self.snapshot.write().unwrap_or_else(|e| e.into_inner());
        // A `forget` during the load keeps the snapshot stale.
        if snapshot.generation == generation {
            snapshot.loaded_at = Some(started);
        }
        snapshot.by_name = by_name.clone();
        Ok(by_name)
    }

    /// Whether any integration allows browser origin `origin`.
    pub async fn allows_origin(&self, store: &Store, origin: &str) -> bool {
        match self.current(store).await {
            Ok(keys) => keys
                .values()
                .any(|key| key.origins.iter().any(|allowed| allowed == origin)),
            Err(error) => {
                tracing::warn!(%error, "integration origins unavailable");
                false
            }
        }
    }
}
