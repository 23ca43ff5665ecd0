//! Where the configuration files and run-time directories are. Every path can be
//! overridden so that tests and the lab never touch `/etc`, `/var` or `/run`.
//!
//! Precedence for each path: its own option or environment variable, then the
//! default placed under `--config-root`/`HE_CONFIG_ROOT`, then the reference's
//! default. `ha.conf` and `broker.conf` live in the state directory unless given
//! on their own, so `--state-dir` alone moves them too.

use std::path::{Path, PathBuf};

/// `hosted-engine.conf` of the reference.
pub const DEFAULT_HE_CONF: &str = "/etc/ovirt-hosted-engine/hosted-engine.conf";
/// `agent.conf` of the reference.
pub const DEFAULT_AGENT_CONF: &str = "/etc/ovirt-hosted-engine-ha/agent.conf";
/// Run-time directory (sockets, pid files) of the reference.
pub const DEFAULT_RUNTIME_DIR: &str = "/run/ovirt-hosted-engine-ha";
/// State directory (holds `ha.conf`, `broker.conf`) of the reference.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/ovirt-hosted-engine-ha";
/// Name of `ha.conf` inside the state directory.
pub const HA_CONF_NAME: &str = "ha.conf";
/// Name of `broker.conf` inside the state directory.
pub const BROKER_CONF_NAME: &str = "broker.conf";

/// Every environment variable of [`ConfigPathArgs`]: a process that sets up
/// another host's environment clears these first so its own cannot leak in.
pub const PATH_ENV_VARS: [&str; 7] = [
    "HE_CONFIG_ROOT",
    "HE_CONF",
    "HE_AGENT_CONF",
    "HE_HA_CONF",
    "HE_BROKER_CONF",
    "HE_RUNTIME_DIR",
    "HE_STATE_DIR",
];

/// The resolved locations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigPaths {
    /// `hosted-engine.conf`.
    pub he_conf: PathBuf,
    /// `agent.conf`.
    pub agent_conf: PathBuf,
    /// `ha.conf`.
    pub ha_conf: PathBuf,
    /// `broker.conf`.
    pub broker_conf: PathBuf,
    /// Sockets and other run-time files.
    pub runtime_dir: PathBuf,
    /// Persistent local state.
    pub state_dir: PathBuf,
}

impl Default for ConfigPaths {
    /// The reference's paths.
    fn default() -> Self {
        Self::under_root(Path::new("/"))
    }
}

impl ConfigPaths {
    /// The default layout placed under `root` (a lab host is a directory tree):
    /// `<root>/etc/ovirt-hosted-engine/hosted-engine.conf` and so on.
    pub fn under_root(root: &Path) -> Self {
        let place = |default: &str| root.join(default.trim_start_matches('/'));
        let state_dir = place(DEFAULT_STATE_DIR);
        ConfigPaths {
            he_conf: place(DEFAULT_HE_CONF),
            agent_conf: place(DEFAULT_AGENT_CONF),
            ha_conf: state_dir.join(HA_CONF_NAME),
            broker_conf: state_dir.join(BROKER_CONF_NAME),
            runtime_dir: place(DEFAULT_RUNTIME_DIR),
            state_dir,
        }
    }

    /// Where this host keeps its fence devices' password files
    /// (`fencing.conf`'s `password-file`): `fencing/` beside `agent.conf`,
    /// `/etc/ovirt-hosted-engine-ha/fencing` by default.
    pub fn fencing_secrets_dir(&self) -> PathBuf {
        self.agent_conf
            .parent()
            .unwrap_or(Path::new("/"))
            .join("fencing")
    }

    /// Applies the precedence described in the module documentation. An empty
    /// value (e.g. `HE_CONF=`) counts as not given.
    pub fn resolve(args: &ConfigPathArgs) -> Self {
        let given = |arg: &Option<PathBuf>| arg.clone().filter(|p| !p.as_os_str().is_empty());
        let base = match given(&args.config_root) {
            Some(root) => Self::under_root(&root),
            None => Self::default(),
        };
        let state_dir = given(&args.state_dir).unwrap_or(base.state_dir);
        ConfigPaths {
            he_conf: given(&args.he_conf).unwrap_or(base.he_conf),
            agent_conf: given(&args.agent_conf).unwrap_or(base.agent_conf),
            ha_conf: given(&args.ha_conf).unwrap_or_else(|| state_dir.join(HA_CONF_NAME)),
            broker_conf: given(&args.broker_conf)
                .unwrap_or_else(|| state_dir.join(BROKER_CONF_NAME)),
            runtime_dir: given(&args.runtime_dir).unwrap_or(base.runtime_dir),
            state_dir,
        }
    }
}

