//! Configuration parsing: defaults, bad values naming their variable, the
//! original's names, and `.env.example` listing every variable.

use std::collections::HashMap;

use super::*;

fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Config::from_source(&map)
}

#[test]
fn test_environment_accepts_the_default_secret() {
    let c = config(&[("APP_ENV", "test")]).unwrap();
    assert!(c.is_test());
    assert!(!c.rate_limits.enabled, "rate limits are off in test");
    assert_eq!(c.argon2, Argon2Params::default());
}

#[test]
fn production_refuses_default_or_short_secret() {
    for secret in [None, Some("short"), Some(DEFAULT_SECRET_KEY)] {
        let mut pairs = vec![("APP_ENV", "production")];
        if let Some(s) = secret {
            pairs.push(("SECRET_KEY", s));
        }
        let err = config(&pairs).unwrap_err();
        assert_eq!(err.var, "SECRET_KEY", "{secret:?}");
    }
    let ok = config(&[
        ("APP_ENV", "production"),
        ("SECRET_KEY", "0123456789abcdef0123456789abcdef"),
    ])
    .unwrap();
    assert!(ok.rate_limits.enabled, "rate limits are on outside test");
}

#[test]
fn bad_values_name_their_variable() {
    let cases = [
        ("SQLALCHEMY_POOL_SIZE", "lots"),
        ("DB_POOL_SIZE", "0"),
        ("MOCK_LLM_ERROR_RATE", "1.5"),
        ("MOCK_LLM_JITTER", "-0.5"),
        ("MOCK_LLM_TOKENS", "0"),
        ("MOCK_LLM_TTFT_MS", "fast"),
        ("BIND_ADDR", "localhost"),
        ("CSRF_ENFORCE", "maybe"),
        ("LLM_PROVIDER", "skynet"),
        ("TRUSTED_PROXIES", "10.0.0.1,nope"),
        ("AUTH_COOKIE_SAMESITE", "sideways"),
    ];
    for (var, value) in cases {
        let err = config(&[("APP_ENV", "test"), (var, value)]).unwrap_err();
        assert_eq!(err.var, var, "{var}={value}: {err}");
    }
}

