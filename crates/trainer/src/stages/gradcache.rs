//! GradCache (Gao et al., 2021, arXiv 2101.06983): the contrastive loss over a large batch with the memory of a
//! small one.
//!
//! 1. Embed every query and document of the batch without a graph, in chunks.
//! 2. Compute the loss on those embeddings as leaf tensors and back-propagate to them only: ∂L/∂e.
//! 3. Re-embed each chunk with the graph and back-propagate the surrogate `Σ e · stopgrad(∂L/∂e)`; the parameter
//!    gradients summed over chunks equal those of the whole-batch graph.
//!
//! In a data-parallel job step 2 runs on the embeddings of every rank ([`crate::stages::gather`]) and each rank
//! keeps the rows of ∂L/∂e that belong to its own texts.

use burn::optim::GradientsParams;
use burn::tensor::{Tensor, TensorData};
use model::hf::NamedParam;
use model::host::to_vec;
use model::{CausalLm, PadSide, TextTokenizer, TokenBatch};

use crate::embed::embed_rows;
use crate::stages::example::Example;
use crate::stages::gather::{Gathered, QueryMeta, gathers};
use crate::stages::objective::{LossParts, Objective, doc_batch, embedding_loss};
use crate::train::collective::Collective;
use crate::train::grads::accumulate;

/// Parameter gradients of the embedding loss of `examples` (divided by `micro_batches`), computed chunk by chunk
/// with `objective.config.gradcache_chunk` texts per forward pass, with the loss parts and the loss value (as
/// [`super::single_graph_grads`]).
pub fn gradcache_grads(
    model: &CausalLm,
    tokenizer: &TextTokenizer,
    objective: &Objective,
    examples: &[Example],
    micro_batches: usize,
    params: &[NamedParam],
    comm: &dyn Collective,
) -> anyhow::Result<(GradientsParams, LossParts, f64)> {
    let device = model.device();
    let chunk = objective.config.gradcache_chunk.max(1);
    let query_rows: Vec<Vec<u32>> = examples.iter().map(|e| e.query_tokens(tokenizer.emb_id)).collect();
    let (docs, doc_ids) = doc_batch(examples, tokenizer)?;
    let doc_rows: Vec<Vec<u32>> = (0..docs.batch).map(|r| docs.row(r)).collect();
    let dim = model.config.hidden_size;

    // 1. Embeddings without a graph.
    let q_host = embed_rows(model, tokenizer, &query_rows, chunk, false)?;
    let d_host = embed_rows(model, tokenizer, &doc_rows, chunk, false)?;

    // 2. Loss and its gradient with respect to the embeddings (of the whole job's batch when gathering).
    let leaf =
        |values: Vec<f32>| Tensor::<2>::from_data(TensorData::new(values.clone(), [values.len() / dim, dim]), &device);
    let gathered = if gathers(comm, &objective.config) {
        Some(Gathered::new(comm, (&q_host, QueryMeta::of(examples)), (&d_host, doc_ids.clone()), dim)?)
    } else {
        None
    };
    let (queries, docs_leaf, meta, ids, scale) = match &gathered {
        Some(g) => (leaf(g.all_queries()), leaf(g.all_docs()), g.queries.clone(), g.doc_ids.clone(), g.scale),
        None => (leaf(q_host), leaf(d_host), QueryMeta::of(examples), doc_ids, 1.0),
    };
    let (queries, docs_leaf) = (queries.require_grad(), docs_leaf.require_grad());
    let (loss, parts) = embedding_loss(objective, &meta, queries.clone(), docs_leaf.clone(), &ids);
    let loss = loss / micro_batches as f64;
    let value = loss.clone().into_scalar::<f32>() as f64;
    let grads = (loss * scale).backward();
    let q_grad = to_vec(queries.grad(&grads).expect("queries are a leaf of the loss"))?;
    let d_grad = to_vec(docs_leaf.grad(&grads).expect("documents are a leaf of the loss"))?;
    let (q_grad, d_grad) = match &gathered {
        Some(g) => (g.own_query_rows(&q_grad), g.own_doc_rows(&d_grad)),
        None => (q_grad, d_grad),
    };

    // 3. Re-encode chunk by chunk with the graph, back-propagating the cached gradients.
    let mut total: Option<GradientsParams> = None;
    for (rows, cached) in [(&query_rows, &q_grad), (&doc_rows, &d_grad)] {
        for (i, part) in rows.chunks(chunk).enumerate() {
            let batch = TokenBatch::new(part, tokenizer.pad_id, PadSide::Right)?;
            let emb = model.embed(&batch, tokenizer.emb_id)?;
            let start = i * chunk * dim;
            let g = cached[start..start + part.len() * dim].to_vec();
            let g = Tensor::<2>::from_data(TensorData::new(g, [part.len(), dim]), &device);
            let surrogate = (emb * g).sum();
            let grads = GradientsParams::from_grads(surrogate.backward(), model);
            total = Some(accumulate(total, grads, params));
        }
    }
    Ok((total.expect("at least one chunk"), parts, value))
}
