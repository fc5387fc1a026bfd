//! A dynamically typed cell value: how keys are named in the native API and how plain JS
//! objects are converted into Arrow columns (see [`crate::rows`]).

/// One cell. Numbers keep the widest lossless form; [`crate::rows`] checks that each fits its
/// column's type.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL-style null (also a missing property of a JS row object).
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer too large for `Int`.
    UInt(u64),
    /// A floating-point number (every JS `number`).
    Float(f64),
    /// A string.
    Str(String),
    /// Bytes (a JS `Uint8Array`).
    Bytes(Vec<u8>),
    /// The items of a list cell (a JS array in a list column).
    List(Vec<Value>),
    /// The fields of a struct cell by name (a JS object in a struct column).
    Struct(Vec<(String, Value)>),
}

impl Value {
    /// A short description for error messages, without echoing large values.
    pub fn describe(&self) -> String {
        match self {
            Value::Null => "null".into(),
            Value::Bool(b) => format!("boolean {b}"),
            Value::Int(i) => format!("integer {i}"),
            Value::UInt(u) => format!("integer {u}"),
            Value::Float(f) => format!("number {f}"),
            Value::Str(s) if s.len() <= 32 => format!("string {s:?}"),
            Value::Str(s) => format!("string of {} bytes", s.len()),
            Value::Bytes(b) => format!("{} bytes", b.len()),
            Value::List(items) => format!("a list of {} items", items.len()),
            Value::Struct(fields) => format!("an object with {} properties", fields.len()),
        }
    }
}

macro_rules! value_from {
    ($($t:ty => $variant:ident as $as:ty),* $(,)?) => {
        $(impl From<$t> for Value {
            fn from(v: $t) -> Self {
                Value::$variant(v as $as)
            }
        })*
    };
}

value_from!(
    i8 => Int as i64, i16 => Int as i64, i32 => Int as i64, i64 => Int as i64,
    u8 => Int as i64, u16 => Int as i64, u32 => Int as i64, u64 => UInt as u64,
    f32 => Float as f64, f64 => Float as f64, bool => Bool as bool,
);

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Str(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Str(v)
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Bytes(v)
    }
}

impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Self {
        Value::Bytes(v.to_vec())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}
