//! The sweep file (`sweeps/*.toml`) and its expansion into runs.
//!
//! ```toml
//! [sweep]
//! name = "curriculum-ablation"
//! recipe = "curriculum.toml"          # the base recipe (bare names are looked up in recipes/)
//! seeds = [0, 1, 2]                   # every run of every variant, once per seed
//! baseline = "full"                   # the variant deltas are computed against (default: the first)
//! metric = "test/ndcg@10"             # the headline: an evaluation after the last enabled stage
//! columns = ["dev/ndcg@10"]           # further metrics in the table
//! delta_from = "contrastive/test/ndcg@10"   # also: the metric minus this one, per run (what stage 3 added)
//! set = { "run.checkpoint_every" = 20 }   # overrides for every run (typed TOML values)
//!
//! [[variant]]
//! name = "full"
//! [[variant]]
//! name = "no warm-up"
//! set = { "stage.warmup.enabled" = false }
//! [[variant]]
//! name = "reward"
//! grid = { "stage.grpo.grpo.reward" = ["ndcg", "hit"] }   # one run per value (several keys: their product)
//!
//! [[axis]]                            # crossed with every variant: `key` + `values`, or zipped `keys` + `values`
//! keys = ["stage.grpo.optim.lr", "stage.grpo.optim.warmup_steps"]
//! values = [[1e-4, 2], [2e-4, 4]]
//! ```
//!
//! Runs = (each variant × its grid) × the axes × seeds. Every run is resolved through the recipe parser with its
//! overrides before anything starts, so a typo names the sweep file, the variant and the key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::recipe::Recipe;
use crate::train::records::sha256_hex;

/// The `[sweep]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// Name (the output folder `checkpoints/sweeps/<name>` unless `output` says otherwise).
    pub name: String,
    /// The base recipe.
    pub recipe: PathBuf,
    /// Seeds; each is written to every key of `seed_keys`. Default `[0]`.
    #[serde(default = "default_seeds")]
    pub seeds: Vec<u64>,
    /// Recipe keys that take the seed. Default `["run.seed", "model.init_seed"]`.
    #[serde(default = "default_seed_keys")]
    pub seed_keys: Vec<String>,
    /// The variant deltas are computed against. Default: the first variant.
    pub baseline: Option<String>,
    /// Headline metric, `<eval set>/<measure>` after the last enabled stage (`ndcg@10`, `recall@10`, `mrr`).
    pub metric: String,
    /// Further metrics shown in the table.
    #[serde(default)]
    pub columns: Vec<String>,
    /// A metric of the same runs to difference the headline against, per run (e.g. `contrastive/test/ndcg@10`: what
    /// the last stage added over the one before). Default: none.
    pub delta_from: Option<String>,
    /// Overrides applied to every run.
    #[serde(default)]
    pub set: toml::Table,
    /// Output folder. Default `checkpoints/sweeps/<name>`.
    pub output: Option<PathBuf>,
}

fn default_seeds() -> Vec<u64> {
    vec![0]
}

fn default_seed_keys() -> Vec<String> {
    vec!["run.seed".into(), "model.init_seed".into()]
}

/// A `[[variant]]`: named overrides, optionally a grid of values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantSpec {
    /// Name (rows of the table; run ids are made from it).
    pub name: String,
    /// Overrides of this variant.
    #[serde(default)]
    pub set: toml::Table,
    /// key → list of values: one run per combination (Cartesian product over keys).
    #[serde(default)]
    pub grid: toml::Table,
}

/// An `[[axis]]` crossed with every variant: one key, or several zipped keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AxisSpec {
    /// One key (with `values` a list of values).
    pub key: Option<String>,
    /// Zipped keys (with `values` a list of value lists, one value per key).
    pub keys: Option<Vec<String>>,
    /// The values.
    pub values: Vec<toml::Value>,
}

/// The `[slurm]` table of `trainer sweep --slurm`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlurmSpec {
    /// Partition. Default: the cluster's default.
    pub partition: Option<String>,
    /// Time limit per run. Default `24:00:00`.
    pub time: String,
    /// Generic resources per run, e.g. `gpu:1`. Default none.
    pub gres: Option<String>,
    /// CPUs per run. Default 8.
    pub cpus_per_task: usize,
    /// Array tasks running at once. Default 8.
    pub max_parallel: usize,
    /// Shell lines run before the trainer (e.g. `module load openmpi`). Default none.
    pub setup: Vec<String>,
}

impl Default for SlurmSpec {
    fn default() -> Self {
        Self { partition: None, time: "24:00:00".into(), gres: None, cpus_per_task: 8, max_parallel: 8, setup: vec![] }
    }
}

/// A whole sweep file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepFile {
    /// `[sweep]`.
    pub sweep: SweepSpec,
    /// `[[variant]]`s.
    #[serde(default)]
    pub variant: Vec<VariantSpec>,
    /// `[[axis]]`s.
    #[serde(default)]
    pub axis: Vec<AxisSpec>,
    /// `[slurm]`.
    #[serde(default)]
    pub slurm: SlurmSpec,
}

