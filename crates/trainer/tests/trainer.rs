//! Trainer acceptance tests: loss values and gradients against sentence-transformers, metrics against
//! pytrec_eval (fixtures from `tests/fixtures/make_loss_fixtures.py`), recipes, and end-to-end runs.

mod common;

use common::{losses, root};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use model::pooling::l2_normalize;
use serde_json::Value;
use trainer::eval::metrics::{QueryQrels, evaluate, mean, trec_order};
use trainer::losses::{info_nce, info_nce_doc_to_query, triplet_margin};

fn fixture(name: &str) -> Value {
    let path = root().join("tests/fixtures/losses").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn matrix(v: &Value, device: &Device) -> Tensor<2> {
    let rows: Vec<Vec<f32>> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect())
        .collect();
    let (n, d) = (rows.len(), rows[0].len());
    Tensor::from_data(TensorData::new(rows.concat(), [n, d]), device)
}

fn assert_close(got: Tensor<2>, want: &Value, tol: f32, what: &str) {
    let want = matrix(want, &Device::flex()).into_data().try_into_vec::<f32>().unwrap();
    let got = got.into_data().convert::<f32>().try_into_vec::<f32>().unwrap();
    let err = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(err <= tol, "{what}: max abs error {err}");
}

#[test]
fn info_nce_matches_sentence_transformers_values_and_gradients() {
    let f = fixture("mnrl.json");
    let device = Device::flex().autodiff();
    for (case, scale, with_negatives) in [("mnrl_scale20", 20.0, true), ("mnrl_scale50", 50.0, true)] {
        let a = matrix(&f["anchors"], &device).require_grad();
        let p = matrix(&f["positives"], &device).require_grad();
        let n = matrix(&f["negatives"], &device).require_grad();
        let docs = if with_negatives {
            Tensor::cat(vec![l2_normalize(p.clone()), l2_normalize(n.clone())], 0)
        } else {
            l2_normalize(p.clone())
        };
        let loss = info_nce(l2_normalize(a.clone()), docs, &[0, 1, 2, 3], None, 1.0 / scale);
        let value = loss.clone().into_scalar::<f32>() as f64;
        let want = f["cases"][case]["loss"].as_f64().unwrap();
        assert!((value - want).abs() < 1e-5, "{case}: {value} vs {want}");
        let grads = loss.backward();
        assert_close(a.grad(&grads).unwrap(), &f["cases"][case]["grad_anchors"], 1e-5, case);
        assert_close(p.grad(&grads).unwrap(), &f["cases"][case]["grad_positives"], 1e-5, case);
        assert_close(n.grad(&grads).unwrap(), &f["cases"][case]["grad_negatives"], 1e-5, case);
    }
    let device = Device::flex();
    let a = l2_normalize(matrix(&f["anchors"], &device));
    let p = l2_normalize(matrix(&f["positives"], &device));
    let n = l2_normalize(matrix(&f["negatives"], &device));
    let check = |got: f32, case: &str| {
        let want = f["cases"][case]["loss"].as_f64().unwrap();
        assert!((got as f64 - want).abs() < 1e-5, "{case}: {got} vs {want}");
    };
    let plain = info_nce(a.clone(), p.clone(), &[0, 1, 2, 3], None, 0.05);
    check(plain.clone().into_scalar(), "mnrl_scale20_no_hard_negatives");
    let symmetric = (plain + info_nce_doc_to_query(a.clone(), p.clone(), 0.05)) / 2.0;
    check(symmetric.into_scalar(), "mnsrl_scale20");
    let docs = Tensor::cat(vec![p.clone(), n.clone()], 0);
    let forward = info_nce(a.clone(), docs, &[0, 1, 2, 3], None, 0.05);
    let symmetric = (forward + info_nce_doc_to_query(a.clone(), p.clone(), 0.05)) / 2.0;
    check(symmetric.into_scalar(), "mnsrl_scale20_with_hard_negatives");
    check(triplet_margin(a, p, n, 0.1).into_scalar(), "triplet_cosine_margin0.1");
}

#[test]
fn metrics_match_pytrec_eval() {
    let f = fixture("trec_eval.json");
    let qrels: HashMap<String, QueryQrels> = serde_json::from_value(f["qrels"].clone()).unwrap();
    let run: HashMap<String, HashMap<String, f64>> = serde_json::from_value(f["run"].clone()).unwrap();
    let run: HashMap<String, Vec<(String, f32)>> =
        run.into_iter().map(|(q, docs)| (q, docs.into_iter().map(|(d, s)| (d, s as f32)).collect())).collect();
    for (qid, docs) in &run {
        let mut docs = docs.clone();
        trec_order(&mut docs);
        let order: Vec<&str> = docs.iter().map(|(d, _)| d.as_str()).collect();
        let want: Vec<&str> =
            f["trec_order_per_query"][qid].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(order, want, "{qid}: trec_eval order");
    }
    let per_query = evaluate(&run, &qrels);
    let evaluated: Vec<&str> = per_query.keys().map(String::as_str).collect();
    assert_eq!(evaluated, ["q1", "q2", "q4"], "only queries in both run and qrels are scored");
    let close = |got: f64, want: &Value, what: &str| {
        let want = want.as_f64().unwrap();
        assert!((got - want).abs() < 1e-9, "{what}: {got} vs {want}");
    };
    for (qid, m) in &per_query {
        let w = &f["per_query"][qid];
        close(m.ndcg_10, &w["ndcg_cut_10"], &format!("{qid} ndcg@10"));
        close(m.ndcg_5, &w["ndcg_cut_5"], &format!("{qid} ndcg@5"));
        close(m.recall_10, &w["recall_10"], &format!("{qid} recall@10"));
        close(m.recall_100, &w["recall_100"], &format!("{qid} recall@100"));
        close(m.mrr, &w["recip_rank"], &format!("{qid} mrr"));
        close(m.p_10, &w["P_10"], &format!("{qid} P@10"));
    }
    let m = mean(&per_query);
    let w = &f["mean_over_evaluated_queries"];
    close(m.ndcg_10, &w["ndcg_cut_10"], "mean ndcg@10");
    close(m.recall_10, &w["recall_10"], "mean recall@10");
    close(m.mrr, &w["recip_rank"], "mean mrr");
}

