//! A key's optional release rule in Rego, evaluated with `regorus` after the trust policy has
//! appraised the evidence. It can only narrow what the trust policy allows, never widen it.
//!
//! Convention: `package cloister.release`; a rule `allow` that must be `true`; optionally a set
//! `deny` of strings, each a reason to refuse (it wins over `allow`). `input` is
//!
//! ```json
//! { "key_id": "credit-risk-v1", "platform": "nitro", "claims": { …the normalized claims… } }
//! ```
//!
//! ```
//! use cloister_custodian::rego::{ReleaseRego, RegoDecision};
//! let rego = ReleaseRego::compile(r#"
//!     package cloister.release
//!     default allow := false
//!     allow if input.platform == "nitro"
//!     deny contains "debug enclaves get no keys" if input.claims.debug
//! "#)?;
//! let input = serde_json::json!({"key_id": "k", "platform": "nitro", "claims": {"debug": true}});
//! assert_eq!(rego.evaluate(&input)?, RegoDecision::Deny { reasons: vec!["debug enclaves get no keys".into()] });
//! # Ok::<(), cloister_custodian::rego::RegoError>(())
//! ```

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use regorus::utils::limits::ExecutionTimerConfig;

/// The package every release rule declares.
pub const PACKAGE: &str = "data.cloister.release";
/// The rule that must be `true`.
pub const ALLOW_RULE: &str = "data.cloister.release.allow";
/// The optional set of reasons to refuse.
pub const DENY_RULE: &str = "data.cloister.release.deny";
/// Largest Rego source accepted.
pub const MAX_SOURCE_LEN: usize = 64 * 1024;
/// Longest an evaluation may run: a release rule compares a few strings; anything slower is a
/// mistake or an attack on the custodian's CPU.
pub const EVAL_TIME_LIMIT: Duration = Duration::from_millis(250);
/// Longest `deny` reason carried into a denial (longer ones are cut).
pub const MAX_REASON_LEN: usize = 256;

/// The name under which the source is loaded (appears in regorus's messages).
const SOURCE_NAME: &str = "release.rego";

/// A compiled release rule.
#[derive(Clone)]
pub struct ReleaseRego {
    source: Arc<str>,
    engine: regorus::Engine,
    has_deny: bool,
}

/// What a release rule decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegoDecision {
    /// `allow` is true and `deny` is empty.
    Allow,
    /// `deny` named reasons (sorted, as Rego sets are).
    Deny {
        /// The reasons.
        reasons: Vec<String>,
    },
    /// `allow` is not `true` (false or undefined) and `deny` is empty.
    NotAllowed,
}

impl ReleaseRego {
    /// Parses `source` and checks the convention: package `cloister.release` with an `allow`
    /// rule. Nothing is evaluated.
    ///
    /// # Errors
    /// `custodian.rego.too_large`, `custodian.rego.compile`, `custodian.rego.wrong_package` or
    /// `custodian.rego.no_allow_rule`.
    pub fn compile(source: &str) -> Result<Self, RegoError> {
        if source.len() > MAX_SOURCE_LEN {
            return Err(RegoError::TooLarge {
                len: source.len(),
                max: MAX_SOURCE_LEN,
            });
        }
        let mut engine = regorus::Engine::new();
        engine.set_execution_timer_config(ExecutionTimerConfig {
            limit: EVAL_TIME_LIMIT,
            check_interval: NonZeroU32::MIN,
        });
        let package = engine
            .add_policy(SOURCE_NAME.to_owned(), source.to_owned())
            .map_err(|e| RegoError::Compile {
                detail: e.to_string(),
            })?;
        if package != PACKAGE {
            return Err(RegoError::WrongPackage { found: package });
        }
        let declared = |rule: &str| {
            engine
                .has_declared_rule_rooted_at(SOURCE_NAME, rule)
                .map_err(|e| RegoError::Compile {
                    detail: e.to_string(),
                })
        };
        if !declared("allow")? {
            return Err(RegoError::NoAllowRule);
        }
        let has_deny = declared("deny")?;
        Ok(Self {
            source: source.into(),
            engine,
            has_deny,
        })
    }

