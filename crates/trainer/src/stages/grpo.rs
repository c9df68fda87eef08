//! Stage 3 — GRPO: learn, by trial and error, which reasoning to write so that the embedding at its end ranks the
//! relevant documents first.
//!
//! Every `num_iterations` optimizer steps a generation batch is made: for each of `batch_size` queries the current
//! policy samples G reasoning rollouts `prompt(query) → reasoning → <embtoken>`; each rollout's embedding — read in
//! the same decoding pass — ranks a candidate pool (the batch's documents, or the whole corpus), and its reward is
//! where the query's positives land (reciprocal rank, nDCG@k, hit@k or a similarity margin), plus an optional
//! format bonus and length penalty. Advantages are group-relative. The policy loss is TRL's clipped ratio against
//! the sampling policy's log-probs, with an optional k3 KL to the stage's starting model, aggregated as `grpo`,
//! `bnpo`, `dr_grpo` or `dapo` ([`crate::grpo::loss`]). The generation batch, its advantages and old log-probs stay
//! in a buffer (saved with checkpoints) until all `num_iterations` updates have used it.
//!
//! In a data-parallel job each rank samples whole groups for its own queries, from random streams keyed by the
//! query's position in the job's batch; the batch pool is the union of every rank's documents and the corpus pool is
//! encoded in shards; advantages come from every rank's rewards. So rollouts, rewards and advantages are those one
//! process with the whole batch would have made.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use anyhow::Context;
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Tensor, TensorData};
use data::{DataState, GrpoRow, Prefetch, PrefetchConfig, ShardSet, StreamConfig};
use model::hf::NamedParam;
use model::host::to_vec;
use model::pooling::{gather_rows, l2_normalize};
use model::rng::streams;
use model::{CausalLm, PadSide, Rollout, StopTokens, TextTokenizer, TokenBatch};
use serde::{Deserialize, Serialize};

use crate::embed::{embed_rows, embed_texts};
use crate::eval::evaluator::similarities;
use crate::grpo::advantages::{self, group_advantages};
use crate::grpo::anchor::{self, AnchorDocs};
use crate::grpo::completions::{CompletionsLog, LoggedGeneration, RewardParts};
use crate::grpo::loss::{PolicyBatch, PolicyLossConfig, policy_loss};
use crate::grpo::reward::{CandidatePool, chance_reward, retrieval_reward};
use crate::losses::info_nce;
use crate::recipe::GrpoConfig;
use crate::stages::example::{Doc, ExampleEncoder};
use crate::stages::{ResumeState, StageMethod, StepOutput, example_stream, step_normaliser};
use crate::train::collective::{Collective, ReduceOp};
use crate::train::grads::accumulate;

/// A stage-3 query: its prompt and the documents its reward is computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct GrpoExample {
    /// The query's id.
    pub query_id: String,
    /// `instruction + query` as ids.
    pub prompt: Vec<u32>,
    /// Gold reasoning as ids, when the data has it (only scored, for `train/reward_gold`; never a target).
    pub reasoning: Option<Vec<u32>>,
    /// Positive documents (tokens, for the batch pool).
    pub positives: Vec<Doc>,
    /// Hard negatives.
    pub negatives: Vec<Doc>,
    /// Documents left out of this query's ranking.
    pub excluded_ids: Vec<String>,
}

/// Turns a stage-3 row into an example (all positives, the first `hard_negatives` negatives).
pub fn encode(encoder: &ExampleEncoder, row: GrpoRow) -> anyhow::Result<GrpoExample> {
    let negatives: Vec<String> = row.negative_ids.iter().take(encoder.hard_negatives).cloned().collect();
    Ok(GrpoExample {
        prompt: encoder.prompt(&row.query)?,
        reasoning: row.reasoning.as_deref().map(|r| encoder.reasoning(r)).transpose()?,
        positives: encoder.documents(&row.positive_ids)?,
        negatives: encoder.documents(&negatives)?,
        excluded_ids: row.excluded_ids,
        query_id: row.query_id,
    })
}

/// The stream of stage-3 examples, resumed from `state` when given.
pub fn examples(
    shards: &ShardSet,
    config: StreamConfig,
    state: Option<&DataState>,
    prefetch: PrefetchConfig,
    encoder: Arc<ExampleEncoder>,
) -> anyhow::Result<Prefetch<GrpoExample>> {
    example_stream(shards, config, state, prefetch, move |row: GrpoRow| encode(&encoder, row))
}

