//! Group commit on an object store: puts in flight on one handle share SSTs and manifest
//! commits. A caller that keeps 8 puts in flight must not get a group of one per put (each
//! group is two round trips: the SST, then the compare-and-swap).
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::sync::Arc;

use anax::Value;
use anax::storage::{Latency, LatencyStorage, MemoryStorage, Storage};
use common::kv::{read_all, schema};
use futures::StreamExt;
use futures::executor::block_on;
use futures::stream::FuturesUnordered;

#[test]
fn puts_kept_in_flight_share_commits() {
    block_on(async {
        let store = Arc::new(LatencyStorage::new(
            Arc::new(MemoryStorage::new()),
            Latency::rtt(2.0),
        ));
        let storage: Arc<dyn Storage> = store.clone();
        let db = anax::DbBuilder::from_schema_key_name(schema(), "id")
            .with_storage(storage)
            .with_compaction_options(anax::CompactionOptions {
                automatic: false,
                ..Default::default()
            })
            .open()
            .await
            .unwrap();
        let v0 = db.stats().unwrap().manifest_version;
        // A closed loop: as each put is answered, the next one goes out.
        let total = 96u32;
        let mut sent = 0u32;
        let mut done = 0u32;
        let mut flight = FuturesUnordered::new();
        while done < total {
            while flight.len() < 8 && sent < total {
                let row = vec![
                    Value::from(format!("k{sent:03}-{}", "ü".repeat(40))),
                    Value::Int(sent.into()),
                ];
                let db = db.clone();
                flight.push(async move { db.put_rows(&[row]).await });
                sent += 1;
            }
            flight.next().await.unwrap().unwrap();
            done += 1;
        }
        let commits = db.stats().unwrap().manifest_version - v0;
        assert!(
            commits <= u64::from(total / 4),
            "{total} puts, 8 in flight, took {commits} commits"
        );
        assert_eq!(read_all(&db).await.len(), total as usize);
    });
}