#[test]
fn env_example_lists_every_variable_read_here() {
    // Every file of this module that names a variable.
    let sources = [
        include_str!("mod.rs"),
        include_str!("env.rs"),
        include_str!("provider_deadline.rs"),
    ];
    let example = include_str!("../../../.env.example");
    let mut names: Vec<&str> = sources
        .iter()
        .flat_map(|source| source.split('"').skip(1).step_by(2))
        .filter(|s| {
            s.len() > 3
                && s.contains('_')
                && s.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .collect();
    // The mock model's variables are defined in its crate; ask it for them.
    let model_vars = mock_llm::mockmodel::ModelArgs::var_names();
    assert!(model_vars.len() >= 7, "{model_vars:?}");
    names.extend(model_vars.iter().map(String::as_str));
    names.sort_unstable();
    names.dedup();
    assert!(names.len() > 40, "{names:?}");
    let missing: Vec<&str> = names
        .into_iter()
        .filter(|n| *n != "CARGO_PKG_VERSION" && !example.contains(n))
        .collect();
    assert!(missing.is_empty(), ".env.example lacks {missing:?}");
}

#[test]
fn original_names_are_honoured() {
    let c = config(&[
        ("APP_ENV", "test"),
        ("SQLALCHEMY_POOL_SIZE", "7"),
        ("POSTGRES_USER", "u"),
        ("POSTGRES_PASSWORD", "p"),
        ("POSTGRES_HOST", "db"),
        ("POSTGRES_DB", "chatbot_test"),
    ])
    .unwrap();
    assert_eq!(c.db_pool_size, 7);
    assert_eq!(
        c.database_url.expose(),
        "postgres://u:p@db:5432/chatbot_test"
    );
}

#[test]
fn mock_model_variables_come_from_the_source_and_empty_is_unset() {
    let c = config(&[
        ("APP_ENV", "test"),
        ("MOCK_LLM_TTFT_MS", "7"),
        ("MOCK_LLM_JITTER", ""),
    ])
    .unwrap();
    assert_eq!(c.mock_llm.ttft, Duration::from_millis(7));
    assert_eq!(c.mock_llm.jitter, 0.2);
    let e = config(&[("APP_ENV", "test"), ("MOCK_LLM_JITTER", "2")]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "configuration error: MOCK_LLM_JITTER: invalid value \"2\": must be between 0 and 1"
    );
}

/// `nan` and `inf` parse as floats; a duration or a ratio made of them
/// would panic at start-up (`Duration::from_secs_f64`) or disable a check.
#[test]
fn non_finite_floats_are_refused_naming_their_variable() {
    let vars = [
        "PROVIDER_TIMEOUT_SECONDS",
        "REQUEST_TIMEOUT_SECONDS",
        "PROVIDER_RETRY_AFTER_CAP_SECONDS",
        "PROVIDER_CB_OPEN_SECONDS",
        "SHUTDOWN_DRAIN_SECONDS",
        "PROVIDER_CB_FAILURE_RATIO",
        "MOCK_LLM_ERROR_RATE",
        "MOCK_LLM_JITTER",
    ];
    for var in vars {
        for value in ["nan", "NaN", "inf", "-inf", "infinity", "1e999"] {
            let got = std::panic::catch_unwind(|| config(&[("APP_ENV", "test"), (var, value)]));
            let err = match got {
                Ok(Ok(_)) => panic!("{var}={value} was accepted"),
                Ok(Err(e)) => e,
                Err(_) => panic!("{var}={value} panicked"),
            };
            assert_eq!(err.var, var, "{var}={value}: {err}");
        }
    }
}

/// Minutes become seconds by multiplication and float seconds become a
/// `Duration`: a value too large for either is refused naming its variable,
/// never wrapped or panicking.
#[test]
fn durations_that_overflow_are_refused_naming_their_variable() {
    let huge = u64::MAX.to_string();
    let cases = [
        ("ACCESS_TOKEN_EXPIRE_MINUTES", huge.as_str()),
        ("ACCESS_TOKEN_EXPIRE_MINUTES", "307445734561825861"),
        ("PROVIDER_TIMEOUT_SECONDS", "1e300"),
        ("REQUEST_TIMEOUT_SECONDS", "1e300"),
        ("PROVIDER_CB_OPEN_SECONDS", "1e300"),
        ("PROVIDER_RETRY_AFTER_CAP_SECONDS", "1e300"),
        ("SHUTDOWN_DRAIN_SECONDS", "1e300"),
    ];
    for (var, value) in cases {
        let got = std::panic::catch_unwind(|| config(&[("APP_ENV", "test"), (var, value)]));
        let err = match got {
            Ok(Ok(_)) => panic!("{var}={value} was accepted"),
            Ok(Err(e)) => e,
            Err(_) => panic!("{var}={value} panicked"),
        };
        assert_eq!(err.var, var, "{var}={value}: {err}");
        assert!(err.message.contains("too large"), "{var}={value}: {err}");
    }
    let c = config(&[("APP_ENV", "test"), ("ACCESS_TOKEN_EXPIRE_MINUTES", "1440")]).unwrap();
    assert_eq!(c.access_token_ttl, Duration::from_secs(86_400));
}

#[test]
fn the_provider_deadline_ends_before_the_request_timeout() {
    let c = config(&[("APP_ENV", "test")]).unwrap();
    assert_eq!(c.request_timeout, Duration::from_secs(120));
    assert_eq!(c.provider_deadline, Duration::from_secs(115));
    let c = config(&[
        ("APP_ENV", "test"),
        ("REQUEST_TIMEOUT_SECONDS", "3"),
        ("PROVIDER_TIMEOUT_SECONDS", "1"),
    ])
    .unwrap();
    assert_eq!(c.provider_deadline, Duration::from_millis(2700));
    let c = config(&[
        ("APP_ENV", "test"),
        ("PROVIDER_TIMEOUT_SECONDS", "1"),
        ("PROVIDER_DEADLINE_SECONDS", "1.5"),
    ])
    .unwrap();
    assert_eq!(c.provider_deadline, Duration::from_millis(1500));

    // A deadline that does not end before the request timeout is refused.
    let err = config(&[("APP_ENV", "test"), ("PROVIDER_DEADLINE_SECONDS", "120")]).unwrap_err();
    assert_eq!(err.var, "PROVIDER_DEADLINE_SECONDS");
    assert!(err.to_string().contains("REQUEST_TIMEOUT_SECONDS"), "{err}");
    // So is one attempt that cannot fit in the deadline.
    let err = config(&[
        ("APP_ENV", "test"),
        ("REQUEST_TIMEOUT_SECONDS", "30"),
        ("PROVIDER_TIMEOUT_SECONDS", "60"),
    ])
    .unwrap_err();
    assert_eq!(err.var, "PROVIDER_TIMEOUT_SECONDS");
    assert!(err.to_string().contains("REQUEST_TIMEOUT_SECONDS"), "{err}");
    for bad in ["0", "-1", "soon", "nan"] {
        let err = config(&[("APP_ENV", "test"), ("PROVIDER_DEADLINE_SECONDS", bad)]).unwrap_err();
        assert_eq!(err.var, "PROVIDER_DEADLINE_SECONDS", "{bad}");
    }
}

#[test]
fn the_hash_queue_is_bounded_per_hashing_thread_by_default() {
    let c = config(&[("APP_ENV", "test"), ("HASH_CONCURRENCY", "3")]).unwrap();
    assert_eq!(c.hash_queue_max, 96);
    let c = config(&[("APP_ENV", "test"), ("HASH_QUEUE_MAX", "5")]).unwrap();
    assert_eq!(c.hash_queue_max, 5);
    for bad in ["0", "-1", "many"] {
        let err = config(&[("APP_ENV", "test"), ("HASH_QUEUE_MAX", bad)]).unwrap_err();
        assert_eq!(err.var, "HASH_QUEUE_MAX", "{bad}");
    }
}

#[test]
fn the_drain_deadline_defaults_inside_a_pods_grace_and_must_be_positive() {
    let c = config(&[("APP_ENV", "test")]).unwrap();
    assert_eq!(c.shutdown_drain, Duration::from_secs(25));
    assert!(c.shutdown_drain < Duration::from_secs(30));
    let c = config(&[("APP_ENV", "test"), ("SHUTDOWN_DRAIN_SECONDS", "2.5")]).unwrap();
    assert_eq!(c.shutdown_drain, Duration::from_millis(2500));
    for bad in ["0", "-1", "soon"] {
        let err = config(&[("APP_ENV", "test"), ("SHUTDOWN_DRAIN_SECONDS", bad)]).unwrap_err();
        assert_eq!(err.var, "SHUTDOWN_DRAIN_SECONDS", "{bad}: {err}");
    }
}