/// One generation batch and everything the updates need from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationBuffer {
    /// Prompt ids per query.
    pub prompts: Vec<Vec<u32>>,
    /// Per query, the documents of the optional embedding anchor (`contrastive_weight`).
    pub anchors: Vec<AnchorDocs>,
    /// G rollouts per query, query-major.
    pub rollouts: Vec<Rollout>,
    /// Total reward per rollout.
    #[serde(with = "model::float_serde::vec_f64")]
    pub rewards: Vec<f64>,
    /// Advantage per rollout (0 for rows dropped by dynamic sampling).
    #[serde(with = "model::float_serde::vec_f64")]
    pub advantages: Vec<f64>,
    /// Whether each rollout takes part in the loss.
    pub in_loss: Vec<bool>,
    /// log π_ref of each rollout's sampled tokens (when β > 0).
    #[serde(with = "model::float_serde::opt_rows_f32")]
    pub ref_logprobs: Option<Vec<Vec<f32>>>,
    /// Updates already made with this batch.
    pub iteration: usize,
    /// Metrics of the generation (rewards, lengths, ...), logged with each of its updates.
    #[serde(with = "model::float_serde::named_f64")]
    pub metrics: Vec<(String, f64)>,
}

/// The corpus as a candidate pool: ids and embeddings, made at generation `generation`.
pub struct CorpusPool {
    /// Generation index at which it was encoded.
    pub generation: usize,
    /// Document ids in corpus order.
    pub ids: Vec<String>,
    /// Row-major `[documents, hidden]` embeddings.
    pub embeddings: Vec<f32>,
}

/// Stage 3 on the shared loop.
pub struct GrpoMethod {
    /// Prepared queries.
    pub examples: Prefetch<GrpoExample>,
    /// Settings.
    pub config: GrpoConfig,
    /// Queries per generation batch.
    pub batch_size: usize,
    /// Micro-batches (of queries) per optimizer step.
    pub grad_accum: usize,
    /// The tokenizer.
    pub tokenizer: TextTokenizer,
    /// The stage's starting model, kept when β > 0.
    pub reference: Option<CausalLm>,
    /// Corpus (for the corpus pool) with its ids.
    pub corpus: Arc<data::Corpus>,
    /// The document encoding settings.
    pub encoder: Arc<ExampleEncoder>,
    /// Seed of the sampling streams.
    pub seed: u64,
    /// Cursor after the last consumed query.
    pub data: Option<DataState>,
    /// The current generation batch.
    pub buffer: Option<GenerationBuffer>,
    /// The embedded corpus when `pool = "corpus"`.
    pub corpus_pool: Option<CorpusPool>,
    /// Temperature τ of the optional rollout InfoNCE term (the stage's `loss.temperature`).
    pub contrastive_temperature: f64,
    /// Where sampled completions are logged (rank 0, when `log_completions_every > 0`).
    pub completions: Option<CompletionsLog>,
}

