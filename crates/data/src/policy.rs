//! What to do with bad rows, and counters of the rows skipped.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What to do with a row that violates its schema (null or empty text, empty positive list, ...).
///
/// Structural problems (missing column, wrong Arrow type, unreadable file) are always errors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BadRowPolicy {
    /// Fail with an error naming file, row group, row and column (the default).
    #[default]
    Error,
    /// Drop the row and count it in [`SkipStats`].
    Skip,
}

/// Why a row was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// A required value is null.
    NullValue,
    /// A required string is empty or only whitespace.
    EmptyValue,
    /// A required list (e.g. the positives) is empty.
    EmptyList,
    /// A list has a null or empty element.
    BadListItem,
    /// An integer does not fit the expected range.
    OutOfRange,
    /// An item is longer than a whole batch's token budget.
    OverTokenBudget,
}

impl SkipReason {
    /// All reasons, in counter order.
    pub const ALL: [SkipReason; 6] = [
        SkipReason::NullValue,
        SkipReason::EmptyValue,
        SkipReason::EmptyList,
        SkipReason::BadListItem,
        SkipReason::OutOfRange,
        SkipReason::OverTokenBudget,
    ];

    /// A stable snake_case name, for logs.
    pub fn name(self) -> &'static str {
        match self {
            SkipReason::NullValue => "null_value",
            SkipReason::EmptyValue => "empty_value",
            SkipReason::EmptyList => "empty_list",
            SkipReason::BadListItem => "bad_list_item",
            SkipReason::OutOfRange => "out_of_range",
            SkipReason::OverTokenBudget => "over_token_budget",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Per-reason counters of skipped rows (only non-zero under [`BadRowPolicy::Skip`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkipStats {
    counts: [u64; SkipReason::ALL.len()],
}

impl SkipStats {
    /// Counts one skipped row.
    pub fn record(&mut self, reason: SkipReason) {
        self.counts[reason as usize] += 1;
    }

    /// Rows skipped for `reason`.
    pub fn get(&self, reason: SkipReason) -> u64 {
        self.counts[reason as usize]
    }

    /// Rows skipped for any reason.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Adds another set of counters to this one.
    pub fn merge(&mut self, other: &SkipStats) {
        for (a, b) in self.counts.iter_mut().zip(other.counts) {
            *a += b;
        }
    }

    /// `(reason, count)` for every reason with a non-zero count.
    pub fn iter(&self) -> impl Iterator<Item = (SkipReason, u64)> + '_ {
        SkipReason::ALL.into_iter().map(|r| (r, self.get(r))).filter(|&(_, n)| n > 0)
    }
}

impl fmt::Display for SkipStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.total() == 0 {
            return f.write_str("none skipped");
        }
        let parts: Vec<String> = self.iter().map(|(r, n)| format!("{r}={n}")).collect();
        f.write_str(&parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_reason() {
        let mut s = SkipStats::default();
        s.record(SkipReason::NullValue);
        s.record(SkipReason::NullValue);
        s.record(SkipReason::EmptyList);
        assert_eq!(s.get(SkipReason::NullValue), 2);
        assert_eq!(s.total(), 3);
        assert_eq!(s.to_string(), "null_value=2, empty_list=1");
        let mut t = SkipStats::default();
        t.merge(&s);
        assert_eq!(t, s);
    }
}
