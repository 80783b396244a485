//! The command line: `loadgen run` (a profile against a chatbot backend),
//! `loadgen hit` (one URL, like wrk or oha), `loadgen merge` (several
//! summary.json files into one) and `loadgen report` (the HTML report of a
//! summary.json), as clap parses it: what the user said,
//! strings and all. Definitions only; nothing here runs anything.
//! [`crate::plan`] is the one module that reads these types: it resolves
//! them into a typed plan, which the rest of the crate consumes (the shape
//! of ripgrep's low-level and high-level arguments).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Exit codes, shown in `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0   the run finished and every threshold held
  99  at least one threshold failed (as k6)
  105 the run was interrupted (Ctrl-C, SIGTERM) and its thresholds held on
      the partial data (k6's code); every output is still written
  98  run --baseline: a regression against the baseline (thresholds held);
      precedence 3 > 99 > 105 > 98 > 0
  2   bad arguments, profile, threshold expression or input file (a missing
      or bad --baseline too, before any load)
  3   the guard refused the target (GET /api/health did not say app_env \"test\")
  4   the target could not be reached
  1   any other (internal) error";

/// A load generator for LLM chatbot backends.
#[derive(Debug, Parser)]
#[command(name = "loadgen", version, about, after_help = EXIT_CODES_HELP)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a chat journey profile against a backend (guarded: test backends only).
    #[command(after_help = EXIT_CODES_HELP)]
    Run(Box<RunArgs>),
    /// GET one URL as fast as N connections allow (calibration; no guard, http only).
    #[command(after_help = EXIT_CODES_HELP)]
    Hit(HitArgs),
    /// Merge the summary.json files of shards that ran concurrently (e.g. the
    /// pods of deploy/loadgen/) into one summary, thresholds re-evaluated.
    #[command(after_help = MERGE_HELP)]
    Merge(MergeArgs),
    /// Rebuild the self-contained HTML report from a summary.json (a run's,
    /// a hit's or a merged one).
    #[command(after_help = REPORT_HELP)]
    Report(ReportArgs),
    /// Compare two summary.json files (a baseline and a new run) per phase and
    /// endpoint; exit 98 when something regressed beyond its band and beyond noise.
    #[command(after_help = COMPARE_HELP)]
    Compare(CompareArgs),
    /// Serve a page to start and stop runs from the browser, as Locust's web
    /// UI: a form (target, profile or VUs/duration/stages, streaming), live
    /// charts, and the CSV, HTML and JSON results when a run is done.
    #[command(after_help = WEB_HELP)]
    Web(WebArgs),
    /// How many users does it hold? Steps the load (VUs, or arrival rate
    /// with --rate-steps), holding each step, until the thresholds fail,
    /// then bisects: the knee, what broke where, and per step throughput,
    /// errors, latency and goodput (guarded: test backends only).
    #[command(after_help = crate::capacity::HELP)]
    Capacity(Box<CapacityArgs>),
}

/// `loadgen capacity`: the search's own flags; the target, journey,
/// users, streaming, thresholds and outputs are `run`'s (flattened).
#[derive(Debug, Clone, Args)]
pub struct CapacityArgs {
    /// Backend base URL (http only); the same as --base-url.
    #[arg(value_name = "BASE_URL")]
    pub url: Option<String>,
    /// Step the arrival rate of iterations (open model) instead of VUs
    /// (closed model); --start/--step/--max/--steps are then rates (5 or 5/s).
    #[arg(long)]
    pub rate_steps: bool,
    /// The first step's load (VUs, or iterations/s with --rate-steps).
    #[arg(long, default_value = "5", value_name = "LOAD")]
    pub start: String,
    /// Added to the load at each step.
    #[arg(long, default_value = "5", value_name = "LOAD")]
    pub step: String,
    /// The last step's load at most.
    #[arg(long, default_value = "200", value_name = "LOAD")]
    pub max: String,
    /// Explicit steps instead of --start/--step/--max, e.g. 5,10,20,40,80.
    #[arg(long = "steps", value_name = "LIST")]
    pub steps: Option<String>,
    /// How long each step is measured, after its settle time.
    #[arg(long, default_value = "30s", value_name = "DURATION")]
    pub hold: String,
    /// Warm-up at the start of each step; its requests are left out of
    /// the step's figures, so each step is measured steady.
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    pub settle: String,
    /// Bisection rounds between the last load that held and the first
    /// that failed (0: none).
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub bisect: u32,
    /// Bound of the whole search: no step starts that could not end
    /// within it (default: the plan's own bound, printed up front).
    #[arg(long, value_name = "DURATION")]
    pub max_duration: Option<String>,
    /// `run`'s options (target, journey, users, --stream, --threshold,
    /// --out, --dry-run, -q, ...); shape flags such as --vus or --rate are
    /// refused: the steps are the shape.
    #[command(flatten)]
    pub run: RunArgs,
}

/// `compare --help` epilogue.
pub const COMPARE_HELP: &str = "\
Per (phase, endpoint) both runs have: request rate, error rate, p50/p95/p99 of
the duration; with streaming, TTFT and ITL p50/p95/p99. A change is a
regression only when it is beyond its tolerance band (--tolerance; latency
changes also beyond the floor, 1 ms) AND its one-sided p-value is below
--alpha: Mood's quantile test (pooled quantile, Fisher's exact test on the
2x2 table of counts at/below vs above it) for percentiles, Fisher's exact
test for error rates, the conditional binomial test for request rates. Exact
and deterministic, computed from the summaries' HDR histograms and counts.
When both runs have a time series (v2), the same must hold per interval
(Mann-Whitney on one figure per interval), so a burst of noise in a few
seconds of one run does not count as a change. Request rates gate only
between `hit`s: in a `run` a VU waits for each answer, so rates follow the
latencies (shown, verdict n/a). Endpoints only one run has are listed, not
gated. Runs that differ in profile, VUs, duration, streaming or target are
compared with a warning.

