//! A fresh working copy of the task's repository for each session of a run.

use std::path::Path;

use crate::{io_err, Error};

/// Fill `dest` (created) with the task repository at `git_ref`: the tree of that commit when
/// `repo` is a Git repository (`git archive`, so nothing uncommitted leaks in), else a copy of the
/// folder without `.git`. Returns the commit used, when there is one.
pub fn prepare(repo: &Path, git_ref: Option<&str>, dest: &Path) -> Result<Option<String>, Error> {
    std::fs::create_dir_all(dest).map_err(io_err(format!("create {}", dest.display())))?;
    if !repo.is_dir() {
        return Err(Error::Invalid(format!(
            "the task card's repository {} is not a folder; fix `repo_path` in the task card",
            repo.display()
        )));
    }
    let wanted = format!("{}^{{commit}}", git_ref.unwrap_or("HEAD"));
    let rev = crate::stack::process::command("git")
        .arg("-C")
        .arg(repo)
        .args(["rev-parse", "--verify", "--quiet", &wanted])
        .output();
    let commit = match rev {
        Ok(o) if o.status.success() => Some(String::from_utf8_lossy(&o.stdout).trim().to_string()),
        _ if git_ref.is_some() => {
            return Err(Error::Invalid(format!(
                "`{}` is not a commit of the repository {}; fix `repo_ref` in the task card",
                git_ref.unwrap_or_default(),
                repo.display()
            )))
        }
        _ => None,
    };
    match &commit {
        Some(sha) => archive(repo, sha, dest)?,
        None => copy_tree(repo, dest)?,
    }
    Ok(commit)
}

fn archive(repo: &Path, sha: &str, dest: &Path) -> Result<(), Error> {
    // Run in `repo` itself: inside a larger repository, git archive takes only that folder's
    // tree, with paths relative to it.
    let tar = dest.join(".stackperf-task.tar");
    let out = crate::stack::process::command("git")
        .arg("-C")
        .arg(repo)
        .args(["archive", "--format=tar", "-o"])
        .arg(&tar)
        .arg(sha)
        .output()
        .map_err(io_err("run git archive"))?;
    if !out.status.success() {
        return Err(Error::Invalid(format!(
            "git archive {sha} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let out = crate::stack::process::command("tar")
        .arg("-xf")
        .arg(&tar)
        .arg("-C")
        .arg(dest)
        .output()
        .map_err(io_err("run tar"))?;
    let _ = std::fs::remove_file(&tar);
    if !out.status.success() {
        return Err(Error::Invalid(format!(
            "unpacking the task's tree failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), Error> {
    for entry in std::fs::read_dir(from).map_err(io_err(format!("read {}", from.display())))? {
        let entry = entry.map_err(io_err("read a folder entry"))?;
        let (src, name) = (entry.path(), entry.file_name());
        if name == ".git" {
            continue;
        }
        let dst = to.join(&name);
        let kind = entry.file_type().map_err(io_err("read a file type"))?;
        if kind.is_dir() {
            std::fs::create_dir_all(&dst).map_err(io_err(format!("create {}", dst.display())))?;
            copy_tree(&src, &dst)?;
        } else if kind.is_file() {
            std::fs::copy(&src, &dst).map_err(io_err(format!("copy {}", src.display())))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_git_repository_gives_the_committed_tree_at_the_ref_and_a_folder_a_copy() {
        let d = std::env::temp_dir().join(format!("stackperf-workdir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let repo = d.join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        let git = |args: &[&str]| {
            let ok = crate::stack::process::command("git")
                .arg("-C")
                .arg(&repo)
                .args(["-c", "user.name=t", "-c", "user.email=t@t"])
                .args(args)
                .output()
                .unwrap()
                .status
                .success();
            assert!(ok, "git {args:?}");
        };
        git(&["init", "-q"]);
        std::fs::write(repo.join("a.txt"), "one").unwrap();
        git(&["add", "."]);
        git(&["commit", "-qm", "one"]);
        git(&["tag", "v1"]);
        std::fs::write(repo.join("a.txt"), "two").unwrap();
        std::fs::write(repo.join("dirty.txt"), "uncommitted").unwrap();

        let at_tag = d.join("w1");
        assert!(prepare(&repo, Some("v1"), &at_tag).unwrap().is_some());
        assert_eq!(
            std::fs::read_to_string(at_tag.join("a.txt")).unwrap(),
            "one"
        );
        assert!(
            !at_tag.join("dirty.txt").exists(),
            "uncommitted files stay out"
        );
        assert!(prepare(&repo, Some("nope"), &d.join("w2")).is_err());

        // A task folder inside a larger repository: only that folder, paths relative to it.
        std::fs::create_dir_all(repo.join("sub/inner")).unwrap();
        std::fs::write(repo.join("sub/inner/c.txt"), "c").unwrap();
        git(&["add", "sub"]);
        git(&["commit", "-qm", "sub"]);
        let sub = d.join("w4");
        assert!(prepare(&repo.join("sub"), None, &sub).unwrap().is_some());
        assert_eq!(
            std::fs::read_to_string(sub.join("inner/c.txt")).unwrap(),
            "c"
        );
        assert!(!sub.join("a.txt").exists());

        let plain = d.join("plain");
        std::fs::create_dir_all(plain.join("sub")).unwrap();
        std::fs::write(plain.join("sub/b.txt"), "b").unwrap();
        let copy = d.join("w3");
        assert_eq!(prepare(&plain, None, &copy).unwrap(), None);
        assert_eq!(
            std::fs::read_to_string(copy.join("sub/b.txt")).unwrap(),
            "b"
        );
    }
}