impl GrpoMethod {
    /// Makes a generation batch of `batch_size` groups. With `dynamic_sampling` (DAPO), groups whose rewards are all
    /// equal carry no signal: more rounds of `batch_size` fresh queries (per rank) are sampled until the job holds
    /// `batch_size × ranks` informative groups or `max_generation_rounds` rounds are spent; the rest of the batch is
    /// then filled with constant groups, kept out of the loss. The selection runs over the job's groups in job order
    /// and deals them out to the ranks as the stream deals queries, so a data-parallel job keeps the groups one
    /// process would.
    fn generate(
        &mut self,
        model: &CausalLm,
        generation: usize,
        comm: &dyn Collective,
    ) -> anyhow::Result<GenerationBuffer> {
        let c = self.config.clone();
        let frozen = model.valid();
        let (rank, world, g) = (comm.rank(), comm.world_size(), c.group_size);
        let job_batch = self.batch_size * world;
        let (mut informative, mut constant) = (Vec::new(), Vec::new());
        let (mut rounds, mut diagnostics) = (0, Vec::new());
        let (mut generation_s, mut reward_s) = (0.0, 0.0);
        let kept: Vec<Group> = loop {
            let round = self.sample_round(&frozen, generation, rounds, comm)?;
            if rounds == 0 {
                diagnostics = round.diagnostics;
            }
            rounds += 1;
            generation_s += round.generation_s;
            reward_s += round.reward_s;
            if !c.dynamic_sampling {
                break round.groups;
            }
            // Job position j of the round is rank j % W's group j / W.
            let gathered = if world > 1 {
                comm.all_gather_json("GRPO dynamic sampling: groups", &round.groups)?
            } else {
                vec![round.groups]
            };
            let mut per_rank: Vec<_> = gathered.into_iter().map(Vec::into_iter).collect();
            for j in 0..job_batch {
                let group = per_rank[j % world].next().context("a rank sent fewer groups than its batch")?;
                if advantages::is_constant(&group.rewards) {
                    constant.push(group);
                } else if informative.len() < job_batch {
                    informative.push(group);
                }
            }
            if informative.len() == job_batch || rounds >= c.max_generation_rounds {
                let fill = job_batch - informative.len();
                informative.extend(constant.drain(..fill));
                break informative.into_iter().skip(rank).step_by(world).collect();
            }
        };

        let mut query_ids = Vec::with_capacity(kept.len());
        let (mut prompts, mut anchors) = (Vec::with_capacity(kept.len()), Vec::with_capacity(kept.len()));
        let (mut rollouts, mut rewards, mut parts, mut chance) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (i, group) in kept.into_iter().enumerate() {
            query_ids.push(group.query_id);
            prompts.push(group.prompt);
            anchors.push(group.anchor);
            rollouts.extend(group.rollouts.into_iter().map(|r| Rollout { prompt: i, ..r }));
            rewards.extend(group.rewards);
            parts.extend(group.parts);
            chance.extend(group.chance.map(|x| vec![x; g]).unwrap_or_default());
        }
        // Advantages (and the reward statistics) over the job's whole batch: every rank's groups, in rank order.
        let all_rewards: Vec<f64> = comm.all_gather_json("rollout rewards", &rewards)?.concat();
        let own = rank * rewards.len()..(rank + 1) * rewards.len();
        let adv = group_advantages(&all_rewards, g, c.scale_rewards, c.advantage_eps);
        let frac_zero_std = adv.frac_zero_std();
        let advantages = adv.values[own.clone()].to_vec();
        let in_loss: Vec<bool> = rollouts
            .iter()
            .zip(&adv.group_constant[own])
            .map(|(r, &constant)| !((c.dynamic_sampling && constant) || (c.mask_truncated && r.truncated())))
            .collect();
        let ref_logprobs = match &self.reference {
            Some(reference) => Some(self.rollout_logprobs_host(reference, &prompts, &rollouts)?),
            None => None,
        };
        let n = rollouts.len() as f64;
        let (mean, std) = (advantages::mean(&all_rewards), advantages::std(&all_rewards));
        let lengths: Vec<f64> = rollouts.iter().map(|r| r.policy_logprobs.len() as f64).collect();
        let generated: f64 = lengths.iter().sum();
        let mut metrics = vec![
            ("train/reward".to_string(), mean),
            ("train/reward_std".to_string(), std),
            ("train/reward_retrieval".to_string(), parts.iter().map(|p| p.retrieval).sum::<f64>() / n),
            ("train/reward_format".to_string(), parts.iter().map(|p| p.format).sum::<f64>() / n),
            ("train/reward_length".to_string(), parts.iter().map(|p| p.length).sum::<f64>() / n),
            ("train/reward_chance".to_string(), chance.iter().sum::<f64>() / chance.len().max(1) as f64),
            ("train/frac_reward_zero_std".to_string(), frac_zero_std),
            ("train/completion_length_mean".to_string(), generated / n),
            ("train/entropy".to_string(), mean_entropy(&rollouts)),
            ("train/completion_length_max".to_string(), lengths.iter().cloned().fold(0.0, f64::max)),
            ("train/truncated_fraction".to_string(), rollouts.iter().filter(|r| r.truncated()).count() as f64 / n),
            ("train/in_loss_fraction".to_string(), in_loss.iter().filter(|&&x| x).count() as f64 / n),
            ("time/generation_s".to_string(), generation_s),
            ("time/reward_s".to_string(), reward_s),
            ("time/generated_tokens_per_s".to_string(), generated / generation_s.max(1e-9)),
        ];
        if c.dynamic_sampling {
            metrics.push(("train/generation_rounds".to_string(), rounds as f64));
            metrics.push(("train/sampled_groups".to_string(), (rounds * job_batch) as f64));
        }
        metrics.extend(diagnostics);
        if let Some(log) = &mut self.completions {
            let logged = LoggedGeneration {
                generation,
                stage_step: generation * c.num_iterations + 1,
                query_ids: &query_ids,
                prompts: &prompts,
                rollouts: &rollouts,
                rewards: &rewards,
                parts: &parts,
                advantages: &advantages,
                in_loss: &in_loss,
            };
            log.write(&self.tokenizer, &logged)?;
        }
        Ok(GenerationBuffer {
            anchors,
            prompts,
            rollouts,
            rewards,
            advantages,
            in_loss,
            ref_logprobs,
            iteration: 0,
            metrics,
        })
    }