Exit codes:
  0   nothing regressed
  98  at least one regression
  2   bad arguments or input file (unreadable, not a v1/v2 summary); the
      message names the file
  1   any other error";

/// Options of the comparison, shared by `compare` and `run --baseline`.
#[derive(Debug, Clone, Args)]
pub struct ToleranceArgs {
    /// Tolerance bands, KEY=VALUE[,KEY=VALUE], repeatable: p50, p95, p99 and
    /// rate in % (defaults 5%, 10%, 10%, 5%), error_rate in points (0.5),
    /// floor a duration (1ms: latency changes below it never count); any
    /// band may be `off`.
    #[arg(long = "tolerance", value_name = "KEY=VALUE")]
    pub tolerances: Vec<String>,
    /// One-sided significance level of the noise tests.
    #[arg(long, default_value = "0.01", value_name = "P")]
    pub alpha: String,
}

/// `loadgen compare`.
#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// The baseline's summary.json.
    #[arg(value_name = "BASE.json")]
    pub base: PathBuf,
    /// The new run's summary.json.
    #[arg(value_name = "NEW.json")]
    pub new: PathBuf,
    /// Output: table (terminal), markdown (a pull-request comment) or json.
    #[arg(long, value_enum, default_value = "table")]
    pub format: CompareFormat,
    /// Bands and significance level.
    #[command(flatten)]
    pub tolerance: ToleranceArgs,
}

/// `compare --format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompareFormat {
    /// Aligned columns.
    Table,
    /// A Markdown table, regressions in bold.
    Markdown,
    /// The comparison as JSON (schema chatbench.loadgen.comparison/v1).
    Json,
}

/// `web --help` epilogue.
pub const WEB_HELP: &str = "\
Runs started from the page are resolved as `loadgen run` resolves its flags
(a bad value gets the same message) and guarded the same way: a target whose
GET /api/health does not say app_env \"test\" is refused with the reason,
unless the page's \"allow non-test backend\" box is ticked. One run at a
time; Stop ends it early (reported as interrupted).";