// ---------------------------------------------------------------------------------------------------------------
// Recipes, GradCache, training runs and exact resume.

use trainer::recipe::Recipe;

/// A small two-stage recipe on the embedded dataset, with absolute paths.
fn small_recipe(output: &Path, warmup_steps: usize, contrastive_steps: usize) -> String {
    let r = root();
    let d = |f: &str| r.join("data").join(f).display().to_string();
    format!(
        r#"
[run]
name = "test"
output = "{out}"
checkpoint_every = 2
keep_last = 2

[model]
preset = "tiny"
tokenizer = "{tok}"

[data]
corpus = ["{corpus}"]

[[stage]]
name = "warmup"
kind = "warmup"
train = ["{warm}"]
steps = {warmup_steps}
batch_size = 4
[stage.optim]
lr = 3e-3
warmup_steps = 2
[stage.limits]
query = 40
reasoning = 32
document = 64

[[stage]]
name = "contrastive"
kind = "contrastive"
train = ["{con}"]
steps = {contrastive_steps}
batch_size = 8
grad_accum = 2
[stage.optim]
lr = 1e-3
warmup_steps = 2
[stage.limits]
query = 40
reasoning = 32
document = 64
[stage.loss]
hard_negatives = 2
"#,
        out = output.display(),
        tok = d("tokenizer.json"),
        corpus = d("corpus.parquet"),
        warm = d("train_warmup.parquet"),
        con = d("train_contrastive.parquet"),
    )
}

/// Runs `steps` GRPO steps of `batch_size` queries (G = 2, 8 new tokens) on the shipped GRPO data from the model
/// exported at `model`, with `grpo` appended to its `[stage.grpo]` table; returns the per-step metric lines.
fn grpo_from(model: &Path, tag: &str, steps: usize, batch_size: usize, grpo: &str) -> Vec<Value> {
    use trainer::train::runner::{Resume, train};
    let out = scratch(tag);
    let text = format!(
        r#"
[run]
output = "{out}"
checkpoint_every = 0
[model]
path = "{model}"
[data]
corpus = ["{corpus}"]
[[stage]]
name = "grpo"
kind = "grpo"
train = ["{train}"]
steps = {steps}
batch_size = {batch_size}
[stage.limits]
query = 40
reasoning = 32
document = 64
[stage.grpo]
group_size = 2
{grpo}
[stage.grpo.sampling]
max_new_tokens = 8
"#,
        out = out.display(),
        model = model.display(),
        corpus = root().join("data/corpus.parquet").display(),
        train = root().join("data/train_grpo.parquet").display(),
    );
    let recipe = Recipe::parse(&text, &format!("{tag}.toml"), &[]).unwrap();
    train(&recipe, &text, Resume::Fresh).unwrap();
    let lines: Vec<Value> = std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &Value| v.get("train/reward").is_some())
        .collect();
    assert_eq!(lines.len(), steps, "one metrics line per step");
    std::fs::remove_dir_all(&out).unwrap();
    lines
}

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("trainer-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn recipe_errors_name_the_file_the_key_and_what_is_allowed() {
    let out = scratch("recipe");
    let good = small_recipe(&out, 2, 2);
    assert!(Recipe::parse(&good, "good.toml", &[]).is_ok());
    let cases: Vec<(String, &[&str], &str)> = vec![
        (good.replace("keep_last = 2", "keep_last = 2\nkeep_lst = 3"), &[], "unknown field `keep_lst`"),
        (good.replace("batch_size = 4", "batch_size = \"four\""), &[], "invalid type"),
        (good.clone(), &["stage.0.optim.lr=0"], "stage[0].optim.lr"),
        (good.clone(), &["stage.1.batch_size=0"], "stage[1].batch_size"),
        (good.clone(), &["data.corpus=[\"/nonexistent/corpus.parquet\"]"], "data.corpus"),
        (good.clone(), &["model.preset=\"huge\""], "model.preset"),
        (good.clone(), &["stage.1.loss.temperature=-1"], "stage[1].loss.temperature"),
        (good.clone(), &["run.device=\"tpu\""], "run.device"),
        (good.clone(), &["run.name=\"../../x\""], "run.name"),
        (good.clone(), &["stage.1.name=\"/tmp/x\""], "stage[1].name"),
    ];
    for (text, sets, want) in cases {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        let err = Recipe::parse(&text, "bad.toml", &sets).unwrap_err().to_string();
        assert!(err.starts_with("bad.toml: "), "{err}");
        assert!(err.contains(want), "expected {want:?} in: {err}");
    }
    let d = |f: &str| root().join("data").join(f).display().to_string();
    let zero_batch = format!(
        "{good}\n[[eval]]\nqueries = [\"{}\"]\nqrels = [\"{}\"]\nbatch_size = 0\n",
        d("dev_queries.parquet"),
        d("dev_qrels.parquet")
    );
    let err = Recipe::parse(&zero_batch, "bad.toml", &[]).unwrap_err().to_string();
    assert!(err.contains("eval[0].batch_size"), "{err}");
    let grpo = grpo_recipe(&out);
    for (sets, want) in
        [("stage.0.grpo.sampling.temperature=0", "stage[0].grpo.sampling"), ("stage.0.loss.sft=1.0", "stage[0].loss")]
    {
        let err = Recipe::parse(&grpo, "grpo.toml", &[sets.to_string()]).unwrap_err().to_string();
        assert!(err.contains(want), "expected {want:?} in: {err}");
    }
    let err = Recipe::load(Path::new("no_such_recipe.toml"), &[]).unwrap_err().to_string();
    assert!(err.contains("no_such_recipe.toml") && err.contains("recipes/"), "{err}");
}

