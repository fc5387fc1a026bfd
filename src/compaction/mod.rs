//! Major compaction: which SSTs to merge (the strategies, pure functions of the live set) and
//! the streaming merge that rewrites them ([`merge`]).
//!
//! Reads never depend on levels for correctness: a get takes the newest version across every
//! SST whose key range and timestamps qualify, and a scan merges all of them by (key, ts). So
//! any set of inputs may be merged; strategies only decide what is worth merging. What a
//! merge may drop is decided by [`merge::Rules`].

pub mod merge;

use crate::options::{CompactionStrategy, LeveledOptions, TieredOptions, TimeWindowOptions};
use crate::sst::SstMeta;

/// One compaction job: the SSTs to merge and where the output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// Ids of the input SSTs.
    pub inputs: Vec<u64>,
    /// The level of the output files.
    pub output_level: u32,
    /// The time window the output belongs to (time-window strategy only).
    pub window: Option<u64>,
}

/// The job the strategy wants next for the live set `ssts`, if any. `now_ms` is the wall
/// clock (the time-window strategy closes windows by it).
pub fn plan(strategy: &CompactionStrategy, ssts: &[SstMeta], now_ms: u64) -> Option<Task> {
    match strategy {
        CompactionStrategy::Leveled(o) => leveled(o, ssts),
        CompactionStrategy::Tiered(o) => tiered(o, ssts),
        CompactionStrategy::TimeWindow(o) => time_window(o, ssts, now_ms),
    }
}

/// Every live SST into one file at `level` (what `Db::compact` does).
pub fn full(ssts: &[SstMeta], level: u32) -> Option<Task> {
    let needed = ssts.len() >= 2
        || ssts
            .iter()
            .any(|m| m.tombstones > 0 || m.rows > m.distinct_keys);
    needed.then(|| Task {
        inputs: ssts.iter().map(|m| m.id).collect(),
        output_level: level,
        window: None,
    })
}

fn key_overlap(a: &SstMeta, lo: &[u8], hi: &[u8]) -> bool {
    a.min_key.as_ref() <= hi && a.max_key.as_ref() >= lo
}

/// The key span of `files`.
fn span<'a>(files: impl Iterator<Item = &'a SstMeta>) -> Option<(&'a [u8], &'a [u8])> {
    let mut out: Option<(&[u8], &[u8])> = None;
    for m in files {
        let (lo, hi) = (m.min_key.as_ref(), m.max_key.as_ref());
        out = Some(match out {
            None => (lo, hi),
            Some((a, b)) => (a.min(lo), b.max(hi)),
        });
    }
    out
}

/// Whether no two of `files` share a key: merging such files only concatenates them (e.g. the
/// pieces of one earlier job), so strategies never pick them on that ground alone.
fn disjoint(files: &[&SstMeta]) -> bool {
    let mut sorted: Vec<&&SstMeta> = files.iter().collect();
    sorted.sort_by(|a, b| a.min_key.cmp(&b.min_key));
    sorted
        .windows(2)
        .all(|w| matches!(w, [a, b] if a.max_key < b.min_key))
}

fn leveled(o: &LeveledOptions, ssts: &[SstMeta]) -> Option<Task> {
    let at = |level: u32| ssts.iter().filter(move |m| m.level == level);
    let l0: Vec<&SstMeta> = at(0).collect();
    let trigger = o.l0_trigger.max(1);
    if l0.len() >= trigger {
        // All of L0 (its files overlap each other) plus every L1 file its span touches, so L1
        // stays a run of non-overlapping files.
        let (lo, hi) = span(l0.iter().copied())?;
        let l1: Vec<&SstMeta> = at(1).filter(|m| key_overlap(m, lo, hi)).collect();
        // Until L0 holds a `size_ratio`-th of the rows it would rewrite in L1, L0's files
        // merge among themselves, a tier of similar sizes at a time. Otherwise a table written
        // one small commit at a time (an object store seals every batch) rewrites all of L1
        // every few commits: 10,000 one-row puts wrote 3.2 GB for a 2.5 MB table.
        let l0_rows: u64 = l0.iter().map(|m| m.rows).sum();
        let l1_rows: u64 = l1.iter().map(|m| m.rows).sum();
        let into_l1 = l1.is_empty()
            || l0.len() >= trigger.saturating_mul(L0_TIER_LIMIT)
            || l0_rows.saturating_mul(o.size_ratio.max(2)) >= l1_rows;
        if into_l1 {
            let mut inputs: Vec<u64> = l0.iter().map(|m| m.id).collect();
            inputs.extend(l1.iter().map(|m| m.id));
            return Some(Task {
                inputs,
                output_level: 1,
                window: None,
            });
        }
        if let Some(tier) = l0_tier(&l0, trigger) {
            return Some(Task {
                inputs: tier,
                output_level: 0,
                window: None,
            });
        }
    }
    let mut target = o.l1_target_bytes.max(1);
    for level in 1..o.max_level {
        let bytes: u64 = at(level).map(|m| m.bytes).sum();
        if bytes > target {
            // The file holding the oldest data moves down first: it is the least likely to be
            // rewritten by newer commits anyway.
            let pick = at(level).min_by_key(|m| (m.max_ts, m.id))?;
            let (lo, hi) = (pick.min_key.as_ref(), pick.max_key.as_ref());
            let mut inputs = vec![pick.id];
            inputs.extend(
                at(level + 1)
                    .filter(|m| key_overlap(m, lo, hi))
                    .map(|m| m.id),
            );
            return Some(Task {
                inputs,
                output_level: level + 1,
                window: None,
            });
        }
        target = target.saturating_mul(o.size_ratio.max(2));
    }
    None
}