/// `loadgen web`.
#[derive(Debug, Clone, Args)]
pub struct WebArgs {
    /// Where to serve the page: 127.0.0.1:8089 (Locust's port, loopback
    /// only) unless given; port 0 picks a free one (printed on stderr).
    #[arg(default_value = "127.0.0.1:8089", value_name = "ADDR")]
    pub addr: String,
    /// The target the form starts with.
    #[arg(long, env = "BASE_URL", default_value = "http://127.0.0.1:8000")]
    pub base_url: String,
    /// Users fixture of the runs.
    #[arg(long, default_value = crate::users::DEFAULT_USERS_FILE, value_name = "FILE")]
    pub users_file: PathBuf,
}

/// `report --help` epilogue.
pub const REPORT_HELP: &str = "\
The page is one file that opens from disk with no network: verdict and exit
code, target, profile, plan and seed, thresholds with their actual values,
checks, the per-phase and per-endpoint table (Locust's columns) and, when the
summary carries a time series, the charts. Thresholds are those the summary
recorded, evaluated again on its histograms (the same verdicts).

Exit codes:
  0   the report was written
  2   bad arguments or input file (unreadable, not a loadgen summary); the
      message names the file
  1   any other error (e.g. the HTML file cannot be written)";

/// `loadgen report`.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// The summary.json to read.
    #[arg(value_name = "SUMMARY.json")]
    pub summary: PathBuf,
    /// Where to write the HTML report.
    #[arg(long, value_name = "FILE", required = true)]
    pub html: PathBuf,
}

/// `merge --help` epilogue: the concurrency assumption, then the exit codes.
pub const MERGE_HELP: &str = "\
The inputs are taken to be shards of one test that ran at the same time
against one target: histograms are added exactly (HDR), counters and checks
summed, VUs summed, the duration is the longest input's, and every rate
(req/s, iterations/s) is the merged count over that duration. Merging runs
that were NOT concurrent gives correct counts and percentiles but rates and
VUs that describe no real moment.

Thresholds: those the inputs recorded (they must agree), or --profile's;
--threshold adds to them or replaces the ones with the same metric and
selector, as in `run`.

Exit codes:
  0   every threshold held on the merged figures
  99  at least one threshold failed
  2   bad arguments or input file (unreadable, not a v1/v2 summary, histograms
      recorded with other settings); the message names the file
  3   an input run was aborted by its guard
  105 an input run was interrupted (thresholds held on the merged figures)
  1   any other (internal) error";

/// `loadgen merge`.
#[derive(Debug, Clone, Args)]
pub struct MergeArgs {
    /// summary.json files to merge (two or more; the same file twice is allowed).
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// Directory for the merged summary.json, summary.txt, report.html and
    /// the Locust CSV files loadgen_stats.csv, loadgen_stats_history.csv,
    /// loadgen_failures.csv.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Write Locust's CSV files PREFIX_stats.csv, PREFIX_stats_history.csv
    /// and PREFIX_failures.csv (Locust's flag and format).
    #[arg(long, value_name = "PREFIX")]
    pub csv: Option<PathBuf>,
    /// Threshold in k6 syntax, repeatable; replaces the recorded (or
    /// --profile) threshold with the same metric and selector.
    #[arg(long = "threshold", value_name = "EXPR")]
    pub thresholds: Vec<String>,
    /// Evaluate this built-in profile's thresholds instead of the recorded ones.
    #[arg(long, conflicts_with = "profile_file")]
    pub profile: Option<String>,
    /// Evaluate this profile file's thresholds instead of the recorded ones.
    #[arg(long, value_name = "FILE")]
    pub profile_file: Option<PathBuf>,
    /// Which latency thresholds of --profile apply (default: the inputs' own,
    /// else mock).
    #[arg(long, value_enum)]
    pub latency_profile: Option<LatencyArg>,
}

