//! `docs/claims.md` documents every field of the claims JSON: each key that real evidence
//! serializes must appear there in backticks, so the page cannot fall behind the types.

use std::sync::OnceLock;

fn doc() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/claims.md");
        std::fs::read_to_string(path).expect("docs/claims.md")
    })
}

/// Panics naming the first key of `claims` (serialized `Claims`) that docs/claims.md omits.
pub(crate) fn assert_documented(claims: &serde_json::Value) {
    fn walk(v: &serde_json::Value, doc: &str, path: &str) {
        let serde_json::Value::Object(map) = v else {
            return;
        };
        for (key, value) in map {
            // PCR indices are data, not field names.
            if key.parse::<u16>().is_ok() {
                continue;
            }
            assert!(
                doc.contains(&format!("`{key}`")) || doc.contains(&format!("\"{key}\"")),
                "docs/claims.md does not document `{path}{key}`"
            );
            walk(value, doc, &format!("{path}{key}."));
        }
    }
    walk(claims, doc(), "");
}
