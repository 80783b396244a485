//! Profiles: a load shape, thresholds and a journey, in TOML or JSON, and
//! the [`LatencyProfile`] that picks which latency thresholds apply. The
//! five built-in profiles are the files in `loadgen/defaults/profiles/`,
//! compiled in (the crate carries its own defaults; `load-tests/profiles/`
//! holds the same files for people and scripts, and a test keeps the two
//! identical); `--profile-file` loads any other.
//!
//! ```toml
//! name = "my-profile"
//! vus = 10                # with duration: constant VUs ...
//! duration = "1m"
//! # stages = [{ duration = "30s", target = 20 }]   # ... or stages, not both
//! graceful_ramp_down = "30s"
//! graceful_stop = "30s"
//! thresholds = ["http_req_failed: rate<0.02"]
//! [latency_thresholds]
//! mock = ["http_req_duration: p(95)<1200"]
//! live = ["http_req_duration{phase:chat}: p(95)<45000"]
//! [journey]               # see journey::spec for every key and default
//! think = "1s"
//! ```

use crate::duration::HumanDuration;
use crate::journey::spec::JourneySpec;
use crate::scheduler::Stage;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Names of the built-in profiles.
pub const BUILTIN: [&str; 6] = ["smoke", "ramp", "stress", "spike", "spike-open", "soak"];

fn builtin_text(name: &str) -> Option<&'static str> {
    Some(match name {
        "smoke" => include_str!("../defaults/profiles/smoke.toml"),
        "ramp" => include_str!("../defaults/profiles/ramp.toml"),
        "stress" => include_str!("../defaults/profiles/stress.toml"),
        "spike" => include_str!("../defaults/profiles/spike.toml"),
        "spike-open" => include_str!("../defaults/profiles/spike-open.toml"),
        "soak" => include_str!("../defaults/profiles/soak.toml"),
        _ => return None,
    })
}

/// Which of a profile's latency thresholds apply: the backend behind the
/// target answers with the mock LLM or with a real model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LatencyProfile {
    /// The backend runs the mock LLM: tight latency thresholds.
    Mock,
    /// The backend calls a real model: looser, per-phase thresholds.
    Live,
}

impl LatencyProfile {
    /// The name users type and summary.json records (`mock`, `live`).
    pub fn name(self) -> &'static str {
        match self {
            LatencyProfile::Mock => "mock",
            LatencyProfile::Live => "live",
        }
    }

    /// The latency profile called `name`, if any.
    pub fn from_name(name: &str) -> Option<LatencyProfile> {
        match name {
            "mock" => Some(LatencyProfile::Mock),
            "live" => Some(LatencyProfile::Live),
            _ => None,
        }
    }
}

/// Threshold lists that apply under one latency profile only.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LatencyThresholds {
    /// Backend on the mock LLM.
    pub mock: Vec<String>,
    /// Backend on a real model.
    pub live: Vec<String>,
}

impl LatencyThresholds {
    /// The list that applies under `latency`.
    pub fn under(&self, latency: LatencyProfile) -> &[String] {
        match latency {
            LatencyProfile::Mock => &self.mock,
            LatencyProfile::Live => &self.live,
        }
    }
}

/// One stage of an open-model profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateStageSpec {
    /// How long the stage lasts.
    pub duration: HumanDuration,
    /// The arrival rate at its end (`"20/s"`, `"600/m"`).
    pub target: String,
}

