//! The model card (`README.md`) of a stage's export, as sentence-transformers and TRL write one: YAML front matter
//! the Hub reads (library, pipeline, tags, base model, `model-index` with the run's evaluation results), then
//! usage with sentence-transformers and transformers, the evaluation table, the resolved recipe, versions and the
//! T1 citation. Front-matter values are written as JSON scalars, which YAML reads as the same strings and numbers.

use std::path::Path;

use serde_json::json;

use crate::recipe::{Recipe, StageSpec};

/// One evaluation result: (set, nDCG@10, Recall@10, MRR).
pub type EvalRow = (String, f64, f64, f64);

/// The card of the export of `stage` in the run of `recipe` (`recipe_toml`: its resolved text), evaluated as
/// `evals` at the end of the stage.
pub fn render(recipe: &Recipe, recipe_toml: &str, stage: &StageSpec, evals: &[EvalRow]) -> String {
    let q = |s: &str| json!(s).to_string();
    let title = format!("{}/{}", recipe.run.name, stage.name);
    let kind = format!("{:?}", stage.kind).to_lowercase();
    let mut out = String::from("---\nlibrary_name: sentence-transformers\npipeline_tag: sentence-similarity\n");
    out.push_str("tags:\n");
    for tag in ["sentence-transformers", "feature-extraction", "sentence-similarity", "reasoning-retriever", &kind] {
        out.push_str(&format!("- {}\n", q(tag)));
    }
    if let Some(base) = base_model(recipe) {
        out.push_str(&format!("base_model: {}\n", q(&base)));
    }
    if let Some(license) = &recipe.export.license {
        out.push_str(&format!("license: {}\n", q(license)));
    }
    if !recipe.export.datasets.is_empty() {
        out.push_str("datasets:\n");
        for dataset in &recipe.export.datasets {
            out.push_str(&format!("- {}\n", q(dataset)));
        }
    }
    if !evals.is_empty() {
        out.push_str(&format!("model-index:\n- name: {}\n  results:\n", q(&title)));
        for (set, ndcg, recall, mrr) in evals {
            out.push_str(&format!(
                "  - task:\n      type: retrieval\n    dataset:\n      name: {}\n      type: {}\n    metrics:\n",
                q(set),
                q(&dataset_of(recipe, set))
            ));
            for (name, value) in [("ndcg_at_10", ndcg), ("recall_at_10", recall), ("mrr", mrr)] {
                out.push_str(&format!("    - type: {name}\n      value: {value}\n"));
            }
        }
    }
    out.push_str("---\n\n");
    out.push_str(&format!(
        "# {title}\n\nA reasoning retriever after the `{}` stage ({kind}) of a T1-style curriculum, trained with this \
         repository's `trainer`. A query is embedded after reasoning about it: the model writes a short trace after \
         the query and the embedding is the final-norm hidden state at the `<embtoken>` that ends it. A document is \
         embedded in one pass as `instruction + text + <embtoken>`.\n\n",
        stage.name
    ));
    out.push_str(USAGE);
    out.push_str("\n## Evaluation\n\n");
    if evals.is_empty() {
        out.push_str("No evaluation set was configured for this run.\n");
    } else {
        out.push_str("At the end of the stage (`metrics.jsonl` of the run has every evaluation):\n\n");
        out.push_str("| set | nDCG@10 | Recall@10 | MRR |\n| --- | --- | --- | --- |\n");
        for (set, ndcg, recall, mrr) in evals {
            out.push_str(&format!("| {set} | {ndcg:.4} | {recall:.4} | {mrr:.4} |\n"));
        }
    }
    out.push_str(&format!(
        "\n## Training\n\nThe resolved recipe of the run (`{}` steps in this stage, batch {} × {} accumulation):\n\n\
         ```toml\n{}\n```\n\n## Framework versions\n\n- trainer {} (burn 0.22)\n\n",
        stage.steps,
        stage.batch_size,
        stage.grad_accum,
        recipe_toml.trim_end(),
        env!("CARGO_PKG_VERSION")
    ));
    out.push_str(CITATION);
    out
}

