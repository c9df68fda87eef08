//! GGUF loading against the reference libraries (fixtures from `tests/fixtures/make_gguf_fixtures.py`):
//! dequantisation of every supported ggml type equals gguf-py's; a GGUF model loads with the weights, token ids,
//! hidden states and logits transformers gets from the same file; the real SmolLM2-135M-Instruct Q4_1 file (when
//! `ci/fetch_smollm2.sh` has fetched it) matches too; malformed files are errors, never panics.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor};
use model::gguf::file::GgufFile;
use model::gguf::load_gguf;
use model::hf::hf_tensors;
use model::{LoadedModel, PadSide, TokenBatch};
use serde_json::Value;

mod common;
use common::{Reference, fixtures, host, max_abs_diff, read_reference};

fn gguf_fixture(name: &str) -> PathBuf {
    fixtures().join("gguf").join(name)
}

fn meta() -> Value {
    serde_json::from_str(&std::fs::read_to_string(gguf_fixture("meta.json")).unwrap()).unwrap()
}

fn ids(reference: &Reference, key: &str) -> Vec<u32> {
    reference[key].1.iter().map(|&x| x as u32).collect()
}

fn load(path: &Path) -> LoadedModel {
    load_gguf(path, "<embtoken>", &Device::flex()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Checks text `i`'s token ids (`input_ids_<i>`) and final hidden states (`last_hidden_state_<i>`, within `tol`);
/// returns the hidden states.
fn check_text(loaded: &LoadedModel, expected: &Reference, i: usize, text: &str, tol: f64) -> Tensor<3> {
    let tokens = loaded.tokenizer.encode(text).unwrap();
    assert_eq!(tokens, ids(expected, &format!("input_ids_{i}")), "text {i} ({text:?}): token ids");
    let batch = TokenBatch::new(&[tokens], loaded.tokenizer.pad_id, PadSide::Right).unwrap();
    let hidden = loaded.model.hidden(&batch);
    let (_, h) = host(hidden.clone());
    let want = &expected[&format!("last_hidden_state_{i}")].1;
    let err = max_abs_diff(h.iter().map(|&x| x as f64), want.iter().copied());
    assert!(err <= tol, "text {i} ({text:?}): last hidden state differs by {err}");
    hidden
}

#[test]
fn every_ggml_type_dequantises_like_gguf_py() {
    let file = GgufFile::open(&gguf_fixture("dequant_cases.gguf")).unwrap();
    let expected = read_reference(&gguf_fixture("dequant_cases_expected.safetensors"));
    assert_eq!(file.tensors.len(), 13, "F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K … Q6_K");
    for name in file.tensors.keys() {
        let ours = file.dequantize(name).unwrap();
        let (shape, want) = &expected[&format!("gguf.{name}")];
        assert_eq!(ours.len(), shape.iter().product::<usize>(), "{name}");
        let err = max_abs_diff(ours.iter().map(|&x| x as f64), want.iter().copied());
        assert!(err <= 1e-6, "{name}: differs from gguf-py by {err}");
    }
}

/// Both tiny models (tied with GQA, untied with an extra head): weights in HF layout as transformers holds them,
/// the same token ids, and the same final hidden states and logits.
#[test]
fn tiny_gguf_models_match_transformers() {
    let meta = meta();
    for name in ["tiny_llama", "tiny_llama_untied"] {
        let loaded = load(&gguf_fixture(&format!("{name}.gguf")));
        let expected = read_reference(&gguf_fixture(&format!("{name}_expected.safetensors")));
        let vocab = meta["tiny"][name]["config"]["vocab"].as_u64().unwrap() as usize;
        assert_eq!(loaded.tokenizer.emb_id as usize, vocab, "{name}: <embtoken> is added after the vocabulary");
        assert_eq!(loaded.model.config.vocab_size, vocab + 1, "{name}: the full vocabulary grows by one row");
        let ours = hf_tensors(&loaded.model).unwrap();
        for (key, (shape, want)) in expected.iter().filter(|(k, _)| k.starts_with("hf.")) {
            let hf_name = &key["hf.".len()..];
            let (_, got) = &ours[hf_name];
            let n: usize = shape.iter().product();
            let err = max_abs_diff(got[..n].iter().map(|&x| x as f64), want.iter().copied());
            assert!(err <= 1e-6, "{name} {hf_name}: differs from transformers by {err}");
        }
        let texts = meta["tiny"][name]["texts"].as_array().unwrap();
        for (i, text) in texts.iter().enumerate() {
            let hidden = check_text(&loaded, &expected, i, text["text"].as_str().unwrap(), 1e-4);
            let (dims, logits) = host(loaded.model.logits(hidden));
            let ours = logits.chunks(dims[2]).flat_map(|row| row[..vocab].iter().map(|&x| x as f64));
            let err = max_abs_diff(ours, expected[&format!("logits_{i}")].1.iter().copied());
            assert!(err <= 1e-4, "{name} text {i}: logits differ by {err}");
        }
    }
}

/// The real model, when its file is present (`bash ci/fetch_smollm2.sh`; `T1_SMOLLM2_GGUF` overrides the path).
#[test]
fn real_smollm2_gguf_matches_transformers() {
    let path = std::env::var_os("T1_SMOLLM2_GGUF").map(PathBuf::from).unwrap_or_else(|| {
        Path::new(&std::env::var_os("HOME").unwrap_or_default())
            .join(".cache/t1/assets/SmolLM2-135M-Instruct.Q4_1.gguf")
    });
    if !path.is_file() {
        eprintln!("SKIPPED real SmolLM2 check: {} is missing (run `bash ci/fetch_smollm2.sh`)", path.display());
        return;
    }
    let loaded = load(&path);
    let meta = meta();
    let expected = read_reference(&gguf_fixture("smollm2_expected.safetensors"));
    let chat = loaded.tokenizer.chat_template.as_ref().expect("SmolLM2's GGUF carries its chat template");
    assert!(chat.generation_prompt("hi").unwrap().ends_with("<|im_start|>assistant\n"));
    // SmolLM2's own tokenizer (digits split first, as its tokenizer.json and llama.cpp do). A text holding
    // `<embtoken>` is left out: here it is the added special token, by design.
    for case in meta["smollm2"]["tokenizer_texts"].as_array().unwrap() {
        if case["text"].as_str().unwrap().contains("<embtoken>") {
            continue;
        }
        let want: Vec<u32> =
            case["upstream_pipeline_ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        assert_eq!(loaded.tokenizer.encode(case["text"].as_str().unwrap()).unwrap(), want, "{case}");
    }
    for (i, text) in meta["smollm2"]["texts"].as_array().unwrap().iter().enumerate() {
        // Hidden states reach ~34 here; torch itself moves by 2e-5 between thread counts.
        let hidden = check_text(&loaded, &expected, i, text["text"].as_str().unwrap(), 1e-3);
        let last = hidden.dims()[1] - 1;
        let (_, logits) = host(loaded.model.logits(hidden.narrow(1, last, 1)));
        let mut order: Vec<usize> = (0..logits.len()).collect();
        order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
        let top5: Vec<u32> = order[..5].iter().map(|&t| t as u32).collect();
        assert_eq!(top5, ids(&expected, &format!("top5_ids_{i}")), "text {i}: top-5 next tokens");
    }
}

#[test]
fn malformed_gguf_files_are_errors_that_name_the_file() {
    let good = std::fs::read(gguf_fixture("tiny_llama.gguf")).unwrap();
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("wrong magic", [b"GGML".as_slice(), &good[4..]].concat()),
        ("version 9", [&good[..4], &9u32.to_le_bytes(), &good[8..]].concat()),
        ("huge tensor count", [&good[..8], &u64::MAX.to_le_bytes(), &good[16..]].concat()),
    ];
    for cut in [6, 20, 100, 1000, 5000, good.len() / 2, good.len() - 1] {
        cases.push(("truncated", good[..cut].to_vec()));
    }
    for (what, bytes) in cases {
        let err = match GgufFile::parse(bytes, "broken.gguf") {
            Ok(_) => panic!("{what}: accepted"),
            Err(e) => e.to_string(),
        };
        assert!(err.starts_with("broken.gguf"), "{what}: {err}");
    }
}
