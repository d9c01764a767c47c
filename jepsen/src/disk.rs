//! Disk faults. Each node's data directory is a size-limited tmpfs mounted by the harness in
//! its own private mount namespace (a new user namespace too when the harness is not
//! privileged), so the mounts outlive node restarts and vanish with the harness. Filling a
//! disk shrinks its tmpfs to what is in use, so the node's next write fails with ENOSPC;
//! freeing it grows the tmpfs back.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// Size of each node's data disk while it is not full.
pub const DISK_BYTES: u64 = 2 << 30;

fn c_path(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes()).context("a path with a NUL byte")
}

fn last_error(what: &str) -> anyhow::Error {
    anyhow::anyhow!("{what}: {}", std::io::Error::last_os_error())
}

/// Moves the harness into a private mount namespace where it may mount tmpfs. Call it
/// before any thread starts: a new user namespace needs a single-threaded caller.
pub fn enter_namespace() -> Result<()> {
    // SAFETY: plain system calls on a single-threaded process; every pointer is a valid C string.
    unsafe {
        let (uid, gid) = (libc::geteuid(), libc::getegid());
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            if libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS) != 0 {
                return Err(last_error("unshare (user and mount namespaces)"));
            }
            // Keep our own ids inside, so the nodes' files keep their owner.
            std::fs::write("/proc/self/setgroups", "deny").context("writing setgroups")?;
            std::fs::write("/proc/self/uid_map", format!("{uid} {uid} 1")).context("writing uid_map")?;
            std::fs::write("/proc/self/gid_map", format!("{gid} {gid} 1")).context("writing gid_map")?;
        }
        let root = c_path(Path::new("/"))?;
        if libc::mount(std::ptr::null(), root.as_ptr(), std::ptr::null(), libc::MS_REC | libc::MS_PRIVATE, std::ptr::null()) != 0 {
            return Err(last_error("making the mount namespace private"));
        }
    }
    Ok(())
}

fn mount_tmpfs(dir: &Path, bytes: u64, remount: bool) -> Result<()> {
    let target = c_path(dir)?;
    let source = CString::new("skald-jepsen")?;
    let fstype = CString::new("tmpfs")?;
    let data = CString::new(format!("size={bytes}"))?;
    let flags = libc::MS_NOSUID | libc::MS_NODEV | if remount { libc::MS_REMOUNT } else { 0 };
    // SAFETY: every pointer is a valid NUL-terminated string that outlives the call.
    let rc = unsafe { libc::mount(source.as_ptr(), target.as_ptr(), fstype.as_ptr(), flags, data.as_ptr().cast()) };
    if rc != 0 {
        return Err(last_error(&format!("mounting tmpfs of {bytes} bytes on {}", dir.display())));
    }
    Ok(())
}

/// Bytes in use on the file system holding `dir`.
fn used(dir: &Path) -> Result<u64> {
    let path = c_path(dir)?;
    // SAFETY: statvfs fills the zeroed struct we own; `path` is a valid C string.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(path.as_ptr(), &mut st) } != 0 {
        return Err(last_error(&format!("statvfs {}", dir.display())));
    }
    Ok((st.f_blocks - st.f_bfree) * st.f_frsize)
}

/// Mounts an empty data disk of [`DISK_BYTES`] on `dir`.
pub fn mount(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    mount_tmpfs(dir, DISK_BYTES, false)
}

/// Leaves no free space on the disk at `dir`: its size becomes what is in use.
pub fn fill(dir: &Path) -> Result<()> {
    // A write between measuring and shrinking makes the shrink fail; measure again.
    for _ in 0..20 {
        if mount_tmpfs(dir, used(dir)?, true).is_ok() {
            return Ok(());
        }
    }
    bail!("could not shrink the disk at {} to its use", dir.display())
}

/// Gives the disk at `dir` its full size back.
pub fn free(dir: &Path) -> Result<()> {
    mount_tmpfs(dir, DISK_BYTES, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs in a child process: entering a namespace needs a single thread.
    #[test]
    fn a_filled_disk_refuses_writes_until_freed() {
        let exe = std::env::current_exe().expect("test binary");
        if std::env::var_os("SKALD_JEPSEN_DISK_CHILD").is_none() {
            let out = std::process::Command::new(exe)
                .args(["disk::tests::a_filled_disk_refuses_writes_until_freed", "--exact", "--test-threads=1", "--nocapture"])
                .env("SKALD_JEPSEN_DISK_CHILD", "1")
                .output()
                .expect("child test");
            let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{text}");
            assert!(text.contains("disk checked"), "{text}");
            return;
        }
        enter_namespace().expect("namespace");
        let dir = std::env::temp_dir().join(format!("skald-jepsen-disk-{}", std::process::id()));
        mount(&dir).expect("mount");
        let file = dir.join("f");
        std::fs::write(&file, vec![7u8; 1 << 20]).expect("write on an empty disk");
        fill(&dir).expect("fill");
        let err = std::fs::write(dir.join("g"), vec![7u8; 1 << 20]).expect_err("a full disk refuses a write");
        assert_eq!(err.kind(), std::io::ErrorKind::StorageFull, "{err}");
        free(&dir).expect("free");
        std::fs::write(dir.join("g"), vec![7u8; 1 << 20]).expect("write after freeing");
        assert_eq!(std::fs::read(&file).expect("read").len(), 1 << 20);
        let _ = std::process::Command::new("umount").arg(&dir).status();
        let _ = std::fs::remove_dir_all(&dir);
        println!("disk checked");
    }
}
