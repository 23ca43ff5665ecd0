//! One host's configuration in a temporary directory, for running the
//! `hosted-engine` binary as a process against it (the paths through `HE_CONF`,
//! `HE_RUNTIME_DIR`, `HE_STATE_DIR`, as `tests/cli_status.rs` does), with its
//! metadata volume at `shared/ha_agent/hosted-engine.metadata`; and what a run
//! answered. Used by `tests/cli_errors.rs`, `tests/cli_housekeeping.rs` and
//! `tests/cli_agent.rs`.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hosted_engine::metadata::{Area, Extra, HostRecord, decode_area, encode_host_slot};
use hosted_engine::shell::store::{MetadataStore, init_volume};

/// The binary under test.
pub const HE_BIN: &str = env!("CARGO_BIN_EXE_hosted-engine");
/// The bound on each metadata volume read and write.
pub const IO: Duration = Duration::from_secs(5);
/// The engine VM's id in every deployed host's `hosted-engine.conf`.
pub const VMID: &str = "3f1b4c2e-6a0d-4d7e-9a57-2b8c1f0e9d41";
/// The engine status of a VM that is up and healthy.
pub const UP: &str = r#"{"vm": "up", "health": "good", "detail": "Up"}"#;

#[derive(Debug)]
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Ran {
    fn from(out: Output) -> Ran {
        Ran {
            code: out.status.code(),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    }
}

/// One host's configuration in a temporary directory.
pub struct Host {
    dir: tempfile::TempDir,
}

impl Host {
    /// Nothing deployed: no hosted-engine.conf.
    pub fn bare() -> Host {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("run")).unwrap();
        Host { dir }
    }

    /// A deployed host (host id 1) with an empty metadata volume.
    pub fn deployed() -> Host {
        let host = Host::bare();
        host.write_conf(&format!("vmid={VMID}\n"));
        std::fs::create_dir_all(host.volume().parent().unwrap()).unwrap();
        init_volume(&host.volume(), false, IO).unwrap();
        host
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn conf(&self) -> PathBuf {
        self.path("hosted-engine.conf")
    }

    pub fn volume(&self) -> PathBuf {
        self.path("shared/ha_agent/hosted-engine.metadata")
    }

    pub fn runtime(&self) -> PathBuf {
        self.path("run")
    }

    pub fn write_conf(&self, extra: &str) {
        let text = format!(
            "fqdn=engine.invalid\nhost_id=1\nstorage={}\ndomainType=dir\nvm_command=/bin/true\n\
             network_test=none\n{}{extra}",
            self.path("shared").display(),
            super::NO_WATCHDOG
        );
        std::fs::write(self.conf(), text).unwrap();
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(HE_BIN);
        for var in super::PATH_VARS {
            cmd.env_remove(var);
        }
        cmd.args(args)
            .env("HE_CONFIG_ROOT", self.dir.path())
            .env("HE_CONF", self.conf())
            .env("HE_RUNTIME_DIR", self.runtime())
            .env("HE_STATE_DIR", self.path("state"))
            .env_remove("OVIRT_HOSTED_ENGINE_CONSOLE_PASSWORD")
            .stdin(Stdio::null());
        cmd
    }

    pub fn he(&self, args: &[&str]) -> Ran {
        self.command(args).output().unwrap().into()
    }

    pub fn store(&self) -> MetadataStore {
        MetadataStore::open(self.volume(), IO)
    }

    pub fn area(&self) -> Area {
        decode_area(&self.store().read_area().unwrap())
    }

    /// Publishes host `id`'s slot as our agent does: its wall clock `wall`
    /// (None: a writer that publishes none), `stopped`, and a lease state.
    pub fn publish(&self, id: u16, wall: Option<i64>, stopped: bool, lease: Option<(&str, u64)>) {
        let record = HostRecord {
            parse_version: 1,
            feature_version: 1,
            host_ts: 100,
            host_id: id,
            score: if stopped { 0 } else { 3400 },
            engine_status: UP.to_owned(),
            hostname: format!("host{id}.example"),
            local_maintenance: false,
            stopped,
            conf_on_shared_storage: true,
            vm_conf_refresh_time: 100,
        };
        let mut extra = Extra::new();
        extra.push("host-id", id.to_string());
        let state = if stopped { "AgentStopped" } else { "EngineUp" };
        extra.push("state", state);
        if let Some(wall) = wall {
            extra.push("wall-clock", wall.to_string());
        }
        if let Some((kind, epoch)) = lease {
            extra.push("lease", kind);
            extra.push("lease-epoch", epoch.to_string());
        }
        let bytes = encode_host_slot(id, &record, &extra).unwrap();
        self.store().write_slot(id, &bytes).unwrap();
    }

    pub fn set_global_maintenance(&self, on: bool) {
        let mut global = hosted_engine::metadata::GlobalBlock::new();
        global.set_maintenance(on);
        self.store()
            .write_slot(0, &global.encode().unwrap())
            .unwrap();
    }
}

pub fn now_unix() -> i64 {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(secs.as_secs()).unwrap()
}

pub fn json_of(ran: &Ran) -> serde_json::Value {
    serde_json::from_str(&ran.stdout).unwrap_or_else(|e| panic!("{e}: {ran:?}"))
}
