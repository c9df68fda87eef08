//! Hugging Face hub ids (`Qwen/Qwen3-0.6B`, optionally `Qwen/Qwen3-0.6B@<revision>`) resolved from the local HF
//! cache — never from the network. The cache is `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else
//! `~/.cache/huggingface/hub` (huggingface_hub's order); a model lives in `models--<org>--<name>/snapshots/<commit>/`,
//! and `refs/<revision>` (default `main`) names the commit, unless the revision is a commit hash itself.

use std::path::{Path, PathBuf};

/// Where the local HF hub cache is, by huggingface_hub's rules.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("HF_HUB_CACHE") {
        return PathBuf::from(dir);
    }
    if let Some(home) = std::env::var_os("HF_HOME") {
        return PathBuf::from(home).join("hub");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    home.join(".cache").join("huggingface").join("hub")
}

/// `(org/name, revision)` when `spec` reads as a hub id: `org/name` of plain name characters, optionally
/// `@revision`, and not an existing path.
pub fn hub_id(spec: &Path) -> Option<(String, String)> {
    if spec.exists() {
        return None;
    }
    let text = spec.to_str()?;
    let (id, revision) = text.split_once('@').unwrap_or((text, "main"));
    let plain = |s: &str| {
        !s.is_empty()
            && !s.starts_with('.')
            && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    let (org, name) = id.split_once('/')?;
    (plain(org) && plain(name) && plain(revision)).then(|| (id.to_string(), revision.to_string()))
}

/// The snapshot folder of hub id `id` at `revision` in the cache `cache`, if it is there.
pub fn snapshot(cache: &Path, id: &str, revision: &str) -> Option<PathBuf> {
    let repo = cache.join(format!("models--{}", id.replace('/', "--")));
    let commit = match std::fs::read_to_string(repo.join("refs").join(revision)) {
        Ok(text) => text.trim().to_string(),
        Err(_) => revision.to_string(),
    };
    let dir = repo.join("snapshots").join(commit);
    dir.is_dir().then_some(dir)
}

/// `spec` itself, or — when it is a hub id whose snapshot is in the local cache — that snapshot's folder.
pub fn resolve(spec: &Path) -> PathBuf {
    hub_id(spec).and_then(|(id, revision)| snapshot(&cache_dir(), &id, &revision)).unwrap_or_else(|| spec.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_ids_resolve_from_a_cache_by_ref_or_commit() {
        let cache = std::env::temp_dir().join(format!("t1-hub-cache-{}", std::process::id()));
        let repo = cache.join("models--Org--Model-0.5B");
        std::fs::create_dir_all(repo.join("snapshots/abc123")).unwrap();
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs/main"), "abc123\n").unwrap();
        let (id, revision) = hub_id(Path::new("Org/Model-0.5B")).unwrap();
        assert_eq!((id.as_str(), revision.as_str()), ("Org/Model-0.5B", "main"));
        assert_eq!(snapshot(&cache, &id, &revision), Some(repo.join("snapshots/abc123")));
        assert_eq!(snapshot(&cache, &id, "abc123"), Some(repo.join("snapshots/abc123")));
        assert_eq!(snapshot(&cache, &id, "v2"), None);
        assert_eq!(snapshot(&cache, "Org/Other", "main"), None);
        for not_an_id in ["model", "a/b/c", "../x/y", "/abs/path", "Org/Model@../x"] {
            assert_eq!(hub_id(Path::new(not_an_id)), None, "{not_an_id}");
        }
        std::fs::remove_dir_all(&cache).unwrap();
    }
}
