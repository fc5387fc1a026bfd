//! The table's catalog entry (name, columns, key) and the check that a reopen declares the
//! same. Apart from opening because the comparison and its messages are a job of their own.

use std::sync::Arc;

use arrow_schema::Schema;

use crate::error::{Error, Result};
use crate::manifest::Catalog;
use crate::schema::TableSchema;

/// The catalog entry this builder's table would have.
pub(super) fn catalog_of(schema: &TableSchema, table_name: &str) -> Result<Catalog> {
    let arrow = schema.arrow();
    let bare = Arc::new(Schema::new(arrow.fields().clone()));
    let schema_ipc = crate::ipc::encode_stream(&bare, &[])?;
    let key_names: Vec<String> = schema.key_fields().map(|f| f.name().clone()).collect();
    let mut fp = crc32c::crc32c(&schema_ipc);
    for k in &key_names {
        fp = crc32c::crc32c_append(fp, k.as_bytes());
        fp = crc32c::crc32c_append(fp, &[0]);
    }
    Ok(Catalog {
        table_name: table_name.to_owned(),
        schema_ipc,
        key_names,
        fingerprint: fp,
    })
}

/// A reopen must name the same table with the same columns and key.
pub(super) fn check_catalog(stored: &Catalog, wanted: &Catalog) -> Result<()> {
    if stored.table_name != wanted.table_name {
        return Err(Error::SchemaMismatch(format!(
            "this storage root holds table '{}', not '{}'; open it with that table name or use \
             another root",
            stored.table_name, wanted.table_name
        )));
    }
    if stored.key_names != wanted.key_names {
        return Err(Error::SchemaMismatch(format!(
            "table '{}' is keyed by ({}), but this open declares ({})",
            stored.table_name,
            stored.key_names.join(", "),
            wanted.key_names.join(", ")
        )));
    }
    if stored.fingerprint != wanted.fingerprint || stored.schema_ipc != wanted.schema_ipc {
        let (old, _) = crate::ipc::decode_stream(&stored.schema_ipc)?;
        let (new, _) = crate::ipc::decode_stream(&wanted.schema_ipc)?;
        let describe = |s: &Schema| {
            s.fields()
                .iter()
                .map(|f| {
                    let null = if f.is_nullable() { "" } else { " not null" };
                    format!("{}: {}{null}", f.name(), f.data_type())
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(Error::SchemaMismatch(format!(
            "table '{}' was created with columns ({}), but this open declares ({})",
            stored.table_name,
            describe(&old),
            describe(&new)
        )));
    }
    Ok(())
}
