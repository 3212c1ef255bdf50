//! `cargo xtask mutants [FILE...] [--shard K/N] [--in-diff DIFF] [--iterate]`: mutation
//! testing with cargo-mutants, the measure of whether the tests catch bugs.
//!
//! It mutates the wrapper crate (the files given, or its rule modules), runs
//! the lib's unit tests and the integration tests that exercise the rules
//! with few property cases (so that one mutant takes seconds), and prints
//! caught / missed / unviable / timeout per file. Settings cargo-mutants reads
//! itself are in `.cargo/mutants.toml`. Too slow for CI: run it on what you
//! changed (`git diff > change.diff; cargo xtask mutants --in-diff change.diff`).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// The rule modules: no mutant may survive here.
pub const RULE_MODULES: &[&str] = &[
    "crates/yandex-market-chats/src/limits/*.rs",
    "crates/yandex-market-chats/src/retry.rs",
    "crates/yandex-market-chats/src/rate_limit.rs",
    "crates/yandex-market-chats/src/http_date.rs",
    "crates/yandex-market-chats/src/operation.rs",
    "crates/yandex-market-chats/src/page_size.rs",
    "crates/yandex-market-chats/src/paging.rs",
    "crates/yandex-market-chats/src/query.rs",
];

/// The test targets a mutant is tested with: not the doc tests (each one
/// compiles on its own) nor the examples run as processes.
const TEST_TARGETS: &[&str] = &[
    "limiter_model",
    "limits_client",
    "promises",
    "wrapper_faults",
    "wrapper_paging",
    "chat_operations",
    "properties",
    "notifications",
    "tracing_spans",
];

/// Modules tested with their own integration targets (real sandboxes,
/// processes or redis-server: slower, so only a mutant the lib's unit tests
/// let through gets them), each with the targets that exercise it. No
/// mutant may survive here either.
const MORE_MODULES: &[(&str, &[&str])] = &[
    (
        "crates/yandex-market-chats/src/follow/",
        &["follow", "follow_defects", "follow_matrix", "follow_scale"],
    ),
    (
        "crates/yandex-market-chats/src/redis/",
        &[
            "redis_limiter",
            "redis_release",
            "redis_promises",
            "follow_replicas",
        ],
    ),
    (
        "crates/yandex-market-chats/src/notifications/",
        &["notifications", "notification_router"],
    ),
    (
        "crates/yandex-market-chats/src/classify.rs",
        &["wrapper_faults", "promises", "generated_client"],
    ),
    (
        "crates/yandex-market-chats/src/config.rs",
        &[
            "generated_client",
            "promises",
            "limits_client",
            "chat_operations",
        ],
    ),
    (
        "crates/yandex-market-chats/src/transport.rs",
        &[
            "wrapper_faults",
            "promises",
            "tracing_spans",
            "limits_client",
        ],
    ),
];

/// Property cases per property while mutants run (CI runs 256).
const PROPTEST_CASES: &str = "16";

/// What to mutate.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Options {
    files: Vec<String>,
    shard: Option<String>,
    in_diff: Option<String>,
    iterate: bool,
}

/// Reads `[FILE...] [--shard K/N] [--in-diff DIFF] [--iterate]`
/// (`--iterate`: only the mutants the last run did not catch).
///
/// # Errors
/// An option without its value, or an unknown one.
pub fn parse(args: &[&str]) -> Result<Options, String> {
    let mut options = Options::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match *arg {
            "--shard" => options.shard = Some(value(args.next(), "--shard K/N")?),
            "--in-diff" => options.in_diff = Some(value(args.next(), "--in-diff DIFF")?),
            "--iterate" => options.iterate = true,
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
            file => options.files.push(file.to_owned()),
        }
    }
    Ok(options)
}

