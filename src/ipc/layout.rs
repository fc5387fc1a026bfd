//! The layout check of a record batch message: its field nodes and buffers against the
//! schema's fields, before arrow's reader builds arrays from them with `assert!`s.

/// Checks that a record batch's field nodes and buffers fit `field`'s layout: each node's
/// counts are sane and each buffer is as long as its node says. arrow's reader builds bitmaps
/// and value buffers from them with `assert!`s (a panic, so a trap in wasm) rather than errors.
/// Offsets and values inside the buffers are arrow's own validation's to check.
pub(super) fn check_layout<'a>(
    field: arrow_ipc::Field<'a>,
    nodes: &mut impl Iterator<Item = &'a arrow_ipc::FieldNode>,
    buffers: &mut impl Iterator<Item = &'a arrow_ipc::Buffer>,
    variadic: &mut impl Iterator<Item = i64>,
    depth: usize,
    as_values: bool,
) -> std::result::Result<(), String> {
    use arrow_ipc::{DateUnit, IntervalUnit, Precision, Type};
    let name = field.name().unwrap_or_default();
    let bad = |what: String| format!("column '{name}': {what}");
    if depth > 64 {
        return Err(bad("types nested more than 64 deep".into()));
    }
    let node = nodes
        .next()
        .ok_or_else(|| bad("the batch has fewer field nodes than the schema has fields".into()))?;
    let (Ok(len), Ok(nulls)) = (
        u64::try_from(node.length()),
        u64::try_from(node.null_count()),
    ) else {
        return Err(bad("a negative length or null count".into()));
    };
    if nulls > len {
        return Err(bad(format!("{nulls} nulls in {len} rows")));
    }
    // `unit`: arrow reads the buffer as elements of this many bytes, and panics on a length
    // that is not a multiple of it.
    let mut take = |need: Option<u64>, unit: u64, what: &str| -> std::result::Result<(), String> {
        let buf = buffers
            .next()
            .ok_or_else(|| bad(format!("the batch lacks its {what} buffer")))?;
        let need = need.ok_or_else(|| bad(format!("{len} rows overflow the {what} buffer")))?;
        let have = u64::try_from(buf.length()).unwrap_or(0);
        if have < need || have % unit.max(1) != 0 {
            return Err(bad(format!(
                "the {what} buffer has {have} bytes; {len} rows need {need}, in units of \
                     {unit}"
            )));
        }
        Ok(())
    };
    let bits = len.div_ceil(8);
    let offsets = |width: u64| {
        if len == 0 {
            Some(0)
        } else {
            len.checked_add(1).and_then(|n| n.checked_mul(width))
        }
    };
    if field.type_type() == Type::Null {
        return Ok(()); // no buffers at all
    }
    take(Some(if nulls > 0 { bits } else { 0 }), 1, "validity")?;
    let width = |w: u64| (len.checked_mul(w), w);
    let fixed = match field.type_type() {
        Type::Bool => Some((Some(bits), 1)),
        Type::Int => field
            .type_as_int()
            .map(|i| width(u64::try_from(i.bitWidth() / 8).unwrap_or(0))),
        Type::FloatingPoint => field.type_as_floating_point().map(|f| {
            width(match f.precision() {
                Precision::HALF => 2,
                Precision::SINGLE => 4,
                _ => 8,
            })
        }),
        Type::Date => field
            .type_as_date()
            .map(|d| width(if d.unit() == DateUnit::DAY { 4 } else { 8 })),
        Type::Time => field
            .type_as_time()
            .map(|t| width(u64::try_from(t.bitWidth() / 8).unwrap_or(0))),
        Type::Timestamp | Type::Duration => Some(width(8)),
        Type::Interval => field.type_as_interval().map(|i| {
            width(match i.unit() {
                IntervalUnit::YEAR_MONTH => 4,
                IntervalUnit::DAY_TIME => 8,
                _ => 16,
            })
        }),
        Type::Decimal => field
            .type_as_decimal()
            .map(|d| width(u64::try_from(d.bitWidth() / 8).unwrap_or(0))),
        Type::FixedSizeBinary => field
            .type_as_fixed_size_binary()
            .map(|f| (width(u64::try_from(f.byteWidth()).unwrap_or(0)).0, 1)),
        _ => None,
    };
    // A dictionary-encoded column carries its indices here; its values come in a dictionary
    // batch (checked with `as_values`).
    if let Some(d) = field.dictionary().filter(|_| !as_values) {
        let w = d
            .indexType()
            .and_then(|i| u64::try_from(i.bitWidth() / 8).ok())
            .unwrap_or(0);
        let (need, unit) = width(w);
        return take(need, unit, "indices");
    }
    if let Some((need, unit)) = fixed {
        return take(need, unit, "values");
    }
    let children = || field.children().into_iter().flatten();
    match field.type_type() {
        Type::Utf8 | Type::Binary => {
            take(offsets(4), 4, "offsets")?;
            take(Some(0), 1, "values")
        }
        Type::LargeUtf8 | Type::LargeBinary => {
            take(offsets(8), 8, "offsets")?;
            take(Some(0), 1, "values")
        }
        Type::List | Type::Map | Type::LargeList => {
            let w = if field.type_type() == Type::LargeList {
                8
            } else {
                4
            };
            take(offsets(w), w, "offsets")?;
            children().try_for_each(|c| check_layout(c, nodes, buffers, variadic, depth + 1, false))
        }
        Type::FixedSizeList | Type::Struct_ => {
            children().try_for_each(|c| check_layout(c, nodes, buffers, variadic, depth + 1, false))
        }
        Type::Utf8View | Type::BinaryView => {
            let (views, unit) = width(16);
            take(views, unit, "views")?;
            // The data buffers the views point into: any size (arrow checks the views).
            let n = variadic
                .next()
                .and_then(|n| u64::try_from(n).ok())
                .ok_or_else(|| bad("no count of its variadic buffers".into()))?;
            (0..n).try_for_each(|_| take(Some(0), 1, "data"))
        }
        other => Err(bad(format!(
            "{other:?} columns are not supported in IPC input"
        ))),
    }
}

/// The field (at any depth) whose values dictionary `id` holds.
pub(super) fn dictionary_field(
    field: arrow_ipc::Field<'_>,
    id: i64,
    depth: usize,
) -> Option<arrow_ipc::Field<'_>> {
    if field.dictionary().is_some_and(|d| d.id() == id) {
        return Some(field);
    }
    if depth > 64 {
        return None;
    }
    field
        .children()
        .into_iter()
        .flatten()
        .find_map(|c| dictionary_field(c, id, depth + 1))
}
