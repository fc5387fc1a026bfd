use super::put::base64;
use super::xml::{xml_tags, xml_unescape};
use super::{AwsCreds, S3Spec, S3Storage};

#[test]
fn xml_and_base64_helpers() {
    let body = "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a&amp;b</Key>\
                <Size>3</Size><ETag>&quot;x&quot;</ETag></Contents></ListBucketResult>";
    let items = xml_tags(body, "Contents");
    assert_eq!(items.len(), 1);
    assert_eq!(xml_tags(&items[0], "Key"), ["a&b"]);
    assert_eq!(xml_tags(&items[0], "ETag"), ["\"x\""]);
    assert_eq!(xml_unescape("&#65;&#x42;&bogus;"), "AB&bogus;");
    assert_eq!(base64(b"hello"), "aGVsbG8=");
    assert_eq!(base64(&[0, 0, 0, 0]), "AAAAAA==");
}

#[test]
fn specs_are_validated_and_secrets_never_print() {
    let creds = AwsCreds {
        access_key: "AKIDSECRETID".into(),
        secret_key: "TOPSECRET".into(),
        session_token: Some("TOKEN".into()),
    };
    let debug = format!("{:?}", S3Spec::new("b", creds.clone()));
    assert!(
        !debug.contains("TOPSECRET") && !debug.contains("AKIDSECRETID") && !debug.contains("TOKEN")
    );
    // Names that would move the request to another host are refused.
    for bucket in [
        "x.attacker.example#",
        "x@evil",
        "a/b",
        "a?b",
        "a b",
        "-a",
        "a.",
        "",
        "caf\u{e9}",
    ] {
        let err = S3Storage::new(S3Spec::new(bucket, creds.clone())).unwrap_err();
        assert_eq!(
            err.code(),
            crate::error::ErrorCode::InvalidArgument,
            "{bucket:?}"
        );
    }
    for ok in [
        "my-bucket",
        "a",
        "logs.2026",
        "Legacy_Bucket1",
        "b--use1-az4--x-s3",
    ] {
        assert!(
            S3Storage::new(S3Spec::new(ok, creds.clone())).is_ok(),
            "{ok}"
        );
    }
    for endpoint in [
        "http://user@evil.example",
        "http://evil.example#@good",
        "http://h:99999999",
        "http://h:",
        "http://[::1",
        "http://h/x",
        "https://good?x=evil.example",
    ] {
        let mut s = S3Spec::new("b", creds.clone());
        s.endpoint = Some(endpoint.into());
        let err = S3Storage::new(s).unwrap_err();
        assert_eq!(
            err.code(),
            crate::error::ErrorCode::InvalidArgument,
            "{endpoint}"
        );
    }
    for endpoint in [
        "http://127.0.0.1:9000",
        "https://r2.example.com/",
        "http://[::1]:5000",
    ] {
        let mut s = S3Spec::new("b", creds.clone());
        s.endpoint = Some(endpoint.into());
        assert!(S3Storage::new(s).is_ok(), "{endpoint}");
    }
    let mut s = S3Spec::new("b", creds.clone());
    s.region = "us-east-1.evil.example/#".into();
    assert!(S3Storage::new(s).is_err());
    let mut bad = S3Spec::new("b", creds.clone());
    bad.endpoint = Some("127.0.0.1:9000".into());
    assert_eq!(
        S3Storage::new(bad).unwrap_err().code(),
        crate::error::ErrorCode::InvalidArgument
    );
    assert!(S3Storage::new(S3Spec::new("", creds.clone())).is_err());
    assert!(S3Storage::new(S3Spec::new("b", AwsCreds::default())).is_err());
    let s = S3Storage::new(S3Spec::new("b", creds)).unwrap();
    assert_eq!(s.origin, "https://b.s3.us-east-1.amazonaws.com");
}

#[test]
fn a_refused_request_carries_the_status_and_s3s_own_code() {
    let creds = AwsCreds {
        access_key: "AKID".into(),
        secret_key: "SECRET".into(),
        session_token: None,
    };
    let s3 = S3Storage::new(S3Spec::new("b", creds)).unwrap();
    let answer = |status: u16, code: &str| super::http::HttpResponse {
        status,
        headers: Vec::new(),
        body: bytes::Bytes::from(format!(
            "<Error><Code>{code}</Code><Message>no</Message></Error>"
        )),
    };
    for (status, code, retryable) in [
        (403, "AccessDenied", false),
        (503, "SlowDown", true),
        (400, "InvalidBucketName", false),
        (501, "NotImplemented", true),
    ] {
        let err = s3.fail("GET", "k", &answer(status, code));
        let s = err.storage_details().unwrap();
        assert_eq!(s.status, Some(status));
        assert_eq!(s.code.as_deref(), Some(code));
        assert_eq!(s.retryable, retryable, "{code}");
    }
    // A refusal without a body has no code rather than an empty one.
    let bare = super::http::HttpResponse {
        status: 403,
        headers: Vec::new(),
        body: bytes::Bytes::new(),
    };
    let err = s3.fail("GET", "k", &bare);
    assert_eq!(err.storage_details().unwrap().code, None);
}
