// Bundled by run.mjs: DuckDB-wasm's browser API with the apache-arrow it depends on.
export { AsyncDuckDB, VoidLogger } from "@duckdb/duckdb-wasm";
export { Table, vectorFromArray, Utf8, Int32, tableToIPC } from "apache-arrow";
