//! `Anax.open` options beyond schema, key and storage: every builder setting, spelled in
//! camelCase, with the Rust builder's defaults when absent. Unknown names are rejected (a
//! typo would otherwise silently keep a default).
//!
//! ```js
//! {
//!   durability: "wal" | "sealEveryBatch" | "volatile",
//!   seal: "never" | { batches } | { rows } | { bytes } | { ageMs },
//!   minorCompaction: false | { segmentThreshold, targetLevel },
//!   wal: { syncPolicy: "always" | "disabled" | { intervalBytes } | { intervalMs },
//!          segmentBytes, segmentMaxAgeMs, flushIntervalMs, retentionBytes, queueSize,
//!          recovery: "truncateTail" | "strict", dir },
//!   casBackoff: { baseMs, maxMs, maxAttempts },
//!   retention: { minVersions, maxAgeMs, graceMs, dropGraceMs },
//!   commitAckMode: "strict" | "fast",
//!   compaction: { strategy, maxConcurrentJobs, queueCapacity, maxOutputRows, maxOutputBytes,
//!                 periodicTickMs, l0Backpressure, cascade, automatic, background },
//! }
//! ```

use wasm_bindgen::JsValue;

use super::value::{prop, refuse_unknown};
use crate::db::DbBuilder;
use crate::error::{Error, Result};
use crate::options::{
    CasBackoffConfig, CascadeConfig, CommitAckMode, CompactionOptions, CompactionStrategy,
    Durability, Freshness, L0BackpressureConfig, LeveledOptions, Retention, SealPolicy,
    TieredOptions, TimeWindowOptions, WalConfig, WalRecoveryMode, WalSyncPolicy,
};

/// Top-level option names `Anax.open` knows.
const TOP: &[&str] = &[
    "schema",
    "key",
    "storage",
    "tableName",
    "durability",
    "seal",
    "minorCompaction",
    "wal",
    "casBackoff",
    "retention",
    "commitAckMode",
    "compaction",
    "pointReadBlocks",
    "tailPack",
    "blockCacheBytes",
    // Not settings of the table: the open call's own control (src/wasm/control.rs).
    "signal",
    "onProgress",
];

/// One options object being read, with its dotted path for messages.
struct Obj<'a> {
    v: &'a JsValue,
    path: String,
}

fn bad(m: String) -> Error {
    Error::InvalidArgument(m)
}

fn present(v: &JsValue) -> bool {
    !v.is_undefined() && !v.is_null()
}

fn is_object(v: &JsValue) -> bool {
    v.is_object() && !js_sys::Array::is_array(v)
}

impl<'a> Obj<'a> {
    /// `v` as an options object at `path`, rejecting names outside `allowed`.
    fn new(v: &'a JsValue, path: &str, allowed: &[&str]) -> Result<Self> {
        if !is_object(v) {
            return Err(bad(format!("{path} must be an object")));
        }
        refuse_unknown(v, allowed, &|k, list| {
            format!("unknown option '{path}.{k}'; {path} takes {list}")
        })?;
        Ok(Self {
            v,
            path: path.to_string(),
        })
    }

    fn get(&self, name: &str) -> Result<JsValue> {
        prop(self.v, name)
    }

    fn name(&self, name: &str) -> String {
        format!("{}.{name}", self.path)
    }

    /// A non-negative integer no larger than `max`, if present.
    fn int(&self, name: &str, max: f64) -> Result<Option<u64>> {
        let v = self.get(name)?;
        if !present(&v) {
            return Ok(None);
        }
        let n = v
            .as_f64()
            .filter(|n| *n >= 0.0 && n.fract() == 0.0 && *n <= max)
            .ok_or_else(|| {
                bad(format!(
                    "{} must be an integer from 0 to {max}",
                    self.name(name)
                ))
            })?;
        Ok(Some(n as u64))
    }

    fn u64(&self, name: &str) -> Result<Option<u64>> {
        self.int(name, 9_007_199_254_740_991.0)
    }

