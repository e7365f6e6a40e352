//! SigV4 against AWS's published vectors: the `aws-sig-v4-test-suite` cases (credentials
//! AKIDEXAMPLE / wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, 2015-08-30T12:36:00Z, us-east-1,
//! service "service", host example.amazonaws.com) and the IAM `ListUsers` example of AWS's
//! "Create a signed AWS API request" page (service "iam"), with its intermediate values.

use super::*;

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn creds() -> AwsCredentials {
    AwsCredentials::new("AKIDEXAMPLE", SECRET, None).unwrap()
}

fn date() -> AmzDate {
    AmzDate::from_unix(1_440_938_160).unwrap()
}

/// The `Authorization` header of a test-suite request.
fn suite(method: &str, query: &[(&str, &str)], extra: &[(&str, &str)], payload: &[u8]) -> String {
    let date = date();
    let mut headers = vec![
        ("Host", "example.amazonaws.com"),
        ("X-Amz-Date", date.as_str()),
    ];
    headers.extend_from_slice(extra);
    let request = SigningRequest {
        method,
        path: "/",
        query,
        headers: &headers,
        payload,
    };
    authorization(&request, &creds(), &date, "us-east-1", "service")
}

fn suite_header(signed_headers: &str, signature: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders={signed_headers}, Signature={signature}"
    )
}

#[test]
fn get_vanilla() {
    assert_eq!(
        suite("GET", &[], &[], b""),
        suite_header(
            "host;x-amz-date",
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        )
    );
}

#[test]
fn get_vanilla_canonical_request() {
    let date = date();
    let request = SigningRequest {
        method: "GET",
        path: "/",
        query: &[],
        headers: &[
            ("Host", "example.amazonaws.com"),
            ("X-Amz-Date", date.as_str()),
        ],
        payload: b"",
    };
    let (canonical, signed) = canonical_request(&request);
    assert_eq!(signed, "host;x-amz-date");
    assert_eq!(
        canonical,
        "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\
         e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        string_to_sign(&canonical, &date, "us-east-1", "service"),
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n\
         bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
    );
}

#[test]
fn post_vanilla() {
    assert_eq!(
        suite("POST", &[], &[], b""),
        suite_header(
            "host;x-amz-date",
            "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
        )
    );
}

#[test]
fn get_vanilla_query_order_key_case() {
    assert_eq!(
        suite(
            "GET",
            &[("Param2", "value2"), ("Param1", "value1")],
            &[],
            b""
        ),
        suite_header(
            "host;x-amz-date",
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
        )
    );
}

#[test]
fn post_x_www_form_urlencoded() {
    assert_eq!(
        suite(
            "POST",
            &[],
            &[("Content-Type", "application/x-www-form-urlencoded")],
            b"Param1=value1"
        ),
        suite_header(
            "content-type;host;x-amz-date",
            "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"
        )
    );
}

#[test]
fn iam_list_users_example_with_its_intermediate_values() {
    let date = date();
    let request = SigningRequest {
        method: "GET",
        path: "/",
        query: &[("Action", "ListUsers"), ("Version", "2010-05-08")],
        headers: &[
            (
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
            ("host", "iam.amazonaws.com"),
            ("x-amz-date", date.as_str()),
        ],
        payload: b"",
    };
    let (canonical, _) = canonical_request(&request);
    assert_eq!(
        sha256_hex(canonical.as_bytes()),
        "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
    );
    assert_eq!(
        hex::encode(signing_key(SECRET, "20150830", "us-east-1", "iam")),
        "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
    );
    assert_eq!(
        authorization(&request, &creds(), &date, "us-east-1", "iam"),
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date, \
         Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
    );
}

#[test]
fn header_values_are_trimmed_and_names_lowercased_and_sorted() {
    let request = SigningRequest {
        method: "POST",
        path: "/",
        query: &[],
        headers: &[("X-B", "  two   words "), ("a", "1"), ("x-b", "again")],
        payload: b"",
    };
    let (canonical, signed) = canonical_request(&request);
    assert_eq!(signed, "a;x-b");
    assert!(canonical.contains("a:1\nx-b:two words,again\n"));
}

#[test]
fn query_is_percent_encoded() {
    assert_eq!(uri_encode("a b/c~d"), "a%20b%2Fc~d");
}

#[test]
fn dates() {
    let d = AmzDate::from_unix(0).unwrap();
    assert_eq!((d.as_str(), d.date()), ("19700101T000000Z", "19700101"));
}
