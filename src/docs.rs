//! The man pages (`man/`) and shell completions (`completions/`), generated
//! from the clap definitions of the three programs and checked in.
//! `tests/docs_fresh.rs` fails when the checked-in files differ from what the
//! code generates; `HE_UPDATE_GOLDEN=1 cargo test --test docs_fresh` rewrites
//! them.

use std::path::PathBuf;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::he::spec;

/// The programs documented: a man page and completions each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Program {
    HostedEngine,
    Agent,
    Lab,
}

impl Program {
    /// Every program, in the order of their files.
    const ALL: [Program; 3] = [Program::HostedEngine, Program::Agent, Program::Lab];

    fn name(self) -> &'static str {
        match self {
            Program::HostedEngine => "hosted-engine",
            Program::Agent => "ovirt-ha-agent",
            Program::Lab => "he-lab",
        }
    }

    /// The section of its man page under `man/`.
    fn section(self) -> &'static str {
        match self {
            Program::HostedEngine | Program::Agent => "8",
            Program::Lab => "1",
        }
    }

    /// Its man page's EXIT STATUS.
    fn exit_status(self) -> &'static str {
        match self {
            Program::HostedEngine => spec::EXIT_CODES,
            Program::Agent => {
                "Exit codes: 0 stopped cleanly or configuration valid, 1 configuration invalid \
                 or the agent failed, 2 bad command line."
            }
            Program::Lab => {
                "Exit codes: 0 success, 1 failure (for sim: an invariant broke or a check \
                 failed), 2 bad command line."
            }
        }
    }

    /// Its man page's FILES, if it has that section.
    fn files(self) -> Option<&'static str> {
        match self {
            Program::HostedEngine => Some(HE_FILES),
            Program::Agent => Some(AGENT_FILES),
            Program::Lab => None,
        }
    }

    /// Its man page's SEE ALSO.
    fn see_also(self) -> &'static str {
        match self {
            Program::HostedEngine => SEE_ALSO_HE,
            Program::Agent => SEE_ALSO_AGENT,
            Program::Lab => SEE_ALSO_LAB,
        }
    }

    /// Its command line as clap models it.
    fn command(self) -> clap::Command {
        match self {
            Program::HostedEngine => spec::clap_command(),
            Program::Agent => crate::cli::AgentArgs::command(),
            Program::Lab => crate::lab::LabArgs::command(),
        }
    }
}

const HE_FILES: &str = "\
/etc/ovirt-hosted-engine/hosted-engine.conf: this host's id, the engine VM and the storage.
/etc/ovirt-hosted-engine-ha/agent.conf: the score penalties and the timings.
/var/lib/ovirt-hosted-engine-ha/ha.conf: local maintenance.
/var/lib/ovirt-hosted-engine-ha/broker.conf: notification mail.
/run/ovirt-hosted-engine-ha/agent.sock: the local agent's control socket.
<storage>/ha_agent/hosted-engine.metadata: the shared metadata volume.
<storage>/ha_agent/history/host-<id>.ring: each host's recent events (--history).";

const HE_EXAMPLES: &str = "\
hosted-engine --vm-status --format=table --explain
One row per host, then what is not known, each score's arithmetic, the lease and who \
would start the engine VM next.

hosted-engine --history --since=1h
What the cluster did in the last hour and why, every host's events in one timeline.

hosted-engine --set-maintenance --mode=global
Keep the agents from starting, stopping or moving the engine VM (before work on it); \
--mode=none ends it.

hosted-engine --vm-shutdown
Shut the engine VM on this host down; returns once it is down. Outside global \
maintenance the agents start it again, here or elsewhere.

hosted-engine --vm-status --remote=root@host2 --json
The status as host2 sees it, over SSH.

hosted-engine --set-shared-config email.smtp-password - --type=broker < secret
Set the mail password from a file, never on the command line.";

const HE_JSON: &str = "\
--vm-status --json: one line, the reference's shape: each host id (a string key) \
maps to host-id, host-ts, score, engine-status (vm, health, detail, reason), hostname, \
maintenance, stopped, crc32, conf_on_shared_storage, local_conf_timestamp, extra (its \
key=value lines, each with one =: state=, lease=, lease-epoch=, seq=, gateway=, \
score-detail=, watchdog=, wall-clock=), live-data; then global_maintenance. Errors are \
one JSON object with error and error-kind.

--history --json: one object: events (each with time, unix-ms, host-id, seq, kind, \
text; kind is agent, transition, lease, vm, fence, request, maintenance, storage or \
score) and unreadable (host-id, error).

