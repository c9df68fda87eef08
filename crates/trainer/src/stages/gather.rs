//! In-batch negatives across ranks. Each rank embeds its share of a contrastive batch; the shares are gathered so
//! every rank computes the loss of the whole job's batch, with gradients flowing only through its own rows (the
//! others enter as constants). Summed over ranks those gradients are the whole batch's; the runner averages
//! gradients over ranks, so the loss a rank back-propagates is scaled by the world size ([`Gathered::scale`]), as
//! Tevatron does. The result equals one process with the whole batch.
//!
//! Layout of the gathered batch, as [`super::objective::doc_batch`] lays out one process's: queries in rank order;
//! documents `[every rank's positives (rank order); every rank's hard negatives (rank order)]`, so query i's
//! positive is document i.

use std::ops::Range;

use burn::tensor::{Device, Tensor, TensorData};
use model::host::to_vec;
use serde::{Deserialize, Serialize};

use crate::recipe::LossConfig;
use crate::stages::example::Example;
use crate::train::collective::Collective;

/// What the embedding loss needs to know of a query besides its embedding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryMeta {
    /// Every positive id of the query (in-batch documents with these ids are false negatives).
    pub positive_ids: Vec<String>,
    /// Number of hard negatives it brought.
    pub negatives: usize,
}

/// One rank's share as the others need it (besides the embeddings).
#[derive(Serialize, Deserialize)]
struct Share {
    queries: Vec<QueryMeta>,
    doc_ids: Vec<String>,
}

/// The job's whole contrastive batch as seen from this rank.
pub struct Gathered {
    /// Every query's metadata, in the gathered order.
    pub queries: Vec<QueryMeta>,
    /// Every document's id, in the gathered layout.
    pub doc_ids: Vec<String>,
    /// Factor on the loss this rank back-propagates (the world size).
    pub scale: f64,
    dim: usize,
    /// Per rank: its query embeddings and its document embeddings (its own layout `[positives; negatives]`).
    host: Vec<(Vec<f32>, Vec<f32>)>,
    /// Per rank: (queries, documents) counts.
    counts: Vec<(usize, usize)>,
    rank: usize,
}

impl QueryMeta {
    /// The metadata of each of `examples`.
    pub fn of(examples: &[Example]) -> Vec<Self> {
        examples.iter().map(|e| Self { positive_ids: e.positive_ids.clone(), negatives: e.negatives.len() }).collect()
    }
}

/// Whether a contrastive loss should gather across ranks: the recipe asks for it and there are several ranks.
pub fn gathers(comm: &dyn Collective, config: &LossConfig) -> bool {
    config.gather_across_ranks && comm.world_size() > 1
}

impl Gathered {
    /// Gathers every rank's embeddings (host copies: `queries` `[b, dim]`, `docs` `[b + negatives, dim]` laid out
    /// as `doc_batch` does) and metadata.
    pub fn new(
        comm: &dyn Collective,
        queries: (&[f32], Vec<QueryMeta>),
        docs: (&[f32], Vec<String>),
        dim: usize,
    ) -> anyhow::Result<Self> {
        let ((q_host, q_meta), (d_host, d_ids)) = (queries, docs);
        let world = comm.world_size();
        let shares: Vec<Share> =
            comm.all_gather_json("contrastive batch metadata", &Share { queries: q_meta, doc_ids: d_ids })?;
        let q_all = comm.all_gather_f32("query embeddings", q_host);
        let d_all = comm.all_gather_f32("document embeddings", d_host);
        let counts: Vec<(usize, usize)> = shares.iter().map(|s| (s.queries.len(), s.doc_ids.len())).collect();
        let mut doc_ids: Vec<String> = shares.iter().flat_map(|s| s.doc_ids[..s.queries.len()].to_vec()).collect();
        doc_ids.extend(shares.iter().flat_map(|s| s.doc_ids[s.queries.len()..].to_vec()));
        Ok(Self {
            queries: shares.into_iter().flat_map(|s| s.queries).collect(),
            doc_ids,
            scale: world as f64,
            dim,
            host: q_all.into_iter().zip(d_all).collect(),
            counts,
            rank: comm.rank(),
        })
    }