/// A profile file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Profile name.
    pub name: String,
    /// One line for humans.
    #[serde(default)]
    pub description: String,
    /// Constant VUs (with `duration`).
    pub vus: Option<u32>,
    /// Length of a constant-VU run.
    pub duration: Option<HumanDuration>,
    /// Ramping stages (instead of `vus`/`duration`).
    #[serde(default)]
    pub stages: Vec<Stage>,
    /// Open model: a constant arrival rate of iterations (`"10/s"`), for
    /// `duration` (instead of `vus`).
    pub rate: Option<String>,
    /// Open model: arrival-rate stages from 0, each `{ duration, target }`
    /// with a rate target (`"20/s"`).
    #[serde(default)]
    pub rate_stages: Vec<RateStageSpec>,
    /// Open model: VUs started before the first arrival.
    pub pre_allocated_vus: Option<u32>,
    /// Open model: the most VUs (past it, arrivals are dropped).
    pub max_vus: Option<u32>,
    /// Open model: `uniform` (default) or `poisson`.
    pub arrivals: Option<String>,
    /// How long a VU retired by a lower stage may finish its iteration (k6: 30s).
    pub graceful_ramp_down: Option<HumanDuration>,
    /// How long VUs may finish their iteration at the end of the run (k6: 30s).
    pub graceful_stop: Option<HumanDuration>,
    /// Thresholds that always apply.
    #[serde(default)]
    pub thresholds: Vec<String>,
    /// Thresholds by latency profile.
    #[serde(default)]
    pub latency_thresholds: LatencyThresholds,
    /// The journey.
    #[serde(default)]
    pub journey: JourneySpec,
}

impl Profile {
    /// A built-in profile by name.
    pub fn builtin(name: &str) -> Result<Profile, String> {
        let text = builtin_text(name).ok_or_else(|| {
            format!(
                "unknown profile {name:?} (built in: {}; or use --profile-file)",
                BUILTIN.join(", ")
            )
        })?;
        Self::parse(text, Format::Toml, &format!("built-in profile {name}"))
    }

    /// Loads a profile file; `.json` is JSON, anything else TOML.
    pub fn load(path: &Path) -> Result<Profile, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read profile file {}: {e}", path.display()))?;
        let format = match path.extension().and_then(|e| e.to_str()) {
            Some("json") => Format::Json,
            _ => Format::Toml,
        };
        Self::parse(&text, format, &format!("profile file {}", path.display()))
    }

    /// Parses and validates profile text.
    pub fn parse(text: &str, format: Format, origin: &str) -> Result<Profile, String> {
        let profile: Profile = match format {
            Format::Toml => toml::from_str(text).map_err(|e| format!("{origin}: {e}"))?,
            Format::Json => serde_json::from_str(text).map_err(|e| format!("{origin}: {e}"))?,
        };
        profile.validate().map_err(|e| format!("{origin}: {e}"))?;
        Ok(profile)
    }

    fn validate(&self) -> Result<(), String> {
        let open = self.rate.is_some() || !self.rate_stages.is_empty();
        if open {
            return self.validate_open();
        }
        if self.pre_allocated_vus.is_some() || self.max_vus.is_some() || self.arrivals.is_some() {
            return Err(
                "pre_allocated_vus, max_vus and arrivals are for the open model (rate or rate_stages)"
                    .into(),
            );
        }
        let constant = self.vus.is_some() || self.duration.is_some();
        match (constant, self.stages.is_empty()) {
            (true, false) => return Err("give either vus/duration or stages, not both".into()),
            (false, true) => return Err("needs vus and duration, or stages".into()),
            (true, true) if self.vus.is_none() || self.duration.is_none() => {
                return Err("vus and duration go together".into())
            }
            _ => {}
        }
        self.validate_journey()
    }

    /// An open-model profile: `rate` with `duration`, or `rate_stages`;
    /// no VU shape.
    fn validate_open(&self) -> Result<(), String> {
        if self.vus.is_some() || !self.stages.is_empty() {
            return Err(
                "give either a VU shape (vus/duration, stages) or a rate (rate/duration, \
                        rate_stages), not both"
                    .into(),
            );
        }
        match (&self.rate, self.rate_stages.is_empty(), self.duration) {
            (Some(_), false, _) => return Err("give either rate/duration or rate_stages".into()),
            (Some(_), true, None) => return Err("rate needs duration".into()),
            (None, false, Some(_)) => return Err("rate_stages give the length: no duration".into()),
            _ => {}
        }
        if let Some(r) = &self.rate {
            crate::arrivals::parse_rate(r)?;
        }
        for s in &self.rate_stages {
            crate::arrivals::parse_rate(&s.target)?;
        }
        if let Some(a) = self.arrivals.as_deref() {
            if a != "uniform" && a != "poisson" {
                return Err(format!("arrivals {a:?} is not uniform or poisson"));
            }
        }
        self.validate_journey()
    }

    fn validate_journey(&self) -> Result<(), String> {
        let p = self.journey.other_probability;
        if !(0.0..=1.0).contains(&p) {
            return Err(format!("journey.other_probability {p} is outside 0..1"));
        }
        Ok(())
    }
}

