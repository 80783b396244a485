//! Input files: the users fixture (`{"users":[{"username","password"}]}`,
//! the original's shape) and the prompt corpus (one prompt per line).

use std::path::Path;

/// The built-in prompt corpus (`loadgen/defaults/prompts.txt`, the same
/// text as `load-tests/prompts.txt`), used when the default file is not
/// found from the working directory.
pub const BUILTIN_PROMPTS: &str = include_str!("../defaults/prompts.txt");

/// Default users file.
pub const DEFAULT_USERS_FILE: &str = "load-tests/users.json";

/// Default prompt corpus.
pub const DEFAULT_PROMPTS_FILE: &str = "load-tests/prompts.txt";

/// One account. The password is never printed.
#[derive(Clone, serde::Deserialize)]
pub struct User {
    /// User name (or e-mail) sent to login.
    pub username: String,
    /// Password sent to login.
    pub password: String,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

#[derive(serde::Deserialize)]
struct UsersFile {
    users: Vec<User>,
}

/// Reads the users file; at least one user is required.
pub fn load_users(path: &Path) -> Result<Vec<User>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "cannot read the users file {}: {e} (seed it first, or pass --users-file)",
            path.display()
        )
    })?;
    let file: UsersFile = serde_json::from_str(&text).map_err(|e| {
        format!(
            "users file {} is not {{\"users\":[{{\"username\",\"password\"}},...]}}: {e}",
            path.display()
        )
    })?;
    if file.users.is_empty() {
        return Err(format!("users file {} has no users", path.display()));
    }
    Ok(file.users)
}

/// Parses a corpus: one prompt per non-empty line; `#` starts a comment line.
pub fn parse_prompts(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

/// Reads the prompt corpus. `explicit` is a path the user gave; without one
/// the default file is read when present, else the built-in copy of it.
pub fn load_prompts(explicit: Option<&Path>) -> Result<Vec<String>, String> {
    let text = match explicit {
        Some(p) => std::fs::read_to_string(p)
            .map_err(|e| format!("cannot read the prompts file {}: {e}", p.display()))?,
        None => std::fs::read_to_string(DEFAULT_PROMPTS_FILE)
            .unwrap_or_else(|_| BUILTIN_PROMPTS.to_string()),
    };
    let prompts = parse_prompts(&text);
    if prompts.is_empty() {
        return Err("the prompts corpus has no prompt".into());
    }
    Ok(prompts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_corpus_has_about_fifty_distinct_prompts() {
        let prompts = parse_prompts(BUILTIN_PROMPTS);
        assert!(prompts.len() >= 45, "{}", prompts.len());
        let mut unique = prompts.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), prompts.len());
    }

    #[test]
    fn passwords_never_appear_in_debug_output() {
        let u = User {
            username: "alice".into(),
            password: "s3cret".into(),
        };
        assert!(!format!("{u:?}").contains("s3cret"));
    }
}