    fn usize(&self, name: &str) -> Result<Option<usize>> {
        Ok(self.int(name, 4_294_967_295.0)?.map(|n| n as usize))
    }

    fn positive(&self, name: &str) -> Result<Option<usize>> {
        match self.usize(name)? {
            Some(0) => Err(bad(format!("{} must be at least 1", self.name(name)))),
            n => Ok(n),
        }
    }

    fn bool(&self, name: &str) -> Result<Option<bool>> {
        let v = self.get(name)?;
        if !present(&v) {
            return Ok(None);
        }
        v.as_bool()
            .map(Some)
            .ok_or_else(|| bad(format!("{} must be true or false", self.name(name))))
    }
}

/// Applies every setting present in `options` to `b`.
pub(super) fn apply(options: &JsValue, mut b: DbBuilder) -> Result<DbBuilder> {
    let top = Obj::new(options, "options", TOP)?;
    let durability = top.get("durability")?;
    let mut wal = WalConfig::default();
    let wal_given = present(&top.get("wal")?);
    if wal_given {
        wal = wal_config(&top.get("wal")?)?;
    }
    if present(&durability) {
        let d = match durability.as_string().as_deref() {
            Some("wal") => Durability::Wal(wal.clone()),
            Some("sealEveryBatch") => Durability::SealEveryBatch,
            Some("volatile") => Durability::Volatile,
            _ => {
                return Err(bad(
                    "options.durability must be \"wal\", \"sealEveryBatch\" or \"volatile\"".into(),
                ));
            }
        };
        if wal_given && !matches!(d, Durability::Wal(_)) {
            return Err(bad(
                "options.wal only applies with durability \"wal\"; drop one of them".into(),
            ));
        }
        b = b.with_durability(d);
    } else if wal_given {
        b = b.with_wal_config(wal);
    }
    let seal = top.get("seal")?;
    if present(&seal) {
        b = b.with_seal_policy(seal_policy(&seal)?);
    }
    let minor = top.get("minorCompaction")?;
    if minor.as_bool() == Some(false) {
        b = b.disable_minor_compaction();
    } else if present(&minor) {
        let m = Obj::new(
            &minor,
            "options.minorCompaction",
            &["segmentThreshold", "targetLevel"],
        )?;
        let d = crate::options::MinorCompaction::default();
        b = b.with_minor_compaction(
            m.positive("segmentThreshold")?
                .unwrap_or(d.segment_threshold),
            m.int("targetLevel", 6.0)?
                .map_or(d.target_level, |n| n as u32),
        );
    }
    let cas = top.get("casBackoff")?;
    if present(&cas) {
        let c = Obj::new(
            &cas,
            "options.casBackoff",
            &["baseMs", "maxMs", "maxAttempts"],
        )?;
        let d = CasBackoffConfig::default();
        b = b.cas_backoff(CasBackoffConfig {
            base_ms: c.u64("baseMs")?.unwrap_or(d.base_ms),
            max_ms: c.u64("maxMs")?.unwrap_or(d.max_ms),
            max_attempts: c
                .int("maxAttempts", 1_000.0)?
                .map_or(d.max_attempts, |n| n as u32),
        });
    }
    let retention = top.get("retention")?;
    if present(&retention) {
        let r = Obj::new(
            &retention,
            "options.retention",
            &["minVersions", "maxAgeMs", "graceMs", "dropGraceMs"],
        )?;
        let d = Retention::default();
        b = b.with_retention(Retention {
            min_versions: r.u64("minVersions")?.unwrap_or(d.min_versions),
            max_age_ms: r.u64("maxAgeMs")?.unwrap_or(d.max_age_ms),
            grace_ms: r.u64("graceMs")?.unwrap_or(d.grace_ms),
            drop_grace_ms: r.u64("dropGraceMs")?.unwrap_or(d.drop_grace_ms),
        });
    }
    let ack = top.get("commitAckMode")?;
    if present(&ack) {
        b = b.with_commit_ack_mode(match ack.as_string().as_deref() {
            Some("strict") => CommitAckMode::Strict,
            Some("fast") => CommitAckMode::Fast,
            _ => {
                return Err(bad(
                    "options.commitAckMode must be \"strict\" or \"fast\"".into()
                ));
            }
        });
    }
    let compaction = top.get("compaction")?;
    if present(&compaction) {
        b = b.with_compaction_options(compaction_options(&compaction)?);
    }
    if let Some(on) = top.bool("pointReadBlocks")? {
        b = b.with_point_read_blocks(on);
    }
    if let Some(on) = top.bool("tailPack")? {
        b = b.with_tail_pack(on);
    }
    if let Some(bytes) = top.usize("blockCacheBytes")? {
        b = b.with_block_cache_bytes(bytes);
    }
    Ok(b)
}

