//! Whether a path may be trusted with what root runs: a directory that holds
//! a program's configuration (and so the commands it will run) must be
//! writable only by the user who runs the program, or by root, all the way
//! up. Otherwise another local user could swap what is in it (issue 14: a
//! planted `/tmp/he-lab-<uid>` let a user have root run their program).
//!
//! The rule, as OpenSSH's `StrictModes` and sudo's checks have it: the path
//! itself is not a symbolic link; it and every directory above it are owned
//! by root or by the caller (the effective uid), and none is writable by
//! others, nor by its group unless that is the caller's own (effective) group
//! (a user's private group under a `002` umask; root's group for root), but
//! for a directory with the sticky bit (`/tmp`), where others can create
//! entries but not rename or remove ours.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

/// Group- and other-write permission bits.
const GROUP_WRITE: u32 = 0o020;
const OTHER_WRITE: u32 = 0o002;
/// The sticky bit: only an entry's owner may rename or remove it.
const STICKY: u32 = 0o1000;

/// Why a path cannot be trusted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Untrusted {
    #[error("{0}: cannot check it: {1}")]
    Unreadable(PathBuf, String),
    #[error("{0}: is a symbolic link; a directory of its own is needed")]
    Symlink(PathBuf),
    #[error("{0}: not a directory")]
    NotADirectory(PathBuf),
    #[error(
        "{path}: owned by uid {owner}, not by you (uid {me}) or root: another user may have \
         made it to take over what runs from it; remove it or choose another directory"
    )]
    Owner { path: PathBuf, owner: u32, me: u32 },
    #[error(
        "{path}: writable by {who} (mode {mode:04o}): another user could change what runs \
         from it; chmod go-w it, or choose another directory"
    )]
    Writable {
        path: PathBuf,
        mode: u32,
        who: &'static str,
    },
}

/// Who asks: an effective uid and gid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    pub uid: u32,
    pub gid: u32,
}

impl Caller {
    /// This process.
    pub fn me() -> Caller {
        // SAFETY: geteuid(2) and getegid(2) cannot fail.
        unsafe {
            Caller {
                uid: libc::geteuid(),
                gid: libc::getegid(),
            }
        }
    }
}

/// Checks that `dir` is a directory that only the caller (or root) can
/// change, all the way up (see the module documentation).
pub fn check_dir(dir: &Path) -> Result<(), Untrusted> {
    check_dir_as(dir, Caller::me())
}

/// [`check_dir`] for `me`.
pub fn check_dir_as(dir: &Path, me: Caller) -> Result<(), Untrusted> {
    check_dir_inner(dir, me, false)
}

/// [`check_dir_as`]; `link_ok`: `dir` may be a symbolic link of root's or
/// the caller's to a directory that passes (the directory of a file, as
/// `/bin` is a link to `usr/bin`), which is checked where it resolves to.
fn check_dir_inner(dir: &Path, me: Caller, link_ok: bool) -> Result<(), Untrusted> {
    let path = lexical(dir)?;
    let meta = lstat(&path)?;
    if meta.file_type().is_symlink() {
        if !link_ok {
            return Err(Untrusted::Symlink(dir.to_path_buf()));
        }
        check_owner(&path, &meta, me)?;
    } else if !meta.is_dir() {
        return Err(Untrusted::NotADirectory(dir.to_path_buf()));
    } else {
        check_entry(&path, &meta, me, false)?;
    }
    // Every directory above, as the path is written: a symbolic link among
    // them must be root's or ours (whoever owns one can point it elsewhere
    // later), and the directory holding it is checked in turn.
    for ancestor in path.ancestors().skip(1) {
        let meta = lstat(ancestor)?;
        if meta.file_type().is_symlink() {
            check_owner(ancestor, &meta, me)?;
        } else {
            check_entry(ancestor, &meta, me, true)?;
        }
    }
    // And where it resolves to, with every directory above.
    let absolute = std::fs::canonicalize(&path)
        .map_err(|e| Untrusted::Unreadable(dir.to_path_buf(), e.to_string()))?;
    if absolute != path {
        let meta = lstat(&absolute)?;
        if !meta.is_dir() {
            return Err(Untrusted::NotADirectory(dir.to_path_buf()));
        }
        check_entry(&absolute, &meta, me, false)?;
    }
    for ancestor in absolute.ancestors().skip(1) {
        let meta = lstat(ancestor)?;
        check_entry(ancestor, &meta, me, true)?;
    }
    Ok(())
}

