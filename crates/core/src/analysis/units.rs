//! How values are written for people, per unit: one table ([`UNIT_FORMATS`]) that the CLI, the
//! reports and the desktop UI (the table is a constant in its generated bindings) all write with.
//! (A value exactly halfway between two decimals in binary, e.g. 61.25, may round up in the UI's
//! `toFixed` and to even here; every other value reads the same.)

use serde::Serialize;

/// How a value is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Milliseconds,
    Seconds,
    /// 0…1, shown as a percentage.
    Ratio,
    Count,
    TokensPerSecond,
    /// US dollars; unknown (no price) is shown as "n/a", never as 0.
    Usd,
}

/// One way of writing a value: for absolute values from `from` up (until the next step),
/// `x × scale` with `decimals` decimals, between `prefix` and `suffix`.
#[derive(Debug, Clone, Copy, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct FormatStep {
    pub from: f64,
    pub scale: f64,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub decimals: usize,
    pub prefix: &'static str,
    pub suffix: &'static str,
}

/// How one unit's values are written, and what stands for a missing one.
#[derive(Debug, Clone, Copy, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct UnitFormat {
    pub unit: Unit,
    pub missing: &'static str,
    pub steps: &'static [FormatStep],
}

const fn step(from: f64, scale: f64, decimals: usize, suffix: &'static str) -> FormatStep {
    FormatStep {
        from,
        scale,
        decimals,
        prefix: "",
        suffix,
    }
}

const MS: UnitFormat = UnitFormat {
    unit: Unit::Milliseconds,
    missing: "–",
    steps: &[
        step(0.0, 1.0, 1, " ms"),
        step(100.0, 1.0, 0, " ms"),
        step(1000.0, 0.001, 2, " s"),
    ],
};
const S: UnitFormat = UnitFormat {
    unit: Unit::Seconds,
    missing: "–",
    steps: &[step(0.0, 1.0, 1, " s")],
};
const RATIO: UnitFormat = UnitFormat {
    unit: Unit::Ratio,
    missing: "–",
    steps: &[step(0.0, 100.0, 1, " %")],
};
const COUNT: UnitFormat = UnitFormat {
    unit: Unit::Count,
    missing: "–",
    steps: &[step(0.0, 1.0, 0, "")],
};
const TPS: UnitFormat = UnitFormat {
    unit: Unit::TokensPerSecond,
    missing: "–",
    steps: &[step(0.0, 1.0, 1, " tok/s")],
};
const USD: UnitFormat = UnitFormat {
    unit: Unit::Usd,
    missing: "n/a",
    steps: &[
        FormatStep {
            prefix: "$",
            ..step(0.0, 1.0, 4, "")
        },
        FormatStep {
            prefix: "$",
            ..step(1.0, 1.0, 2, "")
        },
    ],
};

/// Every unit's format.
pub const UNIT_FORMATS: &[UnitFormat] = &[MS, S, RATIO, COUNT, TPS, USD];

impl Unit {
    pub fn format(self) -> &'static UnitFormat {
        match self {
            Unit::Milliseconds => &MS,
            Unit::Seconds => &S,
            Unit::Ratio => &RATIO,
            Unit::Count => &COUNT,
            Unit::TokensPerSecond => &TPS,
            Unit::Usd => &USD,
        }
    }
}

/// A value in its unit, for people (the CLI, the HTML report; the UI writes with the same table).
pub fn format_value(unit: Unit, x: Option<f64>) -> String {
    let f = unit.format();
    let Some(x) = x.filter(|x| x.is_finite()) else {
        return f.missing.into();
    };
    match f.steps.iter().rev().find(|s| x.abs() >= s.from) {
        Some(s) => format!("{}{:.*}{}", s.prefix, s.decimals, x * s.scale, s.suffix),
        None => x.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_is_written_by_its_steps() {
        let f = |u, x| format_value(u, Some(x));
        assert_eq!(f(Unit::Milliseconds, 12.34), "12.3 ms");
        assert_eq!(f(Unit::Milliseconds, 99.94), "99.9 ms");
        assert_eq!(f(Unit::Milliseconds, 850.0), "850 ms");
        assert_eq!(f(Unit::Milliseconds, 1500.0), "1.50 s");
        assert_eq!(f(Unit::Milliseconds, -1500.0), "-1.50 s");
        assert_eq!(f(Unit::Seconds, 61.26), "61.3 s");
        assert_eq!(f(Unit::Ratio, 0.125), "12.5 %");
        assert_eq!(f(Unit::Count, 3.0), "3");
        assert_eq!(f(Unit::TokensPerSecond, 88.88), "88.9 tok/s");
        assert_eq!(f(Unit::Usd, 0.01234), "$0.0123");
        assert_eq!(f(Unit::Usd, 12.345), "$12.35");
        assert_eq!(format_value(Unit::Usd, None), "n/a");
        assert_eq!(format_value(Unit::Milliseconds, Some(f64::NAN)), "–");
        for u in UNIT_FORMATS {
            assert_eq!(u.unit.format().unit, u.unit);
            assert_eq!(u.steps.first().map(|s| s.from), Some(0.0), "{:?}", u.unit);
            assert!(u.steps.windows(2).all(|w| w[0].from < w[1].from));
        }
    }
}
