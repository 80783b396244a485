//! The defaults compiled into loadgen (`loadgen/defaults/`: the built-in
//! profiles and the prompt corpus) are the very files the repository keeps
//! in `load-tests/` for people, k6 and the bench scripts: when a copy
//! exists there, it must be identical, so `--profile smoke` and
//! `--profile-file load-tests/profiles/smoke.toml` cannot drift apart.

#![allow(clippy::unwrap_used)]

use std::path::Path;

#[test]
fn every_default_matches_its_copy_in_load_tests() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let load_tests = crate_dir.join("../load-tests");
    let mut files = vec!["prompts.txt".to_string()];
    for name in loadgen::profile::BUILTIN {
        files.push(format!("profiles/{name}.toml"));
    }
    let mut compared = 0;
    for file in &files {
        let ours = std::fs::read_to_string(crate_dir.join("defaults").join(file)).unwrap();
        // The crate alone (packaged, or the load-tests copy retired) has
        // nothing to compare with.
        let Ok(theirs) = std::fs::read_to_string(load_tests.join(file)) else {
            continue;
        };
        assert_eq!(
            ours, theirs,
            "loadgen/defaults/{file} and load-tests/{file} differ: change both"
        );
        compared += 1;
    }
    eprintln!(
        "compared {compared} of {} defaults with load-tests/",
        files.len()
    );
}

#[test]
fn the_built_in_profiles_are_the_default_files() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    for name in loadgen::profile::BUILTIN {
        let from_file = loadgen::profile::Profile::load(
            &crate_dir.join(format!("defaults/profiles/{name}.toml")),
        )
        .unwrap();
        assert_eq!(
            loadgen::profile::Profile::builtin(name).unwrap(),
            from_file,
            "{name}"
        );
    }
    let text = std::fs::read_to_string(crate_dir.join("defaults/prompts.txt")).unwrap();
    assert_eq!(loadgen::users::BUILTIN_PROMPTS, text);
}
