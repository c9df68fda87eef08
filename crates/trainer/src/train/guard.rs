//! The NaN/Inf guard: a step whose loss or gradient norm is not finite is skipped (no optimizer update) and
//! counted; too many in a row stop the run with a message that says what to change.

use crate::train::checkpoint::TrainState;

/// Whether the step's update should be applied. Updates `state`'s counters; an error once `limit` consecutive
/// steps were bad.
pub fn check_step(state: &mut TrainState, loss: f64, grad_norm: f64, limit: usize) -> anyhow::Result<bool> {
    if loss.is_finite() && grad_norm.is_finite() {
        state.bad_steps_in_a_row = 0;
        return Ok(true);
    }
    state.bad_steps_in_a_row += 1;
    state.bad_steps_total += 1;
    let step = state.step + 1;
    eprintln!(
        "[{}] step {step}: non-finite loss ({loss}) or gradient norm ({grad_norm}); step skipped",
        state.stage_name
    );
    if state.bad_steps_in_a_row >= limit {
        anyhow::bail!(
            "stage `{}`: {} consecutive steps had a NaN/Inf loss or gradient (last at step {step}); lower \
             stage.optim.lr, check the data, or raise run.max_bad_steps",
            state.stage_name,
            state.bad_steps_in_a_row
        );
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> TrainState {
        TrainState {
            stage_index: 0,
            stage_name: "warmup".into(),
            step: 0,
            stage_steps: 10,
            global_step: 0,
            resume: Default::default(),
            bad_steps_in_a_row: 0,
            bad_steps_total: 0,
            tokens: 0,
            world_size: 1,
            ranks: Vec::new(),
        }
    }

    #[test]
    fn skips_bad_steps_and_stops_after_the_limit() {
        let mut s = state();
        assert!(check_step(&mut s, 1.0, 2.0, 2).unwrap());
        assert!(!check_step(&mut s, f64::NAN, 2.0, 2).unwrap());
        assert_eq!((s.bad_steps_in_a_row, s.bad_steps_total), (1, 1));
        assert!(check_step(&mut s, 1.0, 2.0, 2).unwrap(), "a good step resets the streak");
        assert!(!check_step(&mut s, 1.0, f64::INFINITY, 2).unwrap());
        s.step = 6;
        let err = check_step(&mut s, f64::NAN, 1.0, 2).unwrap_err().to_string();
        assert!(err.contains("stage `warmup`") && err.contains("step 7") && err.contains("run.max_bad_steps"), "{err}");
        assert_eq!(s.bad_steps_total, 3);
    }
}
