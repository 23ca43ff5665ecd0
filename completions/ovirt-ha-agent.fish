complete -c ovirt-ha-agent -l config-root -d 'Directory under which every default path is placed (for labs and tests)' -r -F
complete -c ovirt-ha-agent -l he-conf -d 'hosted-engine.conf [default: /etc/ovirt-hosted-engine/hosted-engine.conf]' -r -F
complete -c ovirt-ha-agent -l agent-conf -d 'agent.conf [default: /etc/ovirt-hosted-engine-ha/agent.conf]' -r -F
complete -c ovirt-ha-agent -l ha-conf -d 'ha.conf (local maintenance) [default: <state-dir>/ha.conf]' -r -F
complete -c ovirt-ha-agent -l broker-conf -d 'broker.conf (notifications) [default: <state-dir>/broker.conf]' -r -F
complete -c ovirt-ha-agent -l runtime-dir -d 'Run-time directory for sockets [default: /run/ovirt-hosted-engine-ha]' -r -F
complete -c ovirt-ha-agent -l state-dir -d 'State directory [default: /var/lib/ovirt-hosted-engine-ha]' -r -F
complete -c ovirt-ha-agent -l check-config -d 'Load and validate every configuration file, print any problems (one per line, file:line: key: message) and exit'
complete -c ovirt-ha-agent -l keep-lease -d 'Run as the lease keeper of this host\'s cleanly stopped agent (the agent starts it when it stops while its engine VM runs): renew the lease and pet the watchdog, power the VM off if the lease cannot be renewed, and hand the lease back to the agent when it starts again (SIGTERM)'
complete -c ovirt-ha-agent -s h -l help -d 'Print help (see more with \'--help\')'
complete -c ovirt-ha-agent -s V -l version -d 'Print version'
