//! Checkpoints: everything needed to continue a run exactly.
//!
//! A checkpoint is a folder under `<run>/checkpoints/`:
//! `model.safetensors` (HF names, f32) + `config.json`, `optimizer.bpk` (AdamW moments, burn's burnpack),
//! `state.json` ([`TrainState`]: stage, step, data cursor, counters), `recipe.toml` (the resolved recipe),
//! `tokenizer.json` (the run's tokenizer: a resume under a different one is refused) and `manifest.json` (size and
//! SHA-256 of every file). It is written to a hidden temporary folder, every file and the folder fsynced, then
//! renamed into place and the parent fsynced — before anything older is pruned, and pruning renames a checkpoint
//! aside before deleting it ([`crate::train::publish`]) — so a crash or a power loss at any moment leaves every
//! checkpoint either whole or absent; a folder without a valid manifest is never resumed from.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use burn::optim::ModuleOptimizer;
use model::hf::{hf_tensors, sync_dir, write_atomic, write_safetensors};
use model::weights::CheckpointWeights;
use model::{CausalLm, ModelConfig, TextTokenizer};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::train::fault::{self, KillPoint};
use crate::train::publish;

/// Progress of a run, saved with each checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Index of the stage in the recipe.
    pub stage_index: usize,
    /// Its name.
    pub stage_name: String,
    /// Optimizer steps completed in that stage.
    pub step: usize,
    /// Steps the stage runs in total (`step == stage_steps`: the stage is finished).
    pub stage_steps: usize,
    /// Optimizer steps completed in the whole run (the x-axis of the metrics).
    pub global_step: u64,
    /// The stage's data cursor and (stage 3) generation buffer after the last step (empty at a stage boundary).
    pub resume: crate::stages::ResumeState,
    /// Consecutive skipped (NaN/Inf) steps at the time of saving.
    pub bad_steps_in_a_row: usize,
    /// Skipped steps in the stage so far.
    pub bad_steps_total: usize,
    /// Tokens processed in the stage so far.
    pub tokens: u64,
    /// Ranks of the job that wrote it (a resume needs the same number).
    #[serde(default = "one")]
    pub world_size: usize,
    /// Every rank's data cursor and generation buffer, in rank order, when the job had several ranks (`resume`
    /// then stays empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ranks: Vec<crate::stages::ResumeState>,
}

fn one() -> usize {
    1
}

impl TrainState {
    /// Records every rank's resume state (one entry per rank, in rank order).
    pub fn set_resume(&mut self, mut states: Vec<crate::stages::ResumeState>) {
        if states.len() == 1 {
            self.resume = states.remove(0);
            self.ranks.clear();
        } else {
            self.resume = Default::default();
            self.ranks = states;
        }
    }

    /// The resume state of `rank`.
    pub fn resume_of(&self, rank: usize) -> crate::stages::ResumeState {
        if self.ranks.is_empty() { self.resume.clone() } else { self.ranks.get(rank).cloned().unwrap_or_default() }
    }

    /// An error unless the checkpoint was written by a job of `world_size` ranks: each rank's share of the data
    /// stream depends on it.
    pub fn check_world_size(&self, world_size: usize) -> anyhow::Result<()> {
        if self.world_size != world_size {
            bail!(
                "the checkpoint of stage `{}` step {} was written by a job of {} process(es), this job has {}: resume \
                 with the same number (`mpirun -np {}`), since each rank's share of the data depends on it",
                self.stage_name,
                self.step,
                self.world_size,
                world_size,
                self.world_size
            );
        }
        Ok(())
    }

    /// Whether this checkpoint closes its stage.
    pub fn stage_done(&self) -> bool {
        self.step >= self.stage_steps
    }
}

const FILES: &[&str] =
    &["model.safetensors", "config.json", "optimizer.bpk", "state.json", "recipe.toml", "tokenizer.json"];

