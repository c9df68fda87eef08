//! Floats that survive JSON whatever their value: finite numbers as JSON numbers (exact: serde_json writes the
//! shortest round-trip form), NaN and ±infinity as the strings `"NaN"`, `"inf"` and `"-inf"`. Plain serde_json
//! writes non-finite floats as `null`, which does not read back — a checkpoint of a diverging GRPO batch would
//! verify and then fail to load. Use with `#[serde(with = "model::float_serde::vec_f32")]` and friends.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One float as JSON: a number (in its own precision, as serde_json writes it), or a non-finite name.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Repr<F> {
    Number(F),
    Name(String),
}

/// The float types written here.
trait Float: Copy {
    fn is_finite(self) -> bool;
    fn is_nan(self) -> bool;
    fn is_positive(self) -> bool;
    const NAN: Self;
    const INFINITY: Self;
    const NEG_INFINITY: Self;
}

macro_rules! float {
    ($t:ty) => {
        impl Float for $t {
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
            fn is_positive(self) -> bool {
                self > 0.0
            }
            const NAN: Self = <$t>::NAN;
            const INFINITY: Self = <$t>::INFINITY;
            const NEG_INFINITY: Self = <$t>::NEG_INFINITY;
        }
    };
}
float!(f32);
float!(f64);

fn to_repr<F: Float>(v: F) -> Repr<F> {
    match v {
        v if v.is_finite() => Repr::Number(v),
        v if v.is_nan() => Repr::Name("NaN".into()),
        v if v.is_positive() => Repr::Name("inf".into()),
        _ => Repr::Name("-inf".into()),
    }
}

fn from_repr<F: Float, E: serde::de::Error>(r: Repr<F>) -> Result<F, E> {
    match r {
        Repr::Number(v) => Ok(v),
        Repr::Name(s) => match s.as_str() {
            "NaN" => Ok(F::NAN),
            "inf" => Ok(F::INFINITY),
            "-inf" => Ok(F::NEG_INFINITY),
            other => Err(E::custom(format!("expected a number, \"NaN\", \"inf\" or \"-inf\", got {other:?}"))),
        },
    }
}

/// `Vec<f32>`.
pub mod vec_f32 {
    use super::*;

    /// Writes the values.
    pub fn serialize<S: Serializer>(values: &[f32], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(values.iter().map(|v| to_repr(*v)))
    }

    /// Reads the values.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f32>, D::Error> {
        Vec::<Repr<f32>>::deserialize(d)?.into_iter().map(from_repr).collect()
    }
}

/// `Vec<f64>`.
pub mod vec_f64 {
    use super::*;

    /// Writes the values.
    pub fn serialize<S: Serializer>(values: &[f64], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(values.iter().map(|v| to_repr(*v)))
    }

    /// Reads the values.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        Vec::<Repr<f64>>::deserialize(d)?.into_iter().map(from_repr).collect()
    }
}

/// `Option<Vec<Vec<f32>>>` (rows of values, or none).
pub mod opt_rows_f32 {
    use super::*;

    /// Writes the rows.
    pub fn serialize<S: Serializer>(rows: &Option<Vec<Vec<f32>>>, s: S) -> Result<S::Ok, S::Error> {
        let rows: Option<Vec<Vec<Repr<f32>>>> =
            rows.as_ref().map(|rows| rows.iter().map(|r| r.iter().map(|v| to_repr(*v)).collect()).collect());
        rows.serialize(s)
    }

    /// Reads the rows.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Vec<f32>>>, D::Error> {
        let rows = Option::<Vec<Vec<Repr<f32>>>>::deserialize(d)?;
        rows.map(|rows| rows.into_iter().map(|r| r.into_iter().map(from_repr).collect()).collect()).transpose()
    }
}

/// `Vec<(String, f64)>` (named metrics).
pub mod named_f64 {
    use super::*;

    /// Writes the pairs.
    pub fn serialize<S: Serializer>(pairs: &[(String, f64)], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(pairs.iter().map(|(k, v)| (k, to_repr(*v))))
    }

    /// Reads the pairs.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, f64)>, D::Error> {
        Vec::<(String, Repr<f64>)>::deserialize(d)?.into_iter().map(|(k, r)| from_repr(r).map(|v| (k, v))).collect()
    }
}

#[cfg(test)]
mod tests {
    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Probe {
        #[serde(with = "super::vec_f32")]
        a: Vec<f32>,
        #[serde(with = "super::vec_f64")]
        b: Vec<f64>,
        #[serde(with = "super::opt_rows_f32")]
        c: Option<Vec<Vec<f32>>>,
        #[serde(with = "super::named_f64")]
        d: Vec<(String, f64)>,
    }

    #[test]
    fn non_finite_values_round_trip_and_finite_ones_stay_exact() {
        let probe = Probe {
            a: vec![0.1, -3.4028235e38, f32::NEG_INFINITY, 1e-45],
            b: vec![f64::INFINITY, 0.1 + 0.2],
            c: Some(vec![vec![f32::NAN, 2.5], vec![]]),
            d: vec![("x".into(), f64::NAN), ("y".into(), -0.0)],
        };
        let text = serde_json::to_string(&probe).unwrap();
        assert!(text.contains("\"NaN\"") && text.contains("\"-inf\"") && text.contains("\"inf\""), "{text}");
        let back: Probe = serde_json::from_str(&text).unwrap();
        assert_eq!(
            back.a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            probe.a.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        assert_eq!(back.b, probe.b);
        assert!(back.c.as_ref().unwrap()[0][0].is_nan() && back.c.as_ref().unwrap()[0][1] == 2.5);
        assert!(back.d[0].1.is_nan() && back.d[1].1.to_bits() == (-0.0f64).to_bits());
        let bad: Result<Probe, _> = serde_json::from_str(r#"{"a":["nope"],"b":[],"c":null,"d":[]}"#);
        assert!(bad.unwrap_err().to_string().contains("\"nope\""));
    }
}