fn seal_policy(v: &JsValue) -> Result<SealPolicy> {
    if v.as_string().as_deref() == Some("never") {
        return Ok(SealPolicy::Never);
    }
    let hint =
        "options.seal must be \"never\" or one of { batches }, { rows }, { bytes }, { ageMs }";
    if !is_object(v) {
        return Err(bad(hint.into()));
    }
    let o = Obj::new(v, "options.seal", &["batches", "rows", "bytes", "ageMs"])?;
    let given = [
        o.positive("batches")?
            .map(|n| SealPolicy::BatchesThreshold { batches: n }),
        o.positive("rows")?.map(SealPolicy::Rows),
        o.positive("bytes")?.map(SealPolicy::Bytes),
        o.u64("ageMs")?.map(SealPolicy::AgeMillis),
    ];
    let mut chosen = given.into_iter().flatten();
    match (chosen.next(), chosen.next()) {
        (Some(p), None) => Ok(p),
        _ => Err(bad(format!("{hint}, exactly one"))),
    }
}

fn wal_config(v: &JsValue) -> Result<WalConfig> {
    let o = Obj::new(
        v,
        "options.wal",
        &[
            "syncPolicy",
            "segmentBytes",
            "segmentMaxAgeMs",
            "flushIntervalMs",
            "retentionBytes",
            "queueSize",
            "recovery",
            "dir",
        ],
    )?;
    let mut c = WalConfig::default();
    let sync = o.get("syncPolicy")?;
    if present(&sync) {
        let hint = "options.wal.syncPolicy must be \"always\", \"disabled\", { intervalBytes } or \
                    { intervalMs }";
        c.sync = match sync.as_string().as_deref() {
            Some("always") => WalSyncPolicy::Always,
            Some("disabled") => WalSyncPolicy::Disabled,
            Some(_) => return Err(bad(hint.into())),
            None if is_object(&sync) => {
                let s = Obj::new(
                    &sync,
                    "options.wal.syncPolicy",
                    &["intervalBytes", "intervalMs"],
                )?;
                match (s.u64("intervalBytes")?, s.u64("intervalMs")?) {
                    (Some(n), None) => WalSyncPolicy::IntervalBytes(n),
                    (None, Some(ms)) => WalSyncPolicy::IntervalTime(ms),
                    _ => return Err(bad(hint.into())),
                }
            }
            None => return Err(bad(hint.into())),
        };
    }
    if let Some(n) = o.positive("segmentBytes")? {
        c.segment_max_bytes = n as u64;
    }
    c.segment_max_age_ms = o.u64("segmentMaxAgeMs")?.or(c.segment_max_age_ms);
    c.flush_interval_ms = o.u64("flushIntervalMs")?.unwrap_or(c.flush_interval_ms);
    c.retention_bytes = o.u64("retentionBytes")?.unwrap_or(c.retention_bytes);
    c.queue_size = o.positive("queueSize")?.unwrap_or(c.queue_size);
    let recovery = o.get("recovery")?;
    if present(&recovery) {
        c.recovery = match recovery.as_string().as_deref() {
            Some("truncateTail") => WalRecoveryMode::TruncateTail,
            Some("strict") => WalRecoveryMode::Strict,
            _ => {
                return Err(bad(
                    "options.wal.recovery must be \"truncateTail\" or \"strict\"".into(),
                ));
            }
        };
    }
    let dir = o.get("dir")?;
    if present(&dir) {
        c.dir = dir
            .as_string()
            .filter(|d| !d.is_empty() && !d.contains(".."))
            .ok_or_else(|| {
                bad("options.wal.dir must be a non-empty relative directory name".into())
            })?;
    }
    Ok(c)
}

