//! Git metadata of a task card's repository. A missing path or a directory outside git is
//! recorded as such, never an error.

use std::path::Path;

use serde::Serialize;

/// What is known about a repository at session start.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct GitInfo {
    pub root: Option<String>,
    pub branch: Option<String>,
    pub commit: Option<String>,
    pub dirty: Option<bool>,
    /// Why the fields are empty, when they are.
    pub note: Option<String>,
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = crate::stack::process::command("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Inspect `dir`.
pub fn inspect(dir: &Path) -> GitInfo {
    if !dir.exists() {
        return GitInfo {
            note: Some(format!("{} does not exist", dir.display())),
            ..GitInfo::default()
        };
    }
    let Some(root) = git(dir, &["rev-parse", "--show-toplevel"]) else {
        return GitInfo {
            note: Some(format!("{} is not inside a git repository", dir.display())),
            ..GitInfo::default()
        };
    };
    GitInfo {
        root: Some(root),
        branch: git(dir, &["rev-parse", "--abbrev-ref", "HEAD"]),
        commit: git(dir, &["rev-parse", "HEAD"]),
        dirty: git(dir, &["status", "--porcelain"]).map(|s| !s.is_empty()),
        note: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_non_git_paths_are_recorded_not_errors() {
        let g = inspect(Path::new("/nonexistent/stackperf"));
        assert!(g.commit.is_none() && g.note.unwrap().contains("does not exist"));
        let dir = tempfile::tempdir().unwrap();
        let g = inspect(dir.path());
        assert!(g.root.is_none() && g.note.unwrap().contains("not inside a git repository"));
    }

    #[test]
    fn a_repository_reports_branch_commit_and_dirty_state() {
        let dir = tempfile::tempdir().unwrap();
        let run = |args: &[&str]| {
            assert!(
                crate::stack::process::command("git")
                    .arg("-C")
                    .arg(dir.path())
                    .args(args)
                    .output()
                    .unwrap()
                    .status
                    .success(),
                "git {args:?}"
            )
        };
        run(&["init", "-q", "-b", "work"]);
        run(&[
            "-c",
            "user.email=t@t",
            "-c",
            "user.name=t",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "x",
        ]);
        let g = inspect(dir.path());
        assert_eq!(g.branch.as_deref(), Some("work"));
        assert_eq!(g.commit.as_ref().map(String::len), Some(40));
        assert_eq!(g.dirty, Some(false));
        std::fs::write(dir.path().join("f"), "x").unwrap();
        assert_eq!(inspect(dir.path()).dirty, Some(true));
    }
}
