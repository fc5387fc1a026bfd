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
    let promise: js_sys::Promise = f.apply(obj, &arr)?.dyn_into().unwrap();
    JsFuture::from(promise).await
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