    /// One round of sampling: the next `batch_size` queries of the stream, G rollouts each, every rollout's
    /// embedding ranked against the pool and rewarded. Round 0 of a generation also makes the reference-reward
    /// diagnostics when `diagnostics_every` asks for them.
    fn sample_round(
        &mut self,
        model: &CausalLm,
        generation: usize,
        round: usize,
        comm: &dyn Collective,
    ) -> anyhow::Result<Round> {
        let c = self.config.clone();
        let mut batch = Vec::with_capacity(self.batch_size);
        for _ in 0..self.batch_size {
            let prepared = self.examples.next().context("the stage-3 stream ended")??;
            self.data = Some(prepared.state);
            batch.push(prepared.item);
        }
        let prompts: Vec<Vec<u32>> = batch.iter().map(|e| e.prompt.clone()).collect();
        let t = &self.tokenizer;
        let stop = StopTokens { emb_id: t.emb_id, eos_id: t.eos_id, pad_id: t.pad_id };
        // Query i of this rank is query i·W + rank of the job's batch (ranks take every W-th row of the stream).
        let (rank, world) = (comm.rank(), comm.world_size());
        let keys = (0..prompts.len()).map(|i| (i * world + rank) as u64);
        let path = if round == 0 { vec![3, generation as u64] } else { vec![5, generation as u64, round as u64] };
        let mut rngs = streams(self.seed, &path, keys);
        let generation_start = std::time::Instant::now();
        let rollouts = model.generate(&prompts, c.group_size, &c.sampling, stop, &mut rngs)?;
        let generation_s = generation_start.elapsed().as_secs_f64();
        let reward_start = std::time::Instant::now();
        let dim = model.config.hidden_size;

        // Rank each rollout's embedding against the pool (one blocked matmul for all rollouts).
        if c.pool == CandidatePool::Corpus {
            self.refresh_corpus_pool(model, generation, comm)?;
        }
        let batch_pool;
        let (pool_ids, pool_emb): (&[String], &[f32]) = match &self.corpus_pool {
            Some(pool) if c.pool == CandidatePool::Corpus => (&pool.ids, &pool.embeddings),
            _ => {
                batch_pool = self.batch_pool(model, &batch, comm)?;
                (&batch_pool.0, &batch_pool.1)
            }
        };
        // Relevant and excluded pool documents, once per query.
        let marks: Vec<(Vec<bool>, Vec<bool>)> = batch
            .iter()
            .map(|e| {
                let positives: HashSet<&str> = e.positives.iter().map(|p| p.id.as_str()).collect();
                let excluded: HashSet<&str> = e.excluded_ids.iter().map(String::as_str).collect();
                let relevant = pool_ids.iter().map(|id| positives.contains(id.as_str())).collect();
                (relevant, pool_ids.iter().map(|id| excluded.contains(id.as_str())).collect())
            })
            .collect();
        let pool = ScoredPool { embeddings: pool_emb, marks: &marks, dim, reward: c.reward, k: c.reward_k };
        let queries: Vec<f32> = rollouts.iter().flat_map(|r| r.embedding.iter().copied()).collect();
        let owners: Vec<usize> = rollouts.iter().map(|r| r.prompt).collect();
        let retrieval = pool.rewards(model, &queries, &owners);
        let diagnose = round == 0 && c.diagnostics_every > 0 && generation.is_multiple_of(c.diagnostics_every);
        let diagnostics =
            if diagnose { self.reference_rewards(model, &batch, generation, &pool, comm)? } else { Vec::new() };
        let mut groups: Vec<Group> = batch
            .into_iter()
            .zip(&marks)
            .map(|(example, (relevant, excluded))| {
                // What a random ranking of the query's pool would earn: the floor the retrieval reward must clear.
                let live = excluded.iter().filter(|&&x| !x).count();
                let positives = relevant.iter().zip(excluded).filter(|&(&r, &x)| r && !x).count();
                Group {
                    anchor: self.anchor_docs(&example),
                    query_id: example.query_id,
                    prompt: example.prompt,
                    rollouts: Vec::new(),
                    rewards: Vec::new(),
                    parts: Vec::new(),
                    chance: chance_reward(live, positives, c.reward, c.reward_k),
                }
            })
            .collect();
        for (r, retrieval) in rollouts.into_iter().zip(retrieval) {
            let format = if r.wrote_emb_token() { c.format_weight } else { 0.0 };
            let length = c.length_penalty * r.policy_logprobs.len() as f64 / c.sampling.max_new_tokens as f64;
            let group = &mut groups[r.prompt];
            group.rewards.push(retrieval + format - length);
            group.parts.push(RewardParts { retrieval, format, length });
            group.rollouts.push(r);
        }
        Ok(Round { groups, diagnostics, generation_s, reward_s: reward_start.elapsed().as_secs_f64() })
    }

