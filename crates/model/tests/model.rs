//! Model crate acceptance tests: parity with `transformers` on committed fixtures
//! (`tests/fixtures/make_model_fixtures.py`), KV-cache decoding against full recomputation, padding
//! invariance of the pooled embedding, checkpoint round trips, config errors and a few training steps.

use std::path::PathBuf;

use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Tensor};
use model::hf::hf_tensors;
use model::weights::{CheckpointWeights, WeightSource};
use model::{
    CausalLm, FinishReason, ModelConfig, PadSide, SamplingParams, StopTokens, TextFormat, TokenBatch, load_dir, rng,
};

mod common;
use common::{Reference, fixtures, host, max_abs_diff, read_reference};

const FIXTURES: &[&str] = &["qwen3_gqa_untied", "qwen2_bias_tied", "llama_gqa_tied_bf16"];

fn fixture_dir(name: &str) -> PathBuf {
    fixtures().join("models").join(name)
}

/// The tensors of a fixture's `expected.safetensors`, as (shape, f64 values).
fn expected(name: &str) -> Reference {
    read_reference(&fixture_dir(name).join("expected.safetensors"))
}

fn rows_of(values: &(Vec<usize>, Vec<f64>)) -> Vec<Vec<u32>> {
    let (shape, data) = values;
    let cols = shape[1];
    data.chunks(cols).map(|r| r.iter().map(|&x| x as u32).collect()).collect()
}

fn load(name: &str) -> model::LoadedModel {
    load_dir(&fixture_dir(name), "<embtoken>", &Device::flex()).unwrap()
}

#[test]
fn hidden_states_and_logits_match_transformers() {
    for name in FIXTURES {
        let loaded = load(name);
        let exp = expected(name);
        let ids = rows_of(&exp["input_ids"]);
        let batch = TokenBatch::new(&ids, loaded.tokenizer.pad_id, PadSide::Right).unwrap();
        let hidden = loaded.model.hidden(&batch);
        let (_, h) = host(hidden.clone());
        let err = max_abs_diff(h.iter().map(|&x| x as f64), exp["last_hidden_state"].1.iter().copied());
        assert!(err <= 1e-4, "{name}: last hidden state differs by {err}");

        // The embedding token's column is new (or a reinitialised spare row): compared on the others only.
        let (dims, logits) = host(loaded.model.logits(hidden));
        let hf_vocab = exp["logits"].0[2];
        let emb = loaded.tokenizer.emb_id as usize;
        let kept = |i: &usize| i % hf_vocab != emb;
        let ours = logits.chunks(dims[2]).flat_map(|row| row[..hf_vocab].iter().map(|&x| x as f64));
        let theirs = exp["logits"].1.iter().copied();
        let pairs: Vec<(f64, f64)> = ours.zip(theirs).enumerate().filter(|(i, _)| kept(i)).map(|(_, p)| p).collect();
        let err = max_abs_diff(pairs.iter().map(|p| p.0), pairs.iter().map(|p| p.1));
        assert!(err <= 1e-4, "{name}: logits differ by {err}");
    }
}

#[test]
fn padded_batches_match_transformers_on_either_side() {
    for name in FIXTURES {
        let loaded = load(name);
        let exp = expected(name);
        let padded = rows_of(&exp["padded_input_ids"]);
        let mask = rows_of(&exp["padded_attention_mask"]);
        let rows: Vec<Vec<u32>> = padded
            .iter()
            .zip(&mask)
            .map(|(r, m)| r.iter().zip(m).filter(|(_, m)| **m == 1).map(|(t, _)| *t).collect())
            .collect();
        let (shape, want) = &exp["padded_last_hidden_state"];
        let (t, d) = (shape[1], shape[2]);
        for side in [PadSide::Right, PadSide::Left] {
            let batch = TokenBatch::new(&rows, loaded.tokenizer.pad_id, side).unwrap();
            let (_, got) = host(loaded.model.hidden(&batch));
            for (r, row) in rows.iter().enumerate() {
                let offset = if side == PadSide::Left { batch.seq_len - row.len() } else { 0 };
                for p in 0..row.len() {
                    // HF's padded batch is right-padded: real token p sits at column p.
                    let ours = &got[(r * batch.seq_len + offset + p) * d..][..d];
                    let theirs = &want[(r * t + p) * d..][..d];
                    let err = max_abs_diff(ours.iter().map(|&x| x as f64), theirs.iter().copied());
                    assert!(err <= 1e-4, "{name} {side:?}: row {r} pos {p} differs by {err}");
                }
            }
        }
    }
}

