//! Counting what a run did, and saying it; and how a run that stopped short
//! ends: `Failure` picks the exit code from the error's type, never from its
//! words.

use std::fmt;
use std::process::ExitCode;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// API mode only: present with another password, which the API cannot change.
    pub stale: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
    Stale,
}

impl Report {
    pub fn add(&mut self, o: Outcome) {
        match o {
            Outcome::Created => self.created += 1,
            Outcome::Updated => self.updated += 1,
            Outcome::Unchanged => self.unchanged += 1,
            Outcome::Stale => self.stale += 1,
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} created, {} updated, {} unchanged",
            self.created, self.updated, self.unchanged
        )?;
        if self.stale > 0 {
            write!(f, ", {} with a different password", self.stale)?;
        }
        if self.created + self.updated == 0 && self.stale == 0 {
            write!(f, " (nothing to do: already seeded)")?;
        }
        Ok(())
    }
}

/// The guards' refusal of a target that is not a test environment.
#[derive(Debug, thiserror::Error)]
#[error("refusing to seed {target}: {why}")]
pub struct Refused {
    /// What was refused: the API's base URL, or `database "name"`.
    pub target: String,
    /// Why, and how to override it.
    pub why: String,
}

/// Why a run failed; each variant has its documented exit code.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Bad arguments, users file, corpus or hashing settings (exit 2).
    #[error("{0:#}")]
    BadInput(anyhow::Error),
    /// The target is not a test environment (exit 3); the error carries a
    /// `Refused` somewhere in its chain.
    #[error("{0:#}")]
    Refused(anyhow::Error),
    /// API mode found users whose password differs (exit 4).
    #[error(
        "{0} users exist with another password; the API cannot change passwords, \
         seed in database mode (DATABASE_URL) to apply them"
    )]
    Stale(usize),
    /// Anything else (exit 1).
    #[error("{0:#}")]
    Failed(anyhow::Error),
}

impl Failure {
    pub fn usage(message: &'static str) -> Self {
        Failure::BadInput(anyhow::Error::msg(message))
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Failure::Failed(_) => 1,
            Failure::BadInput(_) => 2,
            Failure::Refused(_) => 3,
            Failure::Stale(_) => 4,
        })
    }
}

/// A seeding run's error: a refusal if a guard refused, whatever context
/// was added on the way up; a plain failure otherwise.
impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        if e.downcast_ref::<Refused>().is_some() {
            Failure::Refused(e)
        } else {
            Failure::Failed(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_told_by_its_type_even_under_context() {
        let refused = anyhow::Error::from(Refused {
            target: "database \"prod\"".into(),
            why: "not a test database".into(),
        })
        .context("seeding");
        let f = Failure::from(refused);
        assert!(matches!(f, Failure::Refused(_)));
        assert_eq!(f.exit_code(), ExitCode::from(3));
        assert_eq!(
            f.to_string(),
            "seeding: refusing to seed database \"prod\": not a test database"
        );
        // The same words without the type are an ordinary failure.
        let words = anyhow::anyhow!("refusing to seed database \"prod\": not a test database");
        assert_eq!(Failure::from(words).exit_code(), ExitCode::FAILURE);
    }
}
