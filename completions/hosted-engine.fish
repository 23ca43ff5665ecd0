complete -c hosted-engine -l format -d 'text (the reference\'s layout, the default), json, or table (one row per host).' -r -f -a "text\t''
json\t''
table\t''"
complete -c hosted-engine -l watch -d 'Refresh every <secs> seconds (default 2) until interrupted; text and table redraw in place, json prints one line per refresh.' -r
complete -c hosted-engine -l remote -d 'Run the command on another host over SSH and show its answer here. The host key must already be in known_hosts (see --remote-accept-new-host-key).' -r
complete -c hosted-engine -l remote-identity -d 'Private key for --remote [default: the ssh-agent, then ~/.ssh/id_ed25519, id_ecdsa, id_rsa].' -r -F
complete -c hosted-engine -l remote-known-hosts -d 'known_hosts file for --remote [default: ~/.ssh/known_hosts].' -r -F
complete -c hosted-engine -l remote-command -d 'With --remote: the hosted-engine program on the other host [default: hosted-engine].' -r
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
complete -c hosted-engine -l vm-status -d 'Show the status of every host and of the engine VM'
complete -c hosted-engine -l json -d 'One line of JSON in the reference\'s shape (same as --format=json).'
complete -c hosted-engine -l explain -d 'After the status: each host\'s score breakdown, the engine VM lease holder and epoch, and which host would start the engine VM next and why.'
complete -c hosted-engine -l remote-accept-new-host-key -d 'With --remote: trust a host key seen for the first time and add it to known_hosts. A changed key is refused all the same.'
complete -c hosted-engine -l vm-start -d 'Start the engine VM on this host'
complete -c hosted-engine -l vm-start-paused -d 'Start the engine VM on this host, paused'
complete -c hosted-engine -l vm-shutdown -d 'Shut the engine VM on this host down gracefully'
complete -c hosted-engine -l force -d 'When the local agent is down, stop the local engine VM directly.'
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
complete -c hosted-engine -l force-cleanup -d 'Remove the slot even though the host looks active.'
