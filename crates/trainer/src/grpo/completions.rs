//! The completions log (TRL's `log_completions`): every N generation batches, one JSON line per rollout in
//! `<run>/completions.jsonl` — the query, the reasoning it sampled, how it ended, its reward and reward parts, its
//! advantage and whether it took part in the loss. Scalar metrics hide reward hacking and degenerate text; these
//! lines show them. Rank 0 writes its own rollouts. A resumed stage first drops its lines past the checkpoint's
//! step, so a generation made again is not logged twice. The same rollouts also go to TensorBoard's Text tab as a
//! markdown table (`<stage>/completions`).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use model::{Rollout, TextTokenizer};
use serde_json::{Value, json};

/// Where and how often completions are logged.
pub struct CompletionsLog {
    path: PathBuf,
    every: usize,
    stage: String,
    /// The markdown table of the last logged generation, until the step that made it hands it to TensorBoard.
    table: Option<String>,
}

/// One rollout's reward parts.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RewardParts {
    /// The retrieval reward.
    pub retrieval: f64,
    /// The format bonus.
    pub format: f64,
    /// The length penalty (subtracted).
    pub length: f64,
}

/// One generation batch as the log needs it (this rank's share).
pub struct LoggedGeneration<'a> {
    /// Generation index in the stage.
    pub generation: usize,
    /// The stage step (1-based) whose update first uses it.
    pub stage_step: usize,
    /// Query id per prompt.
    pub query_ids: &'a [String],
    /// Prompt ids per query.
    pub prompts: &'a [Vec<u32>],
    /// The rollouts, query-major.
    pub rollouts: &'a [Rollout],
    /// Total reward per rollout.
    pub rewards: &'a [f64],
    /// Reward parts per rollout.
    pub parts: &'a [RewardParts],
    /// Advantage per rollout.
    pub advantages: &'a [f64],
    /// Whether each rollout is in the loss.
    pub in_loss: &'a [bool],
}

impl CompletionsLog {
    /// The log of stage `stage` in `run_dir`, every `every` generations; `start_step` is the stage step the stage
    /// starts from (0, or a resumed checkpoint's): the stage's lines of later steps — left by a killed attempt — are
    /// removed, so every generation is logged once.
    pub fn open(run_dir: &Path, stage: &str, every: usize, start_step: usize) -> anyhow::Result<Self> {
        let path = run_dir.join("completions.jsonl");
        if let Ok(text) = std::fs::read_to_string(&path) {
            let step = start_step;
            let kept: String = text
                .lines()
                .filter(|l| {
                    serde_json::from_str::<Value>(l).is_ok_and(|v| {
                        v["stage"].as_str() != Some(stage)
                            || v["stage_step"].as_u64().is_some_and(|s| s as usize <= step)
                    })
                })
                .map(|l| format!("{l}\n"))
                .collect();
            if kept.len() != text.len() {
                model::hf::write_atomic(&path, kept.as_bytes())?;
            }
        }
        Ok(Self { path, every: every.max(1), stage: stage.to_string(), table: None })
    }

    /// Appends one line per rollout of `batch` when its generation is one of every `every`, and keeps the same
    /// rollouts as a markdown table for [`CompletionsLog::take_table`].
    pub fn write(&mut self, tokenizer: &TextTokenizer, batch: &LoggedGeneration) -> anyhow::Result<()> {
        if !batch.generation.is_multiple_of(self.every) {
            return Ok(());
        }
        let mut out = String::new();
        let mut table = String::from(
            "| query | prompt | completion | finish | reward | retrieval | advantage | in loss |\n\
             | --- | --- | --- | --- | --- | --- | --- | --- |\n",
        );
        let b = batch;
        for (i, r) in b.rollouts.iter().enumerate() {
            let (prompt, completion) =
                (tokenizer.decode(&b.prompts[r.prompt], false)?, tokenizer.decode(&r.tokens, false)?);
            table.push_str(&format!(
                "| {} | {} | {} | {:?} | {:.4} | {:.4} | {:+.3} | {} |\n",
                cell(&b.query_ids[r.prompt]),
                cell(&prompt),
                cell(&completion),
                r.finish,
                b.rewards[i],
                b.parts[i].retrieval,
                b.advantages[i],
                b.in_loss[i]
            ));
            let line = json!({
                "stage": self.stage,
                "stage_step": b.stage_step,
                "generation": b.generation,
                "query_id": b.query_ids[r.prompt],
                "prompt": prompt,
                "completion": completion,
                "tokens": r.policy_logprobs.len(),
                "finish": format!("{:?}", r.finish),
                "reward": b.rewards[i],
                "reward_retrieval": b.parts[i].retrieval,
                "reward_format": b.parts[i].format,
                "penalty_length": b.parts[i].length,
                "advantage": b.advantages[i],
                "in_loss": b.in_loss[i],
            });
            out.push_str(&format!("{line}\n"));
        }
        let mut file = OpenOptions::new().create(true).append(true).open(&self.path)?;
        file.write_all(out.as_bytes()).with_context(|| format!("{}", self.path.display()))?;
        self.table = Some(table);
        Ok(())
    }

    /// The markdown table of the generation logged since the last call, tagged `<stage>/completions`.
    pub fn take_table(&mut self) -> Option<(String, String)> {
        self.table.take().map(|t| (format!("{}/completions", self.stage), t))
    }
}

/// `text` as one markdown table cell: pipes escaped, line breaks as spaces.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}
