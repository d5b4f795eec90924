use super::*;

fn rec(json: &str) -> SpoolRecord {
    parse_line(json).unwrap()
}

fn idx() -> ModelIndex {
    HashMap::from([(
        "sim-fast".to_string(),
        ModelRoute {
            provider: "sim".to_string(),
            route: "sim".to_string(),
            upstream_model: "sim-fast".to_string(),
            price: None,
        },
    )])
}

#[test]
fn cost_is_tokens_times_declared_prices_and_unknown_is_never_zero() {
    let price = Price {
        input_per_mtok: 3.0,
        output_per_mtok: 15.0,
        cached_input_per_mtok: Some(0.3),
        cache_write_per_mtok: Some(3.75),
        as_of: None,
    };
    let priced = ModelRoute {
        price: Some(price),
        ..idx()["sim-fast"].clone()
    };
    // 1,000 input of which 200 cached and 100 written to the cache, 500 output.
    let tokens = (Some(1000), Some(500), Some(200), Some(100));
    let want = 700.0 * 3.0e-6 + 200.0 * 0.3e-6 + 100.0 * 3.75e-6 + 500.0 * 15.0e-6;
    let got = request_cost(Some(&priced), Some(99.0), true, tokens).unwrap();
    assert!((got - want).abs() < 1e-15, "{got} vs {want}");
    // No declared price: LiteLLM's cost, but its 0 for tokens used means "no price known".
    let unpriced = &idx()["sim-fast"];
    assert_eq!(
        request_cost(Some(unpriced), Some(0.0123), true, tokens),
        Some(0.0123)
    );
    assert_eq!(request_cost(Some(unpriced), Some(0.0), true, tokens), None);
    assert_eq!(request_cost(None, None, true, tokens), None);
    // Unknown usage with a price is unknown too; a failure that used nothing cost nothing.
    assert_eq!(
        request_cost(Some(&priced), None, true, (None, None, None, None)),
        None
    );
    assert_eq!(
        request_cost(Some(unpriced), None, false, (None, None, None, None)),
        Some(0.0)
    );
}

#[test]
fn a_streamed_chat_request_gets_ttft_from_the_first_delta_not_from_litellm() {
    let r = rec(
        r#"{"v":1,"litellm_call_id":"c1","status":"success","call_type":"acompletion","route":"/v1/chat/completions","stream":true,"start":1000.0,"end":1000.5,"completion_start":1000.006,"first_delta":1000.2,"model_group":"sim-fast","prompt_tokens":12,"completion_tokens":21,"cached_tokens":4,"key_alias":"sess-a","overhead_ms":3.5}"#,
    );
    let a = Attribution {
        session_id: "sess_a".into(),
        variant_id: 7,
        experiment: "e".into(),
        harness_profile: "h".into(),
    };
    let row = normalize(&r, Some(&a), &idx()).unwrap();
    assert!(
        (row.ttft_ms.unwrap() - 200.0).abs() < 1e-6,
        "{:?}",
        row.ttft_ms
    );
    assert!((row.latency_ms - 500.0).abs() < 1e-6);
    assert!((row.output_tokens_per_s.unwrap() - 20.0 / 0.3).abs() < 1e-6);
    assert_eq!(
        (row.input_tokens, row.output_tokens, row.cached_input_tokens),
        (Some(12), Some(21), Some(4))
    );
    assert_eq!(row.protocol_surface.as_deref(), Some("openai_chat"));
    assert_eq!(
        (row.provider.as_deref(), row.upstream_model.as_deref()),
        (Some("sim"), Some("sim-fast"))
    );
    assert_eq!(
        (row.session_id.as_deref(), row.variant_id),
        (Some("sess_a"), Some(7))
    );
    assert_eq!(row.status, RequestStatus::Success);
}

#[test]
fn ttft_is_absent_with_a_reason_when_it_is_not_defined() {
    let non_stream = rec(
        r#"{"litellm_call_id":"c2","status":"success","stream":false,"start":1.0,"end":1.4,"completion_start":1.4,"route":"/v1/responses"}"#,
    );
    let row = normalize(&non_stream, None, &idx()).unwrap();
    assert_eq!(row.ttft_ms, None);
    assert!(row.ttft_missing_reason.unwrap().contains("not streamed"));
    assert_eq!(
        row.session_id, None,
        "unattributed traffic is kept, not dropped"
    );
    assert_eq!(row.protocol_surface.as_deref(), Some("openai_responses"));

    let failed = rec(
        r#"{"litellm_call_id":"c3","status":"failure","stream":true,"start":1.0,"end":1.1,"error_code":"429","error_class":"RateLimitError","route":"/v1/messages"}"#,
    );
    let row = normalize(&failed, None, &idx()).unwrap();
    assert_eq!(
        (
            row.status.as_str(),
            row.http_status,
            row.error_class.as_deref()
        ),
        ("error", Some(429), Some("RateLimitError"))
    );
    assert!(row.ttft_missing_reason.unwrap().contains("failed"));
    assert_eq!(row.protocol_surface.as_deref(), Some("anthropic_messages"));
}

#[test]
fn anthropic_cache_fields_win_and_bad_lines_are_rejected() {
    let r = rec(
        r#"{"litellm_call_id":"c4","status":"success","stream":false,"start":1.0,"end":2.0,"cache_read_input_tokens":30,"cached_tokens":30,"cache_creation_input_tokens":5,"route":"/v1beta/models/m:streamGenerateContent"}"#,
    );
    let row = normalize(&r, None, &idx()).unwrap();
    assert_eq!(
        (row.cached_input_tokens, row.cache_write_tokens),
        (Some(30), Some(5))
    );
    assert_eq!(
        row.protocol_surface.as_deref(),
        Some("google_generate_content")
    );
    assert!(matches!(
        parse_line("{\"litellm_call_id\": "),
        Err(Reject::NotJson(_))
    ));
    assert_eq!(
        normalize(&rec(r#"{"start":1.0}"#), None, &idx()),
        Err(Reject::MissingField("litellm_call_id"))
    );
}