/// Writes a checkpoint called `name` under `root` atomically and returns its folder.
pub fn save(
    root: &Path,
    name: &str,
    model: &CausalLm,
    tokenizer: &TextTokenizer,
    optimizer: &ModuleOptimizer,
    state: &TrainState,
    recipe_toml: &str,
) -> anyhow::Result<PathBuf> {
    let dest = root.join(name);
    let tmp = publish::staging(&dest)?;
    write_safetensors(&tmp.join("model.safetensors"), &hf_tensors(model)?)?;
    fault::kill_point(KillPoint::CheckpointSave);
    tokenizer.save(&tmp.join("tokenizer.json"))?;
    write_atomic(&tmp.join("config.json"), serde_json::to_string_pretty(&model.config)?.as_bytes())?;
    optimizer.save(tmp.join("optimizer.bpk")).map_err(|e| anyhow::anyhow!("saving the optimizer state: {e:?}"))?;
    std::fs::File::open(tmp.join("optimizer.bpk"))?.sync_all()?;
    write_atomic(&tmp.join("state.json"), serde_json::to_string_pretty(state)?.as_bytes())?;
    write_atomic(&tmp.join("recipe.toml"), recipe_toml.as_bytes())?;
    let mut manifest = serde_json::Map::new();
    for f in FILES {
        let (bytes, sha) = hash_file(&tmp.join(f))?;
        manifest.insert(f.to_string(), serde_json::json!({"bytes": bytes, "sha256": sha}));
    }
    write_atomic(&tmp.join("manifest.json"), serde_json::to_string_pretty(&manifest)?.as_bytes())?;
    publish::publish(&tmp, &dest)?;
    fault::kill_point(KillPoint::CheckpointPublished);
    Ok(dest)
}

/// Refuses to resume from the checkpoint `dir` under a tokenizer other than the one it was trained with (token
/// ids, and so every step after the resume, would differ).
pub fn check_tokenizer(dir: &Path, tokenizer: &TextTokenizer) -> anyhow::Result<()> {
    let path = dir.join("tokenizer.json");
    let saved = std::fs::read_to_string(&path).with_context(|| format!("{}: missing", path.display()))?;
    if saved != tokenizer.to_json()? {
        bail!(
            "{}: the run's tokenizer differs from the one this checkpoint was trained with (model.tokenizer, \
             model.path or the embedding token changed); resume with the original, or start a new run",
            path.display()
        );
    }
    Ok(())
}

/// Size and SHA-256 (hex) of the file at `path`, read in blocks: a multi-GB model or optimizer state is never
/// held in memory whole to hash it.
fn hash_file(path: &Path) -> anyhow::Result<(u64, String)> {
    let mut file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let bytes = std::io::copy(&mut file, &mut hasher).with_context(|| format!("reading {}", path.display()))?;
    Ok((bytes, hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()))
}

/// Checks a checkpoint's manifest; an error says which file is missing or corrupt.
pub fn verify(dir: &Path) -> anyhow::Result<TrainState> {
    let manifest_path = dir.join("manifest.json");
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&manifest_path).with_context(|| format!("{}: no manifest", dir.display()))?,
    )
    .with_context(|| format!("{}: not a valid manifest (corrupt checkpoint)", manifest_path.display()))?;
    for f in FILES {
        let want = manifest[f]["sha256"].as_str().with_context(|| format!("{}: manifest lacks {f}", dir.display()))?;
        let (_, sha) = hash_file(&dir.join(f)).with_context(|| format!("{}: missing {f}", dir.display()))?;
        if sha != want {
            bail!("{}: {f} does not match its checksum (corrupt checkpoint)", dir.display());
        }
    }
    let state = dir.join("state.json");
    serde_json::from_str(&std::fs::read_to_string(&state)?)
        .with_context(|| format!("{}: not a training state of this version", state.display()))
}

/// The newest valid checkpoint under `root` (by global step), if any. Corrupt checkpoints are skipped with a
/// warning when a valid one remains; when checkpoints exist but none verifies, an error lists why each failed
/// (starting over silently would throw the run away).
pub fn latest(root: &Path) -> anyhow::Result<Option<(PathBuf, TrainState)>> {
    let Ok(entries) = std::fs::read_dir(root) else { return Ok(None) };
    let mut best: Option<(PathBuf, TrainState)> = None;
    let mut corrupt: Vec<String> = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let hidden = path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden || !path.is_dir() {
            continue;
        }
        let state = match verify(&path) {
            Ok(state) => state,
            Err(e) => {
                corrupt.push(format!("{e:#}"));
                continue;
            }
        };
        let key = |s: &TrainState| (s.global_step, s.stage_index, s.step);
        if best.as_ref().is_none_or(|(_, b)| key(&state) > key(b)) {
            best = Some((path, state));
        }
    }
    match (&best, corrupt.is_empty()) {
        (None, false) => bail!(
            "{}: no checkpoint verifies ({}); fix or remove them, resume from a copy with --resume PATH, or start \
             over with --overwrite",
            root.display(),
            corrupt.join("; ")
        ),
        (Some((path, _)), false) => {
            eprintln!(
                "warning: skipped corrupt checkpoint(s) ({}); resuming from {}",
                corrupt.join("; "),
                path.display()
            )
        }
        _ => {}
    }
    Ok(best)
}

