//! GradCache (Gao et al., 2021, arXiv 2101.06983): the contrastive loss over a large batch with the memory of a
//! small one.
//!
//! 1. Embed every query and document of the batch without a graph, in chunks.
//! 2. Compute the loss on those embeddings as leaf tensors and back-propagate to them only: ∂L/∂e.
//! 3. Re-embed each chunk with the graph and back-propagate the surrogate `Σ e · stopgrad(∂L/∂e)`; the parameter
//!    gradients summed over chunks equal those of the whole-batch graph.

use burn::optim::GradientsParams;
use burn::tensor::{Tensor, TensorData};
use model::hf::NamedParam;
use model::host::to_vec;
use model::{CausalLm, PadSide, TextTokenizer, TokenBatch};

use crate::embed::embed_rows;
use crate::stages::example::Example;
use crate::stages::objective::{LossParts, Objective, doc_batch, embedding_loss};
use crate::train::grads::accumulate;

/// Parameter gradients of the embedding loss of `examples` (divided by `micro_batches`), computed chunk by chunk
/// with `chunk` texts per forward pass, with the loss parts and the loss value (as [`super::single_graph_grads`]).
pub fn gradcache_grads(
    model: &CausalLm,
    tokenizer: &TextTokenizer,
    objective: &Objective,
    examples: &[Example],
    chunk: usize,
    micro_batches: usize,
    params: &[NamedParam],
) -> anyhow::Result<(GradientsParams, LossParts, f64)> {
    let device = model.device();
    let query_rows: Vec<Vec<u32>> = examples.iter().map(|e| e.query_tokens(tokenizer.emb_id)).collect();
    let (docs, doc_ids) = doc_batch(examples, tokenizer)?;
    let doc_rows: Vec<Vec<u32>> = (0..docs.batch).map(|r| docs.row(r)).collect();
    let dim = model.config.hidden_size;

    // 1. Embeddings without a graph.
    let q_host = embed_rows(model, tokenizer, &query_rows, chunk, false)?;
    let d_host = embed_rows(model, tokenizer, &doc_rows, chunk, false)?;

    // 2. Loss and its gradient with respect to the embeddings.
    let leaf = |values: Vec<f32>, rows: usize| {
        Tensor::<2>::from_data(TensorData::new(values, [rows, dim]), &device).require_grad()
    };
    let queries = leaf(q_host, query_rows.len());
    let docs_leaf = leaf(d_host, doc_rows.len());
    let (loss, parts) = embedding_loss(objective, examples, queries.clone(), docs_leaf.clone(), &doc_ids);
    let loss = loss / micro_batches as f64;
    let value = loss.clone().into_scalar::<f32>() as f64;
    let grads = loss.backward();
    let q_grad = to_vec(queries.grad(&grads).expect("queries are a leaf of the loss"))?;
    let d_grad = to_vec(docs_leaf.grad(&grads).expect("documents are a leaf of the loss"))?;

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
