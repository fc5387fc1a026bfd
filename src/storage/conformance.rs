//! The storage contract as one suite of cases, written once and run against every backend
//! (memory, disk, S3, OPFS, the JS bucket adapter) natively, in browsers and in workerd.
//!
//! Cases return a description of the first broken expectation instead of panicking, so the
//! same code serves `cargo test`, wasm-bindgen tests and a JS caller.

use bytes::Bytes;

use super::{ObjectMeta, PutMode, Storage};
use crate::error::{ErrorCode, Result};

macro_rules! check {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

fn code<T>(r: &Result<T>) -> Option<ErrorCode> {
    r.as_ref().err().map(|e| e.code())
}

fn pattern(n: usize) -> Bytes {
    Bytes::from((0..n).map(|i| (i * 31 % 251) as u8).collect::<Vec<u8>>())
}

/// Runs every case under `root` (a scratch prefix, e.g. `conformance/<random>`). `second` is
/// another client of the same store (another handle, tab or isolate) for the races; without
/// one, `storage` races itself. Returns the number of cases passed.
pub async fn run(
    storage: &dyn Storage,
    second: Option<&dyn Storage>,
    root: &str,
) -> Result<usize, String> {
    let other = second.unwrap_or(storage);
    let p = |name: &str| format!("{root}/{name}");
    let mut passed = 0;

    // Absent objects.
    let missing = p("missing");
    check!(
        code(&storage.get(&missing).await) == Some(ErrorCode::NotFound),
        "get of a missing object is not NOT_FOUND"
    );
    check!(
        code(&storage.get_range(&missing, 0..4).await) == Some(ErrorCode::NotFound),
        "ranged get of a missing object is not NOT_FOUND"
    );
    check!(
        matches!(storage.head(&missing).await, Ok(None)),
        "head of a missing object is not None"
    );
    passed += 1;

    // Whole and ranged reads.
    let a = p("data/a.bin");
    let data = pattern(100_000);
    let put = storage
        .put(&a, data.clone(), PutMode::Overwrite)
        .await
        .map_err(|e| format!("put: {e}"))?;
    check!(put.size == 100_000, "put reported size {}", put.size);
    let got = storage.get(&a).await.map_err(|e| format!("get: {e}"))?;
    check!(
        got == data,
        "get returned other bytes ({} bytes)",
        got.len()
    );
    for r in [
        0..10,
        99_990..100_000,
        12_345..54_321,
        99_995..200_000,
        100_000..100_010,
        7..7,
    ] {
        let want = data.slice(r.start.min(100_000) as usize..r.end.min(100_000) as usize);
        let got = storage
            .get_range(&a, r.clone())
            .await
            .map_err(|e| format!("get_range {r:?}: {e}"))?;
        check!(
            got == want,
            "get_range {r:?} returned {} bytes, wanted {}",
            got.len(),
            want.len()
        );
    }
    let head = storage.head(&a).await.map_err(|e| format!("head: {e}"))?;
    let head = head.ok_or("head of a written object is None")?;
    check!(head.size == 100_000, "head size {}", head.size);
    check!(!head.etag.is_empty(), "head has no etag");
    let (bytes, meta) = storage
        .get_object(&a)
        .await
        .map_err(|e| format!("get_object: {e}"))?;
    check!(
        bytes == data && meta.etag == head.etag,
        "get_object disagrees with head ({} vs {})",
        meta.etag,
        head.etag
    );
    passed += 1;

    // Listing.
    for (name, n) in [
        ("data/b.bin", 3usize),
        ("data/sub/c.bin", 0),
        ("datax/d.bin", 1),
    ] {
        storage
            .put(&p(name), pattern(n), PutMode::Overwrite)
            .await
            .map_err(|e| format!("put {name}: {e}"))?;
    }
    let listed = storage
        .list(&p("data/"))
        .await
        .map_err(|e| format!("list: {e}"))?;
    let got: Vec<(String, u64)> = listed
        .iter()
        .map(|m: &ObjectMeta| (m.path.clone(), m.size))
        .collect();
    let want = vec![
        (p("data/a.bin"), 100_000),
        (p("data/b.bin"), 3),
        (p("data/sub/c.bin"), 0),
    ];
    check!(got == want, "list data/ returned {got:?}, wanted {want:?}");
    let none = storage
        .list(&p("nothing/"))
        .await
        .map_err(|e| format!("list: {e}"))?;
    check!(none.is_empty(), "list of an empty prefix returned {none:?}");
    passed += 1;

    // Delete (idempotent).
    let b = p("data/b.bin");
    storage
        .delete(&b)
        .await
        .map_err(|e| format!("delete: {e}"))?;
    check!(
        code(&storage.get(&b).await) == Some(ErrorCode::NotFound),
        "a deleted object is still readable"
    );
    storage
        .delete(&b)
        .await
        .map_err(|e| format!("deleting an absent object failed: {e}"))?;
    check!(
        storage
            .list(&p("data/"))
            .await
            .map_err(|e| format!("list: {e}"))?
            .len()
            == 2,
        "list still shows a deleted object"
    );
    passed += 1;

    // Create-if-absent.
    let c = p("cas/new");
    storage
        .put(&c, Bytes::from_static(b"first"), PutMode::CreateNew)
        .await
        .map_err(|e| format!("create: {e}"))?;
    let again = storage
        .put(&c, Bytes::from_static(b"second"), PutMode::CreateNew)
        .await;
    check!(
        code(&again) == Some(ErrorCode::Conflict),
        "a second create-if-absent did not conflict: {again:?}"
    );
    check!(
        storage.get(&c).await.ok().as_deref() == Some(&b"first"[..]),
        "a failed create changed the object"
    );
    passed += 1;

    // Put-if-match.
    let h = p("cas/head");
    let v1 = storage
        .put(&h, Bytes::from_static(b"v1"), PutMode::CreateNew)
        .await
        .map_err(|e| format!("create head: {e}"))?;
    let v2 = storage
        .put(
            &h,
            Bytes::from_static(b"v2"),
            PutMode::IfMatch(v1.etag.clone()),
        )
        .await
        .map_err(|e| format!("if-match with the current etag: {e}"))?;
    check!(v2.etag != v1.etag, "the etag did not change on overwrite");
    let stale = storage
        .put(
            &h,
            Bytes::from_static(b"v3"),
            PutMode::IfMatch(v1.etag.clone()),
        )
        .await;
    check!(
        code(&stale) == Some(ErrorCode::Conflict),
        "if-match with a stale etag did not conflict: {stale:?}"
    );
    let absent = storage
        .put(
            &p("cas/absent"),
            Bytes::from_static(b"x"),
            PutMode::IfMatch(v1.etag.clone()),
        )
        .await;
    check!(
        code(&absent) == Some(ErrorCode::Conflict),
        "if-match on a missing object did not conflict: {absent:?}"
    );
    check!(
        storage.get(&h).await.ok().as_deref() == Some(&b"v2"[..]),
        "a failed if-match changed the object"
    );
    let (_, m) = storage
        .get_object(&h)
        .await
        .map_err(|e| format!("get_object: {e}"))?;
    check!(
        m.etag == v2.etag,
        "get_object etag {} is not the written {}",
        m.etag,
        v2.etag
    );
    passed += 1;

    // Races between two clients: exactly one wins each.
    let r = p("race/create");
    let (x, y) = futures_util::future::join(
        storage.put(&r, Bytes::from_static(b"x"), PutMode::CreateNew),
        other.put(&r, Bytes::from_static(b"y"), PutMode::CreateNew),
    )
    .await;
    check!(x.is_ok() != y.is_ok(), "create race: {x:?} / {y:?}");
    let loser = if x.is_ok() { &y } else { &x };
    check!(
        code(loser) == Some(ErrorCode::Conflict),
        "create race loser: {loser:?}"
    );
    let winner = if x.is_ok() { b"x" } else { b"y" };
    check!(
        storage.get(&r).await.ok().as_deref() == Some(&winner[..]),
        "the create race winner's bytes are not stored"
    );
    let base = storage
        .head(&r)
        .await
        .map_err(|e| format!("head: {e}"))?
        .ok_or("raced object vanished")?;
    let (x, y) = futures_util::future::join(
        storage.put(
            &r,
            Bytes::from_static(b"x2"),
            PutMode::IfMatch(base.etag.clone()),
        ),
        other.put(
            &r,
            Bytes::from_static(b"y2"),
            PutMode::IfMatch(base.etag.clone()),
        ),
    )
    .await;
    check!(x.is_ok() != y.is_ok(), "if-match race: {x:?} / {y:?}");
    let loser = if x.is_ok() { &y } else { &x };
    check!(
        code(loser) == Some(ErrorCode::Conflict),
        "if-match race loser: {loser:?}"
    );
    passed += 1;

    // Clean up (also exercises delete of many).
    for m in storage
        .list(&format!("{root}/"))
        .await
        .map_err(|e| format!("list: {e}"))?
    {
        storage
            .delete(&m.path)
            .await
            .map_err(|e| format!("cleanup delete: {e}"))?;
    }
    check!(
        storage
            .list(&format!("{root}/"))
            .await
            .map_err(|e| format!("list: {e}"))?
            .is_empty(),
        "cleanup left objects"
    );
    passed += 1;
    Ok(passed)
}