/// L0 holds at most this many times `l0_trigger` files before it goes into L1 whatever its size
/// (reads probe every overlapping L0 file; backpressure starts at 16 by default).
const L0_TIER_LIMIT: usize = 3;

/// The smallest `trigger` or more L0 files within 2x of each other's size, if any. Disjoint
/// files of more than one row are left alone: they may be the pieces of one job, which a merge
/// would only cut into the same pieces again.
fn l0_tier(l0: &[&SstMeta], trigger: usize) -> Option<Vec<u64>> {
    let mut sorted: Vec<&SstMeta> = l0.to_vec();
    sorted.sort_by_key(|m| (m.bytes, m.id));
    let mut i = 0;
    while i < sorted.len() {
        let base = sorted.get(i).map_or(0, |m| m.bytes).max(1);
        let mut j = i;
        while sorted
            .get(j)
            .is_some_and(|m| m.bytes <= base.saturating_mul(2))
        {
            j += 1;
        }
        let mut tier: Vec<&SstMeta> = sorted
            .get(i..j)
            .unwrap_or(&[])
            .iter()
            .take(32)
            .copied()
            .collect();
        let commits = one_row_commits(&mut tier);
        if tier.len() >= trigger && (commits || !disjoint(&tier)) {
            return Some(tier.iter().map(|m| m.id).collect());
        }
        i = j.max(i + 1);
    }
    None
}

/// The most bytes of one-row commits one job merges.
const ONE_ROW_MERGE_BYTES: u64 = 64 << 20;

/// Whether `pick` holds only one-row files in L0: commits on distinct keys, disjoint but not
/// the pieces of one job, which would otherwise pile up until L0 backpressure stalls puts. Then
/// cuts `pick` to its first ONE_ROW_MERGE_BYTES: a merge holds every input row (32 one-row
/// files of 16 MiB values would take 512 MiB). Only L0's: a tiered job's one-row outputs
/// (`maxOutputRows: 1`) would otherwise be merged again forever.
fn one_row_commits(pick: &mut Vec<&SstMeta>) -> bool {
    if !pick.iter().all(|m| m.rows <= 1 && m.level == 0) {
        return false;
    }
    let mut total = 0u64;
    pick.retain(|m| {
        total = total.saturating_add(m.bytes);
        total <= ONE_ROW_MERGE_BYTES
    });
    true
}

fn tiered(o: &TieredOptions, ssts: &[SstMeta]) -> Option<Task> {
    let mut sorted: Vec<&SstMeta> = ssts.iter().collect();
    sorted.sort_by_key(|m| (m.bytes, m.id));
    let ratio = if o.size_ratio.is_finite() && o.size_ratio >= 1.0 {
        o.size_ratio
    } else {
        2.0
    };
    // Tiers: runs of files (by size) within `ratio` of the run's smallest file.
    let mut best: Option<Vec<&SstMeta>> = None;
    let mut i = 0;
    while i < sorted.len() {
        let base = sorted.get(i).map_or(0, |m| m.bytes).max(1) as f64;
        let mut j = i;
        while sorted
            .get(j)
            .is_some_and(|m| (m.bytes as f64) <= base * ratio)
        {
            j += 1;
        }
        let tier = sorted.get(i..j).unwrap_or(&[]);
        // Prefer the tier of the smallest files: cheapest to merge, and most of them.
        let mut pick: Vec<&SstMeta> = tier.iter().take(o.max_merge.max(2)).copied().collect();
        let commits = one_row_commits(&mut pick);
        if pick.len() >= o.min_merge.max(2) && best.is_none() && (commits || !disjoint(&pick)) {
            best = Some(pick);
        }
        i = j.max(i + 1);
    }
    let tier = best?;
    let level = tier.iter().map(|m| m.level).max().unwrap_or(0);
    Some(Task {
        inputs: tier.iter().map(|m| m.id).collect(),
        output_level: (level + 1).min(6),
        window: None,
    })
}

/// The time window an SST belongs to: the one its path records, else the one it was written in.
pub fn window_of(meta: &SstMeta, window_ms: u64) -> u64 {
    crate::paths::sst_path_window(&meta.path)
        .unwrap_or_else(|| crate::paths::sst_path_ms(&meta.path).unwrap_or(0) / window_ms.max(1))
}

fn time_window(o: &TimeWindowOptions, ssts: &[SstMeta], now_ms: u64) -> Option<Task> {
    let current = now_ms / o.window_ms.max(1);
    let mut windows: std::collections::BTreeMap<u64, Vec<&SstMeta>> = Default::default();
    for m in ssts {
        windows
            .entry(window_of(m, o.window_ms))
            .or_default()
            .push(m);
    }
    // Oldest window first: a closed window settles into one file and is never touched again.
    windows.into_iter().find_map(|(w, files)| {
        let wanted = if w < current { 2 } else { o.min_merge.max(2) };
        let due = files.len() >= wanted && !disjoint(&files);
        due.then(|| Task {
            inputs: files.iter().map(|m| m.id).collect(),
            output_level: 1,
            window: Some(w),
        })
    })
}

#[cfg(test)]
mod tests;