#[test]
fn greedy_generation_matches_transformers_token_for_token() {
    for name in FIXTURES {
        let loaded = load(name);
        let exp = expected(name);
        let prompts = vec![rows_of(&exp["gen_prompt_0"]).remove(0), rows_of(&exp["gen_prompt_1"]).remove(0)];
        let outputs = [rows_of(&exp["gen_output_0"]).remove(0), rows_of(&exp["gen_output_1"]).remove(0)];
        let stop = StopTokens { emb_id: loaded.tokenizer.emb_id, eos_id: None, pad_id: loaded.tokenizer.pad_id };
        let rollouts = loaded
            .model
            .generate(&prompts, 1, &SamplingParams::greedy(12), stop, &mut rng::streams(0, &[], 0..2))
            .unwrap();
        for (i, r) in rollouts.iter().enumerate() {
            let hf_new = &outputs[i][prompts[i].len()..];
            let n = r.policy_logprobs.len();
            assert_eq!(&r.tokens[..n], &hf_new[..n], "{name}: prompt {i} diverges from transformers");
            if r.finish == FinishReason::Length {
                assert_eq!(n, 12, "{name}: a length-finished rollout samples max_new_tokens");
            }
        }
    }
}

#[test]
fn kv_cache_decoding_equals_full_recomputation() {
    let loaded = load("qwen3_gqa_untied");
    let model = &loaded.model;
    let tok = &loaded.tokenizer;
    let prompts = vec![vec![5, 9, 17], vec![3, 4, 5, 6, 7, 8, 9], vec![11]];
    let params = SamplingParams { temperature: 0.9, max_new_tokens: 6, ..SamplingParams::default() };
    let stop = StopTokens { emb_id: tok.emb_id, eos_id: tok.eos_id, pad_id: tok.pad_id };
    let rollouts = model.generate(&prompts, 2, &params, stop, &mut rng::streams(3, &[], 0..3)).unwrap();
    assert_eq!(rollouts.len(), 6);
    for r in &rollouts {
        let full: Vec<u32> = prompts[r.prompt].iter().chain(&r.tokens).copied().collect();
        let batch = TokenBatch::new(std::slice::from_ref(&full), tok.pad_id, PadSide::Right).unwrap();
        let lp = model.token_logprobs(&batch, params.temperature).into_data().convert::<f32>();
        let lp = lp.try_into_vec::<f32>().unwrap();
        let start = prompts[r.prompt].len() - 1;
        for (i, &cached) in r.policy_logprobs.iter().enumerate() {
            let diff = (cached - lp[start + i]).abs();
            assert!(diff <= 1e-4, "token {i}: cached {cached} vs recomputed {}", lp[start + i]);
        }
        let emb = model.embed(&batch, tok.emb_id).unwrap().into_data().convert::<f32>();
        let err = max_abs_diff(
            emb.try_into_vec::<f32>().unwrap().iter().map(|&x| x as f64),
            r.embedding.iter().map(|&x| x as f64),
        );
        assert!(err <= 1e-4, "rollout embedding differs from a full pass by {err}");
        let norm: f32 = r.embedding.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4);
    }
    let again = model.generate(&prompts, 2, &params, stop, &mut rng::streams(3, &[], 0..3)).unwrap();
    assert_eq!(rollouts, again, "same seed, same rollouts");
    // A prompt's rollouts do not depend on the batch it is sampled in (data-parallel ranks split batches).
    let alone = model.generate(&prompts[1..2], 2, &params, stop, &mut rng::streams(3, &[], 1..2)).unwrap();
    for (a, b) in alone.iter().zip(&rollouts[2..4]) {
        assert_eq!((&a.tokens, a.finish), (&b.tokens, b.finish), "prompt 1 alone samples what it did in the batch");
        let diff =
            max_abs_diff(a.policy_logprobs.iter().map(|&x| x as f64), b.policy_logprobs.iter().map(|&x| x as f64));
        assert!(diff <= 1e-4, "log-probs alone vs in the batch differ by {diff}");
    }
}

