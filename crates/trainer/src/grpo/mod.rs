//! Stage 3 building blocks: group-relative advantages and the GRPO policy loss, matching TRL.

pub mod advantages;
pub mod anchor;
pub mod completions;
pub mod loss;
pub mod reward;
