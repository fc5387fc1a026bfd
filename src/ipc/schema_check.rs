//! The check of a schema message's fields before arrow-ipc converts them: type parameters it
//! would panic on, and types no Anax table has, are refused.

/// Checks a schema message's fields before arrow converts them: arrow-ipc's conversion panics
/// (a trap in wasm) on type parameters it does not support (an Int of bit width -64, a list
/// without its child, a decimal precision over 255, a big-endian decimal...). Refused here as
/// `INVALID_ARGUMENT`; so are types no Anax table has (unions, run-end encoding, list views).
pub(super) fn check_schema(schema: arrow_ipc::Schema<'_>) -> std::result::Result<(), String> {
    let fields = schema
        .fields()
        .ok_or_else(|| "the schema message has no field list".to_owned())?;
    if schema.endianness() != arrow_ipc::Endianness::Little {
        return Err("big-endian data is not supported".into());
    }
    for field in fields {
        check_field(field, 0)?;
    }
    Ok(())
}

fn check_field(field: arrow_ipc::Field<'_>, depth: usize) -> std::result::Result<(), String> {
    use arrow_ipc::{DateUnit, IntervalUnit, Precision, TimeUnit, Type};
    let name = field.name().unwrap_or_default();
    let bad = |what: &str| format!("column '{name}': {what}");
    if depth > 64 {
        return Err(bad("types nested more than 64 deep"));
    }
    let int_ok =
        |i: Option<arrow_ipc::Int<'_>>| i.is_some_and(|i| matches!(i.bitWidth(), 8 | 16 | 32 | 64));
    if let Some(d) = field.dictionary()
        && !int_ok(d.indexType())
    {
        return Err(bad(
            "a dictionary index type must be an integer of 8 to 64 bits",
        ));
    }
    let children = field.children().map_or(0, |c| c.len());
    let units = [
        TimeUnit::SECOND,
        TimeUnit::MILLISECOND,
        TimeUnit::MICROSECOND,
        TimeUnit::NANOSECOND,
    ];
    let ok = match field.type_type() {
        Type::Null
        | Type::Bool
        | Type::Binary
        | Type::LargeBinary
        | Type::Utf8
        | Type::LargeUtf8
        | Type::BinaryView
        | Type::Utf8View
        | Type::Struct_ => true,
        Type::Int => int_ok(field.type_as_int()),
        Type::FixedSizeBinary => field
            .type_as_fixed_size_binary()
            .is_some_and(|f| f.byteWidth() >= 0),
        Type::FloatingPoint => field.type_as_floating_point().is_some_and(|f| {
            matches!(
                f.precision(),
                Precision::HALF | Precision::SINGLE | Precision::DOUBLE
            )
        }),
        Type::Date => field
            .type_as_date()
            .is_some_and(|d| matches!(d.unit(), DateUnit::DAY | DateUnit::MILLISECOND)),
        Type::Time => field.type_as_time().is_some_and(|t| {
            matches!(
                (t.bitWidth(), t.unit()),
                (32, TimeUnit::SECOND | TimeUnit::MILLISECOND)
                    | (64, TimeUnit::MICROSECOND | TimeUnit::NANOSECOND)
            )
        }),
        Type::Timestamp => field
            .type_as_timestamp()
            .is_some_and(|t| units.contains(&t.unit())),
        Type::Duration => field
            .type_as_duration()
            .is_some_and(|d| units.contains(&d.unit())),
        Type::Interval => field.type_as_interval().is_some_and(|i| {
            matches!(
                i.unit(),
                IntervalUnit::YEAR_MONTH | IntervalUnit::DAY_TIME | IntervalUnit::MONTH_DAY_NANO
            )
        }),
        Type::List | Type::LargeList => children == 1,
        Type::FixedSizeList => {
            children == 1
                && field
                    .type_as_fixed_size_list()
                    .is_some_and(|f| f.listSize() >= 0)
        }
        Type::Map => children == 1 && field.type_as_map().is_some(),
        Type::Decimal => field.type_as_decimal().is_some_and(|d| {
            u8::try_from(d.precision()).is_ok()
                && i8::try_from(d.scale()).is_ok()
                && matches!(d.bitWidth(), 32 | 64 | 128 | 256)
        }),
        _ => false,
    };
    if !ok {
        return Err(bad(&format!(
            "type {:?} with these parameters is not supported",
            field.type_type()
        )));
    }
    for child in field.children().into_iter().flatten() {
        check_field(child, depth + 1)?;
    }
    Ok(())
}