#[test]
fn pooled_embedding_ignores_padding() {
    let loaded = load("qwen2_bias_tied");
    let tok = &loaded.tokenizer;
    let short = vec![7, 8, 9, tok.emb_id];
    let long = vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, tok.emb_id];
    let alone = TokenBatch::new(std::slice::from_ref(&short), tok.pad_id, PadSide::Right).unwrap();
    let alone = loaded.model.embed(&alone, tok.emb_id).unwrap().into_data().convert::<f32>();
    let alone = alone.try_into_vec::<f32>().unwrap();
    for side in [PadSide::Left, PadSide::Right] {
        let batch = TokenBatch::new(&[long.clone(), short.clone()], tok.pad_id, side).unwrap();
        let both = loaded.model.embed(&batch, tok.emb_id).unwrap().into_data().convert::<f32>();
        let both = both.try_into_vec::<f32>().unwrap();
        let d = alone.len();
        let err = max_abs_diff(both[d..].iter().map(|&x| x as f64), alone.iter().map(|&x| x as f64));
        assert!(err <= 1e-5, "{side:?}: padded embedding differs by {err}");
    }
}

#[test]
fn missing_embedding_token_is_an_error_not_a_panic() {
    let loaded = load("qwen2_bias_tied");
    let batch = TokenBatch::new(&[vec![1, 2, 3]], 0, PadSide::Right).unwrap();
    let err = loaded.model.embed(&batch, loaded.tokenizer.emb_id).unwrap_err().to_string();
    assert!(err.contains("row 0 has no embedding token"), "{err}");
}

#[test]
fn embedding_token_is_added_and_vocabulary_grows_only_when_needed() {
    let full = load("qwen3_gqa_untied");
    let base_vocab = expected("qwen3_gqa_untied")["logits"].0[2];
    assert!(full.tokenizer.added_emb_token);
    assert_eq!(full.tokenizer.emb_id as usize, base_vocab, "tokenizer vocab equals the model's");
    assert_eq!(full.model.config.vocab_size, base_vocab + 1);
    let roomy = load("qwen2_bias_tied");
    let base_vocab = expected("qwen2_bias_tied")["logits"].0[2];
    assert!((roomy.tokenizer.emb_id as usize) < base_vocab);
    assert_eq!(roomy.model.config.vocab_size, base_vocab);
}

/// The embedding token's row (and its untied LM-head row) is the mean of the rows of the tokens the tokenizer
/// knew, whether the matrix grew (qwen3 fixture: full vocabulary) or a spare padding row was reused (qwen2 and
/// llama fixtures: the checkpoint has more rows than the tokenizer has tokens).
#[test]
fn embedding_token_row_is_the_mean_of_the_trained_rows() {
    for name in FIXTURES {
        let loaded = load(name);
        let emb_id = loaded.tokenizer.emb_id as usize;
        let plan = loaded.emb_row.clone().expect("a pretrained model reports its plan");
        assert_eq!(plan.mean_of, Some(emb_id), "{name}: {plan}");
        let mut stored = CheckpointWeights::open_dir(&fixture_dir(name)).unwrap();
        let ours = hf_tensors(&loaded.model).unwrap();
        for matrix in ["model.embed_tokens.weight", "lm_head.weight"] {
            let Some((shape, values)) = ours.get(matrix) else { continue };
            let hidden = shape[1];
            let original = stored.take(matrix, &[plan.stored_vocab, hidden], model::weights::Init::Normal);
            let mean: Vec<f64> = (0..hidden)
                .map(|c| (0..emb_id).map(|r| original[r * hidden + c] as f64).sum::<f64>() / emb_id as f64)
                .collect();
            let row = &values[emb_id * hidden..(emb_id + 1) * hidden];
            let err = max_abs_diff(row.iter().map(|&x| x as f64), mean.iter().copied());
            assert!(err < 1e-6, "{name} {matrix}: embedding-token row differs from the mean by {err}");
            let kept = &values[..emb_id * hidden];
            assert_eq!(kept, &original[..emb_id * hidden], "{name} {matrix}: trained rows must be untouched");
        }
    }
}

