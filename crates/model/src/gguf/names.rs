//! llama.cpp tensor names ↔ HF names, and the row permutation llama.cpp applies to Llama's query and key
//! projections (its converter interleaves the two RoPE halves of every head; HF keeps them as halves).

/// The llama.cpp name of the HF tensor `hf`, or `None` when the decoder has no such tensor.
pub fn gguf_name(hf: &str) -> Option<String> {
    match hf {
        "model.embed_tokens.weight" => return Some("token_embd.weight".into()),
        "model.norm.weight" => return Some("output_norm.weight".into()),
        "lm_head.weight" => return Some("output.weight".into()),
        _ => {}
    }
    let rest = hf.strip_prefix("model.layers.")?;
    let (layer, tail) = rest.split_once('.')?;
    let (module, kind) = tail.rsplit_once('.')?;
    let short = match module {
        "input_layernorm" => "attn_norm",
        "post_attention_layernorm" => "ffn_norm",
        "self_attn.q_proj" => "attn_q",
        "self_attn.k_proj" => "attn_k",
        "self_attn.v_proj" => "attn_v",
        "self_attn.o_proj" => "attn_output",
        "self_attn.q_norm" => "attn_q_norm",
        "self_attn.k_norm" => "attn_k_norm",
        "mlp.gate_proj" => "ffn_gate",
        "mlp.up_proj" => "ffn_up",
        "mlp.down_proj" => "ffn_down",
        _ => return None,
    };
    Some(format!("blk.{layer}.{short}.{kind}"))
}

/// Which heads' worth of rows a Llama query/key tensor is permuted by (`None`: not permuted).
pub fn permuted_heads(hf: &str, heads: usize, kv_heads: usize) -> Option<usize> {
    if hf.ends_with("self_attn.q_proj.weight") || hf.ends_with("self_attn.q_proj.bias") {
        Some(heads)
    } else if hf.ends_with("self_attn.k_proj.weight") || hf.ends_with("self_attn.k_proj.bias") {
        Some(kv_heads)
    } else {
        None
    }
}

/// Undoes llama.cpp's `permute(w, n_head)` on row-major `[rows, cols]` data: within every head of
/// `rows / heads` rows, GGUF row `2i + s` holds HF row `s · half + i` (s ∈ {0, 1}, `half` = head width / 2).
pub fn unpermute_rows(data: &[f32], heads: usize, cols: usize) -> Vec<f32> {
    let rows = data.len() / cols;
    let width = rows / heads;
    let half = width / 2;
    let mut out = vec![0.0; data.len()];
    for head in 0..heads {
        for i in 0..half {
            for s in 0..2 {
                let from = head * width + 2 * i + s;
                let to = head * width + s * half + i;
                out[to * cols..(to + 1) * cols].copy_from_slice(&data[from * cols..(from + 1) * cols]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_llama_cpp() {
        assert_eq!(gguf_name("model.layers.12.self_attn.q_proj.weight").unwrap(), "blk.12.attn_q.weight");
        assert_eq!(gguf_name("model.layers.0.post_attention_layernorm.weight").unwrap(), "blk.0.ffn_norm.weight");
        assert_eq!(gguf_name("model.layers.3.self_attn.k_proj.bias").unwrap(), "blk.3.attn_k.bias");
        assert_eq!(gguf_name("model.embed_tokens.weight").unwrap(), "token_embd.weight");
        assert!(gguf_name("model.layers.0.self_attn.rotary_emb.inv_freq").is_none());
    }

    #[test]
    fn unpermute_inverts_llama_cpp_permute() {
        // One head of width 4, rows [h0, h1, h2, h3] in HF order; llama.cpp stores them as [h0, h2, h1, h3].
        let gguf = vec![0.0, 2.0, 1.0, 3.0, 10.0, 12.0, 11.0, 13.0];
        assert_eq!(unpermute_rows(&gguf, 2, 1), vec![0.0, 1.0, 2.0, 3.0, 10.0, 11.0, 12.0, 13.0]);
    }
}