/// The model the run started from, when it is a named one (a hub id or a folder name), not a fresh preset.
fn base_model(recipe: &Recipe) -> Option<String> {
    let path = recipe.model.path.as_ref()?;
    // A snapshot of the HF cache (`models--org--name/snapshots/<commit>`) names its hub id.
    let from_cache = path
        .ancestors()
        .nth(2)
        .and_then(|repo| repo.file_name())
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("models--").map(|id| id.replacen("--", "/", 1)));
    from_cache.or_else(|| path.file_name().map(|n| n.to_string_lossy().to_string()))
}

/// The query file an evaluation set reads (its stem), as the card's dataset type.
fn dataset_of(recipe: &Recipe, set: &str) -> String {
    let spec = recipe.eval.iter().find(|e| e.name == set);
    let first = spec.and_then(|e| e.queries.first()).map(|q| Path::new(q).to_path_buf());
    first.and_then(|p| p.file_stem().map(|s| s.to_string_lossy().to_string())).unwrap_or_else(|| set.to_string())
}

const USAGE: &str = r#"## Usage

### sentence-transformers

The export carries the prompts (`config_sentence_transformers.json`) and a tokenizer that appends `<embtoken>`:

```python
from sentence_transformers import SentenceTransformer

model = SentenceTransformer("path/to/this/folder")
queries = model.encode(["Which planet is known as the red planet?"], prompt_name="query")
documents = model.encode(["Mars is the fourth planet from the Sun."], prompt_name="document")
print(model.similarity(queries, documents))
```

This embeds queries without reasoning (the `plain` mode of `trainer eval`). To embed a query as T1 does, generate
the reasoning first: `trainer eval --model path/to/this/folder ...` (mode `generate`) or `trainer embed`.

### transformers

```python
import torch.nn.functional as F
from transformers import AutoModel, AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained("path/to/this/folder")  # appends <embtoken> (add_special_tokens=True)
model = AutoModel.from_pretrained("path/to/this/folder")
batch = tokenizer(["Mars is the fourth planet from the Sun."], return_tensors="pt", padding=True)
embedding = F.normalize(model(**batch).last_hidden_state[:, -1], dim=-1)  # left padding: the last token is <embtoken>
```

The text formats (instructions, templates) are in `embedding_format.json`.
"#;

const CITATION: &str = r#"## Citation

```bibtex
@misc{wang2026cret1,
  title         = {CRE-T1 Preview Technical Report: Beyond Contrastive Learning for Reasoning-Intensive Retrieval},
  author        = {Guangzhi Wang and Yinghao Jiao and Zhi Liu},
  year          = {2026},
  eprint        = {2603.17387},
  archivePrefix = {arXiv},
  primaryClass  = {cs.IR}
}
```
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_card_carries_the_results_and_a_cached_base_model_names_its_hub_id() {
        let mut recipe = Recipe::default();
        recipe.eval.push(crate::recipe::EvalSetSpec::default());
        recipe.model.path = Some("/h/hub/models--Qwen--Qwen3-0.6B/snapshots/abc".into());
        recipe.export.license = Some("apache-2.0".into());
        recipe.export.datasets = vec!["org/reasoning-queries".into()];
        let stage = recipe.stage[0].clone();
        let card = render(&recipe, "[run]\nname = \"run\"\n", &stage, &[("dev".into(), 0.25, 0.5, 0.375)]);
        assert!(card.starts_with("---\nlibrary_name: sentence-transformers\n"), "{card}");
        assert!(card.contains("base_model: \"Qwen/Qwen3-0.6B\"\nlicense: \"apache-2.0\"\n"), "{card}");
        assert!(card.contains("datasets:\n- \"org/reasoning-queries\"\n"), "{card}");
        assert!(card.contains("      name: \"dev\"\n      type: \"dev_queries\"\n"), "{card}");
        assert!(card.contains("    - type: ndcg_at_10\n      value: 0.25\n"), "{card}");
        assert!(card.contains("| dev | 0.2500 | 0.5000 | 0.3750 |"), "{card}");
        assert!(card.contains("[run]\nname = \"run\"\n```"), "{card}");
    }
}
