//! S3 over HTTP against a moto server this test starts on 127.0.0.1 (from the repo's `.venv`,
//! made by `scripts/setup.sh`): the storage conformance suite with two clients racing, a
//! table reopened by a new handle, two writers, a fault-injection workload, and timings.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
// Native-only test code: real time is what it measures.
#![allow(clippy::disallowed_methods)]

mod common;

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anax::storage::s3::http::{DefaultHttp, HttpClient, HttpRequest, HttpResponse};
use anax::storage::s3::{AwsCreds, S3Spec, S3Storage};
use anax::storage::{BoxFuture, PutMode, Storage, conformance};
use anax::{DbBuilder, ScanOptions, SystemClock, Value};
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_schema::{DataType, Field, Schema};
use bytes::Bytes;
use futures::executor::block_on;

/// A moto server for the life of the value.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_binary() -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = std::env::var("ANAX_PYTHON")
        .ok()
        .and_then(|p| {
            std::path::PathBuf::from(p)
                .parent()
                .map(|d| d.to_path_buf())
        })
        .unwrap_or_else(|| root.join(".venv/bin"));
    let bin = venv.join("moto_server");
    assert!(
        bin.exists(),
        "{} is missing: run `bash scripts/setup.sh test` (installs moto[server] into .venv)",
        bin.display()
    );
    bin
}

static MOTO: Mutex<Option<Arc<Moto>>> = Mutex::new(None);

/// One server shared by the tests of this binary (each uses its own bucket).
fn moto() -> Arc<Moto> {
    let mut slot = MOTO.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(m) = slot.as_ref() {
        return m.clone();
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The server lives in a static, which is never dropped, so nothing would stop it when
    // the test binary exits (each `cargo test` left one running). A watchdog shell stops it
    // once this process is gone.
    let watchdog = "\"$0\" -H 127.0.0.1 -p \"$1\" & m=$!; trap 'kill $m; exit' INT TERM HUP; \
                    while kill -0 \"$2\" 2>/dev/null; do sleep 0.5; done; kill $m";
    let child = Command::new("sh")
        .arg("-c")
        .arg(watchdog)
        .arg(moto_binary())
        .arg(port.to_string())
        .arg(std::process::id().to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server");
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t.elapsed() < Duration::from_secs(30), "moto did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let m = Arc::new(Moto {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    });
    *slot = Some(m.clone());
    m
}

static BUCKETS: AtomicU64 = AtomicU64::new(0);

fn creds() -> AwsCreds {
    AwsCreds {
        access_key: "testing".into(),
        secret_key: "testing".into(),
        session_token: Some("session".into()),
    }
}

/// A fresh bucket and a spec for it.
fn bucket(m: &Moto) -> S3Spec {
    let name = format!(
        "anax-{}-{}",
        std::process::id(),
        BUCKETS.fetch_add(1, Ordering::SeqCst)
    );
    let r = ureq::put(&format!("{}/{name}", m.endpoint)).call();
    assert!(r.is_ok(), "create bucket: {r:?}");
    let mut spec = S3Spec::new(name, creds());
    spec.endpoint = Some(m.endpoint.clone());
    spec.prefix = "db/root".into();
    spec
}

#[test]
fn conformance_with_two_racing_clients() {
    let m = moto();
    let spec = bucket(&m);
    let a = S3Storage::new(spec.clone()).unwrap();
    let b = S3Storage::new(spec).unwrap();
    let passed = block_on(conformance::run(&a, Some(&b), "conf")).unwrap();
    assert_eq!(passed, 8);
}

#[test]
fn large_objects_go_up_in_parts_and_conditional_writes_hold() {
    let m = moto();
    let mut spec = bucket(&m);
    spec.checksum = true;
    let s = S3Storage::new(spec).unwrap();
    block_on(async {
        let big = Bytes::from(
            (0..20 << 20)
                .map(|i: u32| (i % 253) as u8)
                .collect::<Vec<u8>>(),
        );
        s.put("big", big.clone(), PutMode::CreateNew).await.unwrap();
        assert_eq!(s.get("big").await.unwrap(), big);
        assert_eq!(
            s.get_range("big", 9_000_000..9_000_100).await.unwrap(),
            big.slice(9_000_000..9_000_100)
        );
        let again = s
            .put("big", big.clone(), PutMode::CreateNew)
            .await
            .unwrap_err();
        assert_eq!(again.code(), anax::ErrorCode::Conflict, "{again}");
        assert!(
            !again.to_string().contains("testing"),
            "no credentials in errors: {again}"
        );
    });
}

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("v", DataType::Int64, true),
    ]))
}