/// `path` made absolute (against the working directory) and without `.` or
/// a trailing slash (`lstat` of `link/` would follow the link), symbolic
/// links left as they are.
fn lexical(path: &Path) -> Result<PathBuf, Untrusted> {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| Untrusted::Unreadable(path.to_path_buf(), e.to_string()))?
            .join(path)
    };
    Ok(absolute.components().collect())
}

/// Checks that `file` is a regular file (not a symbolic link) that only the
/// caller or root can change, in a directory that passes [`check_dir`] (or
/// is a symbolic link of root's or the caller's to one that does).
pub fn check_file(file: &Path) -> Result<(), Untrusted> {
    check_file_as(file, Caller::me())
}

/// [`check_file`] for `me`.
pub fn check_file_as(file: &Path, me: Caller) -> Result<(), Untrusted> {
    let path = lexical(file)?;
    let meta = lstat(&path)?;
    if meta.file_type().is_symlink() {
        return Err(Untrusted::Symlink(file.to_path_buf()));
    }
    check_entry(&path, &meta, me, false)?;
    match path.parent() {
        Some(parent) => check_dir_inner(parent, me, true),
        None => Ok(()),
    }
}

/// Checks the program a configuration names for root to run (the first word
/// of `vm_command`, say): found as `execvp(3)` finds it (a name without a
/// `/` on `PATH`), it must pass [`check_file`], and when it is a symbolic
/// link (`/usr/bin/python3`, an alternative), the directories holding the
/// link and the file it resolves to must. Its arguments are not checked (a
/// script given to an interpreter is the configuration's business).
/// Returns where the program is, or `None` when it is not there (running
/// it will fail with its own error).
pub fn check_program(program: &Path) -> Result<Option<PathBuf>, Untrusted> {
    check_program_as(program, Caller::me(), std::env::var_os("PATH").as_deref())
}

/// [`check_program`] for `me` with `search` as `PATH`.
pub fn check_program_as(
    program: &Path,
    me: Caller,
    search: Option<&std::ffi::OsStr>,
) -> Result<Option<PathBuf>, Untrusted> {
    let found = if program.as_os_str().as_encoded_bytes().contains(&b'/') {
        Some(program.to_path_buf()).filter(|p| std::fs::symlink_metadata(p).is_ok())
    } else {
        // As execvp(3): the first executable file; without PATH, its
        // default.
        let search = search.unwrap_or(std::ffi::OsStr::new("/bin:/usr/bin"));
        std::env::split_paths(search)
            .map(|dir| dir.join(program))
            .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0))
    };
    let Some(path) = found else {
        return Ok(None);
    };
    // Every link of a chain, one at a time: each in a directory that passes
    // (whoever may change that directory may swap the link), then the file
    // the last one names.
    let mut step = lexical(&path)?;
    for _ in 0..LINKS_MAX {
        if !lstat(&step)?.file_type().is_symlink() {
            check_file_as(&step, me)?;
            return Ok(Some(path));
        }
        let parent = step.parent().map(Path::to_path_buf).unwrap_or_default();
        check_dir_inner(&parent, me, true)?;
        let next = std::fs::read_link(&step)
            .map_err(|e| Untrusted::Unreadable(step.clone(), e.to_string()))?;
        step = lexical(&parent.join(next))?;
    }
    Err(Untrusted::Unreadable(
        path,
        format!("more than {LINKS_MAX} symbolic links"),
    ))
}

/// Symbolic links followed at most in one chain (Linux's own limit).
const LINKS_MAX: usize = 40;

fn lstat(path: &Path) -> Result<std::fs::Metadata, Untrusted> {
    std::fs::symlink_metadata(path)
        .map_err(|e| Untrusted::Unreadable(path.to_path_buf(), e.to_string()))
}

/// Owner and write bits of one entry; `sticky_ok`: a directory above the one
/// checked may be writable by others when it has the sticky bit.
/// Owned by root or the caller.
fn check_owner(path: &Path, meta: &std::fs::Metadata, me: Caller) -> Result<(), Untrusted> {
    let owner = meta.uid();
    if owner != 0 && owner != me.uid {
        return Err(Untrusted::Owner {
            path: path.to_path_buf(),
            owner,
            me: me.uid,
        });
    }
    Ok(())
}

