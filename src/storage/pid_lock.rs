//! `LOCK.pid`: the writer lock a directory's handles share with Node's `dir` storage
//! (`js/dir.js`), which has no OS file locks and so cannot see the native backend's `LOCK`.
//! The file is created exclusively and names its holder (`{"pid":..,"host":"..","token":".."}`,
//! the format `js/dir.js` writes). A lock whose process is gone from this host is broken,
//! after moving it aside and checking that what moved is that stale lock and not a live one
//! another opener took meanwhile; a lock held by a live process, by another host (whose
//! processes cannot be checked from here), or by a holder this code cannot read is a conflict.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The lock's file name under the directory.
pub const PID_LOCK: &str = "LOCK.pid";

/// A held `LOCK.pid`, removed on drop if it is still this holder's.
#[derive(Debug)]
pub struct PidLock {
    path: PathBuf,
    token: String,
}

/// Who holds a lock, as its file says.
#[derive(Debug, PartialEq, Eq)]
struct Holder {
    pid: u32,
    host: String,
    token: String,
}

impl PidLock {
    /// Takes the lock of `dir`, or says who holds it (`CONFLICT`).
    pub fn take(dir: &Path) -> Result<PidLock> {
        let path = dir.join(PID_LOCK);
        let token = format!("{:016x}", crate::codec::random_u64()?);
        let host = hostname();
        let me = format!(
            "{{\"pid\":{},\"host\":\"{}\",\"token\":\"{token}\"}}",
            std::process::id(),
            host.as_deref().unwrap_or("")
        );
        let io = |e: std::io::Error| Error::storage(format!("{}: {e}", path.display()));
        for _ in 0..4 {
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    f.write_all(me.as_bytes()).map_err(io)?;
                    f.sync_all().map_err(io)?;
                    return Ok(PidLock { path, token });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io(e)),
            }
            let Some(read) = read_holder(&path) else {
                continue; // released meanwhile
            };
            let holder = match read {
                Some(h) if Some(&h.host) == host.as_ref() && !alive(h.pid) => h,
                other => return Err(conflict(dir, other.as_ref())),
            };
            // Its process is gone: move it aside, and make sure what moved is that lock.
            let aside = dir.join(format!("{PID_LOCK}.stale-{token}"));
            match fs::rename(&path, &aside) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io(e)),
            }
            let moved = read_holder(&aside).flatten();
            if moved.as_ref().map(|m| &m.token) == Some(&holder.token) {
                let _ = fs::remove_file(&aside);
                continue;
            }
            // A live lock taken after the stale one was broken by someone else: put it back
            // (unless yet another opener took the name meanwhile).
            if fs::hard_link(&aside, &path).is_ok() {
                let _ = fs::remove_file(&aside);
            }
            return Err(conflict(dir, moved.as_ref()));
        }
        Err(conflict(dir, read_holder(&path).flatten().as_ref()))
    }
}

impl Drop for PidLock {
    fn drop(&mut self) {
        if let Some(Some(h)) = read_holder(&self.path)
            && h.token == self.token
        {
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn conflict(dir: &Path, holder: Option<&Holder>) -> Error {
    let who = match holder {
        Some(h) => format!("process {} on host {}", h.pid, h.host),
        None => format!("an unknown holder ({} cannot be read)", PID_LOCK),
    };
    Error::Conflict(format!(
        "the database at {} is open for writing by {who}; close that handle first (if that \
         process is gone and ran on another host, delete {})",
        dir.display(),
        dir.join(PID_LOCK).display()
    ))
}

/// The holder named in `path`: `None` if the file is gone, `Some(None)` if it cannot be read
/// as a holder.
fn read_holder(path: &Path) -> Option<Option<Holder>> {
    match fs::read(path) {
        Ok(bytes) => Some(parse_holder(&String::from_utf8_lossy(&bytes))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(_) => Some(None),
    }
}

/// Reads the three fields of the lock's one-line JSON object (as `JSON.stringify` and
/// [`PidLock::take`] write it); anything else is no holder this code can check.
fn parse_holder(text: &str) -> Option<Holder> {
    let string = |name: &str| {
        let at = text.find(&format!("\"{name}\":\""))? + name.len() + 4;
        let rest = text.get(at..)?;
        let end = rest.find('"')?;
        let value = rest.get(..end)?;
        (!value.contains('\\')).then(|| value.to_owned())
    };
    let at = text.find("\"pid\":")? + 6;
    let digits: String = text
        .get(at..)?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some(Holder {
        pid: digits.parse().ok()?,
        host: string("host")?,
        token: string("token")?,
    })
}

/// This machine's host name as Node's `os.hostname()` reports it (the kernel's), where it
/// can be read.
fn hostname() -> Option<String> {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// Whether process `pid` runs on this machine. Where that cannot be checked (no `/proc`), it
/// counts as running: a lock is then never broken, only reported.
fn alive(pid: u32) -> bool {
    let proc_root = Path::new("/proc");
    if pid == 0 || !proc_root.join("self").exists() {
        return true;
    }
    proc_root.join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "anax-pid-lock-{:016x}",
            crate::codec::random_u64().unwrap()
        ));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_holder_line_round_trips_and_anything_else_is_no_holder() {
        let h = parse_holder(r#"{"pid":42,"host":"box.example","token":"ab12"}"#).unwrap();
        assert_eq!(
            h,
            Holder {
                pid: 42,
                host: "box.example".into(),
                token: "ab12".into()
            }
        );
        for bad in [
            "",
            "{}",
            r#"{"pid":"x","host":"h","token":"t"}"#,
            r#"{"pid":1,"host":"a\"b","token":"t"}"#,
        ] {
            assert_eq!(parse_holder(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_live_holder_is_a_conflict_a_dead_one_on_this_host_is_broken_and_drop_releases() {
        let dir = scratch();
        let lock = PidLock::take(&dir).unwrap();
        let mine = read_holder(&dir.join(PID_LOCK)).unwrap().unwrap();
        assert_eq!(mine.pid, std::process::id());
        // A second taker, in this process or another: the holder is alive.
        let e = PidLock::take(&dir).unwrap_err();
        assert_eq!(e.code(), crate::ErrorCode::Conflict);
        assert!(
            e.to_string()
                .contains(&format!("process {}", std::process::id())),
            "{e}"
        );
        drop(lock);
        assert!(!dir.join(PID_LOCK).exists(), "drop removes the lock");
        if let Some(host) = hostname() {
            // A pid no process has (Linux caps pids at 2^22) on this host: broken.
            let dead = format!(
                r#"{{"pid":{},"host":"{host}","token":"dead"}}"#,
                (1u32 << 22) + 7
            );
            fs::write(dir.join(PID_LOCK), dead).unwrap();
            let lock = PidLock::take(&dir).unwrap();
            assert_eq!(
                read_holder(&dir.join(PID_LOCK)).unwrap().unwrap().pid,
                std::process::id()
            );
            drop(lock);
        }
        // Another host's lock cannot be checked from here.
        fs::write(
            dir.join(PID_LOCK),
            r#"{"pid":1,"host":"elsewhere.example","token":"far"}"#,
        )
        .unwrap();
        let e = PidLock::take(&dir).unwrap_err();
        assert!(e.to_string().contains("elsewhere.example"), "{e}");
        // Nor can a file that names no holder.
        fs::write(dir.join(PID_LOCK), "garbage").unwrap();
        let e = PidLock::take(&dir).unwrap_err();
        assert!(e.to_string().contains("unknown holder"), "{e}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
