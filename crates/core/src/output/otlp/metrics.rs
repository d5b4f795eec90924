//! The GenAI client metrics (the conventions' `gen_ai.client.*` histograms, with their
//! recommended buckets) of each request sent as a span, with the variant and harness as
//! attributes; exported every 10 s and on a flush.

use std::time::Duration;

use opentelemetry::metrics::{Histogram, MeterProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};

use crate::store::spans::{SpanRequest, SpanSession};

/// The conventions' buckets for durations in seconds.
const SECONDS: [f64; 14] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];
/// The conventions' buckets for token counts.
const TOKENS: [f64; 14] = [
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];

/// The meter provider and its three instruments.
pub struct Meters {
    provider: SdkMeterProvider,
    duration: Histogram<f64>,
    tokens: Histogram<u64>,
    ttft: Histogram<f64>,
}

impl Meters {
    pub fn new(exporter: opentelemetry_otlp::MetricExporter) -> Meters {
        let provider = SdkMeterProvider::builder()
            .with_reader(
                PeriodicReader::builder(exporter)
                    .with_interval(Duration::from_secs(10))
                    .build(),
            )
            .with_resource(super::resource())
            .build();
        let meter = provider.meter_with_scope(super::spans::scope());
        Meters {
            duration: meter
                .f64_histogram("gen_ai.client.operation.duration")
                .with_unit("s")
                .with_description("GenAI operation duration")
                .with_boundaries(SECONDS.to_vec())
                .build(),
            tokens: meter
                .u64_histogram("gen_ai.client.token.usage")
                .with_unit("{token}")
                .with_description("Number of input and output tokens used")
                .with_boundaries(TOKENS.to_vec())
                .build(),
            ttft: meter
                .f64_histogram("gen_ai.client.operation.time_to_first_chunk")
                .with_unit("s")
                .with_description("Time to receive the first chunk in a streaming response")
                .with_boundaries(SECONDS.to_vec())
                .build(),
            provider,
        }
    }

    /// One request's measurements.
    pub fn record(&self, r: &SpanRequest, s: &SpanSession) {
        let mut attrs = vec![
            KeyValue::new(
                "gen_ai.operation.name",
                super::spans::operation(r.protocol_surface.as_deref()),
            ),
            KeyValue::new("gen_ai.request.model", r.model.clone().unwrap_or_default()),
            KeyValue::new("stackperf.variant", s.variant.clone()),
            KeyValue::new("stackperf.harness", s.harness.clone()),
        ];
        if let Some(p) = &r.provider {
            attrs.push(KeyValue::new("gen_ai.provider.name", p.clone()));
        }
        if !r.success {
            attrs.push(KeyValue::new(
                "error.type",
                r.error_class.clone().unwrap_or_else(|| "_OTHER".into()),
            ));
        }
        let seconds = r.finished_at.ms_since(r.started_at).max(0.0) / 1000.0;
        self.duration.record(seconds, &attrs);
        if let (true, Some(ms)) = (r.streamed, r.ttft_ms) {
            self.ttft.record(ms / 1000.0, &attrs);
        }
        for (kind, n) in [("input", r.input_tokens), ("output", r.output_tokens)] {
            if let Some(n) = n.and_then(|n| u64::try_from(n).ok()) {
                let mut a = attrs.clone();
                a.push(KeyValue::new("gen_ai.token.type", kind));
                self.tokens.record(n, &a);
            }
        }
    }

    /// Export what was recorded now (blocks until the endpoint answered or timed out).
    pub fn flush(&self) -> bool {
        self.provider.force_flush().is_ok()
    }
}