/// Moves the checkpoints under `root` that are newer than `state` (by global step) into a hidden
/// `.superseded-<unix time>/` folder, so a run resumed from an older checkpoint does not later lose to its abandoned
/// future on `--resume auto`. Nothing is deleted. Returns how many were moved.
pub fn set_aside_newer(root: &Path, state: &TrainState) -> anyhow::Result<usize> {
    let Ok(entries) = std::fs::read_dir(root) else { return Ok(0) };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
    let aside = root.join(format!(".superseded-{now}"));
    let mut moved = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let hidden = path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'));
        let Ok(text) = std::fs::read_to_string(path.join("state.json")) else { continue };
        let Ok(other) = serde_json::from_str::<TrainState>(&text) else { continue };
        if hidden || other.global_step <= state.global_step {
            continue;
        }
        std::fs::create_dir_all(&aside)?;
        std::fs::rename(&path, aside.join(entry.file_name()))
            .with_context(|| format!("moving {} aside", path.display()))?;
        moved += 1;
    }
    if moved > 0 {
        sync_dir(root)?;
        eprintln!("moved {moved} checkpoint(s) newer than the one resumed from into {}", aside.display());
    }
    Ok(moved)
}

/// Loads a checkpoint's weights onto `device`.
pub fn load_model(dir: &Path, device: &burn::tensor::Device) -> anyhow::Result<CausalLm> {
    let config: ModelConfig = serde_json::from_str(&std::fs::read_to_string(dir.join("config.json"))?)?;
    let weights = CheckpointWeights::open_files(&dir.display().to_string(), &[dir.join("model.safetensors")])?;
    Ok(CausalLm::build(config, Box::new(weights), device)?.0)
}

/// Loads a checkpoint's optimizer state into `optimizer`.
pub fn load_optimizer(dir: &Path, optimizer: ModuleOptimizer) -> anyhow::Result<ModuleOptimizer> {
    optimizer.load(dir.join("optimizer.bpk")).map_err(|e| anyhow::anyhow!("{}: optimizer state: {e:?}", dir.display()))
}

/// Deletes step checkpoints beyond the newest `keep` (stage-final ones, named `*-final`, are kept).
pub fn prune(root: &Path, keep: usize) -> anyhow::Result<()> {
    let mut steps: Vec<(u64, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(root)?.flatten() {
        let path = entry.path();
        let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        if name.starts_with('.') || name.ends_with("-final") || !path.is_dir() {
            continue;
        }
        if let Ok(state) =
            serde_json::from_str::<TrainState>(&std::fs::read_to_string(path.join("state.json")).unwrap_or_default())
        {
            steps.push((state.global_step, path));
        }
    }
    steps.sort();
    let excess = steps.len().saturating_sub(keep);
    for (_, path) in steps.into_iter().take(excess) {
        publish::remove(&path)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::grpo::GenerationBuffer;

    #[test]
    fn a_state_whose_generation_buffer_holds_nan_reads_back() {
        let rollout = model::Rollout {
            prompt: 0,
            tokens: vec![3, 4],
            policy_logprobs: vec![f32::NAN, -0.25],
            sample_logprobs: vec![f32::NEG_INFINITY, -0.5],
            entropies: vec![0.1, 0.2],
            finish: model::FinishReason::Length,
            embedding: vec![f32::NAN; 4],
        };
        let buffer = GenerationBuffer {
            prompts: vec![vec![1, 2]],
            anchors: Vec::new(),
            rollouts: vec![rollout],
            rewards: vec![f64::NAN],
            advantages: vec![f64::INFINITY],
            in_loss: vec![true],
            ref_logprobs: Some(vec![vec![f32::NAN, 1.5]]),
            iteration: 1,
            metrics: vec![("train/reward".into(), f64::NAN)],
        };
        let state = TrainState {
            stage_index: 2,
            stage_name: "grpo".into(),
            step: 3,
            stage_steps: 6,
            global_step: 9,
            resume: crate::stages::ResumeState { data: None, buffer: Some(buffer) },
            bad_steps_in_a_row: 1,
            bad_steps_total: 1,
            tokens: 10,
            world_size: 1,
            ranks: Vec::new(),
        };
        let text = serde_json::to_string_pretty(&state).unwrap();
        let back: TrainState = serde_json::from_str(&text).expect("a diverging batch's checkpoint reads back");
        let b = back.resume.buffer.unwrap();
        assert!(b.rewards[0].is_nan() && b.advantages[0] == f64::INFINITY && b.metrics[0].1.is_nan());
        assert!(b.rollouts[0].policy_logprobs[0].is_nan() && b.rollouts[0].policy_logprobs[1] == -0.25);
        assert_eq!(b.rollouts[0].sample_logprobs[0], f32::NEG_INFINITY);
        assert!(b.ref_logprobs.unwrap()[0][0].is_nan());
    }
}
