# bash completion for hosted-engine: the command first, then only that command's options (generated from its command table by src/docs.rs)
_hosted_engine() {
    local cur=${COMP_WORDS[COMP_CWORD]} opts=""
    if [[ $COMP_CWORD -eq 1 ]]; then
        COMPREPLY=($(compgen -W "--help --version --deploy --vm-status --history --vm-start --vm-start-paused --vm-shutdown --vm-poweroff --set-maintenance --check-liveliness --check-deployed --check-fencing --connect-storage --disconnect-storage --console --add-console-password --set-shared-config --get-shared-config --reinitialize-lockspace --clean-metadata" -- "$cur"))
        return
    fi
    case ${COMP_WORDS[1]} in
        --deploy) opts="--add-host --answer-file= --generate-answer= --dry-run --storage= --domain-type= --sd-uuid= --mnt-root= --fqdn= --gateway= --network-test= --hostname= --vm-driver= --vm-xml= --vm-command= --watchdog-device= --watchdog-timeout-secs= --watchdog-none-i-accept-split-brain --agent-conf= --fencing-conf= --fence-passwords= --no-enable-agent --force --help" ;;
        --vm-status) opts="--json --format= --explain --watch --remote= --remote-identity= --remote-known-hosts= --remote-accept-new-host-key --remote-command= --remote-ssh-config= --remote-timeout= --help" ;;
        --history) opts="--since= --host= --json --remote= --remote-identity= --remote-known-hosts= --remote-accept-new-host-key --remote-command= --remote-ssh-config= --remote-timeout= --help" ;;
        --vm-start) opts="--vm-conf= --no-wait --help" ;;
        --vm-start-paused) opts="--no-wait --help" ;;
        --vm-shutdown) opts="--force --no-wait --help" ;;
        --vm-poweroff) opts="--force --no-wait --help" ;;
        --set-maintenance) opts="--mode= --help" ;;
        --check-liveliness) opts="--remote= --remote-identity= --remote-known-hosts= --remote-accept-new-host-key --remote-command= --remote-ssh-config= --remote-timeout= --help" ;;
        --check-deployed) opts="--remote= --remote-identity= --remote-known-hosts= --remote-accept-new-host-key --remote-command= --remote-ssh-config= --remote-timeout= --help" ;;
        --check-fencing) opts="--json --remote= --remote-identity= --remote-known-hosts= --remote-accept-new-host-key --remote-command= --remote-ssh-config= --remote-timeout= --help" ;;
        --connect-storage) opts="--help" ;;
        --disconnect-storage) opts="--help" ;;
        --console) opts="--help" ;;
        --add-console-password) opts="--password= --help" ;;
        --set-shared-config) opts="--type= --help" ;;
        --get-shared-config) opts="--type= --remote= --remote-identity= --remote-known-hosts= --remote-accept-new-host-key --remote-command= --remote-ssh-config= --remote-timeout= --help" ;;
        --reinitialize-lockspace) opts="--force --help" ;;
        --clean-metadata) opts="--host-id= --force-cleanup --help" ;;
    esac
    case $cur in
        --domain-type=*) opts="--domain-type=nfs --domain-type=nfs3 --domain-type=nfs4 --domain-type=glusterfs --domain-type=posixfs --domain-type=dir" ;;
        --network-test=*) opts="--network-test=ping --network-test=dns --network-test=tcp --network-test=none" ;;
        --vm-driver=*) opts="--vm-driver=libvirt --vm-driver=process" ;;
        --format=*) opts="--format=text --format=json --format=table --format=openmetrics" ;;
        --mode=*) opts="--mode=global --mode=local --mode=none" ;;
        --type=*) opts="--type=he_local --type=he_shared --type=ha --type=broker" ;;
    esac
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    if [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *= ]]; then compopt -o nospace; fi
}
complete -F _hosted_engine hosted-engine