/// Profile file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// TOML
    Toml,
    /// JSON
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler;
    use std::time::Duration;

    #[test]
    fn every_builtin_profile_parses_and_has_a_load_shape() {
        for name in BUILTIN {
            let p = Profile::builtin(name).unwrap();
            assert_eq!(p.name, name);
            assert!(
                p.vus.is_some()
                    || !p.stages.is_empty()
                    || p.rate.is_some()
                    || !p.rate_stages.is_empty(),
                "{name}"
            );
            for t in p
                .thresholds
                .iter()
                .chain(&p.latency_thresholds.mock)
                .chain(&p.latency_thresholds.live)
            {
                crate::threshold::parse(t).unwrap();
            }
        }
    }

    #[test]
    fn builtin_shapes_match_the_design() {
        let smoke = Profile::builtin("smoke").unwrap();
        assert_eq!(smoke.vus, Some(5));
        assert_eq!(smoke.duration, Some(HumanDuration(Duration::from_secs(45))));
        let ramp = Profile::builtin("ramp").unwrap();
        assert_eq!(scheduler::max_vus(0, &ramp.stages), 100);
        assert_eq!(
            scheduler::total_duration(&ramp.stages),
            Duration::from_secs(720)
        );
        assert_eq!(
            ramp.graceful_ramp_down,
            Some(HumanDuration(Duration::from_secs(30)))
        );
        assert_eq!(
            scheduler::max_vus(0, &Profile::builtin("stress").unwrap().stages),
            400
        );
        let spike = Profile::builtin("spike").unwrap();
        assert_eq!(scheduler::max_vus(0, &spike.stages), 500);
        assert!(spike
            .stages
            .iter()
            .any(|s| s.target == 500 && s.duration == Duration::from_secs(10)));
        let soak = Profile::builtin("soak").unwrap();
        assert!(scheduler::total_duration(&soak.stages) >= Duration::from_secs(7200));
    }

    #[test]
    fn a_json_profile_with_custom_paths_is_read() {
        let text = r#"{"name":"x","vus":2,"duration":"5s",
            "journey":{"turns":3,"paths":{"chat":"/v2/chat"},"fields":{"chat_content":"message"}}}"#;
        let p = Profile::parse(text, Format::Json, "test").unwrap();
        assert_eq!(p.journey.turns, 3);
        assert_eq!(p.journey.paths.chat, "/v2/chat");
        assert_eq!(p.journey.paths.login, "/api/auth/login-json");
        assert_eq!(p.journey.fields.chat_content, "message");
    }

    #[test]
    fn inconsistent_profiles_are_refused_with_the_reason() {
        let cases = [
            (r#"name="x""#, "needs vus and duration"),
            ("name=\"x\"\nvus=2", "go together"),
            (
                "name=\"x\"\nvus=2\nduration=\"1s\"\nstages=[{duration=\"1s\",target=1}]",
                "not both",
            ),
            (
                "name=\"x\"\nvus=2\nduration=\"1s\"\nspeed=3",
                "unknown field",
            ),
            ("name=\"x\"\nvus=2\nduration=\"ten\"", "expected a number"),
        ];
        for (text, expected) in cases {
            let err = Profile::parse(text, Format::Toml, "test").unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }
}
