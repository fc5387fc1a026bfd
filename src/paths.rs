//! The names of the objects the engine writes (SSTs) and the parsers that read them back, in
//! one file: GC and compaction parse what flushes and commits named, so the format has one
//! owner (LevelDB's filename.cc idea). Imports nothing of the engine.

/// Random SST ids keep concurrent writers on one prefix from colliding; the wall-clock prefix
/// lets GC tell an old orphan from a file whose commit is still in flight.
pub(crate) fn sst_path(level: u32, wall_ms: u64, id: u64) -> String {
    format!("sst/L{level}/{wall_ms:013}-{id:016x}.parquet")
}

/// [`sst_path`] for a compaction output of the time-window strategy: the window its rows
/// belong to rides in the name, since the file itself is written later.
pub(crate) fn sst_path_in_window(level: u32, wall_ms: u64, id: u64, window: u64) -> String {
    format!("sst/L{level}/{wall_ms:013}-{id:016x}-w{window}.parquet")
}

/// [`sst_path`] for a put whose SST uploads while its commit is published: the name tells
/// readers that a missing file may still be on its way (or never come, and be voided), while a
/// missing file of any other name is a loss to report.
pub(crate) fn sst_path_in_flight(level: u32, wall_ms: u64, id: u64) -> String {
    format!("sst/L{level}/{wall_ms:013}-{id:016x}-f.parquet")
}

/// Whether `path` was named by [`sst_path_in_flight`].
pub(crate) fn is_in_flight_path(path: &str) -> bool {
    path.ends_with("-f.parquet")
}

/// The wall-clock time in an SST path written by [`sst_path`].
pub(crate) fn sst_path_ms(path: &str) -> Option<u64> {
    path.rsplit('/').next()?.split('-').next()?.parse().ok()
}

/// The time window recorded by [`sst_path_in_window`], if any.
pub(crate) fn sst_path_window(path: &str) -> Option<u64> {
    let name = path.rsplit('/').next()?.strip_suffix(".parquet")?;
    name.rsplit('-').next()?.strip_prefix('w')?.parse().ok()
}
