//! The training framework for reasoning retrievers: recipes, the shared training loop, the curriculum stages,
//! evaluation and the command-line tools behind `cargo run -p trainer`.

pub mod data_cmd;
pub mod embed;
pub mod eval;
pub mod grpo;
pub mod losses;
pub mod model_card;
pub mod model_source;
pub mod npy;
pub mod recipe;
pub mod recipe_keys;
pub mod stages;
pub mod sweep;
pub mod train;