    /// The source as registered.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates `deny`, then `allow`, over `input`.
    ///
    /// # Errors
    /// `custodian.rego.eval` when evaluation fails (a runtime error, the time limit, a `deny`
    /// that is not a set of strings): the caller must refuse the release.
    pub fn evaluate(&self, input: &serde_json::Value) -> Result<RegoDecision, RegoError> {
        let eval_err = |e: regorus::Value, what: &str| RegoError::Eval {
            detail: format!("{what} is {e}"),
        };
        // Each evaluation gets its own engine: the compiled modules are shared (Arc).
        let mut engine = self.engine.clone();
        engine.set_input(regorus::Value::from(input.clone()));
        if self.has_deny {
            let deny = engine
                .eval_rule(DENY_RULE.to_owned())
                .map_err(|e| RegoError::Eval {
                    detail: e.to_string(),
                })?;
            match &deny {
                regorus::Value::Undefined => {}
                regorus::Value::Set(set) => {
                    let mut reasons = Vec::with_capacity(set.len());
                    for reason in set.iter() {
                        let text = reason
                            .as_string()
                            .map_err(|_| eval_err(reason.clone(), "a deny reason"))?;
                        reasons.push(text.chars().take(MAX_REASON_LEN).collect::<String>());
                    }
                    if !reasons.is_empty() {
                        return Ok(RegoDecision::Deny { reasons });
                    }
                }
                other => return Err(eval_err(other.clone(), "deny")),
            }
        }
        let allow = engine
            .eval_rule(ALLOW_RULE.to_owned())
            .map_err(|e| RegoError::Eval {
                detail: e.to_string(),
            })?;
        Ok(if allow == regorus::Value::Bool(true) {
            RegoDecision::Allow
        } else {
            RegoDecision::NotAllowed
        })
    }
}

impl std::fmt::Debug for ReleaseRego {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReleaseRego")
            .field("source_len", &self.source.len())
            .field("has_deny", &self.has_deny)
            .finish_non_exhaustive()
    }
}

/// Why a release rule did not load or could not be evaluated.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegoError {
    /// The source is larger than [`MAX_SOURCE_LEN`].
    #[error("Rego source of {len} bytes exceeds {max}")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The source does not parse.
    #[error("Rego does not compile: {detail}")]
    Compile {
        /// regorus's message (names a line and column of the source).
        detail: String,
    },
    /// The source declares another package.
    #[error("Rego package is {found}, must be {PACKAGE}")]
    WrongPackage {
        /// The package declared.
        found: String,
    },
    /// The source has no `allow` rule.
    #[error("Rego declares no `allow` rule in {PACKAGE}")]
    NoAllowRule,
    /// Evaluation failed.
    #[error("Rego evaluation failed: {detail}")]
    Eval {
        /// regorus's message.
        detail: String,
    },
}

impl RegoError {
    /// A stable dotted code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "custodian.rego.too_large",
            Self::Compile { .. } => "custodian.rego.compile",
            Self::WrongPackage { .. } => "custodian.rego.wrong_package",
            Self::NoAllowRule => "custodian.rego.no_allow_rule",
            Self::Eval { .. } => "custodian.rego.eval",
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "keep the release rule small: pin values, don't embed data",
            Self::Compile { .. } => "fix the Rego at the line and column named (Rego v1 syntax)",
            Self::WrongPackage { .. } => "start the rule with `package cloister.release`",
            Self::NoAllowRule => "declare `default allow := false` and `allow if { … }`",
            Self::Eval { .. } => {
                "the key's release rule fails at run time: test it against sample claims and fix it"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_convention_is_checked_at_compile_time() {
        let code = |src: &str| ReleaseRego::compile(src).expect_err("refused").code();
        assert_eq!(
            code("package cloister.release\nallow if {"),
            "custodian.rego.compile"
        );
        assert_eq!(
            code("package other\nallow := true"),
            "custodian.rego.wrong_package"
        );
        assert_eq!(
            code("package cloister.release\nx := true"),
            "custodian.rego.no_allow_rule"
        );
        assert_eq!(
            code(&format!(
                "package cloister.release\n#{}",
                "x".repeat(MAX_SOURCE_LEN)
            )),
            "custodian.rego.too_large"
        );
    }

    #[test]
    fn deny_wins_and_undefined_allow_refuses() {
        let rego = ReleaseRego::compile(
            r#"package cloister.release
            allow if input.key_id == "k"
            deny contains "b: no" if input.b
            deny contains "a: no" if input.a"#,
        )
        .expect("compiles");
        let eval = |v| rego.evaluate(&v).expect("evaluates");
        assert_eq!(eval(json!({"key_id": "k"})), RegoDecision::Allow);
        assert_eq!(eval(json!({"key_id": "other"})), RegoDecision::NotAllowed);
        assert_eq!(
            eval(json!({"key_id": "k", "a": true, "b": true})),
            RegoDecision::Deny {
                reasons: vec!["a: no".into(), "b: no".into()]
            }
        );
    }

    #[test]
    fn a_deny_that_is_not_a_set_of_strings_fails_closed() {
        let rego = ReleaseRego::compile(
            "package cloister.release\nallow := true\ndeny contains 7 if input.x",
        )
        .expect("compiles");
        assert_eq!(
            rego.evaluate(&json!({"x": true})).expect_err("7").code(),
            "custodian.rego.eval"
        );
    }
}