fn strategy(v: &JsValue) -> Result<CompactionStrategy> {
    let hint = "options.compaction.strategy must be \"leveled\", \"tiered\", \"timeWindow\" or \
                an object { kind, ... }";
    let kind_of = |v: &JsValue| -> Result<String> {
        if let Some(s) = v.as_string() {
            return Ok(s);
        }
        if is_object(v) {
            return prop(v, "kind")?.as_string().ok_or_else(|| bad(hint.into()));
        }
        Err(bad(hint.into()))
    };
    let kind = kind_of(v)?;
    let empty = js_sys::Object::new().into();
    let body = if is_object(v) { v } else { &empty };
    let path = "options.compaction.strategy";
    Ok(match kind.as_str() {
        "leveled" => {
            let o = Obj::new(
                body,
                path,
                &[
                    "kind",
                    "l0Trigger",
                    "l1TargetBytes",
                    "sizeRatio",
                    "maxLevel",
                ],
            )?;
            let d = LeveledOptions::default();
            CompactionStrategy::Leveled(LeveledOptions {
                l0_trigger: o.positive("l0Trigger")?.unwrap_or(d.l0_trigger),
                l1_target_bytes: o.u64("l1TargetBytes")?.unwrap_or(d.l1_target_bytes),
                size_ratio: o.int("sizeRatio", 1_000.0)?.unwrap_or(d.size_ratio),
                max_level: o
                    .int("maxLevel", 6.0)?
                    .map_or(d.max_level, |n| (n as u32).max(1)),
            })
        }
        "tiered" => {
            let o = Obj::new(body, path, &["kind", "minMerge", "maxMerge", "sizeRatio"])?;
            let d = TieredOptions::default();
            let ratio = o.get("sizeRatio")?;
            let size_ratio = if present(&ratio) {
                ratio
                    .as_f64()
                    .filter(|r| r.is_finite() && *r >= 1.0)
                    .ok_or_else(|| bad(format!("{path}.sizeRatio must be a number >= 1")))?
            } else {
                d.size_ratio
            };
            CompactionStrategy::Tiered(TieredOptions {
                min_merge: o.positive("minMerge")?.unwrap_or(d.min_merge),
                max_merge: o.positive("maxMerge")?.unwrap_or(d.max_merge),
                size_ratio,
            })
        }
        "timeWindow" => {
            let o = Obj::new(body, path, &["kind", "windowMs", "minMerge"])?;
            let d = TimeWindowOptions::default();
            CompactionStrategy::TimeWindow(TimeWindowOptions {
                window_ms: o.positive("windowMs")?.map_or(d.window_ms, |n| n as u64),
                min_merge: o.positive("minMerge")?.unwrap_or(d.min_merge),
            })
        }
        _ => return Err(bad(hint.into())),
    })
}

