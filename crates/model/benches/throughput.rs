//! Model throughput on the chosen backend: a training step (forward + backward of the next-token loss) and
//! batched B×G sampling with the KV cache, for the tiny default and a SmolLM2-135M-sized config.
//!
//! `cargo bench -p model --bench throughput [-- --device wgpu] [-- --quick] [-- --iters N] [-- --config NAME]
//! [-- --only train|gen]` (`--config` and `--only` narrow the run, e.g. to profile one workload).
//! Prints tokens/s (median and range over N timed iterations, default 5, each after a warm-up), the analytic
//! floor (forward FLOPs/token; training ≈ 3×) and the peak RSS of the process.

use std::time::Instant;

use burn::optim::GradientsParams;
use burn::tensor::Device;
use model::{CausalLm, ModelConfig, PadSide, SamplingParams, StopTokens, TokenBatch, rng};

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn ids(rows: usize, len: usize, vocab: usize, salt: usize) -> Vec<Vec<u32>> {
    (0..rows).map(|r| (0..len).map(|t| ((r * 7919 + t * 104_729 + salt) % (vocab - 1)) as u32 + 1).collect()).collect()
}

/// Median and range of per-iteration rates: `(median, min, max)`.
fn summary(mut rates: Vec<f64>) -> (f64, f64, f64) {
    rates.sort_by(f64::total_cmp);
    let n = rates.len();
    let median = if n % 2 == 1 { rates[n / 2] } else { (rates[n / 2 - 1] + rates[n / 2]) / 2.0 };
    (median, rates[0], rates[n - 1])
}

/// Training-step tokens/s of each of `iters` timed iterations, after one warm-up.
fn train_step_rates(config: &ModelConfig, device: &Device, batch: usize, seq: usize, iters: usize) -> Vec<f64> {
    let ad = device.clone().autodiff();
    let model = CausalLm::init_random(config.clone(), 0, &ad).unwrap();
    let rows = ids(batch, seq, config.vocab_size, 1);
    let tb = TokenBatch::new(&rows, 0, PadSide::Right).unwrap();
    let run = || {
        let loss = model.token_logprobs(&tb, 1.0).mean().neg();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        std::hint::black_box(grads);
    };
    run(); // warm-up (allocations, autotune on GPU backends)
    device.sync().ok();
    (0..iters)
        .map(|_| {
            let start = Instant::now();
            run();
            device.sync().ok();
            (batch * seq) as f64 / start.elapsed().as_secs_f64()
        })
        .collect()
}

/// Generated tokens/s of each of `iters` timed `generate` calls (B prompts × G samples), after one warm-up.
fn generation_rates(
    config: &ModelConfig,
    device: &Device,
    prompts: usize,
    group: usize,
    new: usize,
    iters: usize,
) -> Vec<f64> {
    let model = CausalLm::init_random(config.clone(), 0, device).unwrap();
    let prompt_ids = ids(prompts, 32, config.vocab_size, 2);
    let stop = StopTokens { emb_id: config.vocab_size as u32 - 1, eos_id: None, pad_id: 0 };
    let params = SamplingParams { max_new_tokens: new, stop_at_eos: false, ..SamplingParams::default() };
    let mut rngs = rng::streams(0, &[], 0..prompts as u64);
    model
        .generate(&prompt_ids, group, &SamplingParams { max_new_tokens: 2, ..params.clone() }, stop, &mut rngs)
        .unwrap();
    (0..iters)
        .map(|_| {
            let start = Instant::now();
            let rollouts = model.generate(&prompt_ids, group, &params, stop, &mut rngs).unwrap();
            let generated: usize = rollouts.iter().map(|r| r.tokens.len()).sum();
            generated as f64 / start.elapsed().as_secs_f64()
        })
        .collect()
}

