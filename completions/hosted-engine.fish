complete -c hosted-engine -l answer-file -d 'Read the answers from <file>: key=value lines, # comments. Keys: those of hosted-engine.conf (but host_id), enable_agent (yes/no), agent_conf (a file), and broker.<section>.<key> for broker.conf. Options override the file.' -r -F
complete -c hosted-engine -l generate-answer -d 'Write the answers this deploy uses (generated ones included) to <file>, mode 0600, before deploying.' -r -F
complete -c hosted-engine -l storage -d 'The shared storage: server:/path for nfs and glusterfs, a device or path for posixfs, a directory for dir. Required.' -r
complete -c hosted-engine -l domain-type -d 'The kind of storage [default: nfs]; it must already be mounted where the agent looks for it (under --mnt-root, as vdsm mounts it).' -r -f -a "nfs\t''
nfs3\t''
nfs4\t''
glusterfs\t''
posixfs\t''
dir\t''"
complete -c hosted-engine -l sd-uuid -d 'The storage domain\'s directory on the storage [default: a new UUID on the first host; with --add-host, the one deployment found on the storage].' -r
complete -c hosted-engine -l mnt-root -d 'Where storage is mounted [default: /rhev/data-center/mnt].' -r
complete -c hosted-engine -l fqdn -d 'The engine VM\'s host name, for its health check. Required on the first host.' -r
complete -c hosted-engine -l gateway -d 'The address the network test pings (needed with network_test=ping, the default).' -r
complete -c hosted-engine -l network-test -d 'How the score tests this host\'s network [default: ping].' -r -f -a "ping\t''
dns\t''
tcp\t''
none\t''"
complete -c hosted-engine -l hostname -d 'This host\'s name in the metadata [default: the system\'s host name].' -r
complete -c hosted-engine -l vm-driver -d 'What runs the engine VM [default: libvirt with --vm-xml, else process].' -r -f -a "libvirt\t''
process\t''"
complete -c hosted-engine -l vm-xml -d 'The engine VM\'s libvirt domain XML; copied to the storage for every host.' -r -F
complete -c hosted-engine -l vm-command -d 'The engine VM as a command (vm_driver=process), split on whitespace, no shell.' -r
complete -c hosted-engine -l watchdog-device -d 'This host\'s watchdog, which resets it when its agent hangs while it holds the engine VM lease: a device such as /dev/watchdog (a hardware watchdog, e.g. iTCO_wdt or ipmi_watchdog, or the kernel\'s softdog), whose timeout the agent reads and sets at start; or none, with --watchdog-none-i-accept-split-brain. Required on every host (an added host does not take the first host\'s).' -r
complete -c hosted-engine -l watchdog-timeout-secs -d 'The timeout the agent gives the watchdog device at start [default: the device\'s own when the timings allow it, else the longest they allow].' -r
complete -c hosted-engine -l agent-conf -d 'The cluster\'s agent.conf (timings, score penalties), checked and copied to the storage; every added host takes it from there [default: every key at its default].' -r -F
complete -c hosted-engine -l format -d 'text (the reference\'s layout, the default), json, table (one row per host), or openmetrics (the cluster\'s metrics as this host sees them, for Prometheus).' -r -f -a "text\t''
json\t''
table\t''
openmetrics\t''"
complete -c hosted-engine -l watch -d 'Refresh every <secs> seconds (default 2) until interrupted; text and table redraw in place, json prints one line per refresh.' -r
complete -c hosted-engine -l remote -d 'Run the command on another host over SSH and show its answer here. The host key must already be in known_hosts (see --remote-accept-new-host-key).' -r
complete -c hosted-engine -l remote-identity -d 'Private key for --remote [default: the ssh-agent, then ~/.ssh/id_ed25519, id_ecdsa, id_rsa].' -r -F
complete -c hosted-engine -l remote-known-hosts -d 'known_hosts file for --remote [default: ~/.ssh/known_hosts].' -r -F
complete -c hosted-engine -l remote-command -d 'With --remote: the hosted-engine program on the other host [default: hosted-engine].' -r
complete -c hosted-engine -l since -d 'Only events from then on: a duration back from now (90s, 15m, 2h, 1d), Unix seconds (up to three decimals), or a local time (YYYY-MM-DD HH:MM[:SS], or HH:MM[:SS] today).' -r
complete -c hosted-engine -l host -d 'Only this host\'s events.' -r
complete -c hosted-engine -l vm-conf -d 'Not supported: the engine VM\'s definition comes from hosted-engine.conf (vm_command, or the libvirt domain XML); given, the command fails.' -r -F
complete -c hosted-engine -l mode -d 'global, local or none.' -r -f -a "global\t''
local\t''
none\t''"
complete -c hosted-engine -l password -d 'The password (visible in the process list: prefer the environment variable).' -r
complete -c hosted-engine -l type -d 'he_local, he_shared, ha or broker.' -r -f -a "he_local\t''
he_shared\t''
ha\t''
broker\t''"
complete -c hosted-engine -l host-id -d 'The host whose slot to remove [default: this host\'s host_id].' -r
complete -c hosted-engine -s h -l help -d 'Show the usage, or a command\'s help when given after it'
complete -c hosted-engine -s V -l version -d 'Show the version (as ovirt-ha-agent --version and he-lab --version)'
complete -c hosted-engine -l deploy -d 'Deploy this host: the first one, or another with --add-host'
complete -c hosted-engine -l add-host -d 'Join the deployment already on the storage: copy the cluster\'s configuration and take the lowest free host id.'
complete -c hosted-engine -l dry-run -d 'Check every answer, the storage and the metadata volume, print what would be done, change nothing (but --generate-answer\'s file).'
complete -c hosted-engine -l watchdog-none-i-accept-split-brain -d 'With --watchdog-device=none: run this host without a watchdog. A hung agent here is then not reset, and another host can start a second engine VM beside its own.'
complete -c hosted-engine -l no-enable-agent -d 'Do not run `systemctl enable --now ovirt-ha-agent.service` at the end.'
complete -c hosted-engine -l force -d 'First host: wipe a metadata volume (and host id claims) left by an earlier deployment. Never when any of its hosts is live.'
complete -c hosted-engine -l vm-status -d 'Show the status of every host and of the engine VM'
complete -c hosted-engine -l json -d 'One line of JSON in the reference\'s shape (same as --format=json).'
complete -c hosted-engine -l explain -d 'After the status: what is not known (the shared storage failing this host, unreadable slots), each host\'s score breakdown, the engine VM lease holder and epoch, and which host would start the engine VM next and why. Text: not with --json.'
complete -c hosted-engine -l remote-accept-new-host-key -d 'With --remote: trust a host key seen for the first time and add it to known_hosts. A changed key is refused all the same.'
complete -c hosted-engine -l history -d 'Show what the cluster did and why: every host\'s events, newest last'
complete -c hosted-engine -l vm-start -d 'Start the engine VM on this host'
complete -c hosted-engine -l no-wait -d 'Return once the local agent has taken the request, without waiting for its outcome.'
complete -c hosted-engine -l vm-start-paused -d 'Start the engine VM on this host, paused'
complete -c hosted-engine -l vm-shutdown -d 'Shut the engine VM on this host down gracefully'
complete -c hosted-engine -l vm-poweroff -d 'Power the engine VM on this host off'
complete -c hosted-engine -l set-maintenance -d 'Set the maintenance mode (--mode=global|local|none)'
complete -c hosted-engine -l check-liveliness -d 'Check whether the engine answers its health page'
complete -c hosted-engine -l check-deployed -d 'Tell whether the hosted engine has been deployed on this host'
complete -c hosted-engine -l connect-storage -d 'Connect the shared storage'
complete -c hosted-engine -l disconnect-storage -d 'Disconnect the shared storage'
complete -c hosted-engine -l console -d 'Open the engine VM\'s serial console'
complete -c hosted-engine -l add-console-password -d 'Set a temporary VNC password for the engine VM\'s console'
complete -c hosted-engine -l set-shared-config -d 'Set a configuration key (<key> <value> [--type=...])'
complete -c hosted-engine -l get-shared-config -d 'Show a configuration key (<key> [--type=...])'
complete -c hosted-engine -l reinitialize-lockspace -d 'Reset the engine VM lease in the shared metadata'
complete -c hosted-engine -l clean-metadata -d 'Remove a host\'s slot from the shared metadata'
complete -c hosted-engine -l force-cleanup -d 'Remove the slot even though the host looks active or its lease may still stand (it must be powered off).'
