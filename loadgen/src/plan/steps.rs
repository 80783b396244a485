//! Journey steps (`--tags`/`--exclude` with their prerequisites) and user
//! types (`--user-mix`), resolved for the plan.

use super::usage;
use crate::exit::Failure;
use crate::journey::spec::STEP_TAGS;
use crate::journey::{Steps, UserTypePlan};
use crate::profile::Profile;
use std::time::Duration;

fn tag_list(flag: &str, text: &str) -> Result<Vec<String>, Failure> {
    let mut out = Vec::new();
    for t in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        if t == "all" {
            out.extend(STEP_TAGS.iter().map(|s| s.to_string()));
        } else if STEP_TAGS.contains(&t) {
            out.push(t.to_string());
        } else {
            return Err(usage(format!(
                "{flag}: unknown step {t:?} (steps: {}, or all)",
                STEP_TAGS.join(", ")
            )));
        }
    }
    Ok(out)
}

/// Steps from the profile, `--tags` and `--exclude`; prerequisites are added
/// (any API step needs `auth`, `history` needs `session`) unless excluded,
/// which is refused.
pub fn resolve_steps(
    profile_steps: &[String],
    tags: Option<&str>,
    exclude: Option<&str>,
) -> Result<Steps, Failure> {
    let mut selected = match tags {
        Some(t) => tag_list("--tags", t)?,
        None => tag_list("profile journey.steps", &profile_steps.join(","))?,
    };
    let excluded = exclude
        .map(|e| tag_list("--exclude", e))
        .transpose()?
        .unwrap_or_default();
    selected.retain(|s| !excluded.contains(s));
    let has = |s: &[String], t: &str| s.iter().any(|x| x == t);
    if has(&selected, "history") && !has(&selected, "session") {
        if has(&excluded, "session") {
            return Err(usage(
                "step history needs step session (it reads the session it created)",
            ));
        }
        selected.push("session".into());
    }
    let needs_auth = ["list", "session", "chat", "history"]
        .iter()
        .any(|t| has(&selected, t));
    if needs_auth && !has(&selected, "auth") {
        if has(&excluded, "auth") {
            return Err(usage(
                "steps list/session/chat/history need step auth (log in first); exclude them too, or keep auth",
            ));
        }
        selected.push("auth".into());
    }
    if selected.is_empty() {
        return Err(usage("no journey step left to run"));
    }
    Ok(Steps {
        auth: has(&selected, "auth"),
        list: has(&selected, "list"),
        session: has(&selected, "session"),
        chat: has(&selected, "chat"),
        history: has(&selected, "history"),
        other: has(&selected, "other"),
    })
}

pub(super) fn user_types(
    profile: &Profile,
    mix: Option<&str>,
    turns: u32,
    think: Duration,
) -> Result<Vec<UserTypePlan>, Failure> {
    let mut types = profile.journey.user_types.clone();
    if let Some(mix) = mix {
        for part in mix.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = part
                .split_once(':')
                .ok_or_else(|| usage(format!("--user-mix: {part:?} is not NAME:WEIGHT")))?;
            let weight: u32 = weight.trim().parse().map_err(|_| {
                usage(format!(
                    "--user-mix: weight {weight:?} is not a whole number"
                ))
            })?;
            let known: Vec<String> = types.iter().map(|t| t.name.clone()).collect();
            let t = types
                .iter_mut()
                .find(|t| t.name == name.trim())
                .ok_or_else(|| {
                    usage(format!(
                        "--user-mix: unknown user type {name:?} (known: {})",
                        known.join(", ")
                    ))
                })?;
            t.weight = weight;
        }
    }
    let plans: Vec<UserTypePlan> = types
        .iter()
        .filter(|t| t.weight > 0)
        .map(|t| {
            let (turns, think) = t.resolve(turns, think);
            UserTypePlan {
                name: t.name.clone(),
                weight: t.weight,
                turns,
                think,
            }
        })
        .collect();
    if plans.is_empty() {
        return Err(usage("every user type has weight 0"));
    }
    Ok(plans)
}