/// One expanded run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// Folder name under `runs/`: the label's slug and the seed.
    pub id: String,
    /// The variant's name.
    pub variant: String,
    /// The variant with its grid and axis values: one row of the table.
    pub label: String,
    /// The seed.
    pub seed: u64,
    /// `key=value` overrides, as `--set` takes them (the run folder last).
    pub overrides: Vec<String>,
    /// The overrides that make the variant (its `set`, grid and axis values): the table's "overrides" column.
    pub changes: Vec<String>,
    /// SHA-256 of the resolved recipe, as [`recipe_identity`] computes it.
    pub recipe_sha256: String,
}

/// A loaded and expanded sweep.
#[derive(Debug, Clone)]
pub struct Sweep {
    /// The sweep file's path.
    pub file: PathBuf,
    /// Its contents.
    pub spec: SweepFile,
    /// Where results go.
    pub out: PathBuf,
    /// The base recipe's resolved path.
    pub recipe: PathBuf,
    /// Every run, in expansion order.
    pub runs: Vec<RunSpec>,
}

impl Sweep {
    /// Reads, expands and validates `file` (every run's recipe is resolved).
    pub fn load(file: &Path) -> anyhow::Result<Self> {
        let name = file.display().to_string();
        let text = std::fs::read_to_string(file).with_context(|| format!("{name}: cannot read the sweep file"))?;
        Self::parse(&text, file)
    }

    /// As [`Sweep::load`], from text.
    pub fn parse(text: &str, file: &Path) -> anyhow::Result<Self> {
        let name = file.display().to_string();
        let spec: SweepFile = toml::from_str(text).with_context(|| format!("{name}: not a valid sweep file"))?;
        let out = spec.sweep.output.clone().unwrap_or_else(|| Path::new("checkpoints/sweeps").join(&spec.sweep.name));
        let (recipe_text, recipe) =
            read_recipe(&spec.sweep.recipe).with_context(|| format!("{name}: [sweep] recipe"))?;
        let runs = expand(&spec, &name, &out, &recipe_text, &recipe)?;
        Ok(Self { file: file.to_path_buf(), spec, out, recipe, runs })
    }

    /// The folder of run `id`.
    pub fn run_dir(&self, id: &str) -> PathBuf {
        self.out.join("runs").join(id)
    }

    /// The baseline variant's name.
    pub fn baseline(&self) -> String {
        self.spec.sweep.baseline.clone().unwrap_or_else(|| self.spec.variant[0].name.clone())
    }
}

/// The identity of a resolved recipe: the SHA-256 of the text this code writes for it. A recipe written by an
/// older build (without a field added since, which then takes its default) has the same identity as long as it
/// describes the same run.
pub fn recipe_identity(recipe_toml: &str) -> Option<String> {
    let recipe: Recipe = toml::from_str(recipe_toml).ok()?;
    Some(sha256_hex(&toml::to_string_pretty(&recipe).ok()?))
}

/// The identity of the recipe a run folder was made with (its `recipe.toml`), when it has one.
pub fn run_identity(run_dir: &Path) -> Option<String> {
    recipe_identity(&std::fs::read_to_string(run_dir.join("recipe.toml")).ok()?)
}

fn read_recipe(path: &Path) -> anyhow::Result<(String, PathBuf)> {
    let resolved = if path.exists() || path.components().count() > 1 {
        path.to_path_buf()
    } else {
        Path::new("recipes").join(path)
    };
    let text = std::fs::read_to_string(&resolved).with_context(|| format!("cannot read {}", resolved.display()))?;
    Ok((text, resolved))
}

/// `table` flattened to (dotted key, value) pairs; nested tables become dotted paths.
fn flatten(table: &toml::Table, prefix: &str, out: &mut Vec<(String, toml::Value)>) {
    for (k, v) in table {
        let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match v {
            toml::Value::Table(t) => flatten(t, &key, out),
            _ => out.push((key, v.clone())),
        }
    }
}