fn rows(b: &arrow_array::RecordBatch) -> Vec<(String, i64)> {
    let ids = b.column(0).as_string::<i32>();
    let vs = b.column(1).as_primitive::<Int64Type>();
    (0..b.num_rows())
        .map(|i| (ids.value(i).to_owned(), vs.value(i)))
        .collect()
}

fn open(s: Arc<dyn Storage>) -> DbBuilder {
    DbBuilder::from_schema_key_name(schema(), "id")
        .with_storage(s)
        .cas_backoff(anax::CasBackoffConfig {
            base_ms: 2,
            max_ms: 20,
            max_attempts: 64,
        })
}

#[test]
fn a_table_on_s3_reopens_with_everything_and_two_writers_lose_nothing() {
    let m = moto();
    let spec = bucket(&m);
    block_on(async {
        let db = open(Arc::new(S3Storage::new(spec.clone()).unwrap()))
            .open()
            .await
            .unwrap();
        for i in 0..20 {
            db.put_rows(&[vec![Value::from(format!("k{i:02}")), Value::Int(i)]])
                .await
                .unwrap();
        }
        db.delete(&[Value::from("k05")]).await.unwrap();
        db.close().await.unwrap();
        let again = open(Arc::new(S3Storage::new(spec.clone()).unwrap()))
            .open()
            .await
            .unwrap();
        let all = rows(&again.scan(&ScanOptions::default()).await.unwrap());
        assert_eq!(all.len(), 19);
        assert!(
            all.iter()
                .all(|(k, v)| k != "k05" && *k == format!("k{v:02}"))
        );
    });
    std::thread::scope(|s| {
        for w in ["x", "y"] {
            let spec = spec.clone();
            s.spawn(move || {
                block_on(async {
                    let db = open(Arc::new(S3Storage::new(spec).unwrap()))
                        .open()
                        .await
                        .unwrap();
                    for i in 0..50 {
                        db.put_rows(&[vec![Value::from(format!("{w}{i:02}")), Value::Int(i)]])
                            .await
                            .unwrap();
                    }
                })
            });
        }
    });
    block_on(async {
        let db = open(Arc::new(S3Storage::new(spec).unwrap()))
            .open()
            .await
            .unwrap();
        let all = rows(&db.scan(&ScanOptions::default()).await.unwrap());
        assert_eq!(all.len(), 19 + 100);
    });
}

/// Injects, at a seeded 10% of requests, a 500 or 503, a slow response, or a dropped
/// connection before or after the server acted.
#[derive(Debug)]
struct Flaky {
    inner: DefaultHttp,
    rng: Mutex<common::Rng>,
    injected: AtomicU64,
}

impl HttpClient for Flaky {
    fn send(&self, req: HttpRequest) -> BoxFuture<'_, anax::Result<HttpResponse>> {
        Box::pin(async move {
            let roll = self.rng.lock().unwrap().below(100);
            if roll >= 10 {
                return self.inner.send(req).await;
            }
            self.injected.fetch_add(1, Ordering::Relaxed);
            let fake = |status| HttpResponse {
                status,
                headers: Vec::new(),
                body: Bytes::from_static(b"<Error><Code>InternalError</Code></Error>"),
            };
            match roll {
                0..=2 => Ok(fake(500)),
                3..=4 => Ok(fake(503)),
                5..=6 => {
                    std::thread::sleep(Duration::from_millis(50));
                    self.inner.send(req).await
                }
                7 => Err(anax::Error::transient(
                    "connection reset before sending",
                    None,
                )),
                _ => {
                    // The server applied it; the reply never arrived.
                    let _ = self.inner.send(req).await;
                    Err(anax::Error::transient(
                        "connection reset after sending",
                        None,
                    ))
                }
            }
        })
    }
}

