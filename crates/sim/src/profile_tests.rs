use super::*;

#[test]
fn builtin_profiles_are_valid() {
    for p in builtin_profiles() {
        assert!(p.check().is_empty(), "{}: {:?}", p.name, p.check());
    }
}

#[test]
fn plans_are_deterministic_per_seed_and_sequence() {
    let p = Profiles::builtin();
    let flaky = p.resolve("sim-flaky");
    let a = flaky.plan(42, 9, "sim-flaky", 100, None);
    let b = flaky.plan(42, 9, "sim-flaky", 100, None);
    assert_eq!(
        (a.ttft_ms, a.output_tokens, a.fault.clone(), a.words.clone()),
        (b.ttft_ms, b.output_tokens, b.fault, b.words)
    );
    let c = flaky.plan(43, 9, "sim-flaky", 100, None);
    assert!(a.ttft_ms != c.ttft_ms || a.words != c.words);
}

#[test]
fn unknown_models_use_the_default_profile_and_max_tokens_truncates() {
    let p = Profiles::builtin();
    assert_eq!(p.resolve("gpt-unknown").name, "default");
    let plan = p
        .resolve("sim-steady")
        .plan(1, 1, "sim-steady", 10, Some(5));
    assert_eq!(plan.output_tokens, 5);
    assert!(plan.truncated);
    assert_eq!(plan.ttft_ms, 200.0);
    assert_eq!(plan.token_due_ms(1), 210.0);
}

#[test]
fn fault_rates_follow_the_profile() {
    let p = Profiles::builtin();
    let flaky = p.resolve("sim-flaky");
    let faults = (0..4000)
        .filter(|i| flaky.plan(5, *i, "m", 10, None).fault.is_some())
        .count();
    assert!(
        (400..800).contains(&faults),
        "{faults} faults in 4000 at 15 %"
    );
    assert!(matches!(
        p.resolve("sim-429").plan(1, 1, "m", 1, None).fault,
        Some(Fault::RateLimit { .. })
    ));
}

#[test]
fn cache_ratios_split_the_input() {
    let plan = Profiles::builtin()
        .resolve("sim-cached")
        .plan(1, 1, "m", 1000, None);
    assert_eq!(
        (plan.cached_input_tokens, plan.cache_write_tokens),
        (750, 100)
    );
}

#[test]
fn a_profiles_file_adds_profiles_and_reports_bad_values_with_the_file_name() {
    let dir = tempfile_dir();
    let good = dir.join("good.yaml");
    std::fs::write(&good, "profiles:\n  - name: mine\n    ttft_ms: 5\n    tokens_per_second: 10\n    output_tokens_min: 1\n    output_tokens_max: 2\n").unwrap();
    assert_eq!(
        Profiles::with_file(&good).unwrap().resolve("mine").ttft_ms,
        5.0
    );
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, "profiles:\n  - name: mine\n    ttft_ms: -5\n    tokens_per_second: 0\n    output_tokens_min: 1\n    output_tokens_max: 2\n").unwrap();
    let err = Profiles::with_file(&bad).unwrap_err().to_string();
    assert!(
        err.contains("bad.yaml") && err.contains("ttft_ms") && err.contains("tokens_per_second"),
        "{err}"
    );
    let typo = dir.join("typo.yaml");
    std::fs::write(&typo, "profiles:\n  - name: mine\n    ttft: 5\n").unwrap();
    let err = Profiles::with_file(&typo).unwrap_err().to_string();
    assert!(err.contains("typo.yaml") && err.contains("ttft"), "{err}");
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("stackperf-sim-test-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}