/// A value as the label shows it (strings unquoted).
fn show(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The last component of a dotted key.
fn short(key: &str) -> &str {
    key.rsplit('.').next().unwrap_or(key)
}

/// A file-system friendly form of `label`.
pub fn slug(label: &str) -> String {
    let mut out = String::new();
    for c in label.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() || c == '.' {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// One choice along the grid/axes: the overrides it adds and how the label shows it.
type Choice = (Vec<(String, toml::Value)>, Vec<String>);

/// The Cartesian product of `axes` (each a list of choices).
fn product(axes: Vec<Vec<Choice>>) -> Vec<Choice> {
    let mut out: Vec<Choice> = vec![(Vec::new(), Vec::new())];
    for axis in axes {
        let mut next = Vec::with_capacity(out.len() * axis.len());
        for (sets, labels) in &out {
            for (more, more_labels) in &axis {
                next.push(([sets.clone(), more.clone()].concat(), [labels.clone(), more_labels.clone()].concat()));
            }
        }
        out = next;
    }
    out
}

fn expand(spec: &SweepFile, file: &str, out: &Path, recipe_text: &str, recipe: &Path) -> anyhow::Result<Vec<RunSpec>> {
    let s = &spec.sweep;
    if spec.variant.is_empty() {
        bail!("{file}: no [[variant]]: add at least one (a variant without `set` runs the base recipe)");
    }
    if s.seeds.is_empty() {
        bail!("{file}: [sweep] seeds is empty");
    }
    if let Some(b) = &s.baseline
        && !spec.variant.iter().any(|v| &v.name == b)
    {
        bail!("{file}: [sweep] baseline `{b}` is not the name of a [[variant]]");
    }
    let mut axes: Vec<Vec<Choice>> = Vec::new();
    for (i, a) in spec.axis.iter().enumerate() {
        let choices = match (&a.key, &a.keys) {
            (Some(key), None) => a
                .values
                .iter()
                .map(|v| (vec![(key.clone(), v.clone())], vec![format!("{}={}", short(key), show(v))]))
                .collect(),
            (None, Some(keys)) => {
                let mut choices = Vec::new();
                for v in &a.values {
                    let row = v.as_array().filter(|r| r.len() == keys.len()).with_context(|| {
                        format!(
                            "{file}: [[axis]] {i}: each value must be a list of {} values (one per key)",
                            keys.len()
                        )
                    })?;
                    let sets: Vec<(String, toml::Value)> = keys.iter().cloned().zip(row.iter().cloned()).collect();
                    let label = sets.iter().map(|(k, v)| format!("{}={}", short(k), show(v))).collect();
                    choices.push((sets, label));
                }
                choices
            }
            _ => bail!("{file}: [[axis]] {i}: give either `key` or `keys`"),
        };
        if choices.is_empty() {
            bail!("{file}: [[axis]] {i}: no values");
        }
        axes.push(choices);
    }
    let mut base = Vec::new();
    flatten(&s.set, "", &mut base);
    let mut runs: Vec<RunSpec> = Vec::new();
    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    for v in &spec.variant {
        let mut sets = Vec::new();
        flatten(&v.set, "", &mut sets);
        let mut grid: Vec<Vec<Choice>> = Vec::new();
        for (key, values) in &v.grid {
            let values = values
                .as_array()
                .filter(|a| !a.is_empty())
                .with_context(|| format!("{file}: variant `{}`: grid `{key}` must be a non-empty list", v.name))?;
            grid.push(
                values
                    .iter()
                    .map(|x| (vec![(key.clone(), x.clone())], vec![format!("{}={}", short(key), show(x))]))
                    .collect(),
            );
        }
        grid.extend(axes.iter().cloned());
        for (choice, labels) in product(grid) {
            let label = if labels.is_empty() { v.name.clone() } else { format!("{} {}", v.name, labels.join(" ")) };
            for &seed in &s.seeds {
                let id = format!("{}__s{seed}", slug(&label));
                if let Some(other) = ids.insert(id.clone(), label.clone()) {
                    bail!("{file}: runs `{label}` and `{other}` get the same id `{id}`: rename a variant");
                }
                let changes: Vec<String> = sets.iter().chain(&choice).map(|(k, val)| format!("{k}={val}")).collect();
                let mut overrides: Vec<String> = base.iter().map(|(k, val)| format!("{k}={val}")).collect();
                overrides.extend(changes.iter().cloned());
                for key in &s.seed_keys {
                    overrides.push(format!("{key}={seed}"));
                }
                let dir = out.join("runs").join(&id);
                overrides.push(format!("run.output={}", toml::Value::String(dir.display().to_string())));
                let resolved = Recipe::parse(recipe_text, &recipe.display().to_string(), &overrides)
                    .map_err(|e| anyhow::anyhow!("{file}: variant `{}` (run {id}): {e}", v.name))?;
                let toml_text = toml::to_string_pretty(&resolved)?;
                runs.push(RunSpec {
                    id,
                    variant: v.name.clone(),
                    label: label.clone(),
                    seed,
                    overrides,
                    changes,
                    recipe_sha256: recipe_identity(&toml_text).expect("a recipe this code just wrote"),
                });
            }
        }
    }
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recipe_written_before_a_field_existed_keeps_its_identity() {
        let text = toml::to_string_pretty(&Recipe::default()).unwrap();
        let older: String =
            text.lines().filter(|l| !l.starts_with("log_completions_every")).map(|l| format!("{l}\n")).collect();
        assert_ne!(older, text, "the field is in the written recipe");
        assert_eq!(recipe_identity(&older), recipe_identity(&text));
        let other = text.replace("seed = 0", "seed = 1");
        assert_ne!(recipe_identity(&other), recipe_identity(&text));
    }
}
