//! Named deployment profiles (`MOCK_LLM_PROFILE`, `mock-llm --profile`):
//! calibrated values for the model's variables, so a rehearsal can say
//! "an 8B model on one H100" instead of nine numbers.
//!
//! A profile is a layer between the variables and the defaults: a flag wins
//! over its variable, a variable over the profile, the profile over the
//! default. It is written as the variables it sets, so it is validated by
//! the same parsers (a test parses every profile) and `--list-profiles`
//! prints exactly what a user would type to reproduce it.

use clap::{ArgMatches, Command};

use crate::layered::{self, Failure};

/// One profile: its name, what it stands for, and the variables it sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    pub name: &'static str,
    pub about: &'static str,
    pub values: &'static [(&'static str, &'static str)],
}

/// The profiles, by name. Sources of the figures are in each comment; the
/// batch limits are what a latency-optimised deployment of that size runs
/// with, small enough that a single-host load test can reach them.
pub const PROFILES: &[Profile] = &[
    // Today's mock: fixed TTFT and ITL, no load dependence. The others give
    // reply lengths a log-normal spread (CV 0.6): chat output lengths are
    // right-skewed (ShareGPT-style traces: median below the mean, a long tail).
    Profile {
        name: "default",
        about: "today's mock: TTFT 150 ms, ITL 5 ms, 40 tokens, no prefill, no batch limit",
        values: &[],
    },
    // llm-d inference simulator's published latency profile for a 7-8B model
    // on one H100 at batch 1: TTFT 60-120 ms for a 256-token prompt, ITL
    // 10-15 ms, prefill 0.15-0.30 ms/token plus 25-40 ms overhead;
    // time-factor-under-load 1.5-2.0 for latency-optimised deployments.
    // 30 ms + 256 x 0.2 ms = 81 ms.
    Profile {
        name: "8b-h100",
        about: "7-8B model, one H100 (llm-d): TTFT 30 ms + 0.2 ms/prompt token, ITL 12 ms, \
                batch 32, queue 64, ITL x2.0 at full batch",
        values: &[
            ("MOCK_LLM_TTFT_MS", "30"),
            ("MOCK_LLM_PREFILL_US_PER_TOKEN", "200"),
            ("MOCK_LLM_ITL_MS", "12"),
            ("MOCK_LLM_JITTER", "0.1"),
            ("MOCK_LLM_TOKENS", "100"),
            ("MOCK_LLM_TOKENS_SPREAD", "0.6"),
            ("MOCK_LLM_MAX_NUM_SEQS", "32"),
            ("MOCK_LLM_MAX_WAITING", "64"),
            ("MOCK_LLM_LOAD_FACTOR", "2.0"),
        ],
    },
    // llm-d: a 70B model at TP=8 on H100s, batch 1: TTFT 150-250 ms, ITL
    // 18-28 ms; near the batch limit time-factor-under-load 2.5-3.5.
    // 60 ms + 256 x 0.45 ms = 175 ms.
    Profile {
        name: "70b-h100-tp8",
        about: "70B model, 8 H100s tensor-parallel (llm-d): TTFT 60 ms + 0.45 ms/prompt token, \
                ITL 23 ms, batch 64, queue 128, ITL x2.5 at full batch",
        values: &[
            ("MOCK_LLM_TTFT_MS", "60"),
            ("MOCK_LLM_PREFILL_US_PER_TOKEN", "450"),
            ("MOCK_LLM_ITL_MS", "23"),
            ("MOCK_LLM_JITTER", "0.1"),
            ("MOCK_LLM_TOKENS", "100"),
            ("MOCK_LLM_TOKENS_SPREAD", "0.6"),
            ("MOCK_LLM_MAX_NUM_SEQS", "64"),
            ("MOCK_LLM_MAX_WAITING", "128"),
            ("MOCK_LLM_LOAD_FACTOR", "2.5"),
        ],
    },
    // A 1-3B quantised model on a laptop-class CPU (llama.cpp-style
    // serving): prompt processing ~200 tokens/s (5 ms/token), generation
    // ~15 tokens/s (65 ms), a handful of parallel slots that share the
    // cores, so decode slows ~3x with every slot busy.
    Profile {
        name: "small-cpu",
        about: "1-3B model on CPU (llama.cpp-class): TTFT 50 ms + 5 ms/prompt token, ITL 65 ms, \
                batch 4, queue 16, ITL x3.0 at full batch",
        values: &[
            ("MOCK_LLM_TTFT_MS", "50"),
            ("MOCK_LLM_PREFILL_US_PER_TOKEN", "5000"),
            ("MOCK_LLM_ITL_MS", "65"),
            ("MOCK_LLM_JITTER", "0.15"),
            ("MOCK_LLM_TOKENS", "60"),
            ("MOCK_LLM_TOKENS_SPREAD", "0.6"),
            ("MOCK_LLM_MAX_NUM_SEQS", "4"),
            ("MOCK_LLM_MAX_WAITING", "16"),
            ("MOCK_LLM_LOAD_FACTOR", "3.0"),
        ],
    },
    // A hosted API (Azure OpenAI gpt-4o-mini, standard deployment): TTFT
    // ~0.4 s dominated by the service's own overhead, ~90 tokens/s output
    // (ITL ~11 ms), wide variance, no visible batch limit: capacity is the
    // quota. Azure grants 6 RPM per 1,000 TPM; 30,000 TPM -> 180 RPM is a
    // small deployment's quota. RPM/TPM apply in `mock-llm` only.
    Profile {
        name: "azure-gpt-4o-mini",
        about:
            "hosted gpt-4o-mini (Azure standard): TTFT 400 ms + 0.02 ms/prompt token, ITL 11 ms, \
                jitter 0.3, no batch limit, quota 180 RPM / 30,000 TPM (mock-llm only)",
        values: &[
            ("MOCK_LLM_TTFT_MS", "400"),
            ("MOCK_LLM_PREFILL_US_PER_TOKEN", "20"),
            ("MOCK_LLM_ITL_MS", "11"),
            ("MOCK_LLM_JITTER", "0.3"),
            ("MOCK_LLM_TOKENS", "120"),
            ("MOCK_LLM_TOKENS_SPREAD", "0.6"),
            ("MOCK_LLM_RPM", "180"),
            ("MOCK_LLM_TPM", "30000"),
        ],
    },
];

