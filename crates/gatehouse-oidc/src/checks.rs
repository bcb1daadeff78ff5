//! Named checks: every validation step reports `Check { name, outcome }`.

use serde::Serialize;

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "message", rename_all = "lowercase")]
pub enum Outcome {
    /// It held.
    Ok,
    /// It did not hold; why.
    Failed(String),
    /// Worth knowing, not fatal.
    Warning(String),
    /// Not applicable; why.
    Skipped(String),
}

/// One named check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked: `iss`, `aud`, `signature`, `discovery`, ...
    pub name: &'static str,
    /// How it went.
    #[serde(flatten)]
    pub outcome: Outcome,
}

impl Check {
    /// A passed check.
    pub fn ok(name: &'static str) -> Self {
        Self {
            name,
            outcome: Outcome::Ok,
        }
    }

    /// A failed check.
    pub fn failed(name: &'static str, why: impl Into<String>) -> Self {
        Self {
            name,
            outcome: Outcome::Failed(why.into()),
        }
    }

    /// A warning.
    pub fn warning(name: &'static str, why: impl Into<String>) -> Self {
        Self {
            name,
            outcome: Outcome::Warning(why.into()),
        }
    }

    /// A skipped check.
    pub fn skipped(name: &'static str, why: impl Into<String>) -> Self {
        Self {
            name,
            outcome: Outcome::Skipped(why.into()),
        }
    }

    /// Whether it failed.
    pub fn is_failed(&self) -> bool {
        matches!(self.outcome, Outcome::Failed(_))
    }
}

/// The first failed check of a list, if any.
pub fn first_failure(checks: &[Check]) -> Option<&Check> {
    checks.iter().find(|c| c.is_failed())
}
