//! What the write path does when the node's disk is full: wait for space and try again.
//!
//! openraft treats a failed log append or snapshot as fatal for its group, which would then
//! stay down until the process restarts. A full disk is usually temporary (an operator frees
//! space, the log's own purges do), so a write that fails with `ENOSPC` waits and is retried
//! instead: the group stalls as a paused node would (peers elect another leader, nothing is
//! acknowledged that is not durable) and goes on by itself once space returns.

use std::io;
use std::time::Duration;

/// How long a write waits before trying again on a full disk.
const RETRY_AFTER: Duration = Duration::from_millis(250);

/// Runs `op` (blocking) until it does not fail for lack of space; other errors are returned.
/// `undo` runs after each failure, to leave no partial write behind.
pub fn retry_when_full<T>(what: &str, mut op: impl FnMut() -> io::Result<T>, mut undo: impl FnMut()) -> io::Result<T> {
    let mut waited = false;
    loop {
        match op() {
            Err(e) if e.kind() == io::ErrorKind::StorageFull => {
                undo();
                if !waited {
                    crate::metrics::DISK_FULL_WAITS.inc();
                    tracing::error!("{what}: {e}; waiting for free space");
                    waited = true;
                }
                std::thread::sleep(RETRY_AFTER);
            }
            other => {
                if waited && other.is_ok() {
                    tracing::warn!("{what}: space is back, writing again");
                }
                return other;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_only_a_full_disk() {
        let mut tries = 0;
        let mut undone = 0;
        let out = retry_when_full(
            "test",
            || {
                tries += 1;
                if tries < 3 { Err(io::Error::from(io::ErrorKind::StorageFull)) } else { Ok(tries) }
            },
            || undone += 1,
        );
        assert_eq!(out.expect("third try"), 3);
        assert_eq!(undone, 2);
        let err = retry_when_full("test", || Err::<(), _>(io::Error::other("broken")), || {}).expect_err("not retried");
        assert_eq!(err.to_string(), "broken");
    }
}
