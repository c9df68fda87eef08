//! `trainer --recipe R --list-keys`: every key that `--set` can change, with its value in R (after R's `--set`
//! values), its type, its default and its meaning. Types and meanings come from `recipes/README.md` — the reference
//! the tests check against the recipe structs — so the list and the reference cannot disagree.

use crate::recipe::{EvalSetSpec, Recipe};

/// The recipe reference, compiled in.
const REFERENCE: &str = include_str!("../../../recipes/README.md");

/// One documented key: its section (`run`, `stage.optim`, `eval`, ...), name, type and meaning.
struct Documented<'a> {
    section: String,
    key: &'a str,
    ty: &'a str,
    meaning: &'a str,
}

/// The keys of the reference's tables, in order.
fn documented() -> Vec<Documented<'static>> {
    let mut out = Vec::new();
    let mut section = String::new();
    for line in REFERENCE.lines() {
        if let Some(heading) = line.strip_prefix("## `").and_then(|h| h.strip_suffix('`')) {
            section = heading.trim_matches(|c| c == '[' || c == ']').to_string();
            continue;
        }
        let cells: Vec<&str> = line.split(" | ").collect();
        if let [first, ty, meaning] = cells[..]
            && let Some(key) = first.strip_prefix("| `").and_then(|k| k.strip_suffix('`'))
        {
            out.push(Documented {
                section: section.clone(),
                key,
                ty: ty.trim_matches('`'),
                meaning: meaning.trim_end_matches(" |"),
            });
        }
    }
    out
}

/// The value at dotted `path` (array entries by index), as TOML text.
fn value_at(root: &toml::Value, path: &str) -> Option<String> {
    let mut v = root;
    for part in path.split('.') {
        v = match part.parse::<usize>() {
            Ok(i) => v.as_array()?.get(i)?,
            Err(_) => v.as_table()?.get(part)?,
        };
    }
    Some(v.to_string())
}

/// The listing for `recipe`: one line per key and per stage or evaluation set.
pub fn list(recipe: &Recipe) -> anyhow::Result<String> {
    let current = toml::Value::try_from(recipe)?;
    let mut defaults = Recipe::default();
    defaults.eval.push(EvalSetSpec::default());
    let defaults = toml::Value::try_from(&defaults)?;
    let mut out = String::new();
    for doc in documented() {
        let (array, rest) = match doc.section.split_once('.') {
            Some((a, r)) if a == "stage" => (Some(a), Some(r)),
            _ if doc.section == "stage" || doc.section == "eval" => (Some(doc.section.as_str()), None),
            _ => (None, None),
        };
        let count = match array {
            Some("stage") => recipe.stage.len(),
            Some(_) => recipe.eval.len(),
            None => 1,
        };
        for i in 0..count {
            let prefix = match (array, rest) {
                (Some(a), Some(r)) => format!("{a}.{i}.{r}"),
                (Some(a), None) => format!("{a}.{i}"),
                _ => doc.section.clone(),
            };
            let path = format!("{prefix}.{}", doc.key);
            let generic = path.replace(&format!(".{i}."), ".0.");
            let value = value_at(&current, &path).unwrap_or_else(|| "(unset)".into());
            let default = value_at(&defaults, &generic).unwrap_or_else(|| "unset".into());
            out.push_str(&format!("{path} = {value}  [{}; default {default}]  {}\n", doc.ty, doc.meaning));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_listed_with_its_value_and_default() {
        let text = "[run]\nseed = 7\n[[stage]]\nname = \"a\"\n[[stage]]\nname = \"b\"\n[stage.optim]\nlr = 0.01\n";
        let recipe: Recipe = toml::from_str(text).unwrap();
        let text = list(&recipe).unwrap();
        assert!(text.contains("run.seed = 7  [u64; default 0]"), "{text}");
        assert!(text.contains("stage.1.optim.lr = 0.01  [f64; default 0.001]"), "{text}");
        assert!(text.contains("stage.0.name = \"a\""), "{text}");
        assert!(text.contains("model.path = (unset)"), "{text}");
        assert!(text.contains("export.dtype = \"f32\""), "{text}");
        assert_eq!(text.lines().filter(|l| l.starts_with("stage.1.grpo.sampling.")).count(), 5, "{text}");
    }
}
