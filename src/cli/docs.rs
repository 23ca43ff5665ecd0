//! The man pages (`man/`) and shell completions (`completions/`), generated
//! from the clap definitions of the three programs and checked in.
//! `tests/docs_fresh.rs` fails when the checked-in files differ from what the
//! code generates; `HE_UPDATE_GOLDEN=1 cargo test --test docs_fresh` rewrites
//! them.

use std::path::PathBuf;

use clap::CommandFactory;
use clap_complete::Shell;

/// Files under `man/`, with their sections.
const MAN_PAGES: [(&str, &str); 3] = [
    ("hosted-engine", "8"),
    ("ovirt-ha-agent", "8"),
    ("he-lab", "1"),
];

const HE_FILES: &str = "\
/etc/ovirt-hosted-engine/hosted-engine.conf: this host's id, the engine VM and the storage.
/etc/ovirt-hosted-engine-ha/agent.conf: the score penalties and the timings.
/var/lib/ovirt-hosted-engine-ha/ha.conf: local maintenance.
/var/lib/ovirt-hosted-engine-ha/broker.conf: notification mail.
/run/ovirt-hosted-engine-ha/agent.sock: the local agent's control socket.
<storage>/ha_agent/hosted-engine.metadata: the shared metadata volume.";

const AGENT_FILES: &str = "\
/etc/ovirt-hosted-engine/hosted-engine.conf, /etc/ovirt-hosted-engine-ha/agent.conf, \
/var/lib/ovirt-hosted-engine-ha/ha.conf, /var/lib/ovirt-hosted-engine-ha/broker.conf: \
the configuration (moved by the options or their environment variables).
/run/ovirt-hosted-engine-ha/agent.sock: the control socket (mode 0660).
/var/lib/ovirt-hosted-engine-ha/lease-epoch: the highest engine VM lease epoch this host used.
/var/lib/ovirt-hosted-engine-ha/engine-vm.json, engine-vm.log: the process driver's VM \
record and output.";

/// The command of `program`.
fn command(program: &str) -> clap::Command {
    match program {
        "hosted-engine" => super::he::spec::clap_command(),
        "ovirt-ha-agent" => super::AgentArgs::command(),
        "he-lab" => crate::lab::LabArgs::command(),
        other => unreachable!("no program {other}"),
    }
}

/// Every generated file: its path relative to the repository root and its
/// bytes.
pub fn render_all() -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for (program, section) in MAN_PAGES {
        files.push((
            PathBuf::from(format!("man/{program}.{section}")),
            man_page(program, section),
        ));
    }
    for (program, _) in MAN_PAGES {
        for (shell, name) in [
            (Shell::Bash, format!("{program}.bash")),
            (Shell::Zsh, format!("_{program}")),
            (Shell::Fish, format!("{program}.fish")),
        ] {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut command(program), program, &mut out);
            files.push((PathBuf::from(format!("completions/{name}")), out));
        }
    }
    files
}

fn man_page(program: &str, section: &str) -> Vec<u8> {
    let cmd = command(program);
    let man = clap_mangen::Man::new(cmd.clone())
        .section(section)
        .manual("hosted-engine")
        .source(format!("hosted-engine {}", env!("CARGO_PKG_VERSION")));
    let mut out = Vec::new();
    let write = |r: std::io::Result<()>| r.expect("rendering to memory cannot fail");
    write(man.render_title(&mut out));
    write(man.render_name_section(&mut out));
    write(man.render_synopsis_section(&mut out));
    write(man.render_description_section(&mut out));
    write(man.render_options_section(&mut out));
    if cmd.get_subcommands().next().is_some() {
        write(man.render_subcommands_section(&mut out));
    }
    let (exit, files) = match program {
        "hosted-engine" => (super::he::spec::EXIT_CODES.to_owned(), Some(HE_FILES)),
        "ovirt-ha-agent" => (
            "Exit codes: 0 stopped cleanly or configuration valid, 1 configuration invalid \
             or the agent failed, 2 bad command line."
                .to_owned(),
            Some(AGENT_FILES),
        ),
        _ => (
            "Exit codes: 0 success, 1 failure (for sim: an invariant broke or a check \
             failed), 2 bad command line."
                .to_owned(),
            None,
        ),
    };
    roff_section(&mut out, "EXIT STATUS", &exit);
    if program == "hosted-engine" {
        roff_section(&mut out, "ENVIRONMENT", super::he::spec::ENVIRONMENT);
        let mut commands = String::new();
        for c in super::he::spec::COMMANDS {
            commands.push_str(&format!("{}\n{}\n\n", c.synopsis(), c.help));
        }
        roff_section(&mut out, "COMMANDS", &commands);
    }
    if let Some(files) = files {
        roff_section(&mut out, "FILES", files);
    }
    if cmd.get_version().is_some() {
        write(man.render_version_section(&mut out));
    }
    out
}

/// A man page section: paragraphs separated by blank lines, lines kept.
fn roff_section(out: &mut Vec<u8>, title: &str, text: &str) {
    out.extend_from_slice(format!(".SH \"{title}\"\n").as_bytes());
    for paragraph in text.split("\n\n") {
        out.extend_from_slice(b".PP\n");
        for (i, line) in paragraph.lines().enumerate() {
            if i > 0 {
                out.extend_from_slice(b".br\n");
            }
            out.extend_from_slice(roff_escape(line).as_bytes());
            out.push(b'\n');
        }
    }
}

/// Text safe on a roff line: backslashes and hyphens escaped, and a leading
/// `.` or `'` kept from reading as a request.
fn roff_escape(line: &str) -> String {
    let escaped = line.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with('.') || escaped.starts_with('\'') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}