/// Adding the embedding token works on the autodiff device too (it used to panic when the vocabulary had to
/// grow), and the new row is a trainable leaf that receives a gradient.
#[test]
fn embedding_token_row_trains_on_the_autodiff_device() {
    let device = Device::flex().autodiff();
    let loaded = load_dir(&fixture_dir("qwen3_gqa_untied"), "<embtoken>", &device).unwrap();
    let emb_id = loaded.tokenizer.emb_id;
    let batch = TokenBatch::new(&[vec![3, 7, 11, emb_id]], loaded.tokenizer.pad_id, PadSide::Right).unwrap();
    let loss = loaded.model.embed(&batch, emb_id).unwrap().sum() + loaded.model.token_logprobs(&batch, 1.0).sum();
    let grads = loss.backward();
    let grad = loaded.model.model.embed_tokens.weight.val().grad(&grads).expect("the embedding receives a gradient");
    let hidden = loaded.model.config.hidden_size;
    let row = grad.slice([emb_id as usize..emb_id as usize + 1, 0..hidden]).abs().sum().into_scalar::<f32>();
    assert!(row > 0.0, "the embedding token's row gets no gradient");
}

#[test]
fn export_then_load_gives_identical_tensors() {
    for name in FIXTURES {
        let loaded = load(name);
        let dir = tempdir(name);
        model::export_dir(
            &dir,
            &loaded.model,
            &loaded.tokenizer,
            Some(&loaded.hf_config),
            &TextFormat::default(),
            model::WeightLayout::default(),
        )
        .unwrap();
        let again = load_dir(&dir, "<embtoken>", &Device::flex()).unwrap();
        assert!(!again.tokenizer.added_emb_token, "export must carry the embedding token");
        assert_eq!(again.model.config, loaded.model.config);
        assert_eq!(hf_tensors(&again.model).unwrap(), hf_tensors(&loaded.model).unwrap(), "{name}");
        assert!(again.unused.is_empty(), "{name}: unused {:?}", again.unused);
        // Left in the temporary folder so `make_model_fixtures.py --verify-export` can check it.
    }
}

#[test]
fn checkpoint_problems_name_every_tensor() {
    let mut config = ModelConfig::from_hf_file(&fixture_dir("qwen2_bias_tied").join("config.json")).unwrap();
    config.num_hidden_layers += 1;
    config.hidden_size *= 2;
    let weights = CheckpointWeights::open_dir(&fixture_dir("qwen2_bias_tied")).unwrap();
    let err = CausalLm::build(config, Box::new(weights), &Device::flex()).unwrap_err().to_string();
    assert!(err.contains("model.embed_tokens.weight` has shape"), "{err}");
    assert!(err.contains("missing tensor `model.layers.2.self_attn.q_proj.weight`"), "{err}");
}

#[test]
fn unsupported_config_fields_are_errors() {
    let base: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture_dir("llama_gqa_tied_bf16").join("config.json")).unwrap())
            .unwrap();
    let with = |k: &str, v: serde_json::Value| {
        let mut c = base.clone();
        c[k] = v;
        ModelConfig::from_hf_json(&c, "config.json").unwrap_err().to_string()
    };
    let err = with("rope_scaling", serde_json::json!({"rope_type": "llama3", "factor": 8.0}));
    assert!(err.contains("config.json: field `rope_scaling`"), "{err}");
    let err = with("model_type", serde_json::json!("gemma"));
    assert!(err.contains("model_type") && err.contains("gemma"), "{err}");
    let mut missing = base.clone();
    missing.as_object_mut().unwrap().remove("hidden_size");
    let err = ModelConfig::from_hf_json(&missing, "config.json").unwrap_err().to_string();
    assert!(err.contains("`hidden_size`") && err.contains("missing"), "{err}");
}

