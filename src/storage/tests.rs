//! The storage contract, written once and run against every native backend.

use bytes::Bytes;
use futures::executor::block_on;

use super::*;
use crate::error::ErrorCode;

fn contract(s: &dyn Storage) {
    block_on(async {
        assert_eq!(s.get("a/x").await.unwrap_err().code(), ErrorCode::NotFound);
        assert_eq!(s.head("a/x").await.unwrap(), None);
        let m = s
            .put("a/x", Bytes::from_static(b"0123456789"), PutMode::Overwrite)
            .await
            .unwrap();
        assert_eq!(m.size, 10);
        assert_eq!(
            s.get("a/x").await.unwrap(),
            Bytes::from_static(b"0123456789")
        );
        assert_eq!(
            s.get_range("a/x", 2..5).await.unwrap(),
            Bytes::from_static(b"234")
        );
        assert_eq!(
            s.get_range("a/x", 8..50).await.unwrap(),
            Bytes::from_static(b"89")
        );
        assert_eq!(s.head("a/x").await.unwrap().unwrap().etag, m.etag);

        s.put("a/y", Bytes::from_static(b"y"), PutMode::Overwrite)
            .await
            .unwrap();
        s.put("b/z", Bytes::from_static(b"z"), PutMode::Overwrite)
            .await
            .unwrap();
        let listed: Vec<_> = s
            .list("a/")
            .await
            .unwrap()
            .into_iter()
            .map(|m| (m.path, m.size))
            .collect();
        assert_eq!(listed, vec![("a/x".to_owned(), 10), ("a/y".to_owned(), 1)]);

        // create-if-absent: exactly one of two creators wins.
        let first = s
            .put("head", Bytes::from_static(b"1"), PutMode::CreateNew)
            .await
            .unwrap();
        let second = s
            .put("head", Bytes::from_static(b"2"), PutMode::CreateNew)
            .await;
        assert_eq!(second.unwrap_err().code(), ErrorCode::Conflict);
        assert_eq!(s.get("head").await.unwrap(), Bytes::from_static(b"1"));

        // put-if-match: the holder of the current etag wins, a stale etag loses.
        let moved = s
            .put(
                "head",
                Bytes::from_static(b"3"),
                PutMode::IfMatch(first.etag.clone()),
            )
            .await
            .unwrap();
        let stale = s
            .put(
                "head",
                Bytes::from_static(b"4"),
                PutMode::IfMatch(first.etag.clone()),
            )
            .await;
        assert_eq!(stale.unwrap_err().code(), ErrorCode::Conflict);
        assert_eq!(s.get("head").await.unwrap(), Bytes::from_static(b"3"));
        assert_ne!(moved.etag, first.etag);
        let absent = s
            .put(
                "nothing",
                Bytes::from_static(b"5"),
                PutMode::IfMatch(moved.etag),
            )
            .await;
        assert_eq!(absent.unwrap_err().code(), ErrorCode::Conflict);

        s.delete("a/x").await.unwrap();
        s.delete("a/x").await.unwrap();
        assert_eq!(s.head("a/x").await.unwrap(), None);
    });
}

#[test]
fn memory_backend_meets_the_contract() {
    contract(&MemoryStorage::new());
}

#[cfg(not(target_arch = "wasm32"))]
#[test]
fn disk_backend_meets_the_contract() {
    let dir = std::env::temp_dir().join(format!("anax-disk-contract-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    contract(&DiskStorage::new(&dir, true).unwrap());
    let escape = block_on(DiskStorage::new(&dir, false).unwrap().get("../escape"));
    assert_eq!(escape.unwrap_err().code(), ErrorCode::InvalidArgument);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn memory_passes_the_conformance_suite() {
    let s = MemoryStorage::new();
    let other = s.clone();
    assert_eq!(block_on(conformance::run(&s, Some(&other), "conf")), Ok(8));
}

#[cfg(not(target_arch = "wasm32"))]
#[test]
fn disk_passes_the_conformance_suite() {
    let dir = std::env::temp_dir().join(format!("anax-conf-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let a = DiskStorage::new(&dir, true).unwrap();
    let b = DiskStorage::new(&dir, true).unwrap();
    assert_eq!(block_on(conformance::run(&a, Some(&b), "conf")), Ok(8));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn object_paths_that_could_leave_a_directory_are_refused() {
    for bad in [
        "", "/abs", "a//b", "a/../b", "..", "./a", "a/", "a\\b", "a\0b",
    ] {
        assert!(super::check_relative(bad).is_err(), "{bad:?}");
    }
    for good in ["manifest/HEAD", "sst/0001.parquet", "a.b/c..d", "ключ/日本"] {
        assert!(super::check_relative(good).is_ok(), "{good:?}");
    }
}
