//! Trainer acceptance tests: loss values and gradients against sentence-transformers, metrics against
//! pytrec_eval (fixtures from `tests/fixtures/make_loss_fixtures.py`), recipes, and end-to-end runs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use model::pooling::l2_normalize;
use serde_json::Value;
use trainer::eval::metrics::{QueryQrels, evaluate, mean, trec_order};
use trainer::losses::{info_nce, info_nce_doc_to_query, triplet_margin};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture(name: &str) -> Value {
    let path = root().join("tests/fixtures/losses").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn matrix(v: &Value, device: &Device) -> Tensor<2> {
    let rows: Vec<Vec<f32>> =
        v.as_array().unwrap().iter().map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()).collect();
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