fn synthetic_examples(emb: u32) -> Vec<trainer::stages::example::Example> {
    use trainer::stages::example::{Doc, Example};
    let doc = |id: &str, seed: u32, len: u32| Doc {
        id: id.into(),
        tokens: (0..len).map(|i| 3 + (seed * 7 + i * 5) % 60).chain([emb]).collect(),
    };
    (0..4u32)
        .map(|i| Example {
            query_id: format!("q{i}"),
            prompt: (0..3 + i).map(|t| 3 + (i * 11 + t * 3) % 60).collect(),
            reasoning: (0..2 + i % 2).map(|t| 3 + (i * 13 + t) % 60).collect(),
            positive: Some(doc(&format!("p{i}"), i, 4 + i)),
            negatives: (0..i % 3).map(|k| doc(&format!("n{i}{k}"), 10 + i + k, 3 + k)).collect(),
            positive_ids: vec![format!("p{i}"), "p0".into()],
        })
        .collect()
}

#[test]
fn gradcache_gives_the_same_gradients_as_one_graph() {
    use trainer::recipe::{LossConfig, StageKind};
    use trainer::stages::gradcache::gradcache_grads;
    use trainer::stages::objective::Objective;
    use trainer::stages::single_graph_grads;
    use trainer::train::collective::Single;

    let device = Device::flex().autodiff();
    let vocab = 64;
    let config = model::ModelConfig::preset("tiny", vocab).unwrap();
    let net = model::CausalLm::init_random(config, 5, &device).unwrap();
    let tokenizer = tokenizers::Tokenizer::from_file(root().join("data/tokenizer.json")).unwrap();
    let mut tok = model::TextTokenizer::from_tokenizer(tokenizer, "data/tokenizer.json", "<embtoken>").unwrap();
    tok.pad_id = 0;
    let examples = synthetic_examples(tok.emb_id.min(vocab as u32 - 1));
    tok.emb_id = tok.emb_id.min(vocab as u32 - 1);
    let loss = LossConfig { symmetric: true, triplet: 0.5, gradcache_chunk: 2, ..LossConfig::default() };
    let objective = Objective::new(StageKind::Contrastive, &loss);
    let params = model::named_params(&net);
    let (whole, parts, value) = single_graph_grads(&net, &tok, &objective, &examples, 1.0, 2, &Single).unwrap();
    let (cached, cached_parts, cached_value) =
        gradcache_grads(&net, &tok, &objective, &examples, 2, &params, &Single).unwrap();
    assert!((parts.infonce - cached_parts.infonce).abs() < 1e-5);
    assert!((value - cached_value).abs() < 1e-5, "loss {value} vs {cached_value}");
    let mut compared = 0;
    for p in &params {
        let (a, b) = match p.shape.len() {
            1 => (whole.get::<1>(p.id).map(flat), cached.get::<1>(p.id).map(flat)),
            _ => (whole.get::<2>(p.id).map(flat), cached.get::<2>(p.id).map(flat)),
        };
        let (a, b) = (a.unwrap_or_default(), b.unwrap_or_default());
        assert_eq!(a.len(), b.len(), "{}", p.name);
        let err = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        assert!(err <= 1e-5, "{}: GradCache gradient differs by {err}", p.name);
        compared += !a.is_empty() as usize;
    }
    assert!(compared > 10, "gradients reached the model");
}

fn flat<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
}