    /// The diagnostics of `diagnostics_every`: the mean retrieval reward, on this generation's pool, of each query's
    /// greedy rollout (`train/reward_greedy`) and of its gold reasoning (`train/reward_gold`, over the job's queries
    /// that have one; absent when none has). Greedy decoding draws no random numbers, so training's samples do not
    /// depend on whether this runs.
    fn reference_rewards(
        &self,
        model: &CausalLm,
        batch: &[GrpoExample],
        generation: usize,
        pool: &ScoredPool,
        comm: &dyn Collective,
    ) -> anyhow::Result<Vec<(String, f64)>> {
        let t = &self.tokenizer;
        let prompts: Vec<Vec<u32>> = batch.iter().map(|e| e.prompt.clone()).collect();
        let greedy = model::SamplingParams { temperature: 0.0, ..self.config.sampling.clone() };
        let stop = StopTokens { emb_id: t.emb_id, eos_id: t.eos_id, pad_id: t.pad_id };
        let mut rngs = streams(self.seed, &[4, generation as u64], 0..prompts.len() as u64);
        let rollouts = model.generate(&prompts, 1, &greedy, stop, &mut rngs)?;
        let embeddings: Vec<f32> = rollouts.iter().flat_map(|r| r.embedding.iter().copied()).collect();
        let owners: Vec<usize> = rollouts.iter().map(|r| r.prompt).collect();
        let greedy_sum: f64 = pool.rewards(model, &embeddings, &owners).iter().sum();
        let (owners, rows): (Vec<usize>, Vec<Vec<u32>>) = batch
            .iter()
            .enumerate()
            .filter_map(|(i, e)| {
                let gold = e.reasoning.as_ref()?;
                Some((i, e.prompt.iter().chain(gold).chain([&t.emb_id]).copied().collect()))
            })
            .unzip();
        let gold_sum: f64 = if rows.is_empty() {
            0.0
        } else {
            pool.rewards(model, &embed_rows(model, t, &rows, 32, false)?, &owners).iter().sum()
        };
        // [greedy sum, queries, gold sum, queries with gold] over the job.
        let mut totals = [greedy_sum, batch.len() as f64, gold_sum, rows.len() as f64];
        comm.all_reduce_f64("GRPO reference rewards", &mut totals, ReduceOp::Sum);
        let mut out = vec![("train/reward_greedy".to_string(), totals[0] / totals[1].max(1.0))];
        if totals[3] > 0.0 {
            out.push(("train/reward_gold".to_string(), totals[2] / totals[3]));
        }
        Ok(out)
    }

    /// The batch pool: the positives and hard negatives of every query of the job's batch (each document once, in
    /// the order of the queries' positions in the job's batch), each rank embedding those of its own queries.
    fn batch_pool(
        &self,
        model: &CausalLm,
        batch: &[GrpoExample],
        comm: &dyn Collective,
    ) -> anyhow::Result<(Vec<String>, Vec<f32>)> {
        let mut seen = HashSet::new();
        let mut ids = Vec::new();
        let mut rows = Vec::new();
        for d in batch.iter().flat_map(|e| e.positives.iter().chain(&e.negatives)) {
            if seen.insert(d.id.as_str()) {
                ids.push(d.id.clone());
                rows.push(d.tokens.clone());
            }
        }
        let embeddings = embed_rows(model, &self.tokenizer, &rows, 32, false)?;
        if comm.world_size() == 1 {
            return Ok((ids, embeddings));
        }
        // Every rank's queries' document ids and its embedded documents.
        let per_query: Vec<Vec<String>> =
            batch.iter().map(|e| e.positives.iter().chain(&e.negatives).map(|d| d.id.clone()).collect()).collect();
        let queries = comm.all_gather_json("batch pool: documents per query", &per_query)?;
        let docs = comm.all_gather_json("batch pool: document ids", &ids)?;
        let vectors = comm.all_gather_f32("batch pool: document embeddings", &embeddings);
        let dim = model.config.hidden_size;
        let index: Vec<HashMap<&str, usize>> =
            docs.iter().map(|ids| ids.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect()).collect();
        let (world, per_rank) = (comm.world_size(), batch.len());
        let (mut pool_ids, mut pool_emb, mut seen) = (Vec::new(), Vec::new(), HashSet::new());
        for j in 0..world * per_rank {
            let (r, i) = (j % world, j / world);
            for id in &queries[r][i] {
                if seen.insert(id.as_str()) {
                    let row = index[r][id.as_str()];
                    pool_ids.push(id.clone());
                    pool_emb.extend_from_slice(&vectors[r][row * dim..(row + 1) * dim]);
                }
            }
        }
        Ok((pool_ids, pool_emb))
    }

