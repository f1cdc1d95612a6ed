//! The observation language: one line, `METRIC OP NUMBER` (OP one of `==`, `!=`, `<`, `<=`,
//! `>`, `>=`) or `METRIC within P% of NUMBER`; `true` and `false` stand for 1 and 0.

use std::fmt;

/// How a measured value is compared with the expected one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Comparison {
    Equal(f64),
    NotEqual(f64),
    Less(f64),
    LessOrEqual(f64),
    Greater(f64),
    GreaterOrEqual(f64),
    /// Within `percent` percent of `of` (of its magnitude).
    Within {
        percent: f64,
        of: f64,
    },
}

/// One expected observation.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    /// What is measured: a metric's name (docs/lab.md, "Checking your answers").
    pub metric: String,
    pub comparison: Comparison,
}

/// What an observation says and how it is written, for the errors.
pub const GRAMMAR: &str = "an observation is METRIC OP NUMBER (OP one of ==, !=, <, <=, >, >=) \
                           or METRIC within P% of NUMBER, words separated by spaces, e.g. \"rto_timeouts == 1\" or \
                           \"sim_seconds within 5% of 0.4\"";

impl Observation {
    /// Parse one observation, or say what is wrong with it.
    pub fn parse(text: &str) -> Result<Observation, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let comparison = match words.as_slice() {
            [_, "within", percent, "of", value] => {
                let percent = percent
                    .strip_suffix('%')
                    .and_then(|number| number.parse::<f64>().ok())
                    .filter(|percent| percent.is_finite() && *percent >= 0.0)
                    .ok_or_else(|| {
                        format!(
                            "expected a percentage such as 5% after \"within\", not {percent:?}"
                        )
                    })?;
                Comparison::Within {
                    percent,
                    of: number(value)?,
                }
            }
            [_, op, value] => {
                let value = number(value)?;
                match *op {
                    "==" => Comparison::Equal(value),
                    "!=" => Comparison::NotEqual(value),
                    "<" => Comparison::Less(value),
                    "<=" => Comparison::LessOrEqual(value),
                    ">" => Comparison::Greater(value),
                    ">=" => Comparison::GreaterOrEqual(value),
                    other => return Err(format!("{other:?} is no comparison: {GRAMMAR}")),
                }
            }
            _ => return Err(format!("cannot read {text:?}: {GRAMMAR}")),
        };
        Ok(Observation {
            metric: words[0].to_string(),
            comparison,
        })
    }

    /// Whether `measured` (`None`: the run gave the metric no value) bears it out.
    pub fn holds(&self, measured: Option<f64>) -> bool {
        let Some(measured) = measured else {
            return false;
        };
        match self.comparison {
            Comparison::Equal(value) => measured == value,
            Comparison::NotEqual(value) => measured != value,
            Comparison::Less(value) => measured < value,
            Comparison::LessOrEqual(value) => measured <= value,
            Comparison::Greater(value) => measured > value,
            Comparison::GreaterOrEqual(value) => measured >= value,
            Comparison::Within { percent, of } => {
                (measured - of).abs() <= percent / 100.0 * of.abs()
            }
        }
    }
}

/// A number, or `true` (1) or `false` (0).
fn number(text: &str) -> Result<f64, String> {
    match text {
        "true" => Ok(1.0),
        "false" => Ok(0.0),
        _ => text
            .parse::<f64>()
            .ok()
            .filter(|value| value.is_finite())
            .ok_or_else(|| format!("expected a number, true or false, not {text:?}")),
    }
}

/// A value as the report shows it: a whole number without decimals, others with up to six.
pub struct Shown(pub f64);

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = self.0;
        if value.fract() == 0.0 && value.abs() < 1e15 {
            return write!(f, "{value:.0}");
        }
        let text = format!("{value:.6}");
        f.write_str(text.trim_end_matches('0').trim_end_matches('.'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_parse_and_compare() {
        let equal = Observation::parse("rto_timeouts == 1").unwrap();
        assert_eq!(equal.metric, "rto_timeouts");
        assert!(equal.holds(Some(1.0)));
        assert!(!equal.holds(Some(2.0)));
        assert!(!equal.holds(None));
        let within = Observation::parse("sim_seconds  within 5% of 0.4").unwrap();
        assert!(within.holds(Some(0.419)));
        assert!(!within.holds(Some(0.421)));
        assert!(Observation::parse("intact == true")
            .unwrap()
            .holds(Some(1.0)));
        assert!(Observation::parse("a.cwnd >= 2400")
            .unwrap()
            .holds(Some(2400.0)));
        assert!(!Observation::parse("a.cwnd > 2400")
            .unwrap()
            .holds(Some(2400.0)));
    }

    #[test]
    fn malformed_observations_say_what_is_valid() {
        for text in [
            "rto_timeouts = 1",
            "rto_timeouts == one",
            "rto_timeouts",
            "x within 5 of 3",
            "x within 5% of",
            "x == inf",
        ] {
            let error = Observation::parse(text).unwrap_err();
            assert!(
                error.contains("expected") || error.contains("METRIC OP NUMBER"),
                "{text}: {error}"
            );
        }
    }

    #[test]
    fn values_show_as_whole_numbers_or_short_decimals() {
        assert_eq!(Shown(3.0).to_string(), "3");
        assert_eq!(Shown(0.08).to_string(), "0.08");
        assert_eq!(Shown(0.1 + 0.2).to_string(), "0.3");
        assert_eq!(Shown(2_928_000.5).to_string(), "2928000.5");
    }
}