fn check_entry(
    path: &Path,
    meta: &std::fs::Metadata,
    me: Caller,
    sticky_ok: bool,
) -> Result<(), Untrusted> {
    check_owner(path, meta, me)?;
    let mode = meta.mode() & 0o7777;
    let sticky_dir = sticky_ok && meta.is_dir() && mode & STICKY != 0;
    let group = mode & GROUP_WRITE != 0 && meta.gid() != me.gid;
    let others = mode & OTHER_WRITE != 0;
    if (group || others) && !sticky_dir {
        let who = match (group, others) {
            (true, true) => "group and others",
            (true, false) => "its group",
            _ => "others",
        };
        return Err(Untrusted::Writable {
            path: path.to_path_buf(),
            mode,
            who,
        });
    }
    Ok(())
}

/// Creates a fresh directory under `parent` named `<prefix>.<random>`, mode
/// 0700 (`mkdtemp(3)`): no one can have planted it.
pub fn fresh_dir(parent: &Path, prefix: &str) -> std::io::Result<PathBuf> {
    use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};
    let mut template = parent
        .join(format!("{prefix}.XXXXXX"))
        .into_os_string()
        .into_vec();
    template.push(0);
    // SAFETY: `template` is a NUL-terminated buffer that mkdtemp rewrites in
    // place (the X's only) and that outlives the call.
    let made = unsafe { libc::mkdtemp(template.as_mut_ptr().cast::<libc::c_char>()) };
    if made.is_null() {
        return Err(std::io::Error::last_os_error());
    }
    template.pop();
    Ok(PathBuf::from(std::ffi::OsStr::from_bytes(&template)))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// This process, but in another group than the files' (so that group
    /// write counts as someone else's).
    fn me_elsewhere() -> Caller {
        let me = Caller::me();
        Caller {
            gid: me.gid.wrapping_add(4242),
            ..me
        }
    }

    #[test]
    fn an_own_private_directory_is_trusted_and_a_writable_or_linked_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let lab = dir.path().join("lab");
        std::fs::create_dir(&lab).unwrap();
        let me = me_elsewhere();
        chmod(&lab, 0o700);
        check_dir(&lab).unwrap();
        chmod(&lab, 0o755);
        check_dir_as(&lab, me).unwrap();
        chmod(&lab, 0o777);
        let e = check_dir(&lab).unwrap_err();
        assert!(
            matches!(e, Untrusted::Writable { who: "others", .. }),
            "{e}"
        );
        let e = check_dir_as(&lab, me).unwrap_err();
        assert!(
            matches!(
                e,
                Untrusted::Writable {
                    who: "group and others",
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("mode 0777"), "{e}");
        chmod(&lab, 0o770);
        assert!(matches!(
            check_dir_as(&lab, me),
            Err(Untrusted::Writable {
                who: "its group",
                ..
            })
        ));
        // Group write by the caller's own group is the caller's.
        check_dir(&lab).unwrap();
        chmod(&lab, 0o700);
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&lab, &link).unwrap();
        assert_eq!(check_dir(&link), Err(Untrusted::Symlink(link.clone())));
        // A trailing slash does not make it followed.
        let slashed = PathBuf::from(format!("{}/", link.display()));
        assert!(matches!(check_dir(&slashed), Err(Untrusted::Symlink(_))));
        // A link of ours above is fine; one another user owns is not (root
        // only: a link is made another user's with lchown).
        check_dir(&link.join("..").join("lab")).unwrap();
        let sub = lab.join("sub");
        std::fs::create_dir(&sub).unwrap();
        check_dir(&link.join("sub")).unwrap();
        if Caller::me().uid == 0 {
            std::os::unix::fs::lchown(&link, Some(4242), None).unwrap();
            assert!(matches!(
                check_dir(&link.join("sub")),
                Err(Untrusted::Owner { owner: 4242, .. })
            ));
            std::os::unix::fs::lchown(&link, Some(0), None).unwrap();
        }
        let file = lab.join("f");
        std::fs::write(&file, "x").unwrap();
        assert_eq!(
            check_dir(&file),
            Err(Untrusted::NotADirectory(file.clone()))
        );
        check_file(&file).unwrap();
        let file_link = lab.join("g");
        std::os::unix::fs::symlink(&file, &file_link).unwrap();
        assert_eq!(
            check_file(&file_link),
            Err(Untrusted::Symlink(file_link.clone()))
        );
        assert!(matches!(
            check_dir(&dir.path().join("none")),
            Err(Untrusted::Unreadable(..))
        ));
    }

    #[test]
    fn a_directory_someone_else_owns_or_can_write_above_is_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let above = dir.path().join("above");
        let lab = above.join("lab");
        std::fs::create_dir_all(&lab).unwrap();
        // Another user's directory (root's is everyone's to trust): as root,
        // one given to uid 4242; otherwise ours, checked as another user.
        let me = Caller::me();
        let (owner, asker) = if me.uid == 0 {
            std::os::unix::fs::chown(&lab, Some(4242), None).unwrap();
            (4242, me)
        } else {
            let someone = Caller {
                uid: me.uid.wrapping_add(4242),
                gid: me.gid,
            };
            (me.uid, someone)
        };
        assert!(matches!(
            check_dir_as(&lab, asker),
            Err(Untrusted::Owner { owner: o, me: them, .. }) if o == owner && them == asker.uid
        ));
        if me.uid == 0 {
            std::os::unix::fs::chown(&lab, Some(0), None).unwrap();
        }
        // A directory above that others can write: they could swap ours.
        chmod(&above, 0o777);
        assert!(
            matches!(check_dir(&lab), Err(Untrusted::Writable { ref path, .. }) if *path == above)
        );
        // Unless it is sticky, as /tmp is.
        chmod(&above, 0o1777);
        check_dir(&lab).unwrap();
        // The checked directory itself gets no sticky pass.
        chmod(&lab, 0o1777);
        assert!(check_dir(&lab).is_err());
    }

    #[test]
    fn fresh_directories_are_new_private_and_distinct() {
        let dir = tempfile::tempdir().unwrap();
        let a = fresh_dir(dir.path(), "he-lab-demo").unwrap();
        let b = fresh_dir(dir.path(), "he-lab-demo").unwrap();
        assert_ne!(a, b);
        for d in [&a, &b] {
            let name = d.file_name().unwrap().to_str().unwrap();
            assert!(name.starts_with("he-lab-demo."), "{name}");
            let mode = std::fs::metadata(d).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700);
            check_dir(d).unwrap();
        }
        assert!(fresh_dir(&dir.path().join("missing"), "x").is_err());
    }

    #[test]
    fn a_program_is_trusted_only_when_others_cannot_change_it_or_its_links() {
        let system = std::env::var_os("PATH");
        let found = check_program(Path::new("sh")).unwrap();
        assert!(found.is_some_and(|p| p.ends_with("sh")));
        // Through a link of root's among the directories (/bin is one to
        // usr/bin on a merged /usr).
        assert!(check_program(Path::new("/bin/sh")).unwrap().is_some());
        assert_eq!(
            check_program_as(
                Path::new("no-such-program"),
                Caller::me(),
                system.as_deref()
            ),
            Ok(None)
        );
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let program = bin.join("connect");
        std::fs::write(&program, "#!/bin/sh\n").unwrap();
        chmod(&program, 0o755);
        let search = Some(bin.as_os_str());
        let me = Caller::me();
        assert_eq!(
            check_program_as(Path::new("connect"), me, search),
            Ok(Some(program.clone()))
        );
        chmod(&program, 0o757);
        assert!(matches!(
            check_program_as(Path::new("connect"), me, search),
            Err(Untrusted::Writable { ref path, .. }) if *path == program
        ));
        chmod(&program, 0o755);
        chmod(&bin, 0o777);
        assert!(check_program_as(&program, me, None).is_err());
        chmod(&bin, 0o755);
        // A link is as good as the directory holding it and what it points to.
        let spare = dir.path().join("spare");
        std::fs::create_dir(&spare).unwrap();
        let link = spare.join("link");
        std::os::unix::fs::symlink(&program, &link).unwrap();
        check_program_as(&link, me, None).unwrap();
        chmod(&spare, 0o777);
        assert!(check_program_as(&link, me, None).is_err());
        chmod(&spare, 0o755);
        chmod(&bin, 0o777);
        assert!(check_program_as(&link, me, None).is_err());
        chmod(&bin, 0o755);
        // A link in the middle of a chain counts too: one in a directory
        // others can write lets them point it elsewhere later.
        let middle_dir = dir.path().join("middle");
        std::fs::create_dir(&middle_dir).unwrap();
        let middle = middle_dir.join("hop");
        std::os::unix::fs::symlink(&program, &middle).unwrap();
        let chain = spare.join("chain");
        std::os::unix::fs::symlink(&middle, &chain).unwrap();
        check_program_as(&chain, me, None).unwrap();
        chmod(&middle_dir, 0o777);
        assert!(matches!(
            check_program_as(&chain, me, None),
            Err(Untrusted::Writable { ref path, .. }) if *path == middle_dir
        ));
    }
}
