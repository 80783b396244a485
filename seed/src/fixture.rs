//! The users fixture: `{"users": [{"username", "password"}, ...]}`, the
//! original system's shape, shared with the load generator and k6 scripts.

use std::collections::HashSet;
use std::path::Path;

use anyhow::{bail, Context as _};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct FixtureUser {
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Deserialize)]
struct Fixture {
    users: Vec<FixtureUser>,
}

/// Reads and checks the fixture: at least one user, no blank or duplicate
/// usernames, passwords the backend would accept (8 to 128 characters).
pub fn load(path: &Path) -> anyhow::Result<Vec<FixtureUser>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading users file {}", path.display()))?;
    let fixture: Fixture = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a users file: expected {{\"users\": [{{\"username\", \"password\"}}, ...]}}",
            path.display()
        )
    })?;
    if fixture.users.is_empty() {
        bail!("{} lists no users", path.display());
    }
    let mut seen = HashSet::new();
    for (i, u) in fixture.users.iter().enumerate() {
        if u.username.trim().is_empty() {
            bail!(
                "user #{} in {} has an empty username",
                i + 1,
                path.display()
            );
        }
        if !seen.insert(u.username.as_str()) {
            bail!(
                "username {:?} appears twice in {}",
                u.username,
                path.display()
            );
        }
        let n = u.password.chars().count();
        if !(8..=128).contains(&n) {
            bail!(
                "user {:?}: password must be 8 to 128 characters (the backend refuses others)",
                u.username
            );
        }
    }
    Ok(fixture.users)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_fixture_has_enough_distinct_accounts() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../load-tests/users.json");
        let users = load(&path).unwrap();
        assert!(users.len() >= 200, "{}", users.len());
    }

    #[test]
    fn duplicates_and_short_passwords_are_refused() {
        let dir = std::env::temp_dir().join(format!("seed-fixture-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, body) in [
            (
                "dup",
                r#"{"users":[{"username":"a1","password":"password1"},{"username":"a1","password":"password2"}]}"#,
            ),
            (
                "short",
                r#"{"users":[{"username":"a1","password":"short"}]}"#,
            ),
            ("empty", r#"{"users":[]}"#),
            ("shape", r#"[{"username":"a1","password":"password1"}]"#),
        ] {
            let p = dir.join(name);
            std::fs::write(&p, body).unwrap();
            assert!(load(&p).is_err(), "{name}");
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