    /// Re-encodes the whole corpus when the pool is older than `corpus_refresh_every` generations; each rank
    /// encodes one contiguous shard and the shards are gathered.
    fn refresh_corpus_pool(
        &mut self,
        model: &CausalLm,
        generation: usize,
        comm: &dyn Collective,
    ) -> anyhow::Result<()> {
        let every = self.config.corpus_refresh_every;
        if self.corpus_pool.as_ref().is_some_and(|p| generation < p.generation + every) {
            return Ok(());
        }
        let docs = self.corpus.docs();
        let (rank, world) = (comm.rank(), comm.world_size());
        let shard = docs.len() * rank / world..docs.len() * (rank + 1) / world;
        let texts: Vec<String> = docs[shard].iter().map(|d| self.encoder.format.document(&d.joined(" "))).collect();
        let embeddings = embed_texts(model, &self.tokenizer, &texts, 32, self.encoder.limits.document, false)?;
        let embeddings =
            if world > 1 { comm.all_gather_f32("corpus pool shards", &embeddings).concat() } else { embeddings };
        let ids = self.corpus.ids().map(str::to_string).collect();
        self.corpus_pool = Some(CorpusPool { generation, ids, embeddings });
        Ok(())
    }

    /// log π of each rollout's sampled tokens under `model` (no graph), at the sampling temperature.
    fn rollout_logprobs_host(
        &self,
        model: &CausalLm,
        prompts: &[Vec<u32>],
        rollouts: &[Rollout],
    ) -> anyhow::Result<Vec<Vec<f32>>> {
        let frozen = model.valid();
        let mut out = Vec::with_capacity(rollouts.len());
        for chunk in rollouts.chunks(32) {
            let pass = self.forward_rollouts(&frozen, prompts, chunk)?;
            let values = to_vec(pass.logp)?;
            for (i, r) in chunk.iter().enumerate() {
                out.push(values[i * pass.cols..i * pass.cols + r.policy_logprobs.len()].to_vec());
            }
        }
        Ok(out)
    }

    /// One forward pass over `prompt + rollout` (the embedding token included): log π `[rows, cols]` of the
    /// sampled tokens (columns = the longest sampled length) and the L2-normalised embeddings at the embedding token.
    fn forward_rollouts(
        &self,
        model: &CausalLm,
        prompts: &[Vec<u32>],
        rollouts: &[Rollout],
    ) -> anyhow::Result<RolloutPass> {
        let t = &self.tokenizer;
        let rows: Vec<Vec<u32>> =
            rollouts.iter().map(|r| prompts[r.prompt].iter().chain(&r.tokens).copied().collect()).collect();
        let batch = TokenBatch::new(&rows, t.pad_id, PadSide::Right)?;
        let cols = rollouts.iter().map(|r| r.policy_logprobs.len()).max().unwrap_or(0).max(1);
        // Entry j of row i: the log-prob of sampled token j, predicted at column prompt_len − 1 + j.
        // Columns past a rollout's end are clamped to the batch's last predicting column; the caller masks them.
        let mut columns = Vec::with_capacity(rollouts.len() * cols);
        for r in rollouts {
            let start = prompts[r.prompt].len() - 1;
            let last = batch.seq_len - 2;
            columns.extend((0..cols).map(|j| (start + j).min(last)));
        }
        let temperature = if self.config.sampling.temperature > 0.0 { self.config.sampling.temperature } else { 1.0 };
        let device = model.device();
        let hidden = model.hidden(&batch);
        let logp = model.logprobs_at(hidden.clone(), &batch, &columns, cols, temperature)?;
        let ends: Vec<usize> = rows.iter().map(|r| r.len() - 1).collect();
        let embeddings = l2_normalize(gather_rows(hidden, &ends, &device));
        Ok(RolloutPass { logp, cols, embeddings })
    }

    /// What the embedding anchor needs of `example`: its hash-picked positive (as stage 2 picks), every positive
    /// id, its hard negatives.
    fn anchor_docs(&self, example: &GrpoExample) -> AnchorDocs {
        let ids: Vec<String> = example.positives.iter().map(|d| d.id.clone()).collect();
        let chosen =
            self.encoder.pick(&example.query_id, &ids).and_then(|id| example.positives.iter().find(|d| &d.id == id));
        AnchorDocs {
            positive: chosen.map(|d| (d.id.clone(), d.tokens.clone())).unwrap_or_default(),
            positive_ids: ids,
            negatives: example.negatives.iter().map(|d| (d.id.clone(), d.tokens.clone())).collect(),
        }
    }