--vm-status --format=openmetrics: the cluster's metrics for Prometheus (docs: \
operations guide, Monitoring).";

const HE_LOGS: &str = "\
The agent logs to the journal: journalctl -u ovirt-ha-agent (-p warning for trouble \
only). The cluster's history of events, from every host: hosted-engine --history.";

const SEE_ALSO_HE: &str = "ovirt-ha-agent(8), he-lab(1), journalctl(1); the operator's guide \
/usr/share/doc/hosted-engine/operations.md.";
const SEE_ALSO_AGENT: &str = "hosted-engine(8), he-lab(1), systemd.service(5); the operator's \
guide /usr/share/doc/hosted-engine/operations.md.";
const SEE_ALSO_LAB: &str = "hosted-engine(8), ovirt-ha-agent(8).";

const AGENT_FILES: &str = "\
/etc/ovirt-hosted-engine/hosted-engine.conf, /etc/ovirt-hosted-engine-ha/agent.conf, \
/var/lib/ovirt-hosted-engine-ha/ha.conf, /var/lib/ovirt-hosted-engine-ha/broker.conf: \
the configuration (moved by the options or their environment variables).
/run/ovirt-hosted-engine-ha/agent.sock: the control socket (mode 0660).
/var/lib/ovirt-hosted-engine-ha/lease-epoch: the highest engine VM lease epoch this host used.
/var/lib/ovirt-hosted-engine-ha/engine-vm.json, engine-vm.log: the process driver's VM \
record and output.";

/// Every generated file: its path relative to the repository root and its
/// bytes.
pub fn render_all() -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for program in Program::ALL {
        files.push((
            PathBuf::from(format!("man/{}.{}", program.name(), program.section())),
            man_page(program),
        ));
    }
    for program in Program::ALL {
        let name = program.name();
        for (shell, file) in [
            (Shell::Bash, format!("{name}.bash")),
            (Shell::Zsh, format!("_{name}")),
            (Shell::Fish, format!("{name}.fish")),
        ] {
            // hosted-engine's first argument is its command and the rest are
            // that command's options: its completions are written from its
            // command table (clap's would offer every option everywhere).
            let out = match program {
                Program::HostedEngine => he_completion(shell).into_bytes(),
                Program::Agent | Program::Lab => {
                    let mut out = Vec::new();
                    clap_complete::generate(shell, &mut program.command(), name, &mut out);
                    out
                }
            };
            files.push((PathBuf::from(format!("completions/{file}")), out));
        }
    }
    files
}

/// The words `hosted-engine`'s first argument may be: `--help`,
/// `--version` and every command.
fn he_first_words() -> Vec<String> {
    let mut words = vec!["--help".to_owned(), "--version".to_owned()];
    words.extend(spec::COMMANDS.iter().map(|c| c.name.to_owned()));
    words
}

/// A command's options as typed, `--name` or `--name=` (one that takes a
/// value), and `--help`.
fn he_option_words(c: &spec::CommandSpec) -> Vec<String> {
    use spec::Value;
    let mut words: Vec<String> = c
        .all_options()
        .map(|o| match o.value {
            Value::None | Value::Optional(_) => format!("--{}", o.name),
            Value::Required(_) => format!("--{}=", o.name),
        })
        .collect();
    words.push("--help".to_owned());
    words
}

