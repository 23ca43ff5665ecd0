# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_he_lab_global_optspecs
    string join \n dir= h/help V/version
end

function __fish_he_lab_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_he_lab_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_he_lab_using_subcommand
    set -l cmd (__fish_he_lab_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c he-lab -n "__fish_he_lab_needs_command" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_needs_command" -s h -l help -d 'Print help'
complete -c he-lab -n "__fish_he_lab_needs_command" -s V -l version -d 'Print version'
complete -c he-lab -n "__fish_he_lab_needs_command" -f -a "demo" -d 'Start a three-host lab (no root needed), show its status table, kill the engine VM and narrate the recovery as it happens with the time it took, then restore and tear everything down (also on Ctrl-C). Uses its own directory under $TMPDIR (not --dir) and removes it'
complete -c he-lab -n "__fish_he_lab_needs_command" -f -a "bench-failover" -d 'For each test-plan case, the time from the fault to a healthy engine on a real three-host lab (a fresh lab per run): median and worst of --runs, next to what the lease timings allow. A Markdown section on stdout, progress on stderr. Uses its own directory under $TMPDIR (not --dir)'
complete -c he-lab -n "__fish_he_lab_needs_command" -f -a "volume" -d 'Work with a shared metadata volume file'
complete -c he-lab -n "__fish_he_lab_needs_command" -f -a "sim" -d 'The deterministic cluster simulator: scenarios and fault fuzzing'
complete -c he-lab -n "__fish_he_lab_needs_command" -f -a "engine" -d 'The engine VM payload for the `process` driver: serves the engine\'s health page (`DB Up!Welcome to Health Status!`) until SIGTERM, appends a canary line to --canary every 100 ms, obeys faults in --control'
complete -c he-lab -n "__fish_he_lab_needs_command" -f -a "up" -d 'Start a lab: N hosts\' agents on shared storage, supervised, with the engine payload as the VM; returns once every agent answers'
complete -c he-lab -n "__fish_he_lab_needs_command" -f -a "down" -d 'Stop everything of a lab and remove it (also after a crash of he-lab or its supervisor)'
complete -c he-lab -n "__fish_he_lab_needs_command" -f -a "status" -d 'The lab\'s ground truth: agents, lease keepers, engine payloads, power, faults'
complete -c he-lab -n "__fish_he_lab_needs_command" -f -a "fault" -d 'Inject a fault into a running lab; a verb given no host acts on the host running the engine VM'
complete -c he-lab -n "__fish_he_lab_needs_command" -f -a "heal" -d 'Undo every fault: networks up, storage back, slot writers stopped, VM managers unwedged, paused agents resumed, stopped agents started, BMCs answering truthfully with the right password, powered-off hosts booted'
complete -c he-lab -n "__fish_he_lab_needs_command" -f -a "logs" -d 'Show the supervisor\'s, agents\' and engine payloads\' logs'
complete -c he-lab -n "__fish_he_lab_needs_command" -f -a "exec" -d 'Run a command as a lab host (its configuration; under netns its namespaces)'
complete -c he-lab -n "__fish_he_lab_needs_command" -f -a "canary-check" -d 'Check an engine canary file: no two payloads at once, epochs never back'
complete -c he-lab -n "__fish_he_lab_needs_command" -f -a "supervise" -d '(internal) The lab\'s supervisor, started by `up`'
complete -c he-lab -n "__fish_he_lab_needs_command" -f -a "storage-connect" -d '(internal) The agents\' storage connect command'
complete -c he-lab -n "__fish_he_lab_needs_command" -f -a "power-sentinel" -d '(internal) A host\'s power sentinel, what its BMC\'s power-on runs'
complete -c he-lab -n "__fish_he_lab_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c he-lab -n "__fish_he_lab_using_subcommand demo" -l isolation -d 'none (loopback, no root) or netns (root: network namespaces)' -r -f -a "none\t'Plain processes on loopback addresses; no root needed'
netns\t'A network and a mount namespace per host, a bridged switch (root)'"
complete -c he-lab -n "__fish_he_lab_using_subcommand demo" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand demo" -l fencing -d 'A simulated BMC per host and the agents fencing through them (as `up --fencing`); then, after the engine VM\'s kill, the engine\'s host crashes and another host fences it through its BMC (needs the openipmi, fence-agents and ipmitool packages)'
complete -c he-lab -n "__fish_he_lab_using_subcommand demo" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c he-lab -n "__fish_he_lab_using_subcommand bench-failover" -l profile -d 'The agents\' timings' -r -f -a "fast\t'Every timer short (a loop per second, the lease expires after 7 s), every lease rule kept: for tests and the demo'
default\t'The project\'s defaults (`Timings::default()`: a 2 s loop, the lease expires after 40 s)'"
complete -c he-lab -n "__fish_he_lab_using_subcommand bench-failover" -l isolation -d 'netns (root) or none [default: netns for root, none otherwise]' -r -f -a "none\t'Plain processes on loopback addresses; no root needed'
netns\t'A network and a mount namespace per host, a bridged switch (root)'"
complete -c he-lab -n "__fish_he_lab_using_subcommand bench-failover" -l runs -d 'Runs per case' -r
complete -c he-lab -n "__fish_he_lab_using_subcommand bench-failover" -l cases -d 'Test plan cases to measure, e.g. `1,3,6` [default: 1 to 8]' -r
complete -c he-lab -n "__fish_he_lab_using_subcommand bench-failover" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand bench-failover" -l fencing -d 'Labs with a simulated BMC per host, the agents fencing through them (as `up --fencing`)'
complete -c he-lab -n "__fish_he_lab_using_subcommand bench-failover" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c he-lab -n "__fish_he_lab_using_subcommand volume; and not __fish_seen_subcommand_from demo init fill dump help" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand volume; and not __fish_seen_subcommand_from demo init fill dump help" -s h -l help -d 'Print help'
complete -c he-lab -n "__fish_he_lab_using_subcommand volume; and not __fish_seen_subcommand_from demo init fill dump help" -f -a "demo" -d 'Build a three-host shared metadata volume in a temporary directory through the real codec and store, read it back and show each host\'s slot; removes the directory afterwards'
complete -c he-lab -n "__fish_he_lab_using_subcommand volume; and not __fish_seen_subcommand_from demo init fill dump help" -f -a "init" -d 'Create a zeroed metadata volume (4096 x 2001 bytes); refuses to wipe one that holds metadata unless --force'
complete -c he-lab -n "__fish_he_lab_using_subcommand volume; and not __fish_seen_subcommand_from demo init fill dump help" -f -a "fill" -d 'Write static host slots (hosts whose agents are not running), e.g. to make a 250-host area for a benchmark'
complete -c he-lab -n "__fish_he_lab_using_subcommand volume; and not __fish_seen_subcommand_from demo init fill dump help" -f -a "dump" -d 'Decode every slot of a volume and show it, or the slot\'s own error'
complete -c he-lab -n "__fish_he_lab_using_subcommand volume; and not __fish_seen_subcommand_from demo init fill dump help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c he-lab -n "__fish_he_lab_using_subcommand volume; and __fish_seen_subcommand_from demo" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand volume; and __fish_seen_subcommand_from demo" -s h -l help -d 'Print help'
complete -c he-lab -n "__fish_he_lab_using_subcommand volume; and __fish_seen_subcommand_from init" -l timeout-secs -d 'Give up after this many seconds if the storage does not answer' -r
complete -c he-lab -n "__fish_he_lab_using_subcommand volume; and __fish_seen_subcommand_from init" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand volume; and __fish_seen_subcommand_from init" -l force -d 'Wipe the metadata area even if it holds host slots'
complete -c he-lab -n "__fish_he_lab_using_subcommand volume; and __fish_seen_subcommand_from init" -s h -l help -d 'Print help'
complete -c he-lab -n "__fish_he_lab_using_subcommand volume; and __fish_seen_subcommand_from fill" -l from -d 'First host id to write' -r
complete -c he-lab -n "__fish_he_lab_using_subcommand volume; and __fish_seen_subcommand_from fill" -l count -d 'How many host slots to write' -r
complete -c he-lab -n "__fish_he_lab_using_subcommand volume; and __fish_seen_subcommand_from fill" -l timeout-secs -d 'Give up after this many seconds if the storage does not answer' -r
complete -c he-lab -n "__fish_he_lab_using_subcommand volume; and __fish_seen_subcommand_from fill" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand volume; and __fish_seen_subcommand_from fill" -s h -l help -d 'Print help'
complete -c he-lab -n "__fish_he_lab_using_subcommand volume; and __fish_seen_subcommand_from dump" -l format -d 'Output format' -r -f -a "text\t'One line per slot'
json\t'One JSON object: `global` and `hosts` keyed by host id'"
complete -c he-lab -n "__fish_he_lab_using_subcommand volume; and __fish_seen_subcommand_from dump" -l timeout-secs -d 'Give up after this many seconds if the storage does not answer' -r
complete -c he-lab -n "__fish_he_lab_using_subcommand volume; and __fish_seen_subcommand_from dump" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand volume; and __fish_seen_subcommand_from dump" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c he-lab -n "__fish_he_lab_using_subcommand volume; and __fish_seen_subcommand_from help" -f -a "demo" -d 'Build a three-host shared metadata volume in a temporary directory through the real codec and store, read it back and show each host\'s slot; removes the directory afterwards'
complete -c he-lab -n "__fish_he_lab_using_subcommand volume; and __fish_seen_subcommand_from help" -f -a "init" -d 'Create a zeroed metadata volume (4096 x 2001 bytes); refuses to wipe one that holds metadata unless --force'
complete -c he-lab -n "__fish_he_lab_using_subcommand volume; and __fish_seen_subcommand_from help" -f -a "fill" -d 'Write static host slots (hosts whose agents are not running), e.g. to make a 250-host area for a benchmark'
complete -c he-lab -n "__fish_he_lab_using_subcommand volume; and __fish_seen_subcommand_from help" -f -a "dump" -d 'Decode every slot of a volume and show it, or the slot\'s own error'
complete -c he-lab -n "__fish_he_lab_using_subcommand volume; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c he-lab -n "__fish_he_lab_using_subcommand sim; and not __fish_seen_subcommand_from run fuzz help" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand sim; and not __fish_seen_subcommand_from run fuzz help" -s h -l help -d 'Print help'
complete -c he-lab -n "__fish_he_lab_using_subcommand sim; and not __fish_seen_subcommand_from run fuzz help" -f -a "run" -d 'Run one scenario file, or one fuzz seed, and print its log. Exit 1 when an invariant broke or a check failed'
complete -c he-lab -n "__fish_he_lab_using_subcommand sim; and not __fish_seen_subcommand_from run fuzz help" -f -a "fuzz" -d 'Run seeds FROM..FROM+SEEDS of the fault fuzzer: each one simulated hour of random overlapping faults, then everything healed and a bounded wait for exactly one healthy engine. Exit 1 when any seed fails'
complete -c he-lab -n "__fish_he_lab_using_subcommand sim; and not __fish_seen_subcommand_from run fuzz help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c he-lab -n "__fish_he_lab_using_subcommand sim; and __fish_seen_subcommand_from run" -l scenario -d 'A scenario file (see tests/scenarios/)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand sim; and __fish_seen_subcommand_from run" -l seed -d 'A fuzz seed to replay' -r
complete -c he-lab -n "__fish_he_lab_using_subcommand sim; and __fish_seen_subcommand_from run" -l timings -d 'The timings a seed runs on (a scenario sets its own)' -r -f -a "reference\t'The reference\'s ([`Timings::reference`]), as the scenarios'
default\t'The project\'s defaults ([`Timings::default`])'"
complete -c he-lab -n "__fish_he_lab_using_subcommand sim; and __fish_seen_subcommand_from run" -l defect -d 'Break the lease on purpose (to see the checkers fail)' -r -f -a "skip-settle\t'Win a lease claim without the settle re-read'
expire-immediately\t'Treat other hosts\' leases as expired at once'
release-before-down\t'Publish `none` when fencing, before the VM is confirmed down'
ignore-sequence\t'Take a slot whose write sequence went back (a late write) for news'
unchecked-epoch\t'Take any epoch from storage and add to it wrapping'
take-unconfirmed-fence\t'Power fencing (with --fencing): take the lease whatever the fence\'s outcome'
fence-publishing\t'Power fencing (with --fencing): fence a holder whether it is silent or not'
take-over-early\t'Hand-over: take the lease as soon as a claim made to take it over settles, while the holder\'s engine VM may still shut down'"
complete -c he-lab -n "__fish_he_lab_using_subcommand sim; and __fish_seen_subcommand_from run" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand sim; and __fish_seen_subcommand_from run" -l fencing -d 'Replay a seed of `fuzz --fencing`: every host with a fence device'
complete -c he-lab -n "__fish_he_lab_using_subcommand sim; and __fish_seen_subcommand_from run" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c he-lab -n "__fish_he_lab_using_subcommand sim; and __fish_seen_subcommand_from fuzz" -l seeds -d 'How many seeds' -r
complete -c he-lab -n "__fish_he_lab_using_subcommand sim; and __fish_seen_subcommand_from fuzz" -l from -d 'The first seed' -r
complete -c he-lab -n "__fish_he_lab_using_subcommand sim; and __fish_seen_subcommand_from fuzz" -l timings -d 'The timings every seed runs on' -r -f -a "reference\t'The reference\'s ([`Timings::reference`]), as the scenarios'
default\t'The project\'s defaults ([`Timings::default`])'"
complete -c he-lab -n "__fish_he_lab_using_subcommand sim; and __fish_seen_subcommand_from fuzz" -l defect -d 'Break the lease on purpose (to see the checkers fail)' -r -f -a "skip-settle\t'Win a lease claim without the settle re-read'
expire-immediately\t'Treat other hosts\' leases as expired at once'
release-before-down\t'Publish `none` when fencing, before the VM is confirmed down'
ignore-sequence\t'Take a slot whose write sequence went back (a late write) for news'
unchecked-epoch\t'Take any epoch from storage and add to it wrapping'
take-unconfirmed-fence\t'Power fencing (with --fencing): take the lease whatever the fence\'s outcome'
fence-publishing\t'Power fencing (with --fencing): fence a holder whether it is silent or not'
take-over-early\t'Hand-over: take the lease as soon as a claim made to take it over settles, while the holder\'s engine VM may still shut down'"
complete -c he-lab -n "__fish_he_lab_using_subcommand sim; and __fish_seen_subcommand_from fuzz" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand sim; and __fish_seen_subcommand_from fuzz" -l fencing -d 'Power fencing: every host with a fence device, drawn from the seed (fence-after, latency, devices that fail, hang or do not confirm)'
complete -c he-lab -n "__fish_he_lab_using_subcommand sim; and __fish_seen_subcommand_from fuzz" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c he-lab -n "__fish_he_lab_using_subcommand sim; and __fish_seen_subcommand_from help" -f -a "run" -d 'Run one scenario file, or one fuzz seed, and print its log. Exit 1 when an invariant broke or a check failed'
complete -c he-lab -n "__fish_he_lab_using_subcommand sim; and __fish_seen_subcommand_from help" -f -a "fuzz" -d 'Run seeds FROM..FROM+SEEDS of the fault fuzzer: each one simulated hour of random overlapping faults, then everything healed and a bounded wait for exactly one healthy engine. Exit 1 when any seed fails'
complete -c he-lab -n "__fish_he_lab_using_subcommand sim; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c he-lab -n "__fish_he_lab_using_subcommand engine" -l listen -d 'Address and port to serve on' -r
complete -c he-lab -n "__fish_he_lab_using_subcommand engine" -l canary -d 'The canary file on the shared storage' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand engine" -l host -d 'The host name written in canary lines [default: host<HE_HOST_ID>]' -r
complete -c he-lab -n "__fish_he_lab_using_subcommand engine" -l control -d 'Faults inside the VM: network-down, engine-stop, db-down (emptied at boot)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand engine" -l lab-id -d 'The lab this payload belongs to (how the lab finds it)' -r
complete -c he-lab -n "__fish_he_lab_using_subcommand engine" -l vm-address -d 'A network namespace of its own with this address (root), e.g. 10.77.0.100/24' -r
complete -c he-lab -n "__fish_he_lab_using_subcommand engine" -l vm-bridge -d 'The host bridge its veth joins' -r
complete -c he-lab -n "__fish_he_lab_using_subcommand engine" -l vm-port-lock -d 'Held locked (FILE.lock) while the VM\'s port on the bridge exists, so that the lab removes the port of a VM that was killed' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand engine" -l shutdown-secs -d 'Seconds the guest takes to shut down after SIGTERM (up to 600)' -r
complete -c he-lab -n "__fish_he_lab_using_subcommand engine" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand engine" -s h -l help -d 'Print help'
complete -c he-lab -n "__fish_he_lab_using_subcommand up" -l hosts -d 'How many hosts' -r
complete -c he-lab -n "__fish_he_lab_using_subcommand up" -l isolation -d 'netns (root: namespaces, bridges, mounts) or none (loopback, no root) [default: netns for root, none otherwise]' -r -f -a "none\t'Plain processes on loopback addresses; no root needed'
netns\t'A network and a mount namespace per host, a bridged switch (root)'"
complete -c he-lab -n "__fish_he_lab_using_subcommand up" -l profile -d 'The agents\' timings' -r -f -a "fast\t'Every timer short (a loop per second, the lease expires after 7 s), every lease rule kept: for tests and the demo'
default\t'The project\'s defaults (`Timings::default()`: a 2 s loop, the lease expires after 40 s)'"
complete -c he-lab -n "__fish_he_lab_using_subcommand up" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand up" -l deploy -d 'Configure the hosts as an operator would: `hosted-engine --deploy` on host1, then `hosted-engine --deploy --add-host` on the others at once'
complete -c he-lab -n "__fish_he_lab_using_subcommand up" -l fencing -d 'A simulated BMC per host (OpenIPMI\'s ipmi_sim, wired to the host\'s power) and the cluster\'s fencing.conf: the agents power a silent holder off through its BMC with fence_ipmilan. Needs the openipmi, fence-agents and ipmitool packages'
complete -c he-lab -n "__fish_he_lab_using_subcommand up" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c he-lab -n "__fish_he_lab_using_subcommand down" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand down" -l keep -d 'Keep the directory (configuration, logs, storage)'
complete -c he-lab -n "__fish_he_lab_using_subcommand down" -s h -l help -d 'Print help'
complete -c he-lab -n "__fish_he_lab_using_subcommand status" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand status" -l json -d 'As JSON'
complete -c he-lab -n "__fish_he_lab_using_subcommand status" -s h -l help -d 'Print help'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and not __fish_seen_subcommand_from engine-network-down engine-stop engine-db-down vm-kill host-network-down storage-unmount storage-lost storage-readonly host-crash agent-kill all-network-down agent-pause partition agent-stop agent-start vm-manager-wedge slot-garbage slot-wipe slot-hostile late-write agent-pause-unfenced bmc-unreachable bmc-wrong-credentials bmc-lies help" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and not __fish_seen_subcommand_from engine-network-down engine-stop engine-db-down vm-kill host-network-down storage-unmount storage-lost storage-readonly host-crash agent-kill all-network-down agent-pause partition agent-stop agent-start vm-manager-wedge slot-garbage slot-wipe slot-hostile late-write agent-pause-unfenced bmc-unreachable bmc-wrong-credentials bmc-lies help" -s h -l help -d 'Print help'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and not __fish_seen_subcommand_from engine-network-down engine-stop engine-db-down vm-kill host-network-down storage-unmount storage-lost storage-readonly host-crash agent-kill all-network-down agent-pause partition agent-stop agent-start vm-manager-wedge slot-garbage slot-wipe slot-hostile late-write agent-pause-unfenced bmc-unreachable bmc-wrong-credentials bmc-lies help" -f -a "engine-network-down" -d 'Test plan case 1: the network inside the engine VM stops'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and not __fish_seen_subcommand_from engine-network-down engine-stop engine-db-down vm-kill host-network-down storage-unmount storage-lost storage-readonly host-crash agent-kill all-network-down agent-pause partition agent-stop agent-start vm-manager-wedge slot-garbage slot-wipe slot-hostile late-write agent-pause-unfenced bmc-unreachable bmc-wrong-credentials bmc-lies help" -f -a "engine-stop" -d 'Test plan case 2: the engine service stops, the VM keeps running'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and not __fish_seen_subcommand_from engine-network-down engine-stop engine-db-down vm-kill host-network-down storage-unmount storage-lost storage-readonly host-crash agent-kill all-network-down agent-pause partition agent-stop agent-start vm-manager-wedge slot-garbage slot-wipe slot-hostile late-write agent-pause-unfenced bmc-unreachable bmc-wrong-credentials bmc-lies help" -f -a "engine-db-down" -d 'The engine\'s database goes down: the health page says `DB Down`'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and not __fish_seen_subcommand_from engine-network-down engine-stop engine-db-down vm-kill host-network-down storage-unmount storage-lost storage-readonly host-crash agent-kill all-network-down agent-pause partition agent-stop agent-start vm-manager-wedge slot-garbage slot-wipe slot-hostile late-write agent-pause-unfenced bmc-unreachable bmc-wrong-credentials bmc-lies help" -f -a "vm-kill" -d 'Test plan case 3: the engine VM\'s process is killed (SIGKILL)'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and not __fish_seen_subcommand_from engine-network-down engine-stop engine-db-down vm-kill host-network-down storage-unmount storage-lost storage-readonly host-crash agent-kill all-network-down agent-pause partition agent-stop agent-start vm-manager-wedge slot-garbage slot-wipe slot-hostile late-write agent-pause-unfenced bmc-unreachable bmc-wrong-credentials bmc-lies help" -f -a "host-network-down" -d 'Test plan case 4: the host\'s network goes down'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and not __fish_seen_subcommand_from engine-network-down engine-stop engine-db-down vm-kill host-network-down storage-unmount storage-lost storage-readonly host-crash agent-kill all-network-down agent-pause partition agent-stop agent-start vm-manager-wedge slot-garbage slot-wipe slot-hostile late-write agent-pause-unfenced bmc-unreachable bmc-wrong-credentials bmc-lies help" -f -a "storage-unmount" -d 'Test plan case 5: the storage is unmounted lazily (the agent may mount it again)'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and not __fish_seen_subcommand_from engine-network-down engine-stop engine-db-down vm-kill host-network-down storage-unmount storage-lost storage-readonly host-crash agent-kill all-network-down agent-pause partition agent-stop agent-start vm-manager-wedge slot-garbage slot-wipe slot-hostile late-write agent-pause-unfenced bmc-unreachable bmc-wrong-credentials bmc-lies help" -f -a "storage-lost" -d 'The storage is unmounted and cannot be mounted again until heal'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and not __fish_seen_subcommand_from engine-network-down engine-stop engine-db-down vm-kill host-network-down storage-unmount storage-lost storage-readonly host-crash agent-kill all-network-down agent-pause partition agent-stop agent-start vm-manager-wedge slot-garbage slot-wipe slot-hostile late-write agent-pause-unfenced bmc-unreachable bmc-wrong-credentials bmc-lies help" -f -a "storage-readonly" -d 'The host sees the storage read-only (netns only)'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and not __fish_seen_subcommand_from engine-network-down engine-stop engine-db-down vm-kill host-network-down storage-unmount storage-lost storage-readonly host-crash agent-kill all-network-down agent-pause partition agent-stop agent-start vm-manager-wedge slot-garbage slot-wipe slot-hostile late-write agent-pause-unfenced bmc-unreachable bmc-wrong-credentials bmc-lies help" -f -a "host-crash" -d 'Test plan case 6: the host powers off (agent and VM killed) until heal'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and not __fish_seen_subcommand_from engine-network-down engine-stop engine-db-down vm-kill host-network-down storage-unmount storage-lost storage-readonly host-crash agent-kill all-network-down agent-pause partition agent-stop agent-start vm-manager-wedge slot-garbage slot-wipe slot-hostile late-write agent-pause-unfenced bmc-unreachable bmc-wrong-credentials bmc-lies help" -f -a "agent-kill" -d 'Test plan case 7: the agent is killed (kill -9); the supervisor restarts it'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and not __fish_seen_subcommand_from engine-network-down engine-stop engine-db-down vm-kill host-network-down storage-unmount storage-lost storage-readonly host-crash agent-kill all-network-down agent-pause partition agent-stop agent-start vm-manager-wedge slot-garbage slot-wipe slot-hostile late-write agent-pause-unfenced bmc-unreachable bmc-wrong-credentials bmc-lies help" -f -a "all-network-down" -d 'Test plan case 8: every host\'s network goes down'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and not __fish_seen_subcommand_from engine-network-down engine-stop engine-db-down vm-kill host-network-down storage-unmount storage-lost storage-readonly host-crash agent-kill all-network-down agent-pause partition agent-stop agent-start vm-manager-wedge slot-garbage slot-wipe slot-hostile late-write agent-pause-unfenced bmc-unreachable bmc-wrong-credentials bmc-lies help" -f -a "agent-pause" -d 'The agent hangs (SIGSTOP) for SECS seconds, then continues (SIGCONT)'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and not __fish_seen_subcommand_from engine-network-down engine-stop engine-db-down vm-kill host-network-down storage-unmount storage-lost storage-readonly host-crash agent-kill all-network-down agent-pause partition agent-stop agent-start vm-manager-wedge slot-garbage slot-wipe slot-hostile late-write agent-pause-unfenced bmc-unreachable bmc-wrong-credentials bmc-lies help" -f -a "partition" -d 'The listed hosts are cut off from the others and from the gateway'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and not __fish_seen_subcommand_from engine-network-down engine-stop engine-db-down vm-kill host-network-down storage-unmount storage-lost storage-readonly host-crash agent-kill all-network-down agent-pause partition agent-stop agent-start vm-manager-wedge slot-garbage slot-wipe slot-hostile late-write agent-pause-unfenced bmc-unreachable bmc-wrong-credentials bmc-lies help" -f -a "agent-stop" -d 'The agent stops cleanly (SIGTERM) and stays stopped until `agent-start` or heal; a holder leaves its lease keeper running'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and not __fish_seen_subcommand_from engine-network-down engine-stop engine-db-down vm-kill host-network-down storage-unmount storage-lost storage-readonly host-crash agent-kill all-network-down agent-pause partition agent-stop agent-start vm-manager-wedge slot-garbage slot-wipe slot-hostile late-write agent-pause-unfenced bmc-unreachable bmc-wrong-credentials bmc-lies help" -f -a "agent-start" -d 'An agent stopped by `agent-stop` starts again'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and not __fish_seen_subcommand_from engine-network-down engine-stop engine-db-down vm-kill host-network-down storage-unmount storage-lost storage-readonly host-crash agent-kill all-network-down agent-pause partition agent-stop agent-start vm-manager-wedge slot-garbage slot-wipe slot-hostile late-write agent-pause-unfenced bmc-unreachable bmc-wrong-credentials bmc-lies help" -f -a "vm-manager-wedge" -d 'The VM manager wedges: the agent can neither see nor stop the engine VM, and the VM ignores SIGTERM'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and not __fish_seen_subcommand_from engine-network-down engine-stop engine-db-down vm-kill host-network-down storage-unmount storage-lost storage-readonly host-crash agent-kill all-network-down agent-pause partition agent-stop agent-start vm-manager-wedge slot-garbage slot-wipe slot-hostile late-write agent-pause-unfenced bmc-unreachable bmc-wrong-credentials bmc-lies help" -f -a "slot-garbage" -d 'A third party writes garbage over the host\'s metadata slot, again every 100 ms, for SECS seconds'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and not __fish_seen_subcommand_from engine-network-down engine-stop engine-db-down vm-kill host-network-down storage-unmount storage-lost storage-readonly host-crash agent-kill all-network-down agent-pause partition agent-stop agent-start vm-manager-wedge slot-garbage slot-wipe slot-hostile late-write agent-pause-unfenced bmc-unreachable bmc-wrong-credentials bmc-lies help" -f -a "slot-wipe" -d 'A third party zeroes the host\'s metadata slot once'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and not __fish_seen_subcommand_from engine-network-down engine-stop engine-db-down vm-kill host-network-down storage-unmount storage-lost storage-readonly host-crash agent-kill all-network-down agent-pause partition agent-stop agent-start vm-manager-wedge slot-garbage slot-wipe slot-hostile late-write agent-pause-unfenced bmc-unreachable bmc-wrong-credentials bmc-lies help" -f -a "slot-hostile" -d 'A third party writes a copy of the host\'s slot, valid checksums and all, publishing the largest epoch there is as seen'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and not __fish_seen_subcommand_from engine-network-down engine-stop engine-db-down vm-kill host-network-down storage-unmount storage-lost storage-readonly host-crash agent-kill all-network-down agent-pause partition agent-stop agent-start vm-manager-wedge slot-garbage slot-wipe slot-hostile late-write agent-pause-unfenced bmc-unreachable bmc-wrong-credentials bmc-lies help" -f -a "late-write" -d 'The host\'s slot as it is now lands again SECS seconds later, over newer writes (a write held up on its way)'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and not __fish_seen_subcommand_from engine-network-down engine-stop engine-db-down vm-kill host-network-down storage-unmount storage-lost storage-readonly host-crash agent-kill all-network-down agent-pause partition agent-stop agent-start vm-manager-wedge slot-garbage slot-wipe slot-hostile late-write agent-pause-unfenced bmc-unreachable bmc-wrong-credentials bmc-lies help" -f -a "agent-pause-unfenced" -d 'As `agent-pause`, with the host\'s watchdog suspended meanwhile: what a host without a watchdog does'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and not __fish_seen_subcommand_from engine-network-down engine-stop engine-db-down vm-kill host-network-down storage-unmount storage-lost storage-readonly host-crash agent-kill all-network-down agent-pause partition agent-stop agent-start vm-manager-wedge slot-garbage slot-wipe slot-hostile late-write agent-pause-unfenced bmc-unreachable bmc-wrong-credentials bmc-lies help" -f -a "bmc-unreachable" -d '(--fencing) The host\'s BMC stops answering (SIGSTOP): fence agents time out'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and not __fish_seen_subcommand_from engine-network-down engine-stop engine-db-down vm-kill host-network-down storage-unmount storage-lost storage-readonly host-crash agent-kill all-network-down agent-pause partition agent-stop agent-start vm-manager-wedge slot-garbage slot-wipe slot-hostile late-write agent-pause-unfenced bmc-unreachable bmc-wrong-credentials bmc-lies help" -f -a "bmc-wrong-credentials" -d '(--fencing) The host\'s BMC refuses the password fencing.conf gives: fence agents fail at once'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and not __fish_seen_subcommand_from engine-network-down engine-stop engine-db-down vm-kill host-network-down storage-unmount storage-lost storage-readonly host-crash agent-kill all-network-down agent-pause partition agent-stop agent-start vm-manager-wedge slot-garbage slot-wipe slot-hostile late-write agent-pause-unfenced bmc-unreachable bmc-wrong-credentials bmc-lies help" -f -a "bmc-lies" -d '(--fencing) The host\'s BMC lies: asked to power the host off, it reports off and leaves it running'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and not __fish_seen_subcommand_from engine-network-down engine-stop engine-db-down vm-kill host-network-down storage-unmount storage-lost storage-readonly host-crash agent-kill all-network-down agent-pause partition agent-stop agent-start vm-manager-wedge slot-garbage slot-wipe slot-hostile late-write agent-pause-unfenced bmc-unreachable bmc-wrong-credentials bmc-lies help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from engine-network-down" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from engine-network-down" -s h -l help -d 'Print help'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from engine-stop" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from engine-stop" -s h -l help -d 'Print help'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from engine-db-down" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from engine-db-down" -s h -l help -d 'Print help'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from vm-kill" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from vm-kill" -s h -l help -d 'Print help'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from host-network-down" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from host-network-down" -s h -l help -d 'Print help'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from storage-unmount" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from storage-unmount" -s h -l help -d 'Print help'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from storage-lost" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from storage-lost" -s h -l help -d 'Print help'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from storage-readonly" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from storage-readonly" -s h -l help -d 'Print help'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from host-crash" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from host-crash" -s h -l help -d 'Print help'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from agent-kill" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from agent-kill" -s h -l help -d 'Print help'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from all-network-down" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from all-network-down" -s h -l help -d 'Print help'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from agent-pause" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from agent-pause" -s h -l help -d 'Print help'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from partition" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from partition" -s h -l help -d 'Print help'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from agent-stop" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from agent-stop" -s h -l help -d 'Print help'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from agent-start" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from agent-start" -s h -l help -d 'Print help'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from vm-manager-wedge" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from vm-manager-wedge" -s h -l help -d 'Print help'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from slot-garbage" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from slot-garbage" -s h -l help -d 'Print help'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from slot-wipe" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from slot-wipe" -s h -l help -d 'Print help'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from slot-hostile" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from slot-hostile" -s h -l help -d 'Print help'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from late-write" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from late-write" -s h -l help -d 'Print help'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from agent-pause-unfenced" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from agent-pause-unfenced" -s h -l help -d 'Print help'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from bmc-unreachable" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from bmc-unreachable" -s h -l help -d 'Print help'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from bmc-wrong-credentials" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from bmc-wrong-credentials" -s h -l help -d 'Print help'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from bmc-lies" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from bmc-lies" -s h -l help -d 'Print help'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from help" -f -a "engine-network-down" -d 'Test plan case 1: the network inside the engine VM stops'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from help" -f -a "engine-stop" -d 'Test plan case 2: the engine service stops, the VM keeps running'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from help" -f -a "engine-db-down" -d 'The engine\'s database goes down: the health page says `DB Down`'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from help" -f -a "vm-kill" -d 'Test plan case 3: the engine VM\'s process is killed (SIGKILL)'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from help" -f -a "host-network-down" -d 'Test plan case 4: the host\'s network goes down'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from help" -f -a "storage-unmount" -d 'Test plan case 5: the storage is unmounted lazily (the agent may mount it again)'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from help" -f -a "storage-lost" -d 'The storage is unmounted and cannot be mounted again until heal'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from help" -f -a "storage-readonly" -d 'The host sees the storage read-only (netns only)'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from help" -f -a "host-crash" -d 'Test plan case 6: the host powers off (agent and VM killed) until heal'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from help" -f -a "agent-kill" -d 'Test plan case 7: the agent is killed (kill -9); the supervisor restarts it'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from help" -f -a "all-network-down" -d 'Test plan case 8: every host\'s network goes down'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from help" -f -a "agent-pause" -d 'The agent hangs (SIGSTOP) for SECS seconds, then continues (SIGCONT)'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from help" -f -a "partition" -d 'The listed hosts are cut off from the others and from the gateway'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from help" -f -a "agent-stop" -d 'The agent stops cleanly (SIGTERM) and stays stopped until `agent-start` or heal; a holder leaves its lease keeper running'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from help" -f -a "agent-start" -d 'An agent stopped by `agent-stop` starts again'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from help" -f -a "vm-manager-wedge" -d 'The VM manager wedges: the agent can neither see nor stop the engine VM, and the VM ignores SIGTERM'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from help" -f -a "slot-garbage" -d 'A third party writes garbage over the host\'s metadata slot, again every 100 ms, for SECS seconds'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from help" -f -a "slot-wipe" -d 'A third party zeroes the host\'s metadata slot once'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from help" -f -a "slot-hostile" -d 'A third party writes a copy of the host\'s slot, valid checksums and all, publishing the largest epoch there is as seen'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from help" -f -a "late-write" -d 'The host\'s slot as it is now lands again SECS seconds later, over newer writes (a write held up on its way)'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from help" -f -a "agent-pause-unfenced" -d 'As `agent-pause`, with the host\'s watchdog suspended meanwhile: what a host without a watchdog does'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from help" -f -a "bmc-unreachable" -d '(--fencing) The host\'s BMC stops answering (SIGSTOP): fence agents time out'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from help" -f -a "bmc-wrong-credentials" -d '(--fencing) The host\'s BMC refuses the password fencing.conf gives: fence agents fail at once'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from help" -f -a "bmc-lies" -d '(--fencing) The host\'s BMC lies: asked to power the host off, it reports off and leaves it running'
complete -c he-lab -n "__fish_he_lab_using_subcommand fault; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c he-lab -n "__fish_he_lab_using_subcommand heal" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand heal" -s h -l help -d 'Print help'
complete -c he-lab -n "__fish_he_lab_using_subcommand logs" -l tail -d 'Only the last N lines of each' -r
complete -c he-lab -n "__fish_he_lab_using_subcommand logs" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand logs" -s h -l help -d 'Print help'
complete -c he-lab -n "__fish_he_lab_using_subcommand exec" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand exec" -s h -l help -d 'Print help'
complete -c he-lab -n "__fish_he_lab_using_subcommand canary-check" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand canary-check" -l json -d 'As JSON'
complete -c he-lab -n "__fish_he_lab_using_subcommand canary-check" -s h -l help -d 'Print help'
complete -c he-lab -n "__fish_he_lab_using_subcommand supervise" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand supervise" -s h -l help -d 'Print help'
complete -c he-lab -n "__fish_he_lab_using_subcommand storage-connect" -l host -r
complete -c he-lab -n "__fish_he_lab_using_subcommand storage-connect" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand storage-connect" -s h -l help -d 'Print help'
complete -c he-lab -n "__fish_he_lab_using_subcommand power-sentinel" -l host -r
complete -c he-lab -n "__fish_he_lab_using_subcommand power-sentinel" -l dir -d 'The lab\'s directory (for the lab verbs)' -r -F
complete -c he-lab -n "__fish_he_lab_using_subcommand power-sentinel" -s h -l help -d 'Print help'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and not __fish_seen_subcommand_from demo bench-failover volume sim engine up down status fault heal logs exec canary-check supervise storage-connect power-sentinel help" -f -a "demo" -d 'Start a three-host lab (no root needed), show its status table, kill the engine VM and narrate the recovery as it happens with the time it took, then restore and tear everything down (also on Ctrl-C). Uses its own directory under $TMPDIR (not --dir) and removes it'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and not __fish_seen_subcommand_from demo bench-failover volume sim engine up down status fault heal logs exec canary-check supervise storage-connect power-sentinel help" -f -a "bench-failover" -d 'For each test-plan case, the time from the fault to a healthy engine on a real three-host lab (a fresh lab per run): median and worst of --runs, next to what the lease timings allow. A Markdown section on stdout, progress on stderr. Uses its own directory under $TMPDIR (not --dir)'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and not __fish_seen_subcommand_from demo bench-failover volume sim engine up down status fault heal logs exec canary-check supervise storage-connect power-sentinel help" -f -a "volume" -d 'Work with a shared metadata volume file'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and not __fish_seen_subcommand_from demo bench-failover volume sim engine up down status fault heal logs exec canary-check supervise storage-connect power-sentinel help" -f -a "sim" -d 'The deterministic cluster simulator: scenarios and fault fuzzing'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and not __fish_seen_subcommand_from demo bench-failover volume sim engine up down status fault heal logs exec canary-check supervise storage-connect power-sentinel help" -f -a "engine" -d 'The engine VM payload for the `process` driver: serves the engine\'s health page (`DB Up!Welcome to Health Status!`) until SIGTERM, appends a canary line to --canary every 100 ms, obeys faults in --control'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and not __fish_seen_subcommand_from demo bench-failover volume sim engine up down status fault heal logs exec canary-check supervise storage-connect power-sentinel help" -f -a "up" -d 'Start a lab: N hosts\' agents on shared storage, supervised, with the engine payload as the VM; returns once every agent answers'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and not __fish_seen_subcommand_from demo bench-failover volume sim engine up down status fault heal logs exec canary-check supervise storage-connect power-sentinel help" -f -a "down" -d 'Stop everything of a lab and remove it (also after a crash of he-lab or its supervisor)'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and not __fish_seen_subcommand_from demo bench-failover volume sim engine up down status fault heal logs exec canary-check supervise storage-connect power-sentinel help" -f -a "status" -d 'The lab\'s ground truth: agents, lease keepers, engine payloads, power, faults'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and not __fish_seen_subcommand_from demo bench-failover volume sim engine up down status fault heal logs exec canary-check supervise storage-connect power-sentinel help" -f -a "fault" -d 'Inject a fault into a running lab; a verb given no host acts on the host running the engine VM'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and not __fish_seen_subcommand_from demo bench-failover volume sim engine up down status fault heal logs exec canary-check supervise storage-connect power-sentinel help" -f -a "heal" -d 'Undo every fault: networks up, storage back, slot writers stopped, VM managers unwedged, paused agents resumed, stopped agents started, BMCs answering truthfully with the right password, powered-off hosts booted'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and not __fish_seen_subcommand_from demo bench-failover volume sim engine up down status fault heal logs exec canary-check supervise storage-connect power-sentinel help" -f -a "logs" -d 'Show the supervisor\'s, agents\' and engine payloads\' logs'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and not __fish_seen_subcommand_from demo bench-failover volume sim engine up down status fault heal logs exec canary-check supervise storage-connect power-sentinel help" -f -a "exec" -d 'Run a command as a lab host (its configuration; under netns its namespaces)'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and not __fish_seen_subcommand_from demo bench-failover volume sim engine up down status fault heal logs exec canary-check supervise storage-connect power-sentinel help" -f -a "canary-check" -d 'Check an engine canary file: no two payloads at once, epochs never back'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and not __fish_seen_subcommand_from demo bench-failover volume sim engine up down status fault heal logs exec canary-check supervise storage-connect power-sentinel help" -f -a "supervise" -d '(internal) The lab\'s supervisor, started by `up`'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and not __fish_seen_subcommand_from demo bench-failover volume sim engine up down status fault heal logs exec canary-check supervise storage-connect power-sentinel help" -f -a "storage-connect" -d '(internal) The agents\' storage connect command'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and not __fish_seen_subcommand_from demo bench-failover volume sim engine up down status fault heal logs exec canary-check supervise storage-connect power-sentinel help" -f -a "power-sentinel" -d '(internal) A host\'s power sentinel, what its BMC\'s power-on runs'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and not __fish_seen_subcommand_from demo bench-failover volume sim engine up down status fault heal logs exec canary-check supervise storage-connect power-sentinel help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and __fish_seen_subcommand_from volume" -f -a "demo" -d 'Build a three-host shared metadata volume in a temporary directory through the real codec and store, read it back and show each host\'s slot; removes the directory afterwards'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and __fish_seen_subcommand_from volume" -f -a "init" -d 'Create a zeroed metadata volume (4096 x 2001 bytes); refuses to wipe one that holds metadata unless --force'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and __fish_seen_subcommand_from volume" -f -a "fill" -d 'Write static host slots (hosts whose agents are not running), e.g. to make a 250-host area for a benchmark'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and __fish_seen_subcommand_from volume" -f -a "dump" -d 'Decode every slot of a volume and show it, or the slot\'s own error'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and __fish_seen_subcommand_from sim" -f -a "run" -d 'Run one scenario file, or one fuzz seed, and print its log. Exit 1 when an invariant broke or a check failed'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and __fish_seen_subcommand_from sim" -f -a "fuzz" -d 'Run seeds FROM..FROM+SEEDS of the fault fuzzer: each one simulated hour of random overlapping faults, then everything healed and a bounded wait for exactly one healthy engine. Exit 1 when any seed fails'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and __fish_seen_subcommand_from fault" -f -a "engine-network-down" -d 'Test plan case 1: the network inside the engine VM stops'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and __fish_seen_subcommand_from fault" -f -a "engine-stop" -d 'Test plan case 2: the engine service stops, the VM keeps running'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and __fish_seen_subcommand_from fault" -f -a "engine-db-down" -d 'The engine\'s database goes down: the health page says `DB Down`'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and __fish_seen_subcommand_from fault" -f -a "vm-kill" -d 'Test plan case 3: the engine VM\'s process is killed (SIGKILL)'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and __fish_seen_subcommand_from fault" -f -a "host-network-down" -d 'Test plan case 4: the host\'s network goes down'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and __fish_seen_subcommand_from fault" -f -a "storage-unmount" -d 'Test plan case 5: the storage is unmounted lazily (the agent may mount it again)'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and __fish_seen_subcommand_from fault" -f -a "storage-lost" -d 'The storage is unmounted and cannot be mounted again until heal'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and __fish_seen_subcommand_from fault" -f -a "storage-readonly" -d 'The host sees the storage read-only (netns only)'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and __fish_seen_subcommand_from fault" -f -a "host-crash" -d 'Test plan case 6: the host powers off (agent and VM killed) until heal'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and __fish_seen_subcommand_from fault" -f -a "agent-kill" -d 'Test plan case 7: the agent is killed (kill -9); the supervisor restarts it'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and __fish_seen_subcommand_from fault" -f -a "all-network-down" -d 'Test plan case 8: every host\'s network goes down'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and __fish_seen_subcommand_from fault" -f -a "agent-pause" -d 'The agent hangs (SIGSTOP) for SECS seconds, then continues (SIGCONT)'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and __fish_seen_subcommand_from fault" -f -a "partition" -d 'The listed hosts are cut off from the others and from the gateway'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and __fish_seen_subcommand_from fault" -f -a "agent-stop" -d 'The agent stops cleanly (SIGTERM) and stays stopped until `agent-start` or heal; a holder leaves its lease keeper running'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and __fish_seen_subcommand_from fault" -f -a "agent-start" -d 'An agent stopped by `agent-stop` starts again'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and __fish_seen_subcommand_from fault" -f -a "vm-manager-wedge" -d 'The VM manager wedges: the agent can neither see nor stop the engine VM, and the VM ignores SIGTERM'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and __fish_seen_subcommand_from fault" -f -a "slot-garbage" -d 'A third party writes garbage over the host\'s metadata slot, again every 100 ms, for SECS seconds'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and __fish_seen_subcommand_from fault" -f -a "slot-wipe" -d 'A third party zeroes the host\'s metadata slot once'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and __fish_seen_subcommand_from fault" -f -a "slot-hostile" -d 'A third party writes a copy of the host\'s slot, valid checksums and all, publishing the largest epoch there is as seen'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and __fish_seen_subcommand_from fault" -f -a "late-write" -d 'The host\'s slot as it is now lands again SECS seconds later, over newer writes (a write held up on its way)'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and __fish_seen_subcommand_from fault" -f -a "agent-pause-unfenced" -d 'As `agent-pause`, with the host\'s watchdog suspended meanwhile: what a host without a watchdog does'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and __fish_seen_subcommand_from fault" -f -a "bmc-unreachable" -d '(--fencing) The host\'s BMC stops answering (SIGSTOP): fence agents time out'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and __fish_seen_subcommand_from fault" -f -a "bmc-wrong-credentials" -d '(--fencing) The host\'s BMC refuses the password fencing.conf gives: fence agents fail at once'
complete -c he-lab -n "__fish_he_lab_using_subcommand help; and __fish_seen_subcommand_from fault" -f -a "bmc-lies" -d '(--fencing) The host\'s BMC lies: asked to power the host off, it reports off and leaves it running'