fn compaction_options(v: &JsValue) -> Result<CompactionOptions> {
    let o = Obj::new(
        v,
        "options.compaction",
        &[
            "strategy",
            "maxConcurrentJobs",
            "queueCapacity",
            "maxOutputRows",
            "maxOutputBytes",
            "periodicTickMs",
            "l0Backpressure",
            "cascade",
            "automatic",
            "background",
        ],
    )?;
    let mut c = CompactionOptions::default();
    let s = o.get("strategy")?;
    if present(&s) {
        c.strategy = strategy(&s)?;
    }
    c.max_concurrent_jobs = o
        .positive("maxConcurrentJobs")?
        .unwrap_or(c.max_concurrent_jobs);
    c.queue_capacity = o.usize("queueCapacity")?.unwrap_or(c.queue_capacity);
    if let Some(n) = o.positive("maxOutputRows")? {
        c.max_output_rows = Some(n as u64);
    }
    if let Some(n) = o.positive("maxOutputBytes")? {
        c.max_output_bytes = Some(n as u64);
    }
    c.periodic_tick_ms = o.u64("periodicTickMs")?.or(c.periodic_tick_ms);
    let bp = o.get("l0Backpressure")?;
    if bp.as_bool() == Some(false) {
        c.l0_backpressure = None;
    } else if present(&bp) {
        let p = Obj::new(
            &bp,
            "options.compaction.l0Backpressure",
            &[
                "slowdownFiles",
                "slowdownDelayMs",
                "stopFiles",
                "stopRecheckMs",
                "slowdownBytes",
                "stopBytes",
                "stopTimeoutMs",
            ],
        )?;
        let d = L0BackpressureConfig::default();
        let cfg = L0BackpressureConfig {
            slowdown_files: p.positive("slowdownFiles")?.unwrap_or(d.slowdown_files),
            slowdown_delay_ms: p.u64("slowdownDelayMs")?.unwrap_or(d.slowdown_delay_ms),
            stop_files: p.positive("stopFiles")?.unwrap_or(d.stop_files),
            stop_recheck_ms: p.u64("stopRecheckMs")?.unwrap_or(d.stop_recheck_ms).max(1),
            slowdown_bytes: p.u64("slowdownBytes")?,
            stop_bytes: p.u64("stopBytes")?,
            stop_timeout_ms: p.u64("stopTimeoutMs")?.unwrap_or(d.stop_timeout_ms),
        };
        if cfg.stop_files < cfg.slowdown_files {
            return Err(bad(
                "options.compaction.l0Backpressure.stopFiles must be at least slowdownFiles".into(),
            ));
        }
        c.l0_backpressure = Some(cfg);
    }
    let cascade = o.get("cascade")?;
    if present(&cascade) {
        let p = Obj::new(
            &cascade,
            "options.compaction.cascade",
            &["maxFollowUps", "cooldownMs"],
        )?;
        let d = CascadeConfig::default();
        c.cascade = CascadeConfig {
            max_follow_ups: p
                .int("maxFollowUps", 64.0)?
                .map_or(d.max_follow_ups, |n| n as u32),
            cooldown_ms: p.u64("cooldownMs")?.unwrap_or(d.cooldown_ms),
        };
    }
    c.automatic = o.bool("automatic")?.unwrap_or(c.automatic);
    c.background = o.bool("background")?.unwrap_or(c.background);
    Ok(c)
}

/// The options of `Db.get`: `{ freshness?: "view" | "strict", maxStalenessMs?: number }`.
pub(super) fn to_freshness(options: &JsValue) -> Result<Freshness> {
    if !present(options) {
        return Ok(Freshness::View);
    }
    freshness_in(&Obj::new(
        options,
        "get options",
        &["freshness", "maxStalenessMs"],
    )?)
}

/// The freshness named in `Db.scan`'s options (`freshness`, `maxStalenessMs`), which share the
/// object with the scan's own options.
pub(super) fn scan_freshness(options: &JsValue) -> Result<Freshness> {
    if !is_object(options) {
        return Ok(Freshness::View);
    }
    freshness_in(&Obj {
        v: options,
        path: "scan options".into(),
    })
}

/// `freshness` or `maxStalenessMs` of `o` (at most one of them).
fn freshness_in(o: &Obj) -> Result<Freshness> {
    let named = o.get("freshness")?;
    let max = o.u64("maxStalenessMs")?;
    match (present(&named), named.as_string().as_deref(), max) {
        (false, _, None) => Ok(Freshness::View),
        (false, _, Some(ms)) => Ok(Freshness::MaxStalenessMs(ms)),
        (true, _, Some(_)) => Err(bad(format!(
            "{} take freshness or maxStalenessMs, not both",
            o.path
        ))),
        (true, Some("view"), None) => Ok(Freshness::View),
        (true, Some("strict"), None) => Ok(Freshness::Strict),
        (true, _, None) => Err(bad(format!(
            "{} must be \"view\" or \"strict\"",
            o.name("freshness")
        ))),
    }
}