/// `hosted-engine`'s completion for `shell`: the commands first, then only
/// the options of the command typed, with the fixed values of an option.
fn he_completion(shell: Shell) -> String {
    let commands = spec::COMMANDS;
    let mut out = String::new();
    let header = "hosted-engine: the command first, then only that command's options \
                  (generated from its command table by src/docs.rs)";
    match shell {
        Shell::Bash => {
            out.push_str(&format!("# bash completion for {header}\n"));
            out.push_str("_hosted_engine() {\n");
            out.push_str("    local cur=${COMP_WORDS[COMP_CWORD]} opts=\"\"\n");
            out.push_str("    if [[ $COMP_CWORD -eq 1 ]]; then\n");
            out.push_str(&format!(
                "        COMPREPLY=($(compgen -W \"{}\" -- \"$cur\"))\n        return\n    fi\n",
                he_first_words().join(" ")
            ));
            out.push_str("    case ${COMP_WORDS[1]} in\n");
            for c in commands {
                out.push_str(&format!(
                    "        {}) opts=\"{}\" ;;\n",
                    c.name,
                    he_option_words(c).join(" ")
                ));
            }
            out.push_str("    esac\n");
            // Fixed values after `--name=`.
            out.push_str("    case $cur in\n");
            let mut seen = Vec::new();
            for o in commands.iter().flat_map(|c| c.all_options()) {
                if o.choices.is_empty() || seen.contains(&o.name) {
                    continue;
                }
                seen.push(o.name);
                let values: Vec<String> = o
                    .choices
                    .iter()
                    .map(|v| format!("--{}={v}", o.name))
                    .collect();
                out.push_str(&format!(
                    "        --{}=*) opts=\"{}\" ;;\n",
                    o.name,
                    values.join(" ")
                ));
            }
            out.push_str("    esac\n");
            out.push_str("    COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n");
            out.push_str(
                "    if [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *= ]]; then compopt -o nospace; fi\n",
            );
            out.push_str("}\ncomplete -F _hosted_engine hosted-engine\n");
        }
        Shell::Zsh => {
            out.push_str(&format!(
                "#compdef hosted-engine\n# zsh completion for {header}\n"
            ));
            out.push_str("_hosted_engine() {\n");
            out.push_str("    if (( CURRENT == 2 )); then\n");
            out.push_str(&format!(
                "        compadd -- {}\n        return\n    fi\n",
                he_first_words().join(" ")
            ));
            out.push_str("    case ${words[2]} in\n");
            for c in commands {
                let mut specs = Vec::new();
                for o in c.all_options() {
                    let help = o.help.replace('\'', "'\\''").replace(['[', ']', ':'], " ");
                    let help: String = help.chars().take(70).collect();
                    let spec = match (o.value, o.choices.is_empty()) {
                        (spec::Value::None, _) => format!("'--{}[{help}]'", o.name),
                        (_, false) => {
                            format!("'--{}=[{help}]:value:({})'", o.name, o.choices.join(" "))
                        }
                        (_, true) => format!("'--{}=[{help}]:value:'", o.name),
                    };
                    specs.push(spec);
                }
                specs.push("'--help[Show the command'\\''s help]'".to_owned());
                out.push_str(&format!(
                    "        {}) _arguments -s {} ;;\n",
                    c.name,
                    specs.join(" ")
                ));
            }
            out.push_str("    esac\n}\n_hosted_engine \"$@\"\n");
        }
        _ => {
            out.push_str(&format!("# fish completion for {header}\n"));
            out.push_str("function __hosted_engine_command\n    set -l words (commandline -opc)\n    echo $words[2]\nend\n");
            out.push_str(
                "function __hosted_engine_first\n    test (count (commandline -opc)) -eq 1\nend\n",
            );
            out.push_str("complete -c hosted-engine -f\n");
            for word in he_first_words() {
                let summary = commands
                    .iter()
                    .find(|c| c.name == word)
                    .map_or("", |c| c.summary);
                out.push_str(&format!(
                    "complete -c hosted-engine -n __hosted_engine_first -a '{word}' -d '{}'\n",
                    summary.replace('\'', "\\'")
                ));
            }
            for c in commands {
                for o in c.all_options() {
                    let word = match o.value {
                        spec::Value::Required(_) => format!("--{}=", o.name),
                        _ => format!("--{}", o.name),
                    };
                    let help: String = o.help.chars().take(80).collect();
                    out.push_str(&format!(
                        "complete -c hosted-engine -n 'test (__hosted_engine_command) = {}' -a '{word}' -d '{}'\n",
                        c.name,
                        help.replace('\'', "\\'")
                    ));
                    for v in o.choices {
                        out.push_str(&format!(
                            "complete -c hosted-engine -n 'test (__hosted_engine_command) = {}' -a '--{}={v}'\n",
                            c.name, o.name
                        ));
                    }
                }
            }
        }
    }
    out
}

fn man_page(program: Program) -> Vec<u8> {
    let cmd = program.command();
    let man = clap_mangen::Man::new(cmd.clone())
        .section(program.section())
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
    roff_section(&mut out, "EXIT STATUS", program.exit_status());
    if program == Program::HostedEngine {
        roff_section(&mut out, "ENVIRONMENT", spec::ENVIRONMENT);
        let mut commands = String::new();
        for c in spec::COMMANDS {
            commands.push_str(&format!("{}\n{}\n\n", c.synopsis(), c.help));
        }
        roff_section(&mut out, "COMMANDS", &commands);
        roff_section(&mut out, "JSON", HE_JSON);
        roff_section(&mut out, "EXAMPLES", HE_EXAMPLES);
    }
    if program != Program::Lab {
        roff_section(&mut out, "LOGS", HE_LOGS);
    }
    if let Some(files) = program.files() {
        roff_section(&mut out, "FILES", files);
    }
    roff_section(&mut out, "SEE ALSO", program.see_also());
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
