//! Field rules for registration, reported together as one 422.

use crate::error::FieldError;

pub const PASSWORD_MIN: usize = 8;
/// Argon2 accepts any length, but hashing megabytes per request is a cheap
/// denial of service; 128 characters is plenty for a passphrase.
pub const PASSWORD_MAX: usize = 128;

pub fn username(u: &str, errors: &mut Vec<FieldError>) {
    let n = u.chars().count();
    if !(3..=50).contains(&n) {
        errors.push(FieldError::body(
            "username",
            "Username must be 3 to 50 characters",
            "string_length",
        ));
    } else if !u
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        errors.push(FieldError::body(
            "username",
            "Username may contain only letters, digits, '_', '-' and '.'",
            "string_pattern_mismatch",
        ));
    }
}

pub fn email(e: &str, errors: &mut Vec<FieldError>) {
    let valid = e.len() <= 254
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        })
        && !e.chars().any(char::is_whitespace);
    if !valid {
        errors.push(FieldError::body(
            "email",
            "Value is not a valid email address",
            "value_error",
        ));
    }
}

pub fn password(p: &str, errors: &mut Vec<FieldError>) {
    let n = p.chars().count();
    if !(PASSWORD_MIN..=PASSWORD_MAX).contains(&n) {
        errors.push(FieldError::body(
            "password",
            format!("Password must be {PASSWORD_MIN} to {PASSWORD_MAX} characters"),
            "string_length",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for ok in ["a@b.co", "first.last+tag@example.org"] {
            let mut e = vec![];
            email(ok, &mut e);
            assert!(e.is_empty(), "{ok}");
        }
        for bad in [
            "", "a", "a@", "@b.co", "a@b", "a b@c.de", "a@b@c.de", "a@.co",
        ] {
            let mut e = vec![];
            email(bad, &mut e);
            assert_eq!(e.len(), 1, "{bad}");
        }
    }
}