/// The loss paths' log-probs at chosen columns equal the log-softmax of the full logits there (computed on the
/// host in f64), at a temperature ≠ 1.
#[test]
fn logprobs_at_chosen_columns_equal_the_log_softmax_of_the_full_logits() {
    let loaded = load("qwen3_gqa_untied");
    let rows = rows_of(&expected("qwen3_gqa_untied")["input_ids"]);
    let batch = TokenBatch::new(&rows, loaded.tokenizer.pad_id, PadSide::Right).unwrap();
    let hidden = loaded.model.hidden(&batch);
    let (dims, logits) = host(loaded.model.logits(hidden.clone()));
    let (t, v) = (dims[1], dims[2]);
    let columns = [0usize, 5, 10, 3, 3, 7];
    let got = host(loaded.model.logprobs_at(hidden.clone(), &batch, &columns, 3, 0.7).unwrap()).1;
    for (i, &c) in columns.iter().enumerate() {
        let r = i / 3;
        let row: Vec<f64> = logits[(r * t + c) * v..(r * t + c + 1) * v].iter().map(|&x| x as f64 / 0.7).collect();
        let max = row.iter().cloned().fold(f64::MIN, f64::max);
        let lse = max + row.iter().map(|x| (x - max).exp()).sum::<f64>().ln();
        let want = row[rows[r][c + 1] as usize] - lse;
        assert!((got[i] as f64 - want).abs() < 1e-4, "row {r} column {c}: {} vs {want}", got[i]);
    }
    let err = loaded.model.logprobs_at(hidden, &batch, &[0, t - 1], 1, 1.0).unwrap_err().to_string();
    assert!(err.contains("prediction columns"), "{err}");
}

#[test]
fn adamw_steps_reduce_the_loss_through_the_whole_model() {
    let device = Device::flex().autodiff();
    let config = ModelConfig::preset("tiny", 64).unwrap();
    let mut model = CausalLm::init_random(config, 1, &device).unwrap();
    let mut optim = AdamWConfig::new().with_epsilon(1e-8).with_weight_decay(0.0).init();
    let rows = vec![vec![1, 5, 9, 13, 17, 21, 25, 29], vec![2, 4, 6, 8, 10, 12]];
    let batch = TokenBatch::new(&rows, 0, PadSide::Right).unwrap();
    let mask: Vec<f32> = (0..batch.batch)
        .flat_map(|r| (1..batch.seq_len).map(move |c| (r, c)))
        .map(|(r, c)| if batch.valid[r * batch.seq_len + c] { 1.0 } else { 0.0 })
        .collect();
    let mask = Tensor::<2>::from_data(burn::tensor::TensorData::new(mask, [2, batch.seq_len - 1]), &device);
    let mut losses = Vec::new();
    for _ in 0..8 {
        let lp = model.token_logprobs(&batch, 1.0);
        let loss = (lp * mask.clone()).sum().neg() / mask.clone().sum();
        losses.push(loss.clone().into_scalar::<f32>());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(3e-3, model, grads);
    }
    assert!(losses[7] < losses[0] * 0.8, "loss did not fall: {losses:?}");
    let _ = model.valid();
}

fn tempdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("model-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn a_kv_cache_larger_than_the_host_memory_is_an_error_that_names_the_knobs() {
    let mut config = ModelConfig::preset("tiny", 64).unwrap();
    config.max_position_embeddings = 1 << 30;
    let model = CausalLm::init_random(config, 0, &Device::flex()).unwrap();
    let stop = StopTokens { emb_id: 63, eos_id: None, pad_id: 0 };
    // 64 rows × 2^29 positions of keys and values: terabytes, refused before anything is allocated.
    let params = SamplingParams { max_new_tokens: 1 << 29, ..SamplingParams::default() };
    let err = model.generate(&vec![vec![1, 2, 3]; 8], 8, &params, stop, &mut rng::streams(0, &[], 0..8)).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("KV cache of 64 rows (8 prompts × 8 samples)") && message.contains("max_new_tokens"),
        "{message}"
    );
}