/// Max |hidden − transformers' hidden| of a committed parity fixture, run on `device`.
fn parity(dir: &std::path::Path, device: &Device) -> f64 {
    let loaded = model::load_dir(dir, "<embtoken>", device).expect("fixture loads");
    let bytes = std::fs::read(dir.join("expected.safetensors")).expect("expected.safetensors");
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("safetensors");
    let ids = st.tensor("input_ids").unwrap();
    let (rows, cols) = (ids.shape()[0], ids.shape()[1]);
    let ids: Vec<Vec<u32>> = ids
        .data()
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as u32)
        .collect::<Vec<_>>()
        .chunks(cols)
        .map(<[u32]>::to_vec)
        .collect();
    assert_eq!(ids.len(), rows);
    let want: Vec<f32> = st
        .tensor("last_hidden_state")
        .unwrap()
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let batch = TokenBatch::new(&ids, loaded.tokenizer.pad_id, PadSide::Right).unwrap();
    let got = loaded.model.hidden(&batch).into_data().convert::<f32>().try_into_vec::<f32>().unwrap();
    got.iter().zip(&want).map(|(a, b)| (a - b).abs() as f64).fold(0.0, f64::max)
}

fn main() {
    model::host::keep_freed_memory(); // as the trainer binary does
    let args: Vec<String> = std::env::args().collect();
    let device_spec = args.iter().position(|a| a == "--device").map_or("cpu", |i| args[i + 1].as_str());
    let quick = args.iter().any(|a| a == "--quick");
    let device = model::parse_device(device_spec).expect("device");
    if let Some(i) = args.iter().position(|a| a == "--parity") {
        let dir = std::path::Path::new(&args[i + 1]);
        println!(
            "parity {} on {device_spec}: max abs error {:.2e} (tests require ≤ 1e-4)",
            dir.display(),
            parity(dir, &device)
        );
    }
    // Peak dense f32 throughput used for the floor; override with PEAK_GFLOPS (e.g. measured by PyTorch).
    let peak: f64 = std::env::var("PEAK_GFLOPS").ok().and_then(|v| v.parse().ok()).unwrap_or(190.0);
    println!("backend {device_spec}; floor at {peak} GFLOP/s (set PEAK_GFLOPS to change)");
    // Timed iterations per workload (each after a warm-up): the median is the number to read, the range its spread.
    let iters: usize = args
        .iter()
        .position(|a| a == "--iters")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(if quick { 2 } else { 5 });
    println!("{iters} timed iterations per workload; tok/s = median (range min–max)");
    println!(
        "| config | params | fwd GFLOP/token | train tok/s | train range | train floor tok/s | gen B×G=8×8 tok/s | gen range | peak RSS MiB |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let only = args.iter().position(|a| a == "--only").map(|i| args[i + 1].as_str());
    let wanted = args.iter().position(|a| a == "--config").map(|i| args[i + 1].as_str());
    for (name, vocab) in [("tiny", 3000), ("smollm2-135m", 49152)] {
        if wanted.is_some_and(|w| w != name) {
            continue;
        }
        let config = ModelConfig::preset(name, vocab).unwrap();
        let flops = config.forward_flops_per_token() as f64;
        let new = if name == "tiny" { 32 } else { 16 };
        let skipped = || vec![f64::NAN];
        let train = if only == Some("gen") { skipped() } else { train_step_rates(&config, &device, 8, 128, iters) };
        let generation =
            if only == Some("train") { skipped() } else { generation_rates(&config, &device, 8, 8, new, iters) };
        let ((train, train_lo, train_hi), (generation, gen_lo, gen_hi)) = (summary(train), summary(generation));
        println!(
            "| {name} | {:.1} M | {:.3} | {train:.0} | {train_lo:.0}–{train_hi:.0} | {:.0} | {generation:.0} | {gen_lo:.0}–{gen_hi:.0} | {:.0} |",
            config.num_params() as f64 / 1e6,
            flops / 1e9,
            peak * 1e9 / (3.0 * flops),
            peak_rss_mib()
        );
    }
}
