use super::*;
use crate::options::{CompactionStrategy, LeveledOptions, TieredOptions, TimeWindowOptions};

fn sst(id: u64, level: u32, lo: &str, hi: &str, bytes: u64, ts: (u64, u64)) -> SstMeta {
    SstMeta {
        id,
        level,
        path: format!("sst/L{level}/{:013}-{id:016x}.parquet", 1_000 * id),
        rows: 10,
        bytes,
        min_key: lo.as_bytes().into(),
        max_key: hi.as_bytes().into(),
        min_ts: ts.0,
        max_ts: ts.1,
        tombstones: 0,
        distinct_keys: 10,
        ts_shift: 0,
        tail_bytes: 0,
        tail_crc: 0,
    }
}

fn leveled() -> CompactionStrategy {
    CompactionStrategy::Leveled(LeveledOptions {
        l0_trigger: 3,
        l1_target_bytes: 1_000,
        size_ratio: 10,
        max_level: 4,
    })
}

#[test]
fn leveled_waits_for_the_l0_trigger() {
    let ssts = vec![
        sst(1, 0, "a", "m", 10, (1, 1)),
        sst(2, 0, "c", "z", 10, (2, 2)),
    ];
    assert_eq!(plan(&leveled(), &ssts, 0), None);
}

#[test]
fn leveled_l0_pulls_in_only_overlapping_l1_files() {
    let ssts = vec![
        sst(1, 0, "d", "f", 10, (10, 10)),
        sst(2, 0, "e", "h", 10, (11, 11)),
        sst(3, 0, "f", "g", 10, (12, 12)),
        sst(4, 1, "a", "c", 100, (1, 5)),
        sst(5, 1, "c", "e", 100, (1, 5)),
        sst(6, 1, "g", "k", 100, (1, 5)),
        sst(7, 1, "m", "z", 100, (1, 5)),
    ];
    let task = plan(&leveled(), &ssts, 0).unwrap();
    assert_eq!(task.inputs, vec![1, 2, 3, 5, 6]);
    assert_eq!(task.output_level, 1);
}

#[test]
fn leveled_pushes_the_oldest_file_of_an_oversized_level_down() {
    let ssts = vec![
        sst(4, 1, "a", "c", 600, (1, 9)),
        sst(5, 1, "d", "f", 600, (1, 3)),
        sst(6, 2, "a", "b", 100, (1, 2)),
        sst(7, 2, "e", "k", 100, (1, 2)),
    ];
    let task = plan(&leveled(), &ssts, 0).unwrap();
    assert_eq!(task.inputs, vec![5, 7]);
    assert_eq!(task.output_level, 2);
    // Within target: nothing to do.
    let small: Vec<SstMeta> = ssts
        .into_iter()
        .map(|mut m| {
            m.bytes = 10;
            m
        })
        .collect();
    assert_eq!(plan(&leveled(), &small, 0), None);
}

#[test]
fn leveled_never_pushes_below_the_deepest_level() {
    let ssts = vec![sst(1, 4, "a", "z", 1 << 40, (1, 1))];
    assert_eq!(plan(&leveled(), &ssts, 0), None);
}

#[test]
fn tiered_merges_a_tier_of_similar_sizes() {
    let strategy = CompactionStrategy::Tiered(TieredOptions {
        min_merge: 3,
        max_merge: 8,
        size_ratio: 2.0,
    });
    let ssts = vec![
        sst(1, 0, "a", "z", 100, (1, 1)),
        sst(2, 0, "a", "z", 150, (2, 2)),
        sst(3, 0, "a", "z", 1_000, (3, 3)),
        sst(4, 0, "a", "z", 190, (4, 4)),
    ];
    let mut task = plan(&strategy, &ssts, 0).unwrap();
    task.inputs.sort_unstable();
    assert_eq!(task.inputs, vec![1, 2, 4]);
    assert_eq!(task.output_level, 1);
    assert_eq!(plan(&strategy, &ssts[..3], 0), None);
}

