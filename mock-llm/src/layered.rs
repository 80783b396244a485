//! Flags over variables, with a clap command as the one definition of both.
//!
//! Each argument names its variable with clap's `env`, so `--help` lists it
//! beside the flag and its default. clap itself, though, reads that variable
//! from the process when the command is built and takes an empty one as a
//! value (clap_builder 4.6 `Parser::add_env`: `VAR=` fails to parse as a
//! number). We want any source of variables (the backend's configuration
//! tests pass a map), an empty variable (`VAR=` in compose) to mean unset,
//! and a bad variable to be blamed on the variable, not on a flag nobody
//! typed. So clap's own environment reading is switched off and the
//! variables are turned into flags here, for the arguments the command line
//! left out: the flag wins over its variable, the variable over the default.

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{ArgMatches, Command};

/// What was wrong, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// `--help`: the caller prints the help of the command with its
    /// variables (`Command::render_long_help`).
    Help,
    /// A bad flag (or an unknown one): clap's message, which names it.
    Flag { flag: String, message: String },
    /// A bad variable: its name and what was wrong with its value.
    Var { var: String, message: String },
}

/// One argument read from a variable: its id, its long flag, its variable.
struct EnvArg {
    id: clap::Id,
    long: String,
    var: String,
}

/// The arguments of `cmd` that have a variable and a long flag.
fn env_args(cmd: &Command) -> Vec<EnvArg> {
    cmd.get_arguments()
        .filter_map(|a| {
            Some(EnvArg {
                id: a.get_id().clone(),
                long: a.get_long()?.to_owned(),
                var: a.get_env()?.to_str()?.to_owned(),
            })
        })
        .collect()
}

/// Parses `args` (without the program name) over the variables `lookup`
/// finds; `cmd` is the command as defined, `env` attributes included.
pub fn parse(
    cmd: Command,
    args: impl IntoIterator<Item = String>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<ArgMatches, Failure> {
    let vars = env_args(&cmd);
    let name = cmd.get_name().to_owned();
    // The same command without its variables: only `lookup` supplies them.
    // `--jitter -1` is a bad value for `--jitter`, not an unknown flag `-1`.
    let cmd = vars
        .iter()
        .fold(cmd, |c, v| {
            c.mut_arg(&v.id, |a| a.env(None::<&'static str>))
        })
        .allow_negative_numbers(true);
    let args: Vec<String> = std::iter::once(name).chain(args).collect();

    let given = cmd
        .clone()
        .try_get_matches_from(&args)
        .map_err(flag_failure)?;
    let mut from_vars = Vec::new();
    for v in &vars {
        if given.value_source(v.id.as_str()) == Some(ValueSource::CommandLine) {
            continue;
        }
        // An empty variable (`VAR=` in compose) means unset.
        if let Some(value) = lookup(&v.var).map(|s| s.trim().to_owned()) {
            if !value.is_empty() {
                from_vars.push((v, value));
            }
        }
    }
    if from_vars.is_empty() {
        return Ok(given);
    }
    // The flags were valid on their own, so a failure now is a variable's.
    let layered: Vec<String> = args[..1]
        .iter()
        .cloned()
        .chain(
            from_vars
                .iter()
                .map(|(v, value)| format!("--{}={value}", v.long)),
        )
        .chain(args[1..].iter().cloned())
        .collect();
    cmd.try_get_matches_from(&layered).map_err(|e| {
        let flag = invalid_arg(&e);
        let is = |v: &EnvArg| flag.as_deref() == Some(format!("--{}", v.long).as_str());
        match from_vars.iter().find(|(v, _)| is(v)) {
            Some((v, value)) => Failure::Var {
                var: v.var.clone(),
                message: match std::error::Error::source(&e) {
                    Some(cause) => format!("invalid value {value:?}: {cause}"),
                    None => first_line(&e),
                },
            },
            None => flag_failure(e),
        }
    })
}

fn flag_failure(e: clap::Error) -> Failure {
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        return Failure::Help;
    }
    Failure::Flag {
        flag: invalid_arg(&e).unwrap_or_else(|| "arguments".to_owned()),
        message: first_line(&e),
    }
}

/// The flag an error is about: clap reports it as `--jitter <JITTER>` (or
/// as typed, `--frobnicate`, when unknown).
fn invalid_arg(e: &clap::Error) -> Option<String> {
    match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => Some(s.split([' ', '=']).next().unwrap_or(s).to_owned()),
        _ => None,
    }
}

/// clap's message without its `error: ` prefix, usage and tips.
fn first_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let line = text.lines().next().unwrap_or_default();
    line.strip_prefix("error: ").unwrap_or(line).to_owned()
}

#[cfg(test)]
mod tests {
    use clap::{value_parser, Arg};

    use super::*;

    fn probe() -> Command {
        Command::new("probe").arg(
            Arg::new("n")
                .long("n")
                .env("CHATBENCH_LAYERED_PROBE")
                .default_value("3")
                .value_parser(value_parser!(u32)),
        )
    }

    /// Why this module reads the variables itself: clap takes `VAR=` as the
    /// value "" (and fails to parse it). The variable is this test's own.
    #[test]
    fn clap_alone_takes_an_empty_variable_as_a_value_and_we_do_not() {
        std::env::set_var("CHATBENCH_LAYERED_PROBE", "");
        let e = probe().try_get_matches_from(["probe"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ValueValidation);
        let m = parse(probe(), std::iter::empty(), &|k| std::env::var(k).ok()).unwrap();
        assert_eq!(m.get_one::<u32>("n"), Some(&3));
    }

    #[test]
    fn the_process_environment_is_ignored_in_favour_of_the_lookup() {
        std::env::set_var("CHATBENCH_LAYERED_PROBE", "");
        let m = parse(probe(), std::iter::empty(), &|_| Some("5".into())).unwrap();
        assert_eq!(m.get_one::<u32>("n"), Some(&5));
        let m = parse(probe(), ["--n=7".to_owned()], &|_| Some("x".into())).unwrap();
        assert_eq!(m.get_one::<u32>("n"), Some(&7));
        let f = parse(probe(), std::iter::empty(), &|_| Some("x".into())).unwrap_err();
        assert!(
            matches!(&f, Failure::Var { var, .. } if var == "CHATBENCH_LAYERED_PROBE"),
            "{f:?}"
        );
    }
}
