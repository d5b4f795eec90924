use super::*;

#[test]
fn names_are_unique_and_findable() {
    for (i, m) in METRICS.iter().enumerate() {
        assert!(
            METRICS[i + 1..]
                .iter()
                .all(|o| o.name != m.name && o.short != m.short),
            "{} is defined twice",
            m.name
        );
        assert_eq!(find(m.name).map(|f| f.name), Some(m.name));
        assert_eq!(find(m.short).map(|f| f.name), Some(m.name));
    }
    assert!(find("tokens_per_s").is_some() && find("nope").is_none());
}

#[test]
fn verdicts_need_enough_sessions_and_name_the_winner() {
    let lat = find("latency_p50_ms").expect("latency");
    let tps = find("tokens_per_s_p50").expect("tok/s");
    let sides = |na, nb| Sides {
        a: "a",
        b: "b",
        na,
        nb,
    };
    let v = Verdict::judge(&sides(2, 5), lat, Some(-10.0), Some(0.01));
    assert_eq!(
        v,
        Verdict::Insufficient {
            need: 3,
            have_a: 2,
            have_b: 5
        }
    );
    assert!(v.text(lat).starts_with("not enough sessions"));
    let v = Verdict::judge(&sides(5, 5), lat, Some(-10.0), Some(0.01));
    assert_eq!(v.text(lat), "b is faster than a (p = 0.010)");
    let v = Verdict::judge(&sides(3, 3), lat, Some(25.0), Some(0.04));
    assert!(matches!(
        &v,
        Verdict::Better { winner, indicative_below: Some(5), .. } if winner == "a"
    ));
    assert!(v.text(lat).contains("indicative"), "{}", v.text(lat));
    let v = Verdict::judge(&sides(4, 4), tps, Some(3.0), Some(0.2));
    assert!(matches!(
        v,
        Verdict::NoDifference {
            indicative_below: None,
            ..
        }
    ));
    let v = Verdict::judge(&sides(4, 4), tps, Some(3.0), Some(0.01));
    assert_eq!(v.text(tps), "b is higher throughput than a (p = 0.010)");
    // A variant whose harness does not stream has sessions but no first token.
    let ttft = find("ttft").expect("ttft");
    let v = Verdict::judge_with(&sides(3, 0), (3, 3), ttft, None, None);
    assert_eq!(
        v.text(ttft),
        "b: no first-token time: this harness does not stream"
    );
    let v = Verdict::judge_with(&sides(3, 0), (3, 0), ttft, None, None);
    assert!(
        matches!(v, Verdict::Insufficient { .. }),
        "no sessions at all: {v:?}"
    );
}

#[test]
fn values_are_shown_in_their_unit() {
    assert_eq!(format_value(Unit::Milliseconds, Some(850.0)), "850 ms");
    assert_eq!(format_value(Unit::Milliseconds, Some(1234.0)), "1.23 s");
    assert_eq!(format_value(Unit::Ratio, Some(0.125)), "12.5 %");
    assert_eq!(format_value(Unit::Count, None), "–");
}

#[test]
fn the_session_table_columns_are_registered_metrics() {
    for name in SESSION_COLUMNS {
        assert!(find(name).is_some(), "{name} is not in METRICS");
    }
    assert_eq!(
        infos().iter().filter(|m| m.session_column).count(),
        SESSION_COLUMNS.len()
    );
}