/// `--latency-profile` values ([`crate::profile::LatencyProfile`] once resolved).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LatencyArg {
    /// The backend runs the mock LLM: tight latency thresholds.
    Mock,
    /// The backend calls a real model: looser, per-phase thresholds.
    Live,
}

/// `--auth` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthArg {
    /// Cookie plus `X-CSRF-Token` (the original's clients).
    Cookie,
    /// `Authorization: Bearer` with the token from the login body.
    Bearer,
}

/// `--login` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LoginArg {
    /// Log in at the start of every iteration (the original k6 journey).
    EveryIteration,
    /// Log in once per VU; again only after a 401.
    Once,
}

/// `--arrivals` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ArrivalsArg {
    /// Evenly spaced arrivals.
    Uniform,
    /// Poisson arrivals (exponential gaps), as LLM serving benchmarks use.
    Poisson,
}

/// Options shared by `run` and `hit`.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Threshold in k6 syntax, repeatable; replaces the profile's thresholds
    /// with the same metric and selector, e.g.
    /// 'http_req_duration{phase:auth}: p(95)<500'.
    #[arg(long = "threshold", value_name = "EXPR")]
    pub thresholds: Vec<String>,
    /// Per-request timeout (connect included).
    #[arg(long, default_value = "60s", value_name = "DURATION")]
    pub timeout: String,
    /// Directory for summary.json, summary.txt, report.html and the Locust
    /// CSV files loadgen_stats.csv, loadgen_stats_history.csv,
    /// loadgen_failures.csv.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Also write the self-contained HTML report to FILE (Locust's flag).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write Locust's CSV files PREFIX_stats.csv, PREFIX_stats_history.csv
    /// (one row per interval per endpoint, plus Aggregated) and
    /// PREFIX_failures.csv (Locust's flag and format).
    #[arg(long, value_name = "PREFIX")]
    pub csv: Option<PathBuf>,
    /// Length of one point of the time series (summary.json's timeline, the
    /// CSV history, the charts); at least 100ms.
    #[arg(long, default_value = "1s", value_name = "DURATION")]
    pub interval: String,
    /// Print the resolved plan and exit 0 without sending anything.
    #[arg(long)]
    pub dry_run: bool,
    /// No live progress on stderr (the summary is still printed).
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Interval of the plain progress lines when stderr is not a terminal.
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    pub progress_interval: String,
}