/// (global step → loss) from a run's metrics.jsonl, the last value of a step winning (a resumed run repeats the
/// steps after its checkpoint).
#[test]
fn stages_reduce_their_losses_and_stage_two_improves_retrieval() {
    use trainer::eval::evaluator::{EvalOptions, QueryMode, evaluate};
    use trainer::train::runner::{Resume, train};
    let out = scratch("train");
    let text = small_recipe(&out, 24, 40);
    let recipe = Recipe::parse(&text, "small.toml", &[]).unwrap();
    let summaries = train(&recipe, &text, Resume::Fresh).unwrap();
    assert_eq!(summaries.len(), 2);
    let l = losses(&out);
    let mean = |steps: std::ops::RangeInclusive<u64>| steps.clone().map(|s| l[&s]).sum::<f64>() / steps.count() as f64;
    let (first, last) = (mean(1..=4), mean(21..=24));
    assert!(last < first * 0.85, "warm-up loss should fall by 15% in 24 steps: {first} → {last}");
    let (head, tail) = (mean(25..=30), mean(59..=64));
    assert!(tail < head * 0.9, "contrastive loss should fall by 10% in 40 steps: {head} → {tail}");

    // Retrieval on dev (query-only encoding, so the comparison does not depend on generation).
    let device = Device::flex();
    let corpus = data::Corpus::load(
        &data::ShardSet::open(&[root().join("data/corpus.parquet").display().to_string()]).unwrap(),
        &data::ColumnNames::default(),
        data::BadRowPolicy::Error,
    )
    .unwrap();
    let dev = trainer::recipe::EvalSetSpec {
        queries: vec![root().join("data/dev_queries.parquet").display().to_string()],
        qrels: vec![root().join("data/dev_qrels.parquet").display().to_string()],
        ..Default::default()
    }
    .load(&data::ColumnNames::default())
    .unwrap();
    let options = EvalOptions {
        mode: QueryMode::Plain,
        batch_size: 64,
        max_new_tokens: 0,
        temperature: 0.0,
        max_doc_tokens: 64,
        max_query_tokens: 40,
        drop_query_id_docs: false,
    };
    let ndcg = |dir: &Path| {
        let m = model::load_dir(dir, "<embtoken>", &device).unwrap();
        evaluate(&m.model, &m.tokenizer, &recipe.format, &corpus, &dev, &options).unwrap().mean.ndcg_10
    };
    let after_warmup = ndcg(&out.join("warmup/final"));
    let after_contrastive = ndcg(&out.join("contrastive/final"));
    // Chance level is about 0.005 here; 40 small steps must at least double the warmed-up model's score.
    assert!(
        after_contrastive > 2.0 * after_warmup && after_contrastive > after_warmup + 0.01,
        "stage 2 should improve dev nDCG@10 (query-only encoding): {after_warmup:.4} → {after_contrastive:.4}"
    );
    let events = std::fs::read_dir(out.join("tensorboard")).unwrap().next().unwrap().unwrap().path();
    assert_eq!(tensorboard_scalars(&events, "train/loss"), 64, "one train/loss event per step");

    // Stage 3's reward path, with the shipped GRPO data, pool and reward: the stage-2 model's gold reasoning must
    // earn more than a random ranking of the same pool, and the policy's own rollouts are scored beside it. A
    // misaligned pool, relevance mark or embedding row leaves gold at chance: a random ranking's reciprocal rank
    // over a pool of ~50 has a standard deviation of ~0.15 per query, so ~0.019 over these 64 queries, and the bar
    // sits at 4 of those (0.075). It is not a bar on how well 64 tiny steps train: measured gaps gold − chance after
    // this recipe at run seeds 0–5 were 0.014–0.176 (mean ≈ 0.09) and float rounding alone moves one seed's gap by
    // ±0.08 (seed 0: 0.099 and 0.176 with earlier kernels, 0.093 with the fused attention and projections).
    let lines = grpo_from(&out.join("contrastive/final"), "gold", 1, 64, "");
    let (gold, chance, greedy) = (
        lines[0]["train/reward_gold"].as_f64().unwrap(),
        lines[0]["train/reward_chance"].as_f64().unwrap(),
        lines[0]["train/reward_greedy"].as_f64().unwrap(),
    );
    eprintln!("batch-pool reward of 64 queries: gold {gold:.3}, greedy {greedy:.3}, chance {chance:.3}");
    assert!(
        gold > chance + 0.075,
        "gold reasoning should beat chance on the batch pool: gold {gold:.3}, chance {chance:.3}"
    );
    assert!((0.0..=1.0).contains(&greedy), "{greedy}");

    // DAPO's dynamic sampling: with hit@1 of two rollouts many groups earn 1 and 1 or 0 and 0; they are replaced by
    // fresh queries' groups until the whole batch has a relative advantage, not just masked.
    let lines = grpo_from(
        &out.join("contrastive/final"),
        "refill",
        3,
        4,
        "reward = \"hit\"\nreward_k = 1\ndynamic_sampling = true\nmax_generation_rounds = 30\n",
    );
    for v in &lines {
        assert_eq!(v["train/in_loss_fraction"], 1.0, "{v}");
        assert_eq!(v["train/frac_reward_zero_std"], 0.0, "{v}");
        let (rounds, sampled) =
            (v["train/generation_rounds"].as_f64().unwrap(), v["train/sampled_groups"].as_f64().unwrap());
        assert_eq!(sampled, 4.0 * rounds, "{v}");
    }
    assert!(lines.iter().any(|v| v["train/generation_rounds"].as_f64().unwrap() > 1.0), "no batch needed a refill");

    // The folder now belongs to this run: a second fresh run is refused; --overwrite replaces it.
    let short = small_recipe(&out, 1, 1);
    let recipe = Recipe::parse(&short, "small.toml", &[]).unwrap();
    let err = train(&recipe, &short, Resume::Fresh).unwrap_err().to_string();
    assert!(err.contains("already holds a run") && err.contains("--resume") && err.contains("--overwrite"), "{err}");
    let loss_lines = || {
        let text = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
        text.lines().filter(|l| l.contains("\"train/loss\"")).count()
    };
    assert_eq!(loss_lines(), 64, "the refused run wrote nothing");
    train(&recipe, &short, Resume::Overwrite).unwrap();
    assert_eq!(loss_lines(), 2, "only the new run's steps remain");
    std::fs::remove_dir_all(&out).unwrap();
}

