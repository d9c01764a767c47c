//! Helpers for unit tests.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A directory under the system temp dir, removed with everything in it when dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh, empty directory under the system temp dir.
pub fn temp_dir(name: &str) -> TempDir {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!("skald-{name}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::create_dir_all(&dir);
    TempDir(dir)
}

use openraft::StorageError;
use openraft::errors::ErrorSource;
use openraft::storage::RaftLogStorage;
use openraft::testing::log::{StoreBuilder, Suite};

use crate::command::TypeConfig;
use crate::state_machine::StateMachine;

/// A storage error for openraft's suite from anything printable.
pub fn storage_err(e: impl ToString) -> StorageError<TypeConfig> {
    StorageError::read(ErrorSource::from_string(e))
}

/// A fresh state machine under `dir` for a suite store.
pub fn suite_state_machine(dir: &std::path::Path) -> Result<StateMachine, StorageError<TypeConfig>> {
    StateMachine::open(dir, 0, crate::heads::HeadsConfig::default()).map_err(storage_err)
}

/// Runs openraft's log storage suite over the stores `builder` makes.
pub fn run_storage_suite<LS, B>(builder: B) -> Result<(), StorageError<TypeConfig>>
where
    LS: RaftLogStorage<TypeConfig>,
    B: StoreBuilder<TypeConfig, LS, StateMachine, TempDir>,
{
    let rt = tokio::runtime::Runtime::new().map_err(storage_err)?;
    rt.block_on(Suite::test_all(builder))
}
