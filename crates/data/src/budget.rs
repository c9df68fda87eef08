//! Groups consecutive items into batches under a token budget, never reordering.

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::policy::{BadRowPolicy, SkipReason, SkipStats};

/// Limits of a [`TokenBudgetBatcher`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenBudget {
    /// Most `batch_size * longest_item` tokens per batch.
    pub max_tokens: usize,
    /// Optional cap on items per batch.
    #[serde(default)]
    pub max_items: Option<usize>,
    /// What to do with an item longer than `max_tokens` on its own.
    #[serde(default)]
    pub oversized: BadRowPolicy,
}

/// Batches consecutive items so that `items × longest item ≤ max_tokens`.
///
/// `len` gives an item's length in tokens (counted as at least 1) and `label` names it in
/// errors (id and origin). An item over the whole budget is an error, or with
/// [`BadRowPolicy::Skip`] is dropped and counted under [`SkipReason::OverTokenBudget`].
/// An error from the inner iterator is passed on and ends the batcher.
pub struct TokenBudgetBatcher<I, T, L, D> {
    inner: I,
    budget: TokenBudget,
    len: L,
    label: D,
    pending: Option<(T, usize)>,
    skipped: SkipStats,
    done: bool,
}

impl<I, T, L, D> TokenBudgetBatcher<I, T, L, D>
where
    I: Iterator<Item = Result<T>>,
    L: FnMut(&T) -> usize,
    D: FnMut(&T) -> String,
{
    /// Wraps `inner`; fails if the budget is zero.
    pub fn new(inner: I, budget: TokenBudget, len: L, label: D) -> Result<Self> {
        if budget.max_tokens == 0 || budget.max_items == Some(0) {
            return Err(DataError::Config("token budget and max items per batch must be at least 1".into()));
        }
        Ok(Self { inner, budget, len, label, pending: None, skipped: SkipStats::default(), done: false })
    }

    /// Items skipped for being over budget.
    pub fn skipped(&self) -> SkipStats {
        self.skipped
    }

    /// The next item with its length, skipping or rejecting oversized ones.
    fn pull(&mut self) -> Option<Result<(T, usize)>> {
        if let Some(p) = self.pending.take() {
            return Some(Ok(p));
        }
        loop {
            let item = match self.inner.next()? {
                Ok(item) => item,
                Err(e) => return Some(Err(e)),
            };
            let tokens = (self.len)(&item).max(1);
            if tokens <= self.budget.max_tokens {
                return Some(Ok((item, tokens)));
            }
            if self.budget.oversized == BadRowPolicy::Error {
                return Some(Err(DataError::OverBudget {
                    item: (self.label)(&item),
                    tokens,
                    budget: self.budget.max_tokens,
                }));
            }
            self.skipped.record(SkipReason::OverTokenBudget);
        }
    }
}

impl<I, T, L, D> Iterator for TokenBudgetBatcher<I, T, L, D>
where
    I: Iterator<Item = Result<T>>,
    L: FnMut(&T) -> usize,
    D: FnMut(&T) -> String,
{
    type Item = Result<Vec<T>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut batch = Vec::new();
        let mut longest = 0;
        while let Some(next) = self.pull() {
            let (item, tokens) = match next {
                Ok(p) => p,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            };
            let longer = longest.max(tokens);
            let full = self.budget.max_items.is_some_and(|m| batch.len() >= m);
            if !batch.is_empty() && (full || (batch.len() + 1) * longer > self.budget.max_tokens) {
                self.pending = Some((item, tokens));
                return Some(Ok(batch));
            }
            longest = longer;
            batch.push(item);
        }
        self.done = true;
        (!batch.is_empty()).then_some(Ok(batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batches(lens: &[usize], budget: TokenBudget) -> Result<Vec<Vec<usize>>> {
        let items = lens.iter().map(|&n| Ok(n)).collect::<Vec<_>>();
        TokenBudgetBatcher::new(items.into_iter(), budget, |n| *n, |n| format!("item of {n}"))?.collect()
    }

    fn budget(max_tokens: usize) -> TokenBudget {
        TokenBudget { max_tokens, max_items: None, oversized: BadRowPolicy::Error }
    }

    #[test]
    fn groups_in_order_under_budget() {
        let got = batches(&[2, 3, 3, 5, 1, 1], budget(10)).unwrap();
        assert_eq!(got, vec![vec![2, 3, 3], vec![5, 1], vec![1]]);
        for b in &got {
            assert!(b.len() * b.iter().max().unwrap() <= 10);
        }
    }

    #[test]
    fn caps_items() {
        let b = TokenBudget { max_items: Some(2), ..budget(100) };
        assert_eq!(batches(&[1, 1, 1], b).unwrap(), vec![vec![1, 1], vec![1]]);
    }

    #[test]
    fn oversized_item_errors_or_is_counted() {
        let err = batches(&[2, 11, 2], budget(10)).unwrap_err().to_string();
        assert!(err.contains("item of 11"), "{err}");
        let skip = TokenBudget { oversized: BadRowPolicy::Skip, ..budget(10) };
        let items = [2usize, 11, 2].map(Ok);
        let mut b = TokenBudgetBatcher::new(items.into_iter(), skip, |n| *n, |n| n.to_string()).unwrap();
        assert_eq!(b.next().unwrap().unwrap(), vec![2, 2]);
        assert!(b.next().is_none());
        assert_eq!(b.skipped().get(SkipReason::OverTokenBudget), 1);
    }
}