#[test]
fn faults_at_ten_percent_lose_and_duplicate_nothing() {
    let m = moto();
    let spec = bucket(&m);
    let flaky = Arc::new(Flaky {
        inner: DefaultHttp::new(),
        rng: Mutex::new(common::Rng::new(7)),
        injected: AtomicU64::new(0),
    });
    let storage = S3Storage::with_http(spec.clone(), flaky.clone(), Arc::new(SystemClock)).unwrap();
    block_on(async {
        let db = open(Arc::new(storage)).open().await.unwrap();
        let mut acked = Vec::new();
        let mut failed = 0;
        for i in 0..120i64 {
            let key = format!("k{i:03}");
            match db
                .put_rows(&[vec![Value::from(key.as_str()), Value::Int(i)]])
                .await
            {
                Ok(_) => acked.push(key),
                Err(e) => {
                    failed += 1;
                    assert!(
                        !e.to_string().contains("testing"),
                        "credentials leaked: {e}"
                    );
                }
            }
            if i % 10 == 9 {
                let got = db.get(&[Value::from(acked.last().unwrap().as_str())]).await;
                assert!(got.is_ok_and(|r| r.is_some()) || failed > 0);
            }
        }
        println!(
            "fault test: {} requests faulted, {} of 120 puts failed after retries",
            flaky.injected.load(Ordering::Relaxed),
            failed
        );
        assert!(flaky.injected.load(Ordering::Relaxed) > 10);
        let clean = open(Arc::new(S3Storage::new(spec).unwrap()))
            .open()
            .await
            .unwrap();
        let all = rows(&clean.scan(&ScanOptions::default()).await.unwrap());
        for k in &acked {
            assert!(
                all.iter().any(|(key, _)| key == k),
                "acknowledged {k} is missing"
            );
        }
        let mut keys: Vec<&String> = all.iter().map(|(k, _)| k).collect();
        keys.dedup();
        assert_eq!(keys.len(), all.len(), "a row appears twice");
        let versions = clean.versions().await.unwrap();
        let puts = versions.iter().filter(|h| h.kind.as_str() == "put").count();
        assert_eq!(
            puts,
            all.len(),
            "each landed put is one manifest version, never two"
        );
    });
}

#[test]
fn timings_against_raw_requests() {
    let m = moto();
    let spec = bucket(&m);
    let s = S3Storage::new(spec.clone()).unwrap();
    let url = |k: &str| format!("{}/{}/raw/{k}", m.endpoint, spec.bucket);
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mib = Bytes::from(vec![7u8; 1 << 20]);
    let kib = Bytes::from(vec![7u8; 4 << 10]);
    let time = |f: &mut dyn FnMut(usize)| {
        median(
            (0..7)
                .map(|i| {
                    let t = Instant::now();
                    f(i);
                    t.elapsed().as_secs_f64() * 1e3
                })
                .collect(),
        )
    };
    let anax_put_1m = time(&mut |i| {
        block_on(s.put(&format!("t/m{i}"), mib.clone(), PutMode::Overwrite)).unwrap();
    });
    let anax_get_1m = time(&mut |i| {
        block_on(s.get(&format!("t/m{i}"))).unwrap();
    });
    let anax_put_4k = time(&mut |i| {
        block_on(s.put(&format!("t/k{i}"), kib.clone(), PutMode::Overwrite)).unwrap();
    });
    // The raw baseline: one plain HTTP request per operation (moto accepts any signature,
    // but refuses anonymous requests).
    let auth = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, \
                SignedHeaders=host, Signature=00";
    let raw_put_1m = time(&mut |i| {
        ureq::put(&url(&format!("m{i}")))
            .set("authorization", auth)
            .send_bytes(&mib)
            .unwrap();
    });
    let raw_get_1m = time(&mut |i| {
        let mut b = Vec::new();
        let r = ureq::get(&url(&format!("m{i}")))
            .set("authorization", auth)
            .call()
            .unwrap();
        std::io::Read::read_to_end(&mut r.into_reader(), &mut b).unwrap();
    });
    let raw_put_4k = time(&mut |i| {
        ureq::put(&url(&format!("k{i}")))
            .set("authorization", auth)
            .send_bytes(&kib)
            .unwrap();
    });
    println!("| S3 (moto, native) | Anax ms | raw ms | ratio |\n|---|---|---|---|");
    for (name, a, r) in [
        ("put 1 MiB", anax_put_1m, raw_put_1m),
        ("get 1 MiB", anax_get_1m, raw_get_1m),
        ("put 4 KiB", anax_put_4k, raw_put_4k),
    ] {
        println!("| {name} | {a:.2} | {r:.2} | {:.2} |", a / r);
    }
}

