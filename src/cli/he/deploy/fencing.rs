//! Power fencing at deploy time: the first host copies the operator's
//! `fencing.conf` beside the metadata volume (`--fencing-conf`), and every
//! host installs the fence devices' password files into its own fencing
//! directory (`--fence-passwords`). Both are checked as the agent checks them
//! when it starts (`FencingConf::load_for_agent`), before anything is written
//! where that can be known, and once more after.

use std::fs;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::Path;

use super::answers::{Answers, FENCE_PASSWORDS_KEY, FENCING_CONF_KEY};
use crate::cli::he::failure::{Failure, FailureKind};
use crate::cli::he::shared_storage::{on_storage, shared_write};
use crate::config::{
    ConfFile, ConfigPaths, FENCING_CONF_NAME, FencingConf, PASSWORD_FILE_MAX_BYTES, Timings,
    fencing_conf_beside, read_bounded,
};

/// Most password files one `--fence-passwords` directory may hold.
const PASSWORD_FILES_MAX: usize = 2000;

/// What a deploy does about fencing.
#[derive(Debug, Default)]
pub(super) struct FencingPlan {
    /// First host: the cluster's `fencing.conf` to write beside the volume.
    pub conf_text: Option<String>,
    /// The cluster's fencing, as it will be (`None`: no fencing.conf).
    pub conf: Option<FencingConf>,
    /// Password files to install in this host's fencing directory: (file
    /// name, content).
    pub passwords: Vec<(String, Vec<u8>)>,
}

impl FencingPlan {
    /// The plan from the answers: the first host's `--fencing-conf`, or an
    /// added host's shared copy beside `volume`; `--fence-passwords`. Every
    /// bare password file the file names must be among those installed or
    /// already in this host's fencing directory.
    pub(super) fn from_answers(
        answers: &Answers,
        add_host: bool,
        volume: &Path,
        paths: &ConfigPaths,
        timings: &Timings,
    ) -> Result<FencingPlan, Failure> {
        let shared = fencing_conf_beside(volume);
        let (conf_text, conf) = match (answers.get(FENCING_CONF_KEY), add_host) {
            (Some(_), true) => {
                return Err(answer_failure(format!(
                    "--fencing-conf is for the first host: an added host uses the cluster's {}",
                    shared.display()
                )));
            }
            (Some(file), false) => {
                let text = read_text(Path::new(file))?;
                let conf = FencingConf::parse(Path::new(file), &text)
                    .map_err(|e| answer_failure(e.to_string()))?;
                (Some(text), Some(conf))
            }
            (None, true) => (None, read_shared(&shared)?),
            (None, false) => (None, None),
        };
        if let Some(conf) = &conf {
            let errors = conf.timing_errors(timings);
            if !errors.is_empty() {
                let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
                return Err(answer_failure(text.join("\n")));
            }
        }
        let passwords = match answers.get(FENCE_PASSWORDS_KEY) {
            Some(dir) => read_passwords(Path::new(dir))?,
            None => Vec::new(),
        };
        let plan = FencingPlan {
            conf_text,
            conf,
            passwords,
        };
        plan.check_passwords_present(&paths.fencing_secrets_dir())?;
        Ok(plan)
    }

    /// Every password file named bare in the file is installed now or there.
    fn check_passwords_present(&self, secrets_dir: &Path) -> Result<(), Failure> {
        let Some(conf) = &self.conf else {
            return Ok(());
        };
        let missing: Vec<String> = conf
            .devices
            .values()
            .filter_map(|d| d.password_file.as_ref().map(|p| (d.host_id, p)))
            .filter(|(_, p)| p.is_relative())
            .filter(|(_, p)| {
                let name = p.to_string_lossy();
                !self.passwords.iter().any(|(n, _)| *n == name) && !secrets_dir.join(p).exists()
            })
            .map(|(host, p)| format!("{} (host {host})", p.display()))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        Err(answer_failure(format!(
            "fencing.conf names password files that are neither in --fence-passwords nor in \
             {}: {}",
            secrets_dir.display(),
            missing.join(", ")
        )))
    }