    /// The embedding anchor ([`crate::grpo::anchor`]) over the in-loss rollouts of a micro-batch (`offset`: its
    /// first row in the buffer); `None` when none is in the loss.
    fn rollout_contrastive(
        &self,
        model: &CausalLm,
        buffer: &GenerationBuffer,
        (rollouts, offset): (&[Rollout], usize),
        embeddings: Tensor<2>,
    ) -> anyhow::Result<Option<Tensor<1>>> {
        let kept: Vec<usize> = (0..rollouts.len()).filter(|&i| buffer.in_loss[offset + i]).collect();
        if kept.is_empty() {
            return Ok(None);
        }
        let queries: Vec<usize> = kept.iter().map(|&i| rollouts[i].prompt).collect();
        let l = anchor::layout(&buffer.anchors, &queries);
        let docs = TokenBatch::new(&l.docs, self.tokenizer.pad_id, PadSide::Right)?;
        let docs = model.embed(&docs, self.tokenizer.emb_id)?;
        let device = embeddings.device();
        let rows = Tensor::from_data(TensorData::new(kept.iter().map(|&i| i as i64).collect(), [kept.len()]), &device);
        let embeddings = embeddings.select(0, rows);
        Ok(Some(info_nce(embeddings, docs, &l.targets, Some(&l.excluded), self.contrastive_temperature)))
    }
}

/// One query's rollouts with their rewards, as one sampling round made them, and what the update needs of the query
/// (serialisable: dynamic sampling deals groups out across ranks).
#[derive(Serialize, Deserialize)]
struct Group {
    query_id: String,
    prompt: Vec<u32>,
    anchor: AnchorDocs,
    rollouts: Vec<Rollout>,
    #[serde(with = "model::float_serde::vec_f64")]
    rewards: Vec<f64>,
    parts: Vec<RewardParts>,
    /// A random ranking's expected retrieval reward on the query's pool (none when it has no positive).
    chance: Option<f64>,
}

/// What one sampling round made.
struct Round {
    groups: Vec<Group>,
    /// Reference-reward metrics (empty unless asked for).
    diagnostics: Vec<(String, f64)>,
    generation_s: f64,
    reward_s: f64,
}

/// A generation's candidate pool, ready to reward query embeddings against.
struct ScoredPool<'a> {
    /// Row-major `[documents, dim]` embeddings.
    embeddings: &'a [f32],
    /// Per query of the batch: which pool documents are relevant, which are excluded.
    marks: &'a [(Vec<bool>, Vec<bool>)],
    dim: usize,
    reward: crate::grpo::reward::RewardKind,
    k: usize,
}

impl ScoredPool<'_> {
    /// The retrieval reward of each row-major query embedding, row i asking for query `owners[i]`'s documents.
    fn rewards(&self, model: &CausalLm, queries: &[f32], owners: &[usize]) -> Vec<f64> {
        let docs = self.embeddings.len() / self.dim;
        let scores = similarities(model, queries, self.embeddings, self.dim);
        owners
            .iter()
            .zip(scores.chunks(docs.max(1)))
            .map(|(&q, row)| {
                let (relevant, excluded) = &self.marks[q];
                retrieval_reward(row, relevant, excluded, self.reward, self.k)
            })
            .collect()
    }
}

/// The two outputs of one forward pass over rollouts.
struct RolloutPass {
    logp: Tensor<2>,
    cols: usize,
    embeddings: Tensor<2>,
}

