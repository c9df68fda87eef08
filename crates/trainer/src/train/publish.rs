//! Folders that appear whole or not at all: a checkpoint or an export is written into a hidden staging folder
//! beside its destination, synced, and renamed into place; a folder being replaced or deleted is first renamed
//! aside. A kill at any moment therefore leaves the destination either complete or absent (plus hidden leftovers,
//! which [`remove_leftovers`] clears on the next run) — never half written or half deleted.

use std::path::{Path, PathBuf};

use anyhow::Context;
use model::hf::sync_dir;

/// Prefix of staging folders (`.tmp-<name>-<pid>`).
const STAGING: &str = ".tmp-";
/// Prefix of folders set aside for deletion (`.trash-<name>-<pid>`).
const TRASH: &str = ".trash-";

/// A fresh, empty staging folder for `dest` (in the same parent, so the final rename stays on one file system).
pub fn staging(dest: &Path) -> anyhow::Result<PathBuf> {
    let parent = parent(dest);
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let tmp = parent.join(format!("{STAGING}{}-{}", file_name(dest), std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).with_context(|| format!("removing {}", tmp.display()))?;
    }
    std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    Ok(tmp)
}

/// Moves the finished staging folder `tmp` to `dest`, replacing what was there, durably (the folder's contents and
/// both renames are synced before the old copy is deleted).
pub fn publish(tmp: &Path, dest: &Path) -> anyhow::Result<()> {
    sync_dir(tmp).with_context(|| format!("syncing {}", tmp.display()))?;
    let old = dest.exists().then(|| set_aside(dest)).transpose()?;
    std::fs::rename(tmp, dest).with_context(|| format!("moving {} into place", dest.display()))?;
    sync_dir(parent(dest)).with_context(|| format!("syncing {}", parent(dest).display()))?;
    if let Some(old) = old {
        std::fs::remove_dir_all(&old).with_context(|| format!("removing {}", old.display()))?;
    }
    Ok(())
}

/// Deletes the folder `dir`: renamed aside first (one atomic step, synced), then removed, so a kill never leaves
/// it half deleted under its own name.
pub fn remove(dir: &Path) -> anyhow::Result<()> {
    let old = set_aside(dir)?;
    sync_dir(parent(dir)).with_context(|| format!("syncing {}", parent(dir).display()))?;
    crate::train::fault::kill_point(crate::train::fault::KillPoint::Prune);
    std::fs::remove_dir_all(&old).with_context(|| format!("removing {}", old.display()))
}

/// Removes the staging and set-aside folders that killed processes left in `parent`; returns how many.
pub fn remove_leftovers(parent: &Path) -> anyhow::Result<usize> {
    let Ok(entries) = std::fs::read_dir(parent) else { return Ok(0) };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if (name.starts_with(STAGING) || name.starts_with(TRASH)) && entry.path().is_dir() {
            std::fs::remove_dir_all(entry.path())
                .with_context(|| format!("removing the leftover {}", entry.path().display()))?;
            removed += 1;
        }
    }
    Ok(removed)
}

fn set_aside(dir: &Path) -> anyhow::Result<PathBuf> {
    let old = parent(dir).join(format!("{TRASH}{}-{}", file_name(dir), std::process::id()));
    if old.exists() {
        std::fs::remove_dir_all(&old).with_context(|| format!("removing {}", old.display()))?;
    }
    std::fs::rename(dir, &old).with_context(|| format!("moving {} aside", dir.display()))?;
    Ok(old)
}

fn parent(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("."))
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_replaces_and_leftovers_are_cleared() {
        let root = std::env::temp_dir().join(format!("t1-publish-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dest = root.join("final");
        for text in ["one", "two"] {
            let tmp = staging(&dest).unwrap();
            std::fs::write(tmp.join("f"), text).unwrap();
            publish(&tmp, &dest).unwrap();
            assert_eq!(std::fs::read_to_string(dest.join("f")).unwrap(), text);
        }
        // What a kill leaves: a staging folder and a folder set aside; both go, the published one stays.
        std::fs::create_dir_all(root.join(".tmp-final-1")).unwrap();
        set_aside(&dest).unwrap();
        assert_eq!(remove_leftovers(&root).unwrap(), 2);
        assert!(std::fs::read_dir(&root).unwrap().next().is_none());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