    /// Writes the password files (mode 0600 in a 0700 directory), then, on
    /// the first host, the shared `fencing.conf` (mode 0600).
    pub(super) fn write(&self, volume: &Path, paths: &ConfigPaths) -> Result<(), Failure> {
        let dir = paths.fencing_secrets_dir();
        if !self.passwords.is_empty() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(|e| io_failure(&dir, &e))?;
        }
        for (name, bytes) in &self.passwords {
            let path = dir.join(name);
            write_private(&path, bytes).map_err(|e| io_failure(&path, &e))?;
        }
        if let Some(text) = &self.conf_text {
            shared_write(&fencing_conf_beside(volume), text.clone().into_bytes())?;
        }
        Ok(())
    }

    /// After writing: the checks the agent makes when it starts. A failure
    /// says that the host is deployed but its agent will run without fencing.
    pub(super) fn check_written(
        &self,
        volume: &Path,
        paths: &ConfigPaths,
        timings: &Timings,
    ) -> Result<(), Failure> {
        if self.conf.is_none() {
            return Ok(());
        }
        let path = fencing_conf_beside(volume);
        FencingConf::load_for_agent(&path, timings, &paths.fencing_secrets_dir())
            .map(|_| ())
            .map_err(|errors| {
                Failure::new(
                    FailureKind::Config,
                    format!(
                        "{errors}\nthis host is deployed, but its agent will run without power \
                         fencing until these are fixed (then: systemctl restart \
                         ovirt-ha-agent)"
                    ),
                )
            })
    }

    /// One line for the deploy's summary.
    pub(super) fn describe(&self, paths: &ConfigPaths, timings: &Timings) -> String {
        let installed = match self.passwords.len() {
            0 => String::new(),
            n => format!(
                "; {n} password file(s) in {}",
                paths.fencing_secrets_dir().display()
            ),
        };
        match &self.conf {
            None => format!(
                "none (no {FENCING_CONF_NAME}: a silent holder's lease frees after \
                 lease-dead-secs){installed}"
            ),
            Some(conf) => format!(
                "{} fence device(s), fence-after {} s{installed}",
                conf.devices.len(),
                crate::config::format_secs(conf.fence_after_ms(timings))
            ),
        }
    }
}

/// The shared copy, read through the storage's bound; `None` when absent.
fn read_shared(path: &Path) -> Result<Option<FencingConf>, Failure> {
    let probe = path.to_path_buf();
    let bytes = on_storage(path, move || Ok(read_bounded(&probe)))?
        .map_err(|e| Failure::new(FailureKind::Storage, e.to_string()))?;
    let Some(bytes) = bytes else {
        return Ok(None);
    };
    let text = String::from_utf8(bytes).map_err(|_| {
        Failure::new(
            FailureKind::Storage,
            format!("{}: not UTF-8 text", path.display()),
        )
    })?;
    FencingConf::parse(path, &text)
        .map(Some)
        .map_err(|e| Failure::new(FailureKind::Storage, format!("the cluster's {e}")))
}

fn read_text(path: &Path) -> Result<String, Failure> {
    let bytes = read_bounded(path)
        .map_err(|e| answer_failure(e.to_string()))?
        .ok_or_else(|| answer_failure(format!("{}: no such file", path.display())))?;
    String::from_utf8(bytes).map_err(|_| answer_failure(format!("{}: not UTF-8", path.display())))
}

/// The regular files of `dir`, by name (dot files left out), each at most
/// [`PASSWORD_FILE_MAX_BYTES`].
fn read_passwords(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, Failure> {
    let entries = fs::read_dir(dir)
        .map_err(|e| answer_failure(format!("--fence-passwords: {}: {e}", dir.display())))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| answer_failure(format!("{}: {e}", dir.display())))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let meta = fs::symlink_metadata(&path).map_err(|e| io_failure(&path, &e))?;
        if name.starts_with('.') || !meta.is_file() {
            continue;
        }
        if meta.len() > PASSWORD_FILE_MAX_BYTES {
            return Err(answer_failure(format!(
                "{}: larger than {PASSWORD_FILE_MAX_BYTES} bytes: not a password file",
                path.display()
            )));
        }
        let bytes = fs::read(&path).map_err(|e| io_failure(&path, &e))?;
        files.push((name, bytes));
        if files.len() > PASSWORD_FILES_MAX {
            return Err(answer_failure(format!(
                "{}: more than {PASSWORD_FILES_MAX} files",
                dir.display()
            )));
        }
    }
    files.sort();
    Ok(files)
}

/// Writes `bytes` to `path`, mode 0600 from its creation.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let tmp = path.with_extension("tmp");
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&tmp, path)
}

fn answer_failure(message: String) -> Failure {
    Failure::new(FailureKind::Answers, message)
}

fn io_failure(path: &Path, e: &std::io::Error) -> Failure {
    Failure::new(FailureKind::Io, format!("{}: {e}", path.display()))
}