/// Counts scalar values tagged `tag` in a TensorBoard event file, checking every record's framing and CRCs.
fn tensorboard_scalars(path: &Path, tag: &str) -> usize {
    use trainer::train::tensorboard::masked_crc;
    let bytes = std::fs::read(path).unwrap();
    let mut at = 0;
    let mut count = 0;
    while at < bytes.len() {
        let len = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()) as usize;
        assert_eq!(u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()), masked_crc(&bytes[at..at + 8]));
        let payload = &bytes[at + 12..at + 12 + len];
        let crc = u32::from_le_bytes(bytes[at + 12 + len..at + 16 + len].try_into().unwrap());
        assert_eq!(crc, masked_crc(payload), "record CRC");
        count += payload.windows(tag.len()).filter(|w| *w == tag.as_bytes()).count();
        at += 16 + len;
    }
    count
}

#[test]
fn a_run_killed_with_sigkill_resumes_to_the_same_losses() {
    let bin = env!("CARGO_BIN_EXE_trainer");
    let full = scratch("full");
    let text = small_recipe(&full, 5, 5);
    let recipe_file = full.with_extension("toml");
    std::fs::write(&recipe_file, &text).unwrap();
    let status = std::process::Command::new(bin)
        .args(["--recipe", recipe_file.to_str().unwrap()])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let want = losses(&full);
    assert_eq!(want.len(), 10);

    // Kill at a step that leaves a mid-stage checkpoint behind in stage 2 (past the stage boundary).
    let cut = scratch("cut");
    let text = small_recipe(&cut, 5, 5);
    let cut_file = cut.with_extension("toml");
    std::fs::write(&cut_file, &text).unwrap();
    let mut child = std::process::Command::new(bin)
        .args(["--recipe", cut_file.to_str().unwrap()])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while losses(&cut).len() < 8 {
        assert!(std::time::Instant::now() < deadline, "child made no progress");
        assert!(child.try_wait().unwrap().is_none(), "child finished before it could be killed");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    let status = std::process::Command::new(bin)
        .args(["--recipe", cut_file.to_str().unwrap(), "--resume"])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let got = losses(&cut);
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>());
    for (step, loss) in &want {
        assert_eq!(got[step].to_bits(), loss.to_bits(), "step {step}: {} after resume vs {loss}", got[step]);
    }
    // The resumed run cut its log back to the checkpoint: every step is logged once, as in the uninterrupted run.
    let lines = |run: &Path| -> Vec<String> {
        let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
        text.lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .map(|v| format!("{} {}", v["step"], v.get("train/loss").is_some()))
            .collect()
    };
    assert_eq!(lines(&cut), lines(&full), "metrics.jsonl after kill + resume vs uninterrupted");

    // A stage end whose export and evaluations were interrupted is completed on resume, evaluations logged once.
    std::fs::remove_dir_all(full.join("contrastive")).unwrap();
    std::fs::remove_file(full.join("stages").join("contrastive.json")).unwrap();
    std::fs::remove_file(full.join("summary.json")).unwrap();
    let before = std::fs::read_to_string(full.join("metrics.jsonl")).unwrap();
    let status = std::process::Command::new(bin)
        .args(["--recipe", recipe_file.to_str().unwrap(), "--resume"])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(full.join("contrastive/final/model.safetensors").is_file() && full.join("summary.json").is_file());
    assert_eq!(std::fs::read_to_string(full.join("metrics.jsonl")).unwrap(), before, "evaluations logged once");

    // Checkpoints that exist but none of which verifies: resume refuses instead of starting over silently.
    for entry in std::fs::read_dir(full.join("checkpoints")).unwrap().flatten() {
        std::fs::write(entry.path().join("state.json"), "{}").unwrap();
    }
    let out =
        std::process::Command::new(bin).args(["--recipe", recipe_file.to_str().unwrap(), "--resume"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("no checkpoint verifies"), "{stderr}");

    // A resume under a recipe that changes the training is refused, naming the key.
    let out = std::process::Command::new(bin)
        .args(["--recipe", cut_file.to_str().unwrap(), "--resume", "--set", "run.seed=9"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("run.seed"), "{stderr}");
    for dir in [full, cut] {
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::remove_file(dir.with_extension("toml")).unwrap();
    }
}

/// Zero sizes on the command line and a malformed `embedding_format.json` are errors that say what is wrong,
/// not panics (exit code 101).
#[test]
fn command_line_and_stored_format_errors_are_not_panics() {
    let bin = env!("CARGO_BIN_EXE_trainer");
    let dir = scratch("cli");
    let model = dir.join("model");
    std::fs::create_dir_all(&model).unwrap();
    let fixture = root().join("tests/fixtures/models/qwen2_bias_tied");
    for f in ["config.json", "model.safetensors", "tokenizer.json"] {
        std::fs::copy(fixture.join(f), model.join(f)).unwrap();
    }
    let texts = dir.join("texts.jsonl");
    std::fs::write(&texts, "{\"text\": \"a b c\"}\n").unwrap();
    let data = |f: &str| root().join("data").join(f).display().to_string();
    let (m, t, o) = (model.display().to_string(), texts.display().to_string(), dir.join("o.npy").display().to_string());
    let run = |args: &[&str]| {
        let out = std::process::Command::new(bin).args(args).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).to_string())
    };
    let eval = |extra: &[&str]| {
        let mut args = vec!["eval", "--model", &m, "--corpus"];
        let (c, q, r) = (data("corpus.parquet"), data("dev_queries.parquet"), data("dev_qrels.parquet"));
        args.extend([c.as_str(), "--queries", q.as_str(), "--qrels", r.as_str()]);
        args.extend(extra);
        run(&args)
    };
    for (code, stderr) in [eval(&["--batch-size", "0"]), eval(&["--max-doc-tokens", "0"])] {
        assert_eq!(code, Some(1), "{stderr}");
        assert!(stderr.contains("--batch-size must be ≥ 1"), "{stderr}");
    }
    std::fs::write(model.join("embedding_format.json"), r#"{"query_template": "x"}"#).unwrap();
    let (code, stderr) = run(&["embed", "--model", &m, "--input", &t, "--output", &o]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("embedding_format.json") && stderr.contains("query_template"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn recipe_reference_lists_every_field() {
    let mut recipe = Recipe::default();
    recipe.run.output = Some("x".into());
    recipe.model.path = Some("x".into());
    recipe.stage[0].loss.sft = Some(1.0);
    recipe.stage[0].loss.infonce = Some(1.0);
    recipe.eval.push(Default::default());
    let value = toml::Value::try_from(&recipe).unwrap();
    let doc = std::fs::read_to_string(root().join("recipes/README.md")).unwrap();
    let section = |heading: &str| -> String {
        let start = doc.find(&format!("## `{heading}`")).unwrap_or_else(|| panic!("no section {heading}"));
        let rest = &doc[start + 3..];
        rest[..rest.find("\n## ").unwrap_or(rest.len())].to_string()
    };
    let check = |heading: &str, table: &toml::Value, skip: &[&str]| {
        let text = section(heading);
        for key in table.as_table().unwrap().keys() {
            if !skip.contains(&key.as_str()) {
                assert!(text.contains(&format!("| `{key}` |")), "recipes/README.md: `{heading}` lacks `{key}`");
            }
        }
    };
    check("[run]", &value["run"], &[]);
    check("[model]", &value["model"], &[]);
    check("[format]", &value["format"], &[]);
    check("[data]", &value["data"], &[]);
    let stage = &value["stage"][0];
    check("[[stage]]", stage, &["optim", "limits", "loss", "grpo"]);
    check("[stage.grpo]", &stage["grpo"], &["sampling"]);
    check("[stage.grpo.sampling]", &stage["grpo"]["sampling"], &[]);
    check("[stage.optim]", &stage["optim"], &[]);
    check("[stage.limits]", &stage["limits"], &[]);
    check("[stage.loss]", &stage["loss"], &[]);
    check("[[eval]]", &value["eval"][0], &[]);
    check("[export]", &value["export"], &[]);
}

#[test]
fn grpo_advantages_and_losses_match_trl() {
    use trainer::grpo::advantages::{RewardScale, group_advantages};
    use trainer::grpo::loss::{ImportanceLevel, LossType, PolicyBatch, PolicyLossConfig, policy_loss};
    let f = fixture("grpo.json");
    let floats = |v: &Value| -> Vec<f64> { v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect() };
    for (case, scale) in
        [("scale_group", RewardScale::Group), ("scale_batch", RewardScale::Batch), ("scale_none", RewardScale::None)]
    {
        let c = &f["advantages"][case];
        let adv = group_advantages(&floats(&c["rewards"]), 4, scale, 1e-4);
        let want = floats(&c["advantages"]);
        for (a, w) in adv.values.iter().zip(&want) {
            assert!((a - w).abs() < 1e-6, "{case}: {a} vs {w}");
        }
        assert!((adv.frac_zero_std() - c["frac_reward_zero_std"].as_f64().unwrap()).abs() < 1e-9, "{case}");
    }
    let device = Device::flex().autodiff();
    let mut checked = 0;
    for (case, inputs) in f["loss_inputs"].as_object().unwrap() {
        let logp_rows = matrix(&inputs["logp"], &Device::flex());
        let [rows, cols] = logp_rows.dims();
        let flat_of = |v: &Value| flat(matrix(v, &Device::flex()));
        for (key, want) in f["losses"][case].as_object().unwrap() {
            let parts: Vec<&str> = key.split('/').collect();
            let loss_type = match parts[0] {
                "grpo" => LossType::Grpo,
                "bnpo" => LossType::Bnpo,
                "dr_grpo" => LossType::DrGrpo,
                _ => LossType::Dapo,
            };
            let importance = if parts[1] == "token" { ImportanceLevel::Token } else { ImportanceLevel::Sequence };
            let beta: f64 = parts[2].trim_start_matches("beta").parse().unwrap();
            let config = PolicyLossConfig {
                loss_type,
                importance,
                epsilon_low: 0.2,
                epsilon_high: 0.28,
                beta,
                max_completion_length: inputs["max_completion_length"].as_u64().unwrap() as usize,
            };
            let mask = flat_of(&inputs["mask"]);
            let batch = PolicyBatch {
                rows,
                cols,
                old_logp: flat_of(&inputs["old_logp"]),
                ref_logp: Some(flat_of(&inputs["ref_logp"])),
                mask: mask.clone(),
                advantages: floats(&inputs["advantages"]).iter().map(|&a| a as f32).collect(),
            };
            let step_tokens = mask.iter().sum::<f32>() as f64;
            let logp = matrix(&inputs["logp"], &device).require_grad();
            let out = policy_loss(logp.clone(), &batch, &config, 1, step_tokens);
            let value = out.loss.clone().into_scalar::<f32>() as f64;
            let target = want["loss"].as_f64().unwrap();
            assert!((value - target).abs() < 1e-5, "{case} {key}: loss {value} vs TRL {target}");
            let per_token = flat(out.per_token.clone());
            let want_pt = flat_of(&want["per_token_loss"]);
            for (i, (a, b)) in per_token.iter().zip(&want_pt).enumerate() {
                if mask[i] != 0.0 {
                    assert!((a - b).abs() < 1e-5, "{case} {key}: per-token loss [{i}] {a} vs {b}");
                }
            }
            let grads = out.loss.backward();
            let g = flat(logp.grad(&grads).unwrap());
            let want_g = flat_of(&want["grad_loss_wrt_logp"]);
            for (i, (a, b)) in g.iter().zip(&want_g).enumerate() {
                assert!((a - b).abs() < 1e-5, "{case} {key}: d loss / d logp [{i}] {a} vs {b}");
            }
            let m = &want["metrics"];
            for (got, name) in
                [(out.clip_low, "low_mean"), (out.clip_high, "high_mean"), (out.clip_region, "region_mean")]
            {
                let w = m[format!("clip_ratio/{name}")].as_f64().unwrap();
                assert!((got - w).abs() < 1e-6, "{case} {key}: clip {name} {got} vs {w}");
            }
            if beta > 0.0 {
                let w = m["kl"].as_f64().unwrap();
                assert!((out.kl - w).abs() < 1e-5, "{case} {key}: kl {} vs {w}", out.kl);
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 80, "5 input cases × 16 loss settings");
}

/// A GRPO-only recipe from the tiny preset: 2 queries × 2 rollouts, each generation used for 2 updates.
fn grpo_recipe(output: &Path) -> String {
    let r = root();
    let d = |f: &str| r.join("data").join(f).display().to_string();
    format!(
        r#"
[run]
name = "grpo-test"
output = "{out}"
checkpoint_every = 3
keep_last = 5

[model]
preset = "tiny"
tokenizer = "{tok}"

[data]
corpus = ["{corpus}"]

[[stage]]
name = "grpo"
kind = "grpo"
train = ["{train}"]
steps = 6
batch_size = 2
[stage.optim]
lr = 1e-3
warmup_steps = 1
[stage.limits]
query = 32
document = 48
[stage.loss]
hard_negatives = 2
[stage.grpo]
group_size = 2
num_iterations = 2
beta = 0.04
loss_type = "grpo"
contrastive_weight = 0.5
log_completions_every = 1
[stage.grpo.sampling]
max_new_tokens = 6
"#,
        out = output.display(),
        tok = d("tokenizer.json"),
        corpus = d("corpus.parquet"),
        train = d("train_grpo.parquet"),
    )
}

#[test]
fn a_grpo_run_killed_mid_generation_batch_resumes_to_the_same_losses() {
    let bin = env!("CARGO_BIN_EXE_trainer");
    let run = |dir: &Path, extra: &[&str]| {
        let file = dir.with_extension("toml");
        std::fs::write(&file, grpo_recipe(dir)).unwrap();
        let mut args = vec!["--recipe".to_string(), file.display().to_string()];
        args.extend(extra.iter().map(|s| s.to_string()));
        std::process::Command::new(bin).args(&args).stderr(std::process::Stdio::null()).spawn().unwrap()
    };
    let full = scratch("grpo-full");
    assert!(run(&full, &[]).wait().unwrap().success());
    let want = losses(&full);
    assert_eq!(want.len(), 6);

    // Checkpoint at step 3 holds a generation batch that one update has used and one has not.
    let cut = scratch("grpo-cut");
    let mut child = run(&cut, &[]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while losses(&cut).len() < 4 {
        assert!(std::time::Instant::now() < deadline, "child made no progress");
        assert!(child.try_wait().unwrap().is_none(), "child finished before it could be killed");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // A checkpoint newer than the one resumed from (here a copy standing for an abandoned step 4) is moved aside,
    // not left to win a later `--resume auto`.
    let newer = cut.join("checkpoints/step-00000004");
    let _ = std::fs::remove_dir_all(&newer);
    let mut state: Value =
        serde_json::from_str(&std::fs::read_to_string(cut.join("checkpoints/step-00000003/state.json")).unwrap())
            .unwrap();
    state["global_step"] = Value::from(4);
    std::fs::create_dir_all(&newer).unwrap();
    std::fs::write(newer.join("state.json"), state.to_string()).unwrap();
    let state = std::fs::read_to_string(cut.join("checkpoints/step-00000003/state.json")).unwrap();
    assert!(state.contains("\"iteration\": 1"), "the step-3 checkpoint carries the half-used generation batch");
    assert!(
        run(&cut, &["--resume", cut.join("checkpoints/step-00000003").to_str().unwrap()]).wait().unwrap().success()
    );
    let got = losses(&cut);
    for (step, loss) in &want {
        assert_eq!(got[step].to_bits(), loss.to_bits(), "step {step}: {} after resume vs {loss}", got[step]);
    }
    let aside: Vec<_> = std::fs::read_dir(cut.join("checkpoints"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".superseded-"))
        .collect();
    assert_eq!(aside.len(), 1, "the newer checkpoint was moved aside");
    assert!(aside[0].path().join("step-00000004/state.json").is_file());
    // The completions log: one line per rollout of each of the 3 generations, each logged once across the resume.
    let completions = |dir: &Path| std::fs::read_to_string(dir.join("completions.jsonl")).unwrap();
    let logged = completions(&full);
    assert_eq!(logged.lines().count(), 3 * 2 * 2, "{logged}");
    let first: Value = serde_json::from_str(logged.lines().next().unwrap()).unwrap();
    for key in ["query_id", "prompt", "completion", "reward", "reward_retrieval", "advantage", "in_loss", "finish"] {
        assert!(first.get(key).is_some(), "{key} missing: {first}");
    }
    assert_eq!(completions(&cut), logged, "completions after kill + resume vs uninterrupted");
    for dir in [full, cut] {
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::remove_file(dir.with_extension("toml")).unwrap();
    }
}

#[cfg(not(feature = "mpi"))]
#[test]
fn a_multi_task_launch_of_a_binary_without_mpi_names_the_fix() {
    let out = scratch("nompi");
    let recipe_file = out.with_extension("toml");
    std::fs::write(&recipe_file, small_recipe(&out, 1, 1)).unwrap();
    let result = std::process::Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(["--recipe", recipe_file.to_str().unwrap()])
        .env("OMPI_COMM_WORLD_SIZE", "2")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(!result.status.success(), "{stderr}");
    assert!(stderr.contains("--features mpi") && stderr.contains("mpirun -np 2"), "{stderr}");
    assert!(!out.exists(), "nothing was written");
}

#[test]
fn a_hub_id_resolves_from_the_local_hf_cache_and_never_from_the_network() {
    let home = scratch("hf-home");
    let snapshot = home.join("hub/models--tiny-org--qwen3-gqa/snapshots/0123abcd");
    std::fs::create_dir_all(&snapshot).unwrap();
    let fixture = root().join("tests/fixtures/models/qwen3_gqa_untied");
    for entry in std::fs::read_dir(&fixture).unwrap().flatten() {
        std::fs::copy(entry.path(), snapshot.join(entry.file_name())).unwrap();
    }
    std::fs::create_dir_all(home.join("hub/models--tiny-org--qwen3-gqa/refs")).unwrap();
    std::fs::write(home.join("hub/models--tiny-org--qwen3-gqa/refs/main"), "0123abcd\n").unwrap();
    let out = scratch("hf-home-run");
    let recipe_file = out.with_extension("toml");
    std::fs::write(&recipe_file, small_recipe(&out, 1, 1)).unwrap();
    let dry_run = |hf_home: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_trainer"))
            .args([
                "--recipe",
                recipe_file.to_str().unwrap(),
                "--set",
                "model.path=\"tiny-org/qwen3-gqa\"",
                "--dry-run",
            ])
            .env("HF_HOME", hf_home)
            .env_remove("HF_HUB_CACHE")
            .output()
            .unwrap()
    };
    // Found: the resolved recipe names the snapshot folder.
    let found = dry_run(&home);
    let stdout = String::from_utf8_lossy(&found.stdout);
    assert!(found.status.success(), "{}", String::from_utf8_lossy(&found.stderr));
    assert!(stdout.contains(&snapshot.display().to_string()), "{stdout}");
    // Not in the cache: an error naming the cache and how to fetch the model — nothing is downloaded.
    let missing = dry_run(&home.join("elsewhere"));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(!missing.status.success());
    assert!(stderr.contains("model.path") && stderr.contains("hf download tiny-org/qwen3-gqa"), "{stderr}");
    assert!(stderr.contains(&home.join("elsewhere/hub").display().to_string()), "{stderr}");
    std::fs::remove_dir_all(&home).unwrap();
    let _ = std::fs::remove_file(&recipe_file);
}

#[test]
fn help_shows_examples_and_completions_cover_the_flags() {
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_trainer")).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let help = run(&["--help"]);
    assert!(help.contains("Examples:") && help.contains("--list-keys"), "{help}");
    for shell in ["bash", "zsh", "fish"] {
        let script = run(&["completions", shell]);
        // Shells spell flags differently (`--resume`, fish's `-l resume`): look for the names.
        for name in ["recipe", "resume", "list-keys", "sweep"] {
            assert!(script.contains(name), "{shell} completions lack {name}");
        }
    }
}