#[test]
fn timings_of_memory_and_disk_against_raw_calls() {
    let dir = std::env::temp_dir().join(format!("anax-timing-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let disk = anax::storage::DiskStorage::new(&dir, true).unwrap();
    let mem = anax::storage::MemoryStorage::new();
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let time = |f: &mut dyn FnMut(usize)| {
        median(
            (0..9)
                .map(|i| {
                    let t = Instant::now();
                    f(i);
                    t.elapsed().as_secs_f64() * 1e3
                })
                .collect(),
        )
    };
    let mib = Bytes::from(vec![7u8; 1 << 20]);
    let kib = Bytes::from(vec![7u8; 4 << 10]);
    let raw_dir = dir.join("raw");
    std::fs::create_dir_all(&raw_dir).unwrap();
    println!("| backend | op | Anax ms | raw ms | ratio |\n|---|---|---|---|---|");
    for (label, data) in [("put 1 MiB", &mib), ("put 4 KiB", &kib)] {
        let a = time(&mut |i| {
            block_on(disk.put(&format!("t/{label}-{i}"), data.clone(), PutMode::Overwrite))
                .unwrap();
        });
        // The raw floor of a durable whole-file write: write, fsync, rename, fsync the dir.
        let r = time(&mut |i| {
            let tmp = raw_dir.join(format!("tmp-{i}"));
            let mut f = std::fs::File::create(&tmp).unwrap();
            std::io::Write::write_all(&mut f, data).unwrap();
            f.sync_all().unwrap();
            std::fs::rename(&tmp, raw_dir.join(format!("{label}-{i}"))).unwrap();
            std::fs::File::open(&raw_dir).unwrap().sync_all().unwrap();
        });
        println!("| disk | {label} | {a:.3} | {r:.3} | {:.2} |", a / r);
        let m = time(&mut |i| {
            block_on(mem.put(&format!("t/{label}-{i}"), data.clone(), PutMode::Overwrite)).unwrap();
        });
        let rm = time(&mut |_| {
            std::hint::black_box(data.to_vec());
        });
        println!(
            "| memory | {label} | {m:.4} | {rm:.4} (a copy) | {:.2} |",
            m / rm
        );
    }
    let a = time(&mut |i| {
        block_on(disk.get(&format!("t/put 1 MiB-{i}"))).unwrap();
    });
    let r = time(&mut |i| {
        std::fs::read(raw_dir.join(format!("put 1 MiB-{i}"))).unwrap();
    });
    println!("| disk | get 1 MiB | {a:.3} | {r:.3} | {:.2} |", a / r);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn two_writers_and_a_compactor_share_one_prefix_on_s3() {
    let m = moto();
    let spec = bucket(&m);
    let open = move || -> Arc<dyn Storage> { Arc::new(S3Storage::new(spec.clone()).unwrap()) };
    let t = Instant::now();
    let out = common::shared_prefix::run(&open, 550);
    eprintln!("on moto: {out:?} in {:?}", t.elapsed());
    assert!(out.commits >= 1_000, "{out:?}");
    assert!(out.compactions > 0, "{out:?}");
}
