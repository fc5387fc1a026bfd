//! Test cases shared by every browser placement. They drive the exported API the way JS does:
//! methods are looked up on the objects and called with plain JS values.

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use js_sys::{Function, JSON, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

fn js(text: &str) -> JsValue {
    JSON::parse(text).expect("test JSON parses")
}

async fn call(obj: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let f: Function = Reflect::get(obj, &method.into())
        .unwrap()
        .dyn_into()
        .unwrap();
    let arr: js_sys::Array = args.iter().collect();
    // The hot methods return their value itself when it is ready (js/api.js makes one Promise
    // of both forms, and so does this).
    let out = f.apply(obj, &arr)?;
    JsFuture::from(js_sys::Promise::resolve(&out)).await
}

async fn open(options: &str) -> Result<JsValue, JsValue> {
    JsFuture::from(anax::wasm::Anax::open(js(options))).await
}

async fn people() -> JsValue {
    open(r#"{"schema": {"id": "utf8", "name": "utf8", "score": "float64"}, "key": "id", "storage": {"kind": "memory"}}"#)
        .await
        .expect("open succeeds")
}

fn decode(v: &JsValue) -> RecordBatch {
    let bytes = v.dyn_ref::<Uint8Array>().expect("a Uint8Array").to_vec();
    let (schema, batches) = anax::ipc::decode_stream(&bytes).expect("valid IPC");
    arrow_select::concat::concat_batches(&schema, &batches).unwrap()
}

fn code_of(err: &JsValue) -> String {
    assert_eq!(
        Reflect::get(err, &"name".into())
            .unwrap()
            .as_string()
            .as_deref(),
        Some("AnaxError")
    );
    Reflect::get(err, &"code".into())
        .unwrap()
        .as_string()
        .expect("a code")
}

fn strings(b: &RecordBatch, col: &str) -> Vec<String> {
    b.column_by_name(col)
        .unwrap()
        .as_string::<i32>()
        .iter()
        .map(|s| s.unwrap().to_owned())
        .collect()
}

#[wasm_bindgen_test]
async fn open_put_get_scan_round_trip() {
    let db = people().await;
    let rows = js(
        r#"[{"id":"b","name":"Bo","score":2.5},{"id":"c","name":"Cy","score":3},{"id":"a","name":"Al","score":1.25}]"#,
    );
    call(&db, "put", &[rows]).await.unwrap();

    let got = decode(&call(&db, "get", &["b".into()]).await.unwrap());
    assert_eq!(got.num_rows(), 1);
    assert_eq!(strings(&got, "id"), vec!["b"]);
    assert_eq!(strings(&got, "name"), vec!["Bo"]);
    let score = got
        .column_by_name("score")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert_eq!(score.value(0), 2.5);

    assert!(call(&db, "get", &["zz".into()]).await.unwrap().is_null());

    let all = decode(&call(&db, "scan", &[js("{}")]).await.unwrap());
    assert_eq!(strings(&all, "id"), vec!["a", "b", "c"]);
    let ranged = decode(
        &call(&db, "scan", &[js(r#"{"start":"b","limit":1}"#)])
            .await
            .unwrap(),
    );
    assert_eq!(strings(&ranged, "id"), vec!["b"]);
    let back = decode(
        &call(&db, "scan", &[js(r#"{"end":"c","reverse":true}"#)])
            .await
            .unwrap(),
    );
    assert_eq!(strings(&back, "id"), vec!["b", "a"]);

    // An upsert replaces the row; a delete hides it.
    call(
        &db,
        "put",
        &[js(r#"[{"id":"a","name":"Ann","score":null}]"#)],
    )
    .await
    .unwrap();
    let a = decode(&call(&db, "get", &["a".into()]).await.unwrap());
    assert_eq!(strings(&a, "name"), vec!["Ann"]);
    assert!(a.column_by_name("score").unwrap().is_null(0));
    call(&db, "delete", &["c".into()]).await.unwrap();
    let all = decode(&call(&db, "scan", &[JsValue::UNDEFINED]).await.unwrap());
    assert_eq!(strings(&all, "id"), vec!["a", "b"]);
}

#[wasm_bindgen_test]
async fn put_accepts_arrow_ipc_bytes() {
    let db = people().await;
    let source = people().await;
    call(
        &source,
        "put",
        &[js(r#"[{"id":"x","name":"X","score":9}]"#)],
    )
    .await
    .unwrap();
    let ipc = call(&source, "scan", &[]).await.unwrap();
    call(&db, "put", &[ipc]).await.unwrap();
    let got = decode(&call(&db, "get", &["x".into()]).await.unwrap());
    assert_eq!(strings(&got, "name"), vec!["X"]);
}

#[wasm_bindgen_test]
async fn bad_input_rejects_with_a_code_and_the_db_keeps_working() {
    let db = people().await;
    call(
        &db,
        "put",
        &[js(r#"[{"id":"ok","name":"fine","score":1}]"#)],
    )
    .await
    .unwrap();
    let cases: &[(&str, &str)] = &[
        (r#"[{"name":"no key","score":1}]"#, "KEY_NULL"),
        (r#"[{"id":null,"name":"null key"}]"#, "KEY_NULL"),
        (r#"[{"id":"w","name":"x","score":"high"}]"#, "TYPE_MISMATCH"),
        (r#"[{"id":7,"name":"x"}]"#, "TYPE_MISMATCH"),
        (r#"[{"id":"u","nmae":"typo"}]"#, "SCHEMA_MISMATCH"),
        (r#"[1, 2]"#, "INVALID_ARGUMENT"),
        (r#"{"id":"not an array"}"#, "INVALID_ARGUMENT"),
    ];
    for (rows, code) in cases {
        let err = call(&db, "put", &[js(rows)]).await.expect_err(rows);
        assert_eq!(code_of(&err), *code, "{rows}");
    }
    let garbage = Uint8Array::from(&[1u8, 2, 3, 4, 5][..]);
    let err = call(&db, "put", &[garbage.into()]).await.unwrap_err();
    assert_eq!(code_of(&err), "INVALID_ARGUMENT");
    let err = call(&db, "scan", &[js(r#"{"projection":["nope"]}"#)])
        .await
        .unwrap_err();
    assert_eq!(code_of(&err), "INVALID_ARGUMENT");
    let err = call(&db, "get", &[JsValue::UNDEFINED]).await.unwrap_err();
    assert_eq!(code_of(&err), "INVALID_ARGUMENT");

    // None of that wrote anything, and the table still answers.
    let all = decode(&call(&db, "scan", &[]).await.unwrap());
    assert_eq!(strings(&all, "id"), vec!["ok"]);

    call(&db, "close", &[]).await.unwrap();
    call(&db, "close", &[]).await.unwrap();
    let err = call(&db, "get", &["ok".into()]).await.unwrap_err();
    assert_eq!(code_of(&err), "CLOSED");
}

#[wasm_bindgen_test]
async fn bad_open_options_reject_with_a_code() {
    let cases = [
        r#"{"schema": {"id": "utf8"}}"#,
        r#"{"schema": {"id": "uuid"}, "key": "id"}"#,
        r#"{"schema": {"id": "utf8"}, "key": "missing"}"#,
        r#"{"schema": {"id": "utf8"}, "key": "id", "storage": {"kind": "floppy"}}"#,
        r#"{"key": "id"}"#,
    ];
    for c in cases {
        let err = open(c).await.expect_err(c);
        assert_eq!(code_of(&err), "INVALID_ARGUMENT", "{c}");
    }
}

fn unique(name: &str) -> String {
    format!("anax-tests/{name}-{}", js_sys::Math::random().to_bits())
}

fn rows_of(v: &JsValue) -> Vec<(String, Option<f64>)> {
    let b = decode(v);
    let ids = b.column(0).as_string::<i32>();
    let scores = b.column(2).as_primitive::<Float64Type>();
    (0..b.num_rows())
        .map(|i| {
            use arrow_array::Array;
            (
                ids.value(i).to_owned(),
                scores.is_valid(i).then(|| scores.value(i)),
            )
        })
        .collect()
}

#[wasm_bindgen_test]
async fn opfs_passes_the_storage_conformance_suite() {
    let path = unique("conf");
    let storage = js(&format!(r#"{{"kind": "opfs", "path": "{path}"}}"#));
    let passed = JsFuture::from(anax::wasm::Anax::check_storage(storage))
        .await
        .expect("OPFS honours the storage contract");
    assert_eq!(passed.as_f64(), Some(8.0));
}

#[wasm_bindgen_test]
async fn an_opfs_table_reopens_with_everything_and_has_one_writer() {
    let path = unique("table");
    let options = format!(
        r#"{{"schema": {{"id": "utf8", "name": "utf8", "score": {{"type": "float64", "nullable": true}}}},
            "key": "id", "storage": {{"kind": "opfs", "path": "{path}"}}}}"#
    );
    let db = open(&options).await.expect("open on OPFS");
    for batch in [
        r#"[{"id": "b", "name": "Bo", "score": 2}, {"id": "a", "name": "Al", "score": 1}]"#,
        r#"[{"id": "c", "name": "Cy", "score": null}, {"id": "a", "name": "Al", "score": 10}]"#,
    ] {
        call(&db, "put", &[js(batch)]).await.expect("put");
    }
    call(&db, "delete", &["b".into()]).await.expect("delete");
    // A second writer on the same database is refused while the first holds it.
    let err = open(&options)
        .await
        .expect_err("a second writer is refused");
    assert_eq!(code_of(&err), "CONFLICT");
    call(&db, "close", &[]).await.expect("close");
    let again = open(&options).await.expect("reopen after close");
    let all = call(&again, "scan", &[]).await.expect("scan");
    assert_eq!(
        rows_of(&all),
        [("a".to_owned(), Some(10.0)), ("c".to_owned(), None)]
    );
    call(&again, "close", &[]).await.expect("close");
}

#[wasm_bindgen_test]
async fn an_opfs_wal_survives_a_handle_that_was_never_closed() {
    let path = unique("wal");
    let options = format!(
        r#"{{"schema": {{"id": "utf8", "name": "utf8", "score": {{"type": "float64", "nullable": true}}}},
            "key": "id", "storage": {{"kind": "opfs", "path": "{path}"}}}}"#
    );
    let db = open(&options).await.expect("open on OPFS");
    call(
        &db,
        "put",
        &[js(r#"[{"id": "x", "name": "X", "score": 5}]"#)],
    )
    .await
    .expect("put");
    // Free the handle without close (no flush): the row lives only in the WAL, and dropping
    // the storage releases the writer lock, as a closed tab does.
    let free: Function = Reflect::get(&db, &"free".into())
        .unwrap()
        .dyn_into()
        .unwrap();
    free.call0(&db).unwrap();
    let again = open(&options).await.expect("reopen replays the WAL");
    let all = call(&again, "scan", &[]).await.expect("scan");
    assert_eq!(rows_of(&all), [("x".to_owned(), Some(5.0))]);
    call(&again, "close", &[]).await.expect("close");
}

async fn js_call(o: &JsValue, m: &str, args: &[JsValue]) -> JsValue {
    let f: Function = Reflect::get(o, &m.into()).unwrap().dyn_into().unwrap();
    let arr: js_sys::Array = args.iter().collect();
    let out = f.apply(o, &arr).unwrap();
    match out.dyn_into::<js_sys::Promise>() {
        Ok(p) => JsFuture::from(p).await.unwrap(),
        Err(v) => v,
    }
}

fn now_ms() -> f64 {
    let perf = Reflect::get(&js_sys::global(), &"performance".into()).unwrap();
    let f: Function = Reflect::get(&perf, &"now".into())
        .unwrap()
        .dyn_into()
        .unwrap();
    f.call0(&perf).unwrap().as_f64().unwrap()
}

fn median(mut t: Vec<f64>) -> f64 {
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

/// The plain OPFS API with no Anax in between: the baseline of the timing table.
async fn raw_opfs_put(dir: &JsValue, name: &str, data: &[u8]) {
    let opts = js(r#"{"create": true}"#);
    let fh = js_call(dir, "getFileHandle", &[name.into(), opts]).await;
    let in_worker = Reflect::get(&js_sys::global(), &"document".into())
        .unwrap()
        .is_undefined();
    let bytes: JsValue = Uint8Array::from(data).into();
    if in_worker {
        let h = js_call(&fh, "createSyncAccessHandle", &[]).await;
        js_call(&h, "truncate", &[0.into()]).await;
        js_call(&h, "write", &[bytes, js(r#"{"at": 0}"#)]).await;
        js_call(&h, "flush", &[]).await;
        js_call(&h, "close", &[]).await;
    } else {
        let w = js_call(&fh, "createWritable", &[]).await;
        js_call(&w, "write", &[bytes]).await;
        js_call(&w, "close", &[]).await;
    }
}

async fn raw_opfs_get(dir: &JsValue, name: &str) -> usize {
    let fh = js_call(dir, "getFileHandle", &[name.into()]).await;
    let file = js_call(&fh, "getFile", &[]).await;
    let buf = js_call(&file, "arrayBuffer", &[]).await;
    Uint8Array::new(&buf).length() as usize
}

#[wasm_bindgen_test]
async fn opfs_timings_against_the_raw_api() {
    use anax::storage::{PutMode, Storage};
    use bytes::Bytes;
    let path = unique("timing");
    let s = anax::storage::Opfs::open(&path).await.expect("open OPFS");
    let storage = Reflect::get(
        &Reflect::get(&js_sys::global(), &"navigator".into()).unwrap(),
        &"storage".into(),
    )
    .unwrap();
    let root = js_call(&storage, "getDirectory", &[]).await;
    let dir = js_call(
        &root,
        "getDirectoryHandle",
        &["anax-raw-timing".into(), js(r#"{"create": true}"#)],
    )
    .await;
    let mib = Bytes::from(vec![3u8; 1 << 20]);
    let kib = Bytes::from(vec![3u8; 4 << 10]);
    let runs = 7;
    let mut table = Vec::new();
    for (name, data) in [("put 1 MiB", &mib), ("put 4 KiB", &kib)] {
        let (mut a, mut r) = (Vec::new(), Vec::new());
        for i in 0..runs {
            let t0 = now_ms();
            s.put(
                &format!("t/{i}-{}", data.len()),
                data.clone(),
                PutMode::Overwrite,
            )
            .await
            .unwrap();
            a.push(now_ms() - t0);
            let t0 = now_ms();
            raw_opfs_put(&dir, &format!("{i}-{}", data.len()), data).await;
            r.push(now_ms() - t0);
        }
        table.push((name, median(a), median(r)));
    }
    let (mut a, mut r) = (Vec::new(), Vec::new());
    for i in 0..runs {
        let t0 = now_ms();
        assert_eq!(
            s.get(&format!("t/{i}-{}", 1 << 20)).await.unwrap().len(),
            1 << 20
        );
        a.push(now_ms() - t0);
        let t0 = now_ms();
        assert_eq!(
            raw_opfs_get(&dir, &format!("{i}-{}", 1 << 20)).await,
            1 << 20
        );
        r.push(now_ms() - t0);
    }
    table.push(("get 1 MiB", median(a), median(r)));
    for (name, anax_ms, raw_ms) in table {
        wasm_bindgen_test::console_log!(
            "OPFS timing | {name} | Anax {anax_ms:.2} ms | raw {raw_ms:.2} ms | ratio {:.2}",
            anax_ms / raw_ms
        );
    }
}

/// The moto server `scripts/test.sh` starts (with CORS) for the browser tests.
const S3_ENDPOINT: Option<&str> = option_env!("ANAX_TEST_S3_ENDPOINT");

fn s3_storage(prefix: &str) -> Option<String> {
    let Some(endpoint) = S3_ENDPOINT else {
        assert!(
            option_env!("CI").is_none(),
            "CI runs the browser tests through scripts/test.sh, which starts moto"
        );
        wasm_bindgen_test::console_log!(
            "S3 browser test skipped: ANAX_TEST_S3_ENDPOINT unset (scripts/test.sh sets it)"
        );
        return None;
    };
    Some(format!(
        r#"{{"kind": "s3", "bucket": "anax-browser", "prefix": "{prefix}", "endpoint": "{endpoint}",
            "accessKeyId": "testing", "secretAccessKey": "testing", "sessionToken": "t"}}"#
    ))
}

#[wasm_bindgen_test]
async fn s3_from_the_browser_passes_the_conformance_suite() {
    let Some(storage) = s3_storage(&unique("conf")) else {
        return;
    };
    let passed = JsFuture::from(anax::wasm::Anax::check_storage(js(&storage)))
        .await
        .unwrap_or_else(|e| {
            let msg = Reflect::get(&e, &"message".into()).unwrap().as_string();
            panic!("S3 via fetch breaks the storage contract: {msg:?}")
        });
    assert_eq!(passed.as_f64(), Some(8.0));
}

#[wasm_bindgen_test]
async fn a_table_on_s3_from_the_browser_reopens_with_everything() {
    let Some(storage) = s3_storage(&unique("table")) else {
        return;
    };
    let options = format!(
        r#"{{"schema": {{"id": "utf8", "name": "utf8", "score": {{"type": "float64", "nullable": true}}}},
            "key": "id", "storage": {storage}}}"#
    );
    let db = open(&options).await.expect("open on S3");
    call(
        &db,
        "put",
        &[js(
            r#"[{"id": "b", "name": "Bo", "score": 2}, {"id": "a", "name": "Al", "score": null}]"#,
        )],
    )
    .await
    .expect("put");
    call(
        &db,
        "put",
        &[js(r#"[{"id": "b", "name": "Bo", "score": 20}]"#)],
    )
    .await
    .expect("put");
    call(&db, "close", &[]).await.expect("close");
    let again = open(&options).await.expect("reopen");
    let all = call(&again, "scan", &[]).await.expect("scan");
    assert_eq!(
        rows_of(&all),
        [("a".to_owned(), None), ("b".to_owned(), Some(20.0))]
    );
}