/// `loadgen run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Backend base URL (http only).
    #[arg(long, env = "BASE_URL", default_value = "http://127.0.0.1:8000")]
    pub base_url: String,
    /// Built-in profile: smoke, ramp, stress, spike, soak (default smoke).
    #[arg(long)]
    pub profile: Option<String>,
    /// Profile from a TOML or JSON file (see load-tests/profiles/).
    #[arg(long, value_name = "FILE")]
    pub profile_file: Option<PathBuf>,
    /// Constant VUs (with --duration) instead of a profile's shape.
    #[arg(long)]
    pub vus: Option<u32>,
    /// Length of a constant-VU run, e.g. 45s, 2m.
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<String>,
    /// Ramping stages DURATION:TARGET,..., e.g. 30s:20,1m:50,30s:0.
    #[arg(long, value_name = "SPEC")]
    pub stages: Option<String>,
    /// Open model: a constant arrival rate of iterations (10/s, 600/m), for
    /// --duration; latency counts from each iteration's scheduled start.
    #[arg(long, value_name = "RATE")]
    pub rate: Option<String>,
    /// Open model: ramping arrival-rate stages DURATION:RATE,..., from 0,
    /// e.g. 30s:5/s,2m:20/s,30s:0/s.
    #[arg(long, value_name = "SPEC")]
    pub rate_stages: Option<String>,
    /// Open model: VUs started before the first arrival (default: the peak
    /// rate's arrivals in 1 s, at least 1).
    #[arg(long, value_name = "N")]
    pub pre_allocated_vus: Option<u32>,
    /// Open model: the most VUs; an arrival that finds none free with this
    /// many running is a dropped iteration (default: 10 x pre-allocated).
    #[arg(long, value_name = "N")]
    pub max_vus: Option<u32>,
    /// Open model: evenly spaced or Poisson arrivals.
    #[arg(long, value_enum, default_value_t = ArrivalsArg::Uniform)]
    pub arrivals: ArrivalsArg,
    /// Grace for in-flight iterations when a stage lowers VUs.
    #[arg(long, value_name = "DURATION")]
    pub graceful_ramp_down: Option<String>,
    /// Grace for in-flight iterations at the end of the run.
    #[arg(long, value_name = "DURATION")]
    pub graceful_stop: Option<String>,
    /// Users fixture {"users":[{"username","password"},...]}.
    #[arg(long, default_value = crate::users::DEFAULT_USERS_FILE, value_name = "FILE")]
    pub users_file: PathBuf,
    /// Prompt corpus, one prompt per line (default load-tests/prompts.txt).
    #[arg(long, value_name = "FILE")]
    pub prompts_file: Option<PathBuf>,
    /// Which latency thresholds apply (K6_LATENCY_PROFILE is honoured too).
    #[arg(long, env = "LOADGEN_LATENCY_PROFILE", value_enum)]
    pub latency_profile: Option<LatencyArg>,
    /// Journey steps to run: auth,list,session,chat,history,other (or all).
    #[arg(long, value_name = "TAGS")]
    pub tags: Option<String>,
    /// Journey steps to leave out.
    #[arg(long, value_name = "TAGS")]
    pub exclude: Option<String>,
    /// Chat turns per session.
    #[arg(long)]
    pub turns: Option<u32>,
    /// Chat through the stream path (SSE) and record TTFT, ITL, TPOT, E2E
    /// and tokens/s (the profile's `[journey] stream = true` does the same).
    #[arg(long)]
    pub stream: bool,
    /// Think time after each iteration.
    #[arg(long, value_name = "DURATION")]
    pub think: Option<String>,
    /// How to authenticate after login.
    #[arg(long, value_enum)]
    pub auth: Option<AuthArg>,
    /// When to log in: every iteration (the original k6 journey) or once per VU.
    #[arg(long, value_enum)]
    pub login: Option<LoginArg>,
    /// Chance per iteration of one GET to health/stats/metrics (step other).
    #[arg(long, value_name = "P")]
    pub other_probability: Option<f64>,
    /// User type weights, e.g. normal:9,high-volume:1.
    #[arg(long, value_name = "MIX")]
    pub user_mix: Option<String>,
    /// Seed for prompt choice and user types (random when absent; printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run shard INDEX of COUNT equal shards of this test (k6's execution
    /// segments): this process runs its exact share of the VUs, of the
    /// arrivals and of --pre-allocated-vus/--max-vus at every moment, and
    /// a disjoint slice of the users file; `loadgen merge` adds the shards'
    /// summaries. 2/4 is k6's --execution-segment 1/4:2/4.
    #[arg(long, value_name = "INDEX/COUNT", conflicts_with = "execution_segment")]
    pub segment: Option<String>,
    /// k6's form of --segment: FROM:TO (or TO, from 0) as fractions,
    /// decimals or percentages, e.g. 1/4:2/4, 0.25:0.5, 25%:50%.
    #[arg(long, value_name = "FROM:TO")]
    pub execution_segment: Option<String>,
    /// k6's --execution-segment-sequence, e.g. 0,1/4,1/2,1: the segments
    /// all shards of the test use (without it, the segment is filled around
    /// with the rest of 0..1, as in k6; give every shard the same sequence).
    #[arg(long, value_name = "P0,P1,...", requires = "execution_segment")]
    pub execution_segment_sequence: Option<String>,
    /// Hold until this wall-clock time (RFC 3339, e.g. 2026-11-27T09:30:00Z)
    /// before starting the load, so shards started apart begin together; at
    /// most 1 h ahead; a time already past starts at once (with a note).
    #[arg(long, value_name = "TIME")]
    pub start_at: Option<String>,
    /// Load a backend that does not report app_env "test".
    #[arg(
        long,
        env = "LOADGEN_ALLOW_NON_TEST_BACKEND",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub allow_non_test_backend: bool,
    /// How often the guard is re-checked during the run.
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    pub guard_interval: String,
    /// Serve the live dashboard (the HTML report's page, updated every
    /// --interval) at ADDR while the run goes on: 127.0.0.1:5665 (k6's
    /// port, loopback only) when no address is given; port 0 picks a free
    /// one. The address is printed on stderr; the server ends with the run.
    #[arg(
        long,
        value_name = "ADDR",
        num_args = 0..=1,
        require_equals = false,
        default_missing_value = crate::dashboard::DEFAULT_ADDR
    )]
    pub dashboard: Option<String>,
    /// Also scrape this Prometheus endpoint every --interval (repeatable),
    /// e.g. mock-llm's or a node exporter's; its failures are counted, never
    /// fatal. The target's own {base}/api/metrics is scraped as well when it
    /// answers.
    #[arg(long = "scrape", value_name = "URL", conflicts_with = "no_scrape")]
    pub scrape: Vec<String>,
    /// Scrape nothing: no server-side series in the report.
    #[arg(long)]
    pub no_scrape: bool,
    /// Push the run's metrics to this Prometheus remote-write URL every
    /// --interval and at the end (e.g. http://127.0.0.1:9090/api/v1/write:
    /// Prometheus started with --web.enable-remote-write-receiver); a failed
    /// push is counted and told, never fatal. k6's K6_PROMETHEUS_RW_SERVER_URL
    /// is read too.
    #[arg(
        long = "prometheus-rw",
        value_name = "URL",
        env = "K6_PROMETHEUS_RW_SERVER_URL"
    )]
    pub prometheus_rw: Option<String>,
    /// With --prometheus-rw: histograms as native histograms (Prometheus
    /// needs --enable-feature=native-histograms) instead of classic buckets.
    #[arg(long = "prometheus-rw-native", requires = "prometheus_rw")]
    pub prometheus_rw_native: bool,
    /// A label on every pushed series, NAME=VALUE (repeatable; k6's --tag),
    /// e.g. --tag testid=nightly-42.
    #[arg(long = "tag", value_name = "NAME=VALUE", requires = "prometheus_rw")]
    pub rw_tags: Vec<String>,
    /// Compare the run with this summary.json at its end (as `loadgen
    /// compare`): the table after the summary, a `comparison` object in
    /// summary.json, exit 98 on a regression. Read before any load: a missing
    /// or bad file exits 2.
    #[arg(long, value_name = "BASE.json")]
    pub baseline: Option<PathBuf>,
    /// --tolerance and --alpha of --baseline.
    #[command(flatten)]
    pub tolerance: ToleranceArgs,
    /// Options shared with `hit`.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `loadgen hit`.
#[derive(Debug, Clone, Args)]
pub struct HitArgs {
    /// The URL to GET (http only).
    pub url: String,
    /// Concurrent connections (VUs), each with its own keep-alive connection.
    #[arg(short = 'c', long, default_value_t = 10)]
    pub connections: u32,
    /// How long to run (default 10s unless -n is given).
    #[arg(short = 'd', long, value_name = "DURATION")]
    pub duration: Option<String>,
    /// Total requests to send (the run ends when all are answered).
    #[arg(short = 'n', long, value_name = "COUNT")]
    pub requests: Option<u64>,
    /// Open model: send N requests per second in total (`N` or `N/s`);
    /// latency counts from each request's scheduled send time.
    #[arg(long, value_name = "N/s")]
    pub rate: Option<String>,
    /// Options shared with `run`.
    #[command(flatten)]
    pub common: CommonArgs,
}