/// Parses a path option without refusing an empty value: clap's own `PathBuf`
/// parser rejects `HE_CONF=`, which [`ConfigPaths::resolve`] documents as "not
/// given" (scripts commonly clear a variable by setting it empty).
fn path_value() -> impl clap::builder::TypedValueParser<Value = PathBuf> {
    use clap::builder::TypedValueParser;
    clap::builder::OsStringValueParser::new().map(PathBuf::from)
}

/// Command-line options (each with an environment variable) that move the
/// configuration; flatten into a binary's arguments with `#[command(flatten)]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct ConfigPathArgs {
    /// Directory under which every default path is placed (for labs and tests).
    #[arg(long, env = "HE_CONFIG_ROOT", value_name = "DIR", value_parser = path_value())]
    pub config_root: Option<PathBuf>,
    /// hosted-engine.conf [default: /etc/ovirt-hosted-engine/hosted-engine.conf]
    #[arg(long, env = "HE_CONF", value_name = "FILE", value_parser = path_value())]
    pub he_conf: Option<PathBuf>,
    /// agent.conf [default: /etc/ovirt-hosted-engine-ha/agent.conf]
    #[arg(long, env = "HE_AGENT_CONF", value_name = "FILE", value_parser = path_value())]
    pub agent_conf: Option<PathBuf>,
    /// ha.conf (local maintenance) [default: <state-dir>/ha.conf]
    #[arg(long, env = "HE_HA_CONF", value_name = "FILE", value_parser = path_value())]
    pub ha_conf: Option<PathBuf>,
    /// broker.conf (notifications) [default: <state-dir>/broker.conf]
    #[arg(long, env = "HE_BROKER_CONF", value_name = "FILE", value_parser = path_value())]
    pub broker_conf: Option<PathBuf>,
    /// Run-time directory for sockets [default: /run/ovirt-hosted-engine-ha]
    #[arg(long, env = "HE_RUNTIME_DIR", value_name = "DIR", value_parser = path_value())]
    pub runtime_dir: Option<PathBuf>,
    /// State directory [default: /var/lib/ovirt-hosted-engine-ha]
    #[arg(long, env = "HE_STATE_DIR", value_name = "DIR", value_parser = path_value())]
    pub state_dir: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_env_vars_are_exactly_the_options_variables() {
        #[derive(clap::Parser)]
        struct Args {
            #[command(flatten)]
            paths: ConfigPathArgs,
        }
        let cmd = <Args as clap::CommandFactory>::command();
        let mut from_clap: Vec<String> = cmd
            .get_arguments()
            .filter_map(|a| a.get_env())
            .map(|e| e.to_string_lossy().into_owned())
            .collect();
        let mut listed: Vec<String> = PATH_ENV_VARS.iter().map(|v| v.to_string()).collect();
        from_clap.sort();
        listed.sort();
        assert_eq!(from_clap, listed);
    }

    #[test]
    fn defaults_are_the_reference_paths() {
        let paths = ConfigPaths::default();
        assert_eq!(paths.he_conf, Path::new(DEFAULT_HE_CONF));
        assert_eq!(paths.agent_conf, Path::new(DEFAULT_AGENT_CONF));
        assert_eq!(
            paths.ha_conf,
            Path::new("/var/lib/ovirt-hosted-engine-ha/ha.conf")
        );
        assert_eq!(
            paths.broker_conf,
            Path::new("/var/lib/ovirt-hosted-engine-ha/broker.conf")
        );
        assert_eq!(paths.runtime_dir, Path::new(DEFAULT_RUNTIME_DIR));
        assert_eq!(paths.state_dir, Path::new(DEFAULT_STATE_DIR));
        assert_eq!(ConfigPaths::resolve(&ConfigPathArgs::default()), paths);
    }

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(flatten)]
        paths: ConfigPathArgs,
    }

    #[test]
    fn empty_values_parse_and_count_as_not_given() {
        use clap::Parser;
        let cli = Cli::try_parse_from(["x", "--he-conf", "", "--state-dir=", "--config-root="])
            .expect("empty path values parse");
        assert_eq!(cli.paths.he_conf, Some(PathBuf::new()));
        assert_eq!(ConfigPaths::resolve(&cli.paths), ConfigPaths::default());
    }
}
