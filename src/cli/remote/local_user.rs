//! The local user's name and home directory (the default remote user, where
//! `~/.ssh` is), from the environment or the password database.

use std::path::PathBuf;

/// `$USER`, `$LOGNAME`, or the effective uid's name.
pub(super) fn default_user() -> Option<String> {
    ["USER", "LOGNAME"]
        .iter()
        .filter_map(|var| std::env::var(var).ok())
        .find(|name| !name.is_empty())
        .or_else(|| passwd_entry().map(|(name, _)| name))
}

/// `$HOME`, or the effective uid's home directory.
pub(super) fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(|| passwd_entry().map(|(_, home)| home))
}

/// The effective uid's home directory from the password database (not
/// `$HOME`: as ssh finds `~/.ssh/config`, also under a sudo that keeps
/// `HOME`).
pub(super) fn passwd_home() -> Option<PathBuf> {
    passwd_entry().map(|(_, home)| home)
}

/// The effective uid's name and home directory from the password database.
fn passwd_entry() -> Option<(String, PathBuf)> {
    use std::ffi::CStr;
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: all-zero bytes are a valid `passwd` (null pointers, zero ids).
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result = std::ptr::null_mut();
    let mut buffer = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: the pointers are valid for the call; `buffer`'s length is passed.
    let rc = unsafe {
        libc::getpwuid_r(
            libc::geteuid(),
            &raw mut entry,
            buffer.as_mut_ptr(),
            buffer.len(),
            &raw mut result,
        )
    };
    if rc != 0 || result.is_null() || entry.pw_name.is_null() || entry.pw_dir.is_null() {
        return None;
    }
    // SAFETY: on success both point to NUL-terminated strings inside `buffer`.
    let (name, home) = unsafe { (CStr::from_ptr(entry.pw_name), CStr::from_ptr(entry.pw_dir)) };
    let home = PathBuf::from(std::ffi::OsStr::from_bytes(home.to_bytes()));
    Some((name.to_str().ok()?.to_owned(), home))
}
