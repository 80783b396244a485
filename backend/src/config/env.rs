//! Where configuration variables come from ([`Source`]: the process
//! environment, or a map in tests) and the typed reads over them
//! ([`Reader`]): an empty value is unset, and a value that does not parse
//! or breaks its bound is a [`ConfigError`] naming the variable.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::ConfigError;

/// Where variables come from: the process environment, or a map in tests.
pub trait Source {
    fn get(&self, key: &str) -> Option<String>;
}

pub struct ProcessEnv;

impl Source for ProcessEnv {
    fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }
}

impl Source for HashMap<String, String> {
    fn get(&self, key: &str) -> Option<String> {
        HashMap::get(self, key).cloned()
    }
}

/// Reads typed values, treating an empty string as unset.
pub(super) struct Reader<'a>(pub(super) &'a dyn Source);

impl Reader<'_> {
    pub(super) fn raw(&self, key: &str) -> Option<String> {
        self.0
            .get(key)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// The first of several names that is set (new name first, then aliases).
    fn first(&self, keys: &[&str]) -> Option<(String, String)> {
        keys.iter()
            .find_map(|k| self.raw(k).map(|v| ((*k).to_owned(), v)))
    }

    pub(super) fn parse<T: FromStr>(&self, keys: &[&str], default: T) -> Result<T, ConfigError>
    where
        T::Err: fmt::Display,
    {
        match self.first(keys) {
            None => Ok(default),
            Some((key, v)) => v
                .parse()
                .map_err(|e| ConfigError::new(&key, format!("cannot parse {v:?}: {e}"))),
        }
    }

    pub(super) fn bool(&self, key: &str, default: bool) -> Result<bool, ConfigError> {
        match self.raw(key) {
            None => Ok(default),
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Ok(true),
                "0" | "false" | "no" | "off" => Ok(false),
                _ => Err(ConfigError::new(
                    key,
                    format!("expected true or false, got {v:?}"),
                )),
            },
        }
    }

    pub(super) fn positive<T>(&self, keys: &[&str], default: T) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + Default + Copy,
        T::Err: fmt::Display,
    {
        let v = self.parse(keys, default)?;
        if v <= T::default() {
            return Err(ConfigError::new(keys[0], "must be greater than zero"));
        }
        Ok(v)
    }

    /// A positive, finite number of seconds (`nan` and `inf` parse as
    /// floats but make no duration) that fits a `Duration`.
    pub(super) fn secs(&self, keys: &[&str], default: f64) -> Result<Duration, ConfigError> {
        let v: f64 = self.parse(keys, default)?;
        let var = self.first(keys).map_or(keys[0].to_owned(), |(k, _)| k);
        if !v.is_finite() {
            return Err(ConfigError::new(&var, "must be a finite number"));
        }
        if v <= 0.0 {
            return Err(ConfigError::new(&var, "must be greater than zero"));
        }
        Duration::try_from_secs_f64(v)
            .map_err(|_| ConfigError::new(&var, format!("{v} seconds is too large")))
    }

    /// Minutes as a duration; the multiplication by 60 is checked.
    pub(super) fn minutes(&self, key: &str, default: u64) -> Result<Duration, ConfigError> {
        let m: u64 = self.positive(&[key], default)?;
        m.checked_mul(60)
            .map(Duration::from_secs)
            .ok_or_else(|| ConfigError::new(key, format!("{m} minutes is too large")))
    }

    pub(super) fn rate(&self, key: &str, default: f64) -> Result<f64, ConfigError> {
        let v: f64 = self.parse(&[key], default)?;
        if !(0.0..=1.0).contains(&v) {
            return Err(ConfigError::new(key, "must be between 0 and 1"));
        }
        Ok(v)
    }
}