impl Profile {
    pub fn named(name: &str) -> Option<&'static Profile> {
        PROFILES.iter().find(|p| p.name == name)
    }

    /// The value this profile gives `var`, if any.
    pub fn value(&self, var: &str) -> Option<&'static str> {
        self.values.iter().find(|(v, _)| *v == var).map(|(_, x)| *x)
    }
}

/// The names, for error messages.
pub fn names() -> String {
    PROFILES
        .iter()
        .map(|p| p.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// clap's value parser for `--profile` / `MOCK_LLM_PROFILE`.
pub(crate) fn parse_name(s: &str) -> Result<String, String> {
    let s = s.trim();
    match Profile::named(s) {
        Some(p) => Ok(p.name.to_owned()),
        None => Err(format!("unknown profile; valid names: {}", names())),
    }
}

/// `mock-llm --list-profiles`: each profile, what it stands for, and the
/// variables that reproduce it.
pub fn list() -> String {
    let mut out = String::new();
    for p in PROFILES {
        out.push_str(&format!("{}\n  {}\n", p.name, p.about));
        if !p.values.is_empty() {
            let vars: Vec<String> = p.values.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push_str(&format!("  {}\n", vars.join(" ")));
        }
    }
    out
}

/// [`layered::parse`] with the profile the flags or variables name as a
/// layer under the variables.
pub(crate) fn parse(
    cmd: Command,
    args: Vec<String>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<ArgMatches, Failure> {
    let first = layered::parse(cmd.clone(), args.clone(), lookup)?;
    let Some(profile) = first
        .try_get_one::<String>("profile")
        .ok()
        .flatten()
        .and_then(|name| Profile::named(name))
    else {
        return Ok(first);
    };
    let with_profile = |var: &str| {
        lookup(var)
            .filter(|v| !v.trim().is_empty())
            .or_else(|| profile.value(var).map(str::to_owned))
    };
    layered::parse(cmd, args, &with_profile)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Command as Run, Config};

    #[test]
    fn every_profile_parses_in_both_programs_and_sets_what_it_says() {
        for p in PROFILES {
            let env = |k: &str| (k == "MOCK_LLM_PROFILE").then(|| p.name.to_owned());
            let model = crate::mockmodel::ModelArgs::from_vars(env)
                .unwrap_or_else(|e| panic!("{}: {e}", p.name));
            let server = match Config::parse(["--profile".to_owned(), p.name.to_owned()], &|_| None)
            {
                Ok(Run::Run(c)) => c,
                other => panic!("{}: {other:?}", p.name),
            };
            assert_eq!(server.llm, model, "{}", p.name);
            for (var, value) in p.values {
                // Each variable is one the programs read, spelt right.
                let seen = crate::mockmodel::ModelArgs::var_names().contains(&(*var).to_owned())
                    || ["MOCK_LLM_RPM", "MOCK_LLM_TPM"].contains(var);
                assert!(seen, "{}: {var}", p.name);
                assert!(list().contains(&format!("{var}={value}")));
            }
        }
    }

    #[test]
    fn names_are_unique_and_the_list_names_them_all() {
        let listed = list();
        for p in PROFILES {
            assert_eq!(PROFILES.iter().filter(|q| q.name == p.name).count(), 1);
            assert!(listed.contains(p.name));
        }
    }
}
