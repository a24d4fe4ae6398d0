//! Files only the server's own user may read: the data directory (0700), the database, the audit
//! signing key and the checkpoint file (0600). Customer data and the key that vouches for the
//! event log must not be readable by every local account.

use std::path::Path;

use crate::error::CoreError;

/// Creates `dir` (and its parents) if missing; the data directory itself only its owner may enter.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Options that create a file only its owner may read or write.
pub fn private_open_options() -> std::fs::OpenOptions {
    #[allow(unused_mut)]
    let mut options = std::fs::OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

/// Creates an empty file only its owner may read, unless it exists (before a library opens it,
/// so that the files it creates beside it, such as SQLite's WAL, take the same mode).
pub fn create_private_file(path: &Path) -> std::io::Result<()> {
    if path.exists() {
        return Ok(());
    }
    match private_open_options().write(true).create_new(true).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Refuses a secret file that others may read, saying how to fix it.
pub fn refuse_if_shared(path: &Path, what: &str) -> Result<(), CoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta =
            std::fs::metadata(path).map_err(|e| CoreError::BadFile(format!("reading {}: {e}", path.display())))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(CoreError::BadFile(format!(
                "{what} {} can be read by other users (mode {mode:o}); make it private with `chmod 600 {}` and start again",
                path.display(),
                path.display()
            )));
        }
    }
    let _ = (path, what);
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn new_directories_and_files_are_private_and_shared_secrets_are_refused() {
        let base = std::env::temp_dir().join(format!("holdfast-private-{}", std::process::id()));
        let dir = base.join("data");
        create_private_dir(&dir).expect("dir");
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        let file = dir.join("secret");
        create_private_file(&file).expect("file");
        assert_eq!(mode(&file), 0o600);
        refuse_if_shared(&file, "the key").expect("private");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = refuse_if_shared(&file, "the key").expect_err("shared");
        assert!(err.to_string().contains("chmod 600"), "{err}");
        let _ = std::fs::remove_dir_all(&base);
    }
}
