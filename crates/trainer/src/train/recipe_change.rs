//! What a resumed run may change in its recipe. The checkpoint holds the recipe it was made with; a resume under a
//! different one continues a run that no single recipe describes. Settings that do not touch the numbers (logging,
//! checkpointing, evaluation, export, deadlines, device) may change — with a warning; anything else (seeds, data, model,
//! batch sizes, schedules, losses) is refused, naming the keys.

use anyhow::bail;

/// Keys whose change keeps a resumed run exact (`*` matches any stage index).
const FREE: &[&str] = &[
    "run.log_every",
    "run.checkpoint_every",
    "run.keep_last",
    "run.max_bad_steps",
    "run.collective_timeout_s",
    "run.rank0_work_timeout_s",
    "run.world_size",
    "run.device",
    "eval",
    "export",
    "stage.*.eval_every",
];

/// Dotted paths at which `a` and `b` differ (array entries by index).
fn differences(a: &toml::Value, b: &toml::Value, path: &str, out: &mut Vec<String>) {
    let key = |k: &str| if path.is_empty() { k.to_string() } else { format!("{path}.{k}") };
    match (a, b) {
        (toml::Value::Table(x), toml::Value::Table(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => differences(p, q, &key(k), out),
                    _ => out.push(key(k)),
                }
            }
        }
        (toml::Value::Array(x), toml::Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                differences(p, q, &key(&i.to_string()), out);
            }
        }
        _ if a != b => out.push(path.to_string()),
        _ => {}
    }
}

fn is_free(path: &str) -> bool {
    FREE.iter().any(|pattern| {
        let (p, q): (Vec<&str>, Vec<&str>) = (pattern.split('.').collect(), path.split('.').collect());
        q.len() >= p.len() && p.iter().zip(&q).all(|(a, b)| a == b || *a == "*")
    })
}

/// Compares the checkpoint's recipe with the current one: a warning for free changes, an error for the others.
pub fn check(saved: &str, current: &str, checkpoint: &str) -> anyhow::Result<()> {
    let (Ok(a), Ok(b)) = (saved.parse::<toml::Table>(), current.parse::<toml::Table>()) else {
        bail!("{checkpoint}: its recipe.toml does not parse");
    };
    let mut diffs = Vec::new();
    differences(&toml::Value::Table(a), &toml::Value::Table(b), "", &mut diffs);
    let (free, fixed): (Vec<String>, Vec<String>) = diffs.into_iter().partition(|d| is_free(d));
    if !fixed.is_empty() {
        bail!(
            "{checkpoint} was made with another recipe: {} changed, which would make the resumed run differ from any \
             uninterrupted one. Resume with the original recipe, or start over (--overwrite, or another --output)",
            fixed.join(", ")
        );
    }
    if !free.is_empty() {
        eprintln!("warning: resuming with changed settings that keep the run exact: {}", free.join(", "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logging_may_change_on_resume_but_training_settings_may_not() {
        let saved = "[run]\nseed = 1\nlog_every = 1\n[[stage]]\nsteps = 5\neval_every = 0\n";
        check(saved, saved, "ckpt").unwrap();
        check(
            saved,
            &saved.replace("log_every = 1", "log_every = 5").replace("eval_every = 0", "eval_every = 2"),
            "ckpt",
        )
        .unwrap();
        let err = check(saved, &saved.replace("seed = 1", "seed = 2").replace("steps = 5", "steps = 6"), "ckpt")
            .unwrap_err()
            .to_string();
        assert!(err.contains("run.seed") && err.contains("stage.0.steps") && err.contains("--overwrite"), "{err}");
    }
}