#[test]
fn time_window_merges_closed_windows_and_full_open_ones() {
    let strategy = CompactionStrategy::TimeWindow(TimeWindowOptions {
        window_ms: 10_000,
        min_merge: 3,
    });
    // Paths carry write times 1 s, 2 s (window 0) and 11 s, 12 s (window 1).
    let ssts = vec![
        sst(1, 0, "a", "b", 10, (1, 1)),
        sst(2, 0, "a", "b", 10, (2, 2)),
        sst(11, 0, "a", "b", 10, (3, 3)),
        sst(12, 0, "a", "b", 10, (4, 4)),
    ];
    // At 15 s window 0 is closed: it merges with two files; window 1 is open with two.
    let task = plan(&strategy, &ssts, 15_000).unwrap();
    assert_eq!(task.inputs, vec![1, 2]);
    assert_eq!(task.window, Some(0));
    // Window 0 settled into one file recorded in its name: only window 1 is left, open.
    let mut merged = sst(20, 1, "a", "b", 20, (1, 2));
    merged.path = "sst/L1/0000000020000-0000000000000014-w0.parquet".into();
    let rest = vec![merged, ssts[2].clone(), ssts[3].clone()];
    assert_eq!(plan(&strategy, &rest, 15_000), None);
    // Once window 1 closes it merges too, without touching window 0.
    let task = plan(&strategy, &rest, 25_000).unwrap();
    assert_eq!(task.inputs, vec![11, 12]);
    assert_eq!(task.window, Some(1));
}

#[test]
fn pieces_of_one_job_are_not_merged_again() {
    // Two disjoint outputs of one earlier job: same size tier, same window, no overlap.
    let pieces = vec![
        sst(1, 1, "a", "f", 100, (1, 5)),
        sst(2, 1, "g", "z", 100, (1, 5)),
    ];
    let tiered = CompactionStrategy::Tiered(TieredOptions {
        min_merge: 2,
        max_merge: 8,
        size_ratio: 2.0,
    });
    assert_eq!(plan(&tiered, &pieces, 0), None);
    let window = CompactionStrategy::TimeWindow(TimeWindowOptions {
        window_ms: 10_000,
        min_merge: 2,
    });
    assert_eq!(plan(&window, &pieces, 1_000_000), None);
    // An overlapping newcomer makes the tier worth merging.
    let mut more = pieces.clone();
    more.push(sst(3, 0, "c", "d", 100, (6, 6)));
    assert!(plan(&tiered, &more, 0).is_some());
    assert!(plan(&window, &more, 1_000_000).is_some());
}

#[test]
fn tiered_merges_one_row_commits_on_distinct_keys() {
    // Four one-row puts of different keys: pairwise disjoint, yet not pieces of one job. Left
    // alone they piled up until L0 backpressure stalled puts (p99 47 round trips).
    let tiered = CompactionStrategy::Tiered(TieredOptions::default());
    let mut ones: Vec<SstMeta> = ["b", "d", "f", "h"]
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let mut m = sst(i as u64 + 1, 0, k, k, 100, (i as u64, i as u64));
            m.rows = 1;
            m.distinct_keys = 1;
            m
        })
        .collect();
    let task = plan(&tiered, &ones, 0).unwrap();
    assert_eq!(task.inputs.len(), 4);
    // The same files as a job's outputs (one row each when outputs are cut at one row) are
    // left alone: merging them would make them again.
    let outputs: Vec<SstMeta> = ones
        .iter()
        .map(|m| SstMeta {
            level: 1,
            ..m.clone()
        })
        .collect();
    assert_eq!(plan(&tiered, &outputs, 0), None);
    // Large one-row commits merge at most 64 MiB at a time: 32 MiB values two by two, too
    // few for a tier of four.
    let large: Vec<SstMeta> = ones
        .iter()
        .map(|m| SstMeta {
            bytes: 32 << 20,
            ..m.clone()
        })
        .collect();
    assert_eq!(plan(&tiered, &large, 0), None);
    // Disjoint files of more rows still are not merged on that ground alone.
    for m in &mut ones {
        m.rows = 2;
    }
    assert_eq!(plan(&tiered, &ones, 0), None);
}

