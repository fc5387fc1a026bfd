//! Scan options and the turning of user bounds (full or partial composite keys) into byte
//! ranges over encoded keys.

use std::ops::Bound;

use crate::key::{KeyBytes, prefix_successor};
use crate::value::Value;

/// What a scan reads. The default reads every live row in ascending key order.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanOptions {
    /// Lower key bound. A partial composite key bounds by prefix: `Included(p)` starts at the
    /// first key with prefix `p`, `Excluded(p)` after the last one.
    pub start: Bound<Vec<Value>>,
    /// Upper key bound; partial keys as for `start` (`Included(p)` keeps keys with prefix `p`).
    pub end: Bound<Vec<Value>>,
    /// Only keys whose leading key columns equal these values.
    pub prefix: Option<Vec<Value>>,
    /// Columns to return, by name, in this order; `None` returns all columns.
    pub projection: Option<Vec<String>>,
    /// At most this many rows.
    pub limit: Option<usize>,
    /// Descending key order.
    pub reverse: bool,
    /// Keep only rows for which this holds (evaluated after version resolution).
    pub filter: Option<super::filter::Filter>,
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            start: Bound::Unbounded,
            end: Bound::Unbounded,
            prefix: None,
            projection: None,
            limit: None,
            reverse: false,
            filter: None,
        }
    }
}

/// A byte range of encoded keys; `None` from the constructors means it is empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    /// Lower bound.
    pub start: Bound<KeyBytes>,
    /// Upper bound.
    pub end: Bound<KeyBytes>,
}

impl KeyRange {
    /// Every key.
    pub fn all() -> Self {
        Self {
            start: Bound::Unbounded,
            end: Bound::Unbounded,
        }
    }

    /// The lower bound for an encoded key that is `full` (all key columns) or a prefix.
    pub fn lower(key: Bound<(KeyBytes, bool)>) -> Option<Bound<KeyBytes>> {
        Some(match key {
            Bound::Unbounded => Bound::Unbounded,
            Bound::Included((k, _)) => Bound::Included(k),
            Bound::Excluded((k, true)) => Bound::Excluded(k),
            // After every key with prefix k: from its successor on, or nothing at all.
            Bound::Excluded((k, false)) => Bound::Included(prefix_successor(&k)?),
        })
    }

    /// The upper bound for an encoded key that is `full` or a prefix.
    pub fn upper(key: Bound<(KeyBytes, bool)>) -> Bound<KeyBytes> {
        match key {
            Bound::Unbounded => Bound::Unbounded,
            Bound::Excluded((k, _)) => Bound::Excluded(k),
            Bound::Included((k, true)) => Bound::Included(k),
            Bound::Included((k, false)) => match prefix_successor(&k) {
                Some(s) => Bound::Excluded(s),
                None => Bound::Unbounded,
            },
        }
    }

    /// Narrows this range to keys starting with `prefix`.
    pub fn intersect_prefix(self, prefix: &[u8]) -> Self {
        let lo = Bound::Included(KeyBytes::from(prefix));
        let hi = match prefix_successor(prefix) {
            Some(s) => Bound::Excluded(s),
            None => Bound::Unbounded,
        };
        Self {
            start: max_lower(self.start, lo),
            end: min_upper(self.end, hi),
        }
    }

    /// What is left of this range once the keys up to `key` in scan order (descending when
    /// `reverse`) are read: a scan resumed after `key`.
    pub fn after(self, key: &[u8], reverse: bool) -> Self {
        let past = Bound::Excluded(KeyBytes::from(key));
        if reverse {
            Self {
                start: self.start,
                end: min_upper(self.end, past),
            }
        } else {
            Self {
                start: max_lower(self.start, past),
                end: self.end,
            }
        }
    }

    /// The bounds as borrowed byte slices.
    pub fn as_slices(&self) -> (Bound<&[u8]>, Bound<&[u8]>) {
        (
            crate::key::bound_slice(&self.start),
            crate::key::bound_slice(&self.end),
        )
    }
}

fn max_lower(a: Bound<KeyBytes>, b: Bound<KeyBytes>) -> Bound<KeyBytes> {
    match (&a, &b) {
        (Bound::Unbounded, _) => b,
        (_, Bound::Unbounded) => a,
        (Bound::Included(x) | Bound::Excluded(x), Bound::Included(y) | Bound::Excluded(y)) => {
            if x > y || (x == y && matches!(a, Bound::Excluded(_))) {
                a
            } else {
                b
            }
        }
    }
}

fn min_upper(a: Bound<KeyBytes>, b: Bound<KeyBytes>) -> Bound<KeyBytes> {
    match (&a, &b) {
        (Bound::Unbounded, _) => b,
        (_, Bound::Unbounded) => a,
        (Bound::Included(x) | Bound::Excluded(x), Bound::Included(y) | Bound::Excluded(y)) => {
            if x < y || (x == y && matches!(a, Bound::Excluded(_))) {
                a
            } else {
                b
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kb(s: &[u8]) -> KeyBytes {
        s.into()
    }

    #[test]
    fn partial_bounds_cover_whole_prefix_groups() {
        assert_eq!(
            KeyRange::lower(Bound::Excluded((kb(b"ab"), false))),
            Some(Bound::Included(kb(b"ac")))
        );
        assert_eq!(KeyRange::lower(Bound::Excluded((kb(b"\xff"), false))), None);
        assert_eq!(
            KeyRange::upper(Bound::Included((kb(b"ab"), false))),
            Bound::Excluded(kb(b"ac"))
        );
        assert_eq!(
            KeyRange::upper(Bound::Included((kb(b"ab"), true))),
            Bound::Included(kb(b"ab"))
        );
    }

    #[test]
    fn prefix_intersection_keeps_the_tighter_bounds() {
        let r = KeyRange {
            start: Bound::Excluded(kb(b"b")),
            end: Bound::Included(kb(b"bz")),
        }
        .intersect_prefix(b"b");
        assert_eq!(r.start, Bound::Excluded(kb(b"b")));
        assert_eq!(r.end, Bound::Included(kb(b"bz")));
        let r = KeyRange::all().intersect_prefix(b"b");
        assert_eq!(r.start, Bound::Included(kb(b"b")));
        assert_eq!(r.end, Bound::Excluded(kb(b"c")));
    }

    #[test]
    fn a_resumed_range_starts_past_the_last_key_in_scan_order() {
        let r = KeyRange {
            start: Bound::Included(kb(b"b")),
            end: Bound::Excluded(kb(b"y")),
        };
        let fwd = r.clone().after(b"m", false);
        assert_eq!(fwd.start, Bound::Excluded(kb(b"m")));
        assert_eq!(fwd.end, Bound::Excluded(kb(b"y")));
        let back = r.clone().after(b"m", true);
        assert_eq!(back.start, Bound::Included(kb(b"b")));
        assert_eq!(back.end, Bound::Excluded(kb(b"m")));
        // A key outside the range leaves the tighter bound in place.
        assert_eq!(
            r.clone().after(b"a", false).start,
            Bound::Included(kb(b"b"))
        );
        assert_eq!(r.after(b"z", true).end, Bound::Excluded(kb(b"y")));
    }
}