fn value(arg: Option<&&str>, usage: &str) -> Result<String, String> {
    arg.map(|v| (*v).to_owned())
        .ok_or_else(|| format!("{usage}: the value is missing"))
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// The test arguments: the lib's unit tests, then the targets of the
/// modules mutated (a rule module's are [`TEST_TARGETS`]).
fn test_args(files: &[&str]) -> Vec<String> {
    let mut args = vec!["--lib".to_owned()];
    let mut targets: Vec<&str> = Vec::new();
    for file in files {
        match MORE_MODULES
            .iter()
            .find(|(module, _)| file.starts_with(module))
        {
            Some((_, extra)) => targets.extend(extra.iter()),
            None => targets.extend(TEST_TARGETS),
        }
    }
    targets.sort_unstable();
    targets.dedup();
    for target in targets {
        args.extend(["--test".to_owned(), target.to_owned()]);
    }
    args
}

/// Runs the baseline and cargo-mutants, and summarizes per file.
///
/// # Errors
/// cargo-mutants or cargo-nextest missing, a failing baseline, no outcomes,
/// or a mutant missed in a rule module.
pub fn run(root: &Path, options: &Options) -> Result<String, String> {
    for (tool, install) in [("mutants", "cargo-mutants"), ("nextest", "cargo-nextest")] {
        let found = cargo()
            .args([tool, "--version"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            return Err(format!(
                "cargo {tool} is not installed: cargo install {install} --locked"
            ));
        }
    }
    // A folder stands for its files.
    let given: Vec<String> = options
        .files
        .iter()
        .map(|f| {
            if root.join(f).is_dir() {
                format!("{}/*.rs", f.trim_end_matches('/'))
            } else {
                f.clone()
            }
        })
        .collect();
    let files: Vec<&str> = if given.is_empty() {
        RULE_MODULES.to_vec()
    } else {
        given.iter().map(String::as_str).collect()
    };
    // cargo-mutants' own baseline tests only the mutated package, which the
    // test arguments do not fit: the baseline is run here instead.
    let status = cargo()
        .current_dir(root)
        .env("PROPTEST_CASES", PROPTEST_CASES)
        .args([
            "nextest",
            "run",
            "-p",
            "yandex-market-chats",
            "-p",
            "yandex-market-chats-tests",
            "--all-features",
        ])
        .args(test_args(&files))
        .status()
        .map_err(|e| format!("cannot run cargo nextest: {e}"))?;
    if !status.success() {
        return Err("the tests fail without any mutation; fix them first".to_owned());
    }

    // One folder per set of files, so runs over different modules can
    // go on side by side (and `--iterate` finds its own last run).
    let output = root.join("target").join("mutants").join(slug(&files));
    let outcomes_file = output.join("mutants.out").join("outcomes.json");
    // cargo-mutants creates `output` but not its parents (a fresh clone).
    std::fs::create_dir_all(&output)
        .map_err(|error| format!("cannot create {}: {error}", output.display()))?;
    // Two passes: the lib's unit tests first (seconds a mutant, two at a
    // time), then only the survivors with every target that exercises the
    // files (real servers and processes: a minute a mutant, one at a time,
    // as their timing wants).
    let mut outcomes = BTreeMap::new();
    if !options.iterate {
        mutants_pass(root, &output, &files, options, &["--lib".to_owned()], true)?;
        merge(&mut outcomes, &read(&outcomes_file)?)?;
    }
    let survivors = outcomes
        .values()
        .filter(|o| o.as_str() == "MissedMutant")
        .count();
    if options.iterate || survivors > 0 {
        mutants_pass(root, &output, &files, options, &test_args(&files), false)?;
        merge(&mut outcomes, &read(&outcomes_file)?)?;
    }
    let counts = count(&outcomes);
    let table = table(&counts);
    let missed_in_rules: Vec<&String> = counts
        .iter()
        .filter(|(file, c)| c.missed > 0 && is_rule_module(file))
        .map(|(file, _)| file)
        .collect();
    if missed_in_rules.is_empty() {
        Ok(table)
    } else {
        println!("{table}");
        Err(format!(
            "missed mutants in rule modules: {} (see {}/mutants.out/missed.txt)",
            missed_in_rules
                .iter()
                .map(|f| f.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            output.display()
        ))
    }
}

/// One cargo-mutants pass over `files` with these test arguments; after
/// the `first`, only what the last pass in `output` did not catch.
fn mutants_pass(
    root: &Path,
    output: &Path,
    files: &[&str],
    options: &Options,
    test_args: &[String],
    first: bool,
) -> Result<(), String> {
    let mut command = cargo();
    command
        .current_dir(root)
        .env("PROPTEST_CASES", PROPTEST_CASES)
        .args(["mutants", "-p", "yandex-market-chats", "--baseline", "skip"])
        // The `redis` and `axum` modules are mutated too.
        .arg("--all-features")
        // No debug info: each mutant is a rebuild, mostly its link.
        .args(["--profile", "mutants"])
        .args(["--timeout", "120", "--build-timeout", "900"])
        .args(["--jobs", if first { "2" } else { "1" }])
        // The first pass runs only the lib's own tests.
        .args(if first {
            &["--test-package", "yandex-market-chats"][..]
        } else {
            &[]
        })
        .arg("--output")
        .arg(output);
    for file in files {
        command.args(["--file", file]);
    }
    if let Some(shard) = &options.shard {
        command.args(["--shard", shard]);
    }
    if let Some(diff) = &options.in_diff {
        command.args(["--in-diff", diff]);
    }
    if !first {
        command.arg("--iterate");
    }
    // Given to the build as well as the run: otherwise the build compiles
    // every test target of the packages.
    for arg in test_args {
        command.arg(format!("--cargo-arg={arg}"));
    }
    // Its exit code says whether something was missed; the summary says what.
    command
        .status()
        .map(drop)
        .map_err(|e| format!("cannot run cargo mutants: {e}"))
}

/// A folder name for a set of files: their paths under `src/`, joined.
fn slug(files: &[&str]) -> String {
    if files == RULE_MODULES {
        return "rules".to_owned();
    }
    files
        .iter()
        .map(|f| {
            f.trim_start_matches("crates/yandex-market-chats/src/")
                .trim_end_matches("/*.rs")
                .trim_end_matches(".rs")
                .replace(['/', '*'], "-")
        })
        .collect::<Vec<_>>()
        .join("+")
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn is_rule_module(file: &str) -> bool {
    MORE_MODULES
        .iter()
        .any(|(module, _)| file.starts_with(module))
        || RULE_MODULES
            .iter()
            .any(|pattern| match pattern.strip_suffix("*.rs") {
                Some(folder) => file.starts_with(folder),
                None => file == *pattern,
            })
}

/// One file's outcomes.
#[derive(Debug, Default, PartialEq, Eq, Clone, Copy)]
pub struct Counts {
    /// Mutants a test failed on.
    pub caught: usize,
    /// Mutants every test passed on.
    pub missed: usize,
    /// Mutants that did not build.
    pub unviable: usize,
    /// Mutants whose tests did not finish in time (counted as caught by
    /// cargo-mutants; shown apart).
    pub timeout: usize,
}

/// Each mutant's outcome (cargo-mutants' summary), by file and mutant.
pub type Outcomes = BTreeMap<(String, String), String>;

/// Takes the outcomes of a pass's `outcomes.json` into `outcomes`: a
/// mutant tested again keeps its latest outcome.
///
/// # Errors
/// Text that is not cargo-mutants' outcomes.
pub fn merge(outcomes: &mut Outcomes, text: &str) -> Result<(), String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("outcomes.json: {e}"))?;
    let list = value["outcomes"]
        .as_array()
        .ok_or("outcomes.json has no `outcomes` list")?;
    for outcome in list {
        let Some(mutant) = outcome["scenario"].get("Mutant") else {
            continue; // the baseline
        };
        let file = mutant["file"].as_str().ok_or("a mutant without its file")?;
        let summary = match outcome["summary"].as_str() {
            Some(s @ ("CaughtMutant" | "MissedMutant" | "Unviable" | "Timeout")) => s,
            other => return Err(format!("{file}: unexpected outcome {other:?}")),
        };
        outcomes.insert((file.to_owned(), mutant.to_string()), summary.to_owned());
    }
    Ok(())
}

/// Counts per file.
pub fn count(outcomes: &Outcomes) -> BTreeMap<String, Counts> {
    let mut counts: BTreeMap<String, Counts> = BTreeMap::new();
    for ((file, _), summary) in outcomes {
        let entry = counts.entry(file.clone()).or_default();
        match summary.as_str() {
            "CaughtMutant" => entry.caught += 1,
            "MissedMutant" => entry.missed += 1,
            "Unviable" => entry.unviable += 1,
            _ => entry.timeout += 1,
        }
    }
    counts
}

/// The per-file table, with a total.
pub fn table(counts: &BTreeMap<String, Counts>) -> String {
    let mut out = format!(
        "{:<55} {:>6} {:>6} {:>8} {:>7}\n",
        "file", "caught", "missed", "unviable", "timeout"
    );
    let mut total = Counts::default();
    for (file, c) in counts {
        let short = file.trim_start_matches("crates/yandex-market-chats/src/");
        out.push_str(&format!(
            "{short:<55} {:>6} {:>6} {:>8} {:>7}\n",
            c.caught, c.missed, c.unviable, c.timeout
        ));
        total.caught += c.caught;
        total.missed += c.missed;
        total.unviable += c.unviable;
        total.timeout += c.timeout;
    }
    out.push_str(&format!(
        "{:<55} {:>6} {:>6} {:>8} {:>7}",
        "total", total.caught, total.missed, total.unviable, total.timeout
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_and_outcomes_are_read() {
        assert_eq!(
            parse(&["a.rs", "--shard", "1/4", "--in-diff", "x.diff"]).unwrap(),
            Options {
                files: vec!["a.rs".into()],
                shard: Some("1/4".into()),
                in_diff: Some("x.diff".into()),
                iterate: false,
            }
        );
        assert!(parse(&["--shard"]).is_err());
        assert!(parse(&["--bogus"]).is_err());

        let m = |file: &str, line: u32| {
            format!(
                r#"{{"Mutant": {{"file": "crates/yandex-market-chats/src/{file}", "line": {line}}}}}"#
            )
        };
        let json = format!(
            r#"{{"outcomes": [
            {{"scenario": "Baseline", "summary": "Success"}},
            {{"scenario": {}, "summary": "CaughtMutant"}},
            {{"scenario": {}, "summary": "MissedMutant"}},
            {{"scenario": {}, "summary": "MissedMutant"}},
            {{"scenario": {}, "summary": "Unviable"}},
            {{"scenario": {}, "summary": "Timeout"}}
        ]}}"#,
            m("retry.rs", 1),
            m("retry.rs", 2),
            m("retry.rs", 3),
            m("limits/window.rs", 1),
            m("limits/window.rs", 2)
        );
        let mut outcomes = Outcomes::new();
        merge(&mut outcomes, &json).unwrap();
        // The second pass catches one of the two survivors.
        let again = format!(
            r#"{{"outcomes": [{{"scenario": {}, "summary": "CaughtMutant"}}]}}"#,
            m("retry.rs", 3)
        );
        merge(&mut outcomes, &again).unwrap();
        let counts = count(&outcomes);
        assert_eq!(
            counts["crates/yandex-market-chats/src/retry.rs"],
            Counts {
                caught: 2,
                missed: 1,
                unviable: 0,
                timeout: 0
            }
        );
        assert_eq!(
            counts["crates/yandex-market-chats/src/limits/window.rs"],
            Counts {
                caught: 0,
                missed: 0,
                unviable: 1,
                timeout: 1
            }
        );
        assert!(
            merge(
                &mut outcomes,
                r#"{"outcomes": [{"scenario": {"Mutant": {"file": "a.rs"}}, "summary": "Odd"}]}"#
            )
            .is_err()
        );
        let table = table(&counts);
        assert!(
            table.contains("limits/window.rs") && table.ends_with("1        1       1"),
            "{table}"
        );
        assert!(is_rule_module(
            "crates/yandex-market-chats/src/limits/window.rs"
        ));
        assert!(!is_rule_module("crates/yandex-market-chats/src/chat.rs"));

        assert_eq!(slug(RULE_MODULES), "rules");
        assert_eq!(
            slug(&[
                "crates/yandex-market-chats/src/follow/*.rs",
                "crates/yandex-market-chats/src/config.rs"
            ]),
            "follow+config"
        );

        // Each module brings its own targets.
        let args = test_args(&["crates/yandex-market-chats/src/follow/*.rs"]);
        assert_eq!(args[0], "--lib");
        assert!(args.contains(&"follow_defects".to_owned()), "{args:?}");
        assert!(!args.contains(&"limiter_model".to_owned()), "{args:?}");
        let args = test_args(&["crates/yandex-market-chats/src/retry.rs"]);
        assert_eq!(args.len(), 1 + 2 * TEST_TARGETS.len(), "{args:?}");
    }
}