#[test]
fn leveled_l0_tiers_of_one_row_commits_stop_at_64_mib() {
    let leveled = CompactionStrategy::Leveled(LeveledOptions::default());
    let mut l1 = sst(9, 1, "a", "z", 10 << 20, (0, 0));
    l1.rows = 100_000;
    let ones = |bytes: u64| -> Vec<SstMeta> {
        let mut all: Vec<SstMeta> = ["b", "d", "f", "h"]
            .iter()
            .enumerate()
            .map(|(i, k)| SstMeta {
                rows: 1,
                distinct_keys: 1,
                ..sst(i as u64 + 1, 0, k, k, bytes, (1, 1))
            })
            .collect();
        all.push(l1.clone());
        all
    };
    let small = plan(&leveled, &ones(100), 0).unwrap();
    assert_eq!((small.inputs.len(), small.output_level), (4, 0));
    // Four 32 MiB values: two fit under the cap, too few for a tier.
    assert_eq!(plan(&leveled, &ones(32 << 20), 0), None);
}

#[test]
fn leveled_small_l0_files_merge_among_themselves_before_rewriting_l1() {
    // Four one-row commits over a 1,000-row L1 file: rewriting L1 for them would cost 250x
    // the bytes they carry, so they merge into one L0 file instead.
    let mut ssts: Vec<SstMeta> = (1..=4)
        .map(|i| {
            let mut m = sst(i, 0, "c", "c", 10, (10 + i, 10 + i));
            m.rows = 1;
            m.distinct_keys = 1;
            m.min_key = format!("k{i}").into_bytes().into();
            m.max_key = format!("k{i}").into_bytes().into();
            m
        })
        .collect();
    let mut l1 = sst(9, 1, "a", "z", 500, (1, 5));
    l1.rows = 1_000;
    ssts.push(l1);
    let task = plan(&leveled(), &ssts, 0).unwrap();
    assert_eq!(task.inputs, vec![1, 2, 3, 4]);
    assert_eq!(task.output_level, 0);

    // Once L0 holds a tenth of the rows it overlaps in L1, it goes into L1.
    for m in ssts.iter_mut().filter(|m| m.level == 0) {
        m.rows = 25;
    }
    let task = plan(&leveled(), &ssts, 0).unwrap();
    assert_eq!(task.inputs, vec![1, 2, 3, 4, 9]);
    assert_eq!(task.output_level, 1);
}

#[test]
fn leveled_l0_tiers_by_size_and_is_capped() {
    let big_l1 = || {
        let mut m = sst(99, 1, "a", "z", 900, (1, 5));
        m.rows = 1_000_000;
        m
    };
    // One large L0 file and three small ones: no tier of three similar sizes, so nothing yet.
    let mut ssts = vec![
        sst(1, 0, "b", "y", 1_000, (6, 6)),
        sst(2, 0, "b", "y", 10, (7, 7)),
        sst(3, 0, "c", "x", 10, (8, 8)),
        big_l1(),
    ];
    assert_eq!(plan(&leveled(), &ssts, 0), None);
    ssts.push(sst(4, 0, "d", "w", 15, (9, 9)));
    let task = plan(&leveled(), &ssts, 0).unwrap();
    assert_eq!((task.inputs, task.output_level), (vec![2, 3, 4], 0));

    // Disjoint multi-row files (maybe one job's pieces) are not merged among themselves; at
    // three times the trigger L0 goes into L1 anyway.
    let mut ssts: Vec<SstMeta> = (0..8)
        .map(|i| {
            let k = format!("k{i}");
            sst(i + 1, 0, &k, &k, 10, (10 + i, 10 + i))
        })
        .collect();
    ssts.push(big_l1());
    assert_eq!(plan(&leveled(), &ssts, 0), None);
    ssts.push(sst(20, 0, "m", "m", 10, (30, 30)));
    let task = plan(&leveled(), &ssts, 0).unwrap();
    assert_eq!(task.output_level, 1);
    assert_eq!(task.inputs.len(), 10);
}