impl StageMethod for GrpoMethod {
    fn step(
        &mut self,
        model: &CausalLm,
        step: usize,
        params: &[NamedParam],
        comm: &dyn Collective,
    ) -> anyhow::Result<StepOutput> {
        let mu = self.config.num_iterations;
        if self.buffer.as_ref().is_none_or(|b| b.iteration >= mu) {
            self.buffer = Some(self.generate(model, step / mu, comm)?);
        }
        let update_start = std::time::Instant::now();
        let buffer = self.buffer.take().expect("filled above");
        let g = self.config.group_size;
        let loss_config = PolicyLossConfig {
            loss_type: self.config.loss_type,
            importance: self.config.importance,
            epsilon_low: self.config.epsilon_low,
            epsilon_high: self.config.epsilon_high,
            beta: self.config.beta,
            max_completion_length: self.config.sampling.max_new_tokens,
        };
        let local_tokens: usize = buffer
            .rollouts
            .iter()
            .zip(&buffer.in_loss)
            .filter(|(_, keep)| **keep)
            .map(|(r, _)| r.policy_logprobs.len())
            .sum();
        let step_tokens = step_normaliser(comm, local_tokens, "GRPO loss tokens");
        let rows_per_micro = (self.batch_size / self.grad_accum).max(1) * g;
        let micro_batches = buffer.rollouts.len().div_ceil(rows_per_micro);
        let mut grads: Option<GradientsParams> = None;
        let (mut loss, mut kl, mut low, mut high, mut region) = (0.0, 0.0, 0.0, 0.0, 0.0);
        let mut contrastive = 0.0;
        for (m, chunk) in buffer.rollouts.chunks(rows_per_micro).enumerate() {
            let offset = m * rows_per_micro;
            let pass = self.forward_rollouts(model, &buffer.prompts, chunk)?;
            let (logp, cols) = (pass.logp, pass.cols);
            let mut old = vec![0.0f32; chunk.len() * cols];
            let mut mask = vec![0.0f32; chunk.len() * cols];
            let mut reference = buffer.ref_logprobs.as_ref().map(|_| vec![0.0f32; chunk.len() * cols]);
            for (i, r) in chunk.iter().enumerate() {
                let keep = buffer.in_loss[offset + i];
                for (j, &lp) in r.policy_logprobs.iter().enumerate() {
                    old[i * cols + j] = lp;
                    mask[i * cols + j] = keep as u8 as f32;
                }
                if let (Some(dst), Some(src)) = (reference.as_mut(), buffer.ref_logprobs.as_ref()) {
                    dst[i * cols..i * cols + src[offset + i].len()].copy_from_slice(&src[offset + i]);
                }
            }
            let batch = PolicyBatch {
                rows: chunk.len(),
                cols,
                old_logp: old,
                ref_logp: reference,
                mask,
                advantages: buffer.advantages[offset..offset + chunk.len()].iter().map(|&a| a as f32).collect(),
            };
            let out = policy_loss(logp, &batch, &loss_config, micro_batches, step_tokens);
            let mut total = out.loss.clone();
            if self.config.contrastive_weight > 0.0
                && let Some(nce) = self.rollout_contrastive(model, &buffer, (chunk, offset), pass.embeddings)?
            {
                contrastive += nce.clone().into_scalar::<f32>() as f64 / micro_batches as f64;
                total = total + nce * (self.config.contrastive_weight / micro_batches as f64);
            }
            loss += total.clone().into_scalar::<f32>() as f64;
            let w = 1.0 / micro_batches as f64;
            (kl, low, high, region) =
                (kl + w * out.kl, low + w * out.clip_low, high + w * out.clip_high, region + w * out.clip_region);
            grads = Some(accumulate(grads, GradientsParams::from_grads(total.backward(), model), params));
        }
        let mut metrics = buffer.metrics.clone();
        metrics.extend([
            ("time/update_s".to_string(), update_start.elapsed().as_secs_f64()),
            ("train/clip_ratio_low".to_string(), low),
            ("train/clip_ratio_high".to_string(), high),
            ("train/clip_ratio_region".to_string(), region),
        ]);
        if self.config.beta > 0.0 {
            metrics.push(("train/kl".to_string(), kl));
        }
        if self.config.contrastive_weight > 0.0 {
            metrics.push(("train/rollout_infonce".to_string(), contrastive));
        }
        let tokens = buffer.rollouts.iter().map(|r| r.tokens.len()).sum();
        self.buffer = Some(GenerationBuffer { iteration: buffer.iteration + 1, ..buffer });
        let texts = self.completions.as_mut().and_then(CompletionsLog::take_table).into_iter().collect();
        Ok(StepOutput { grads: grads.context("empty generation batch")?, loss, metrics, tokens, texts })
    }

    fn data_state(&self) -> Option<&DataState> {
        self.data.as_ref()
    }

    fn resume_state(&self) -> ResumeState {
        let live = self.buffer.clone().filter(|b| b.iteration < self.config.num_iterations);
        ResumeState { data: self.data.clone(), buffer: live }
    }
}

/// Mean entropy of the policy over every sampled token of `rollouts` (TRL's `entropy`; 0 when none was sampled).
fn mean_entropy(rollouts: &[Rollout]) -> f64 {
    let (sum, count) =
        rollouts.iter().flat_map(|r| &r.entropies).fold((0.0, 0usize), |(s, c), &e| (s + e as f64, c + 1));
    if count == 0 { 0.0 } else { sum / count as f64 }
}