    /// Where rank `r`'s queries (= its positives' rows) and its negatives sit in the gathered layout.
    fn rows_of(&self, r: usize) -> (Range<usize>, Range<usize>) {
        let queries: usize = self.counts[..r].iter().map(|c| c.0).sum();
        let total_queries: usize = self.counts.iter().map(|c| c.0).sum();
        let negatives_before: usize = self.counts[..r].iter().map(|c| c.1 - c.0).sum();
        let (b, n) = self.counts[r];
        let negatives = total_queries + negatives_before;
        (queries..queries + b, negatives..negatives + n - b)
    }

    /// The gathered query embeddings `[B, dim]` with this rank's rows replaced by `own` (which keeps its graph).
    pub fn query_tensor(&self, own: Tensor<2>, device: &Device) -> Tensor<2> {
        let pieces = (0..self.counts.len())
            .map(|r| if r == self.rank { Some(own.clone()) } else { self.constant(&self.host[r].0, device) })
            .collect();
        cat(pieces)
    }

    /// The gathered document embeddings in the gathered layout, with this rank's rows taken from `own`
    /// (`[positives; negatives]`, keeping its graph).
    pub fn doc_tensor(&self, own: Tensor<2>, device: &Device) -> Tensor<2> {
        let mut positives = Vec::new();
        let mut negatives = Vec::new();
        for r in 0..self.counts.len() {
            let (b, n) = self.counts[r];
            let split = |t: Tensor<2>| {
                let pos = (b > 0).then(|| t.clone().narrow(0, 0, b));
                let neg = (n > b).then(|| t.narrow(0, b, n - b));
                (pos, neg)
            };
            let (pos, neg) = if r == self.rank {
                split(own.clone())
            } else {
                match self.constant(&self.host[r].1, device) {
                    Some(t) => split(t),
                    None => (None, None),
                }
            };
            positives.push(pos);
            negatives.push(neg);
        }
        positives.extend(negatives);
        cat(positives)
    }

    /// This rank's rows of a gradient over the gathered queries (`[B, dim]` host), in its own order.
    pub fn own_query_rows(&self, full: &[f32]) -> Vec<f32> {
        let (q, _) = self.rows_of(self.rank);
        full[q.start * self.dim..q.end * self.dim].to_vec()
    }

    /// This rank's rows of a gradient over the gathered documents, in its own layout `[positives; negatives]`.
    pub fn own_doc_rows(&self, full: &[f32]) -> Vec<f32> {
        let (p, n) = self.rows_of(self.rank);
        let mut out = full[p.start * self.dim..p.end * self.dim].to_vec();
        out.extend_from_slice(&full[n.start * self.dim..n.end * self.dim]);
        out
    }

    /// Every rank's query embeddings as one host matrix `[B, dim]`.
    pub fn all_queries(&self) -> Vec<f32> {
        self.host.iter().flat_map(|(q, _)| q.iter().copied()).collect()
    }

    /// Every rank's document embeddings as one host matrix in the gathered layout.
    pub fn all_docs(&self) -> Vec<f32> {
        let mut out = Vec::new();
        for (r, (_, d)) in self.host.iter().enumerate() {
            out.extend_from_slice(&d[..self.counts[r].0 * self.dim]);
        }
        for (r, (_, d)) in self.host.iter().enumerate() {
            out.extend_from_slice(&d[self.counts[r].0 * self.dim..]);
        }
        out
    }

    fn constant(&self, values: &[f32], device: &Device) -> Option<Tensor<2>> {
        let rows = values.len() / self.dim;
        (rows > 0).then(|| Tensor::from_data(TensorData::new(values.to_vec(), [rows, self.dim]), device))
    }
}

/// Concatenates the present pieces along rows.
fn cat(pieces: Vec<Option<Tensor<2>>>) -> Tensor<2> {
    let mut present: Vec<Tensor<2>> = pieces.into_iter().flatten().collect();
    if present.len() == 1 { present.remove(0) } else { Tensor::cat(present, 0) }
}

/// The host copy of an embedding matrix (no graph).
pub fn host_rows(t: &Tensor<2>) -> anyhow::Result<Vec<f32>> {
    Ok(to_vec(t.clone().detach())?)
}
