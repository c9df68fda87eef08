//! GradCache (Gao et al., 2021, arXiv 2101.06983): the contrastive loss over a large batch with the memory of a
//! small one.
//!
//! 1. Embed every query and document of the batch without a graph, in chunks.
//! 2. Compute the loss on those embeddings as leaf tensors and back-propagate to them only: ∂L/∂e.
//! 3. Re-embed each chunk with the graph and back-propagate the surrogate `Σ e · stopgrad(∂L/∂e)`; the parameter
//!    gradients summed over chunks equal those of the whole-batch graph.

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Tensor, TensorData};
use model::hf::NamedParam;
use model::{CausalLm, PadSide, TextTokenizer, TokenBatch};

use crate::stages::example::Example;
use crate::stages::objective::{LossParts, Objective, doc_batch, embedding_loss};
use crate::train::grads::accumulate;

/// Parameter gradients of the embedding loss of `examples` (divided by `micro_batches`), computed chunk by chunk
/// with `chunk` texts per forward pass.
pub fn gradcache_grads(
    model: &CausalLm,
    tokenizer: &TextTokenizer,
    objective: &Objective,
    examples: &[Example],
    chunk: usize,
    micro_batches: usize,
    params: &[NamedParam],
) -> anyhow::Result<(GradientsParams, LossParts)> {
    let device = model.device();
    let query_rows: Vec<Vec<u32>> = examples.iter().map(|e| e.query_tokens(tokenizer.emb_id)).collect();
    let (docs, doc_ids) = doc_batch(examples, tokenizer)?;
    let doc_rows: Vec<Vec<u32>> = (0..docs.batch).map(|r| docs.row(r)).collect();
    let frozen = model.valid();
    let dim = model.config.hidden_size;

    // 1. Embeddings without a graph.
    let embed_all = |rows: &[Vec<u32>]| -> anyhow::Result<Vec<f32>> {
        let mut out = Vec::with_capacity(rows.len() * dim);
        for part in rows.chunks(chunk) {
            let batch = TokenBatch::new(part, tokenizer.pad_id, PadSide::Right)?;
            out.extend(host(frozen.embed(&batch, tokenizer.emb_id)?)?);
        }
        Ok(out)
    };
    let q_host = embed_all(&query_rows)?;
    let d_host = embed_all(&doc_rows)?;

    // 2. Loss and its gradient with respect to the embeddings.
    let leaf = |values: Vec<f32>, rows: usize| {
        Tensor::<2>::from_data(TensorData::new(values, [rows, dim]), &device).require_grad()
    };
    let queries = leaf(q_host, query_rows.len());
    let docs_leaf = leaf(d_host, doc_rows.len());
    let (loss, parts) = embedding_loss(objective, examples, queries.clone(), docs_leaf.clone(), &doc_ids);
    let loss = loss / micro_batches as f64;
    let grads = loss.backward();
    let q_grad = host(queries.grad(&grads).expect("queries are a leaf of the loss"))?;
    let d_grad = host(docs_leaf.grad(&grads).expect("documents are a leaf of the loss"))?;

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
    Ok((total.expect("at least one chunk"), parts))
}

fn host<const D: usize>(t: Tensor<D>) -> anyhow::Result<Vec<f32>> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().map_err(|e| anyhow::anyhow!("reading a tensor back: {e:?}"))
}
