_he__lab() {
    local i cur prev opts cmd
    COMPREPLY=()
    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
        cur="$2"
    else
        cur="${COMP_WORDS[COMP_CWORD]}"
    fi
    prev="$3"
    cmd=""
    opts=""

    for i in "${COMP_WORDS[@]:0:COMP_CWORD}"
    do
        case "${cmd},${i}" in
            ",$1")
                cmd="he__lab"
                ;;
            he__lab,bench-failover)
                cmd="he__lab__subcmd__bench__subcmd__failover"
                ;;
            he__lab,canary-check)
                cmd="he__lab__subcmd__canary__subcmd__check"
                ;;
            he__lab,demo)
                cmd="he__lab__subcmd__demo"
                ;;
            he__lab,down)
                cmd="he__lab__subcmd__down"
                ;;
            he__lab,engine)
                cmd="he__lab__subcmd__engine"
                ;;
            he__lab,exec)
                cmd="he__lab__subcmd__exec"
                ;;
            he__lab,fault)
                cmd="he__lab__subcmd__fault"
                ;;
            he__lab,heal)
                cmd="he__lab__subcmd__heal"
                ;;
            he__lab,help)
                cmd="he__lab__subcmd__help"
                ;;
            he__lab,logs)
                cmd="he__lab__subcmd__logs"
                ;;
            he__lab,power-sentinel)
                cmd="he__lab__subcmd__power__subcmd__sentinel"
                ;;
            he__lab,sim)
                cmd="he__lab__subcmd__sim"
                ;;
            he__lab,status)
                cmd="he__lab__subcmd__status"
                ;;
            he__lab,storage-connect)
                cmd="he__lab__subcmd__storage__subcmd__connect"
                ;;
            he__lab,supervise)
                cmd="he__lab__subcmd__supervise"
                ;;
            he__lab,up)
                cmd="he__lab__subcmd__up"
                ;;
            he__lab,volume)
                cmd="he__lab__subcmd__volume"
                ;;
            he__lab__subcmd__fault,agent-kill)
                cmd="he__lab__subcmd__fault__subcmd__agent__subcmd__kill"
                ;;
            he__lab__subcmd__fault,agent-pause)
                cmd="he__lab__subcmd__fault__subcmd__agent__subcmd__pause"
                ;;
            he__lab__subcmd__fault,agent-pause-unfenced)
                cmd="he__lab__subcmd__fault__subcmd__agent__subcmd__pause__subcmd__unfenced"
                ;;
            he__lab__subcmd__fault,agent-start)
                cmd="he__lab__subcmd__fault__subcmd__agent__subcmd__start"
                ;;
            he__lab__subcmd__fault,agent-stop)
                cmd="he__lab__subcmd__fault__subcmd__agent__subcmd__stop"
                ;;
            he__lab__subcmd__fault,all-network-down)
                cmd="he__lab__subcmd__fault__subcmd__all__subcmd__network__subcmd__down"
                ;;
            he__lab__subcmd__fault,bmc-lies)
                cmd="he__lab__subcmd__fault__subcmd__bmc__subcmd__lies"
                ;;
            he__lab__subcmd__fault,bmc-unreachable)
                cmd="he__lab__subcmd__fault__subcmd__bmc__subcmd__unreachable"
                ;;
            he__lab__subcmd__fault,bmc-wrong-credentials)
                cmd="he__lab__subcmd__fault__subcmd__bmc__subcmd__wrong__subcmd__credentials"
                ;;
            he__lab__subcmd__fault,engine-db-down)
                cmd="he__lab__subcmd__fault__subcmd__engine__subcmd__db__subcmd__down"
                ;;
            he__lab__subcmd__fault,engine-network-down)
                cmd="he__lab__subcmd__fault__subcmd__engine__subcmd__network__subcmd__down"
                ;;
            he__lab__subcmd__fault,engine-stop)
                cmd="he__lab__subcmd__fault__subcmd__engine__subcmd__stop"
                ;;
            he__lab__subcmd__fault,help)
                cmd="he__lab__subcmd__fault__subcmd__help"
                ;;
            he__lab__subcmd__fault,host-crash)
                cmd="he__lab__subcmd__fault__subcmd__host__subcmd__crash"
                ;;
            he__lab__subcmd__fault,host-network-down)
                cmd="he__lab__subcmd__fault__subcmd__host__subcmd__network__subcmd__down"
                ;;
            he__lab__subcmd__fault,late-write)
                cmd="he__lab__subcmd__fault__subcmd__late__subcmd__write"
                ;;
            he__lab__subcmd__fault,partition)
                cmd="he__lab__subcmd__fault__subcmd__partition"
                ;;
            he__lab__subcmd__fault,slot-garbage)
                cmd="he__lab__subcmd__fault__subcmd__slot__subcmd__garbage"
                ;;
            he__lab__subcmd__fault,slot-hostile)
                cmd="he__lab__subcmd__fault__subcmd__slot__subcmd__hostile"
                ;;
            he__lab__subcmd__fault,slot-wipe)
                cmd="he__lab__subcmd__fault__subcmd__slot__subcmd__wipe"
                ;;
            he__lab__subcmd__fault,storage-lost)
                cmd="he__lab__subcmd__fault__subcmd__storage__subcmd__lost"
                ;;
            he__lab__subcmd__fault,storage-readonly)
                cmd="he__lab__subcmd__fault__subcmd__storage__subcmd__readonly"
                ;;
            he__lab__subcmd__fault,storage-unmount)
                cmd="he__lab__subcmd__fault__subcmd__storage__subcmd__unmount"
                ;;
            he__lab__subcmd__fault,vm-kill)
                cmd="he__lab__subcmd__fault__subcmd__vm__subcmd__kill"
                ;;
            he__lab__subcmd__fault,vm-manager-wedge)
                cmd="he__lab__subcmd__fault__subcmd__vm__subcmd__manager__subcmd__wedge"
                ;;
            he__lab__subcmd__fault__subcmd__help,agent-kill)
                cmd="he__lab__subcmd__fault__subcmd__help__subcmd__agent__subcmd__kill"
                ;;
            he__lab__subcmd__fault__subcmd__help,agent-pause)
                cmd="he__lab__subcmd__fault__subcmd__help__subcmd__agent__subcmd__pause"
                ;;
            he__lab__subcmd__fault__subcmd__help,agent-pause-unfenced)
                cmd="he__lab__subcmd__fault__subcmd__help__subcmd__agent__subcmd__pause__subcmd__unfenced"
                ;;
            he__lab__subcmd__fault__subcmd__help,agent-start)
                cmd="he__lab__subcmd__fault__subcmd__help__subcmd__agent__subcmd__start"
                ;;
            he__lab__subcmd__fault__subcmd__help,agent-stop)
                cmd="he__lab__subcmd__fault__subcmd__help__subcmd__agent__subcmd__stop"
                ;;
            he__lab__subcmd__fault__subcmd__help,all-network-down)
                cmd="he__lab__subcmd__fault__subcmd__help__subcmd__all__subcmd__network__subcmd__down"
                ;;
            he__lab__subcmd__fault__subcmd__help,bmc-lies)
                cmd="he__lab__subcmd__fault__subcmd__help__subcmd__bmc__subcmd__lies"
                ;;
            he__lab__subcmd__fault__subcmd__help,bmc-unreachable)
                cmd="he__lab__subcmd__fault__subcmd__help__subcmd__bmc__subcmd__unreachable"
                ;;
            he__lab__subcmd__fault__subcmd__help,bmc-wrong-credentials)
                cmd="he__lab__subcmd__fault__subcmd__help__subcmd__bmc__subcmd__wrong__subcmd__credentials"
                ;;
            he__lab__subcmd__fault__subcmd__help,engine-db-down)
                cmd="he__lab__subcmd__fault__subcmd__help__subcmd__engine__subcmd__db__subcmd__down"
                ;;
            he__lab__subcmd__fault__subcmd__help,engine-network-down)
                cmd="he__lab__subcmd__fault__subcmd__help__subcmd__engine__subcmd__network__subcmd__down"
                ;;
            he__lab__subcmd__fault__subcmd__help,engine-stop)
                cmd="he__lab__subcmd__fault__subcmd__help__subcmd__engine__subcmd__stop"
                ;;
            he__lab__subcmd__fault__subcmd__help,help)
                cmd="he__lab__subcmd__fault__subcmd__help__subcmd__help"
                ;;
            he__lab__subcmd__fault__subcmd__help,host-crash)
                cmd="he__lab__subcmd__fault__subcmd__help__subcmd__host__subcmd__crash"
                ;;
            he__lab__subcmd__fault__subcmd__help,host-network-down)
                cmd="he__lab__subcmd__fault__subcmd__help__subcmd__host__subcmd__network__subcmd__down"
                ;;
            he__lab__subcmd__fault__subcmd__help,late-write)
                cmd="he__lab__subcmd__fault__subcmd__help__subcmd__late__subcmd__write"
                ;;
            he__lab__subcmd__fault__subcmd__help,partition)
                cmd="he__lab__subcmd__fault__subcmd__help__subcmd__partition"
                ;;
            he__lab__subcmd__fault__subcmd__help,slot-garbage)
                cmd="he__lab__subcmd__fault__subcmd__help__subcmd__slot__subcmd__garbage"
                ;;
            he__lab__subcmd__fault__subcmd__help,slot-hostile)
                cmd="he__lab__subcmd__fault__subcmd__help__subcmd__slot__subcmd__hostile"
                ;;
            he__lab__subcmd__fault__subcmd__help,slot-wipe)
                cmd="he__lab__subcmd__fault__subcmd__help__subcmd__slot__subcmd__wipe"
                ;;
            he__lab__subcmd__fault__subcmd__help,storage-lost)
                cmd="he__lab__subcmd__fault__subcmd__help__subcmd__storage__subcmd__lost"
                ;;
            he__lab__subcmd__fault__subcmd__help,storage-readonly)
                cmd="he__lab__subcmd__fault__subcmd__help__subcmd__storage__subcmd__readonly"
                ;;
            he__lab__subcmd__fault__subcmd__help,storage-unmount)
                cmd="he__lab__subcmd__fault__subcmd__help__subcmd__storage__subcmd__unmount"
                ;;
            he__lab__subcmd__fault__subcmd__help,vm-kill)
                cmd="he__lab__subcmd__fault__subcmd__help__subcmd__vm__subcmd__kill"
                ;;
            he__lab__subcmd__fault__subcmd__help,vm-manager-wedge)
                cmd="he__lab__subcmd__fault__subcmd__help__subcmd__vm__subcmd__manager__subcmd__wedge"
                ;;
            he__lab__subcmd__help,bench-failover)
                cmd="he__lab__subcmd__help__subcmd__bench__subcmd__failover"
                ;;
            he__lab__subcmd__help,canary-check)
                cmd="he__lab__subcmd__help__subcmd__canary__subcmd__check"
                ;;
            he__lab__subcmd__help,demo)
                cmd="he__lab__subcmd__help__subcmd__demo"
                ;;
            he__lab__subcmd__help,down)
                cmd="he__lab__subcmd__help__subcmd__down"
                ;;
            he__lab__subcmd__help,engine)
                cmd="he__lab__subcmd__help__subcmd__engine"
                ;;
            he__lab__subcmd__help,exec)
                cmd="he__lab__subcmd__help__subcmd__exec"
                ;;
            he__lab__subcmd__help,fault)
                cmd="he__lab__subcmd__help__subcmd__fault"
                ;;
            he__lab__subcmd__help,heal)
                cmd="he__lab__subcmd__help__subcmd__heal"
                ;;
            he__lab__subcmd__help,help)
                cmd="he__lab__subcmd__help__subcmd__help"
                ;;
            he__lab__subcmd__help,logs)
                cmd="he__lab__subcmd__help__subcmd__logs"
                ;;
            he__lab__subcmd__help,power-sentinel)
                cmd="he__lab__subcmd__help__subcmd__power__subcmd__sentinel"
                ;;
            he__lab__subcmd__help,sim)
                cmd="he__lab__subcmd__help__subcmd__sim"
                ;;
            he__lab__subcmd__help,status)
                cmd="he__lab__subcmd__help__subcmd__status"
                ;;
            he__lab__subcmd__help,storage-connect)
                cmd="he__lab__subcmd__help__subcmd__storage__subcmd__connect"
                ;;
            he__lab__subcmd__help,supervise)
                cmd="he__lab__subcmd__help__subcmd__supervise"
                ;;
            he__lab__subcmd__help,up)
                cmd="he__lab__subcmd__help__subcmd__up"
                ;;
            he__lab__subcmd__help,volume)
                cmd="he__lab__subcmd__help__subcmd__volume"
                ;;
            he__lab__subcmd__help__subcmd__fault,agent-kill)
                cmd="he__lab__subcmd__help__subcmd__fault__subcmd__agent__subcmd__kill"
                ;;
            he__lab__subcmd__help__subcmd__fault,agent-pause)
                cmd="he__lab__subcmd__help__subcmd__fault__subcmd__agent__subcmd__pause"
                ;;
            he__lab__subcmd__help__subcmd__fault,agent-pause-unfenced)
                cmd="he__lab__subcmd__help__subcmd__fault__subcmd__agent__subcmd__pause__subcmd__unfenced"
                ;;
            he__lab__subcmd__help__subcmd__fault,agent-start)
                cmd="he__lab__subcmd__help__subcmd__fault__subcmd__agent__subcmd__start"
                ;;
            he__lab__subcmd__help__subcmd__fault,agent-stop)
                cmd="he__lab__subcmd__help__subcmd__fault__subcmd__agent__subcmd__stop"
                ;;
            he__lab__subcmd__help__subcmd__fault,all-network-down)
                cmd="he__lab__subcmd__help__subcmd__fault__subcmd__all__subcmd__network__subcmd__down"
                ;;
            he__lab__subcmd__help__subcmd__fault,bmc-lies)
                cmd="he__lab__subcmd__help__subcmd__fault__subcmd__bmc__subcmd__lies"
                ;;
            he__lab__subcmd__help__subcmd__fault,bmc-unreachable)
                cmd="he__lab__subcmd__help__subcmd__fault__subcmd__bmc__subcmd__unreachable"
                ;;
            he__lab__subcmd__help__subcmd__fault,bmc-wrong-credentials)
                cmd="he__lab__subcmd__help__subcmd__fault__subcmd__bmc__subcmd__wrong__subcmd__credentials"
                ;;
            he__lab__subcmd__help__subcmd__fault,engine-db-down)
                cmd="he__lab__subcmd__help__subcmd__fault__subcmd__engine__subcmd__db__subcmd__down"
                ;;
            he__lab__subcmd__help__subcmd__fault,engine-network-down)
                cmd="he__lab__subcmd__help__subcmd__fault__subcmd__engine__subcmd__network__subcmd__down"
                ;;
            he__lab__subcmd__help__subcmd__fault,engine-stop)
                cmd="he__lab__subcmd__help__subcmd__fault__subcmd__engine__subcmd__stop"
                ;;
            he__lab__subcmd__help__subcmd__fault,host-crash)
                cmd="he__lab__subcmd__help__subcmd__fault__subcmd__host__subcmd__crash"
                ;;
            he__lab__subcmd__help__subcmd__fault,host-network-down)
                cmd="he__lab__subcmd__help__subcmd__fault__subcmd__host__subcmd__network__subcmd__down"
                ;;
            he__lab__subcmd__help__subcmd__fault,late-write)
                cmd="he__lab__subcmd__help__subcmd__fault__subcmd__late__subcmd__write"
                ;;
            he__lab__subcmd__help__subcmd__fault,partition)
                cmd="he__lab__subcmd__help__subcmd__fault__subcmd__partition"
                ;;
            he__lab__subcmd__help__subcmd__fault,slot-garbage)
                cmd="he__lab__subcmd__help__subcmd__fault__subcmd__slot__subcmd__garbage"
                ;;
            he__lab__subcmd__help__subcmd__fault,slot-hostile)
                cmd="he__lab__subcmd__help__subcmd__fault__subcmd__slot__subcmd__hostile"
                ;;
            he__lab__subcmd__help__subcmd__fault,slot-wipe)
                cmd="he__lab__subcmd__help__subcmd__fault__subcmd__slot__subcmd__wipe"
                ;;
            he__lab__subcmd__help__subcmd__fault,storage-lost)
                cmd="he__lab__subcmd__help__subcmd__fault__subcmd__storage__subcmd__lost"
                ;;
            he__lab__subcmd__help__subcmd__fault,storage-readonly)
                cmd="he__lab__subcmd__help__subcmd__fault__subcmd__storage__subcmd__readonly"
                ;;
            he__lab__subcmd__help__subcmd__fault,storage-unmount)
                cmd="he__lab__subcmd__help__subcmd__fault__subcmd__storage__subcmd__unmount"
                ;;
            he__lab__subcmd__help__subcmd__fault,vm-kill)
                cmd="he__lab__subcmd__help__subcmd__fault__subcmd__vm__subcmd__kill"
                ;;
            he__lab__subcmd__help__subcmd__fault,vm-manager-wedge)
                cmd="he__lab__subcmd__help__subcmd__fault__subcmd__vm__subcmd__manager__subcmd__wedge"
                ;;
            he__lab__subcmd__help__subcmd__sim,fuzz)
                cmd="he__lab__subcmd__help__subcmd__sim__subcmd__fuzz"
                ;;
            he__lab__subcmd__help__subcmd__sim,run)
                cmd="he__lab__subcmd__help__subcmd__sim__subcmd__run"
                ;;
            he__lab__subcmd__help__subcmd__volume,demo)
                cmd="he__lab__subcmd__help__subcmd__volume__subcmd__demo"
                ;;
            he__lab__subcmd__help__subcmd__volume,dump)
                cmd="he__lab__subcmd__help__subcmd__volume__subcmd__dump"
                ;;
            he__lab__subcmd__help__subcmd__volume,fill)
                cmd="he__lab__subcmd__help__subcmd__volume__subcmd__fill"
                ;;
            he__lab__subcmd__help__subcmd__volume,init)
                cmd="he__lab__subcmd__help__subcmd__volume__subcmd__init"
                ;;
            he__lab__subcmd__sim,fuzz)
                cmd="he__lab__subcmd__sim__subcmd__fuzz"
                ;;
            he__lab__subcmd__sim,help)
                cmd="he__lab__subcmd__sim__subcmd__help"
                ;;
            he__lab__subcmd__sim,run)
                cmd="he__lab__subcmd__sim__subcmd__run"
                ;;
            he__lab__subcmd__sim__subcmd__help,fuzz)
                cmd="he__lab__subcmd__sim__subcmd__help__subcmd__fuzz"
                ;;
            he__lab__subcmd__sim__subcmd__help,help)
                cmd="he__lab__subcmd__sim__subcmd__help__subcmd__help"
                ;;
            he__lab__subcmd__sim__subcmd__help,run)
                cmd="he__lab__subcmd__sim__subcmd__help__subcmd__run"
                ;;
            he__lab__subcmd__volume,demo)
                cmd="he__lab__subcmd__volume__subcmd__demo"
                ;;
            he__lab__subcmd__volume,dump)
                cmd="he__lab__subcmd__volume__subcmd__dump"
                ;;
            he__lab__subcmd__volume,fill)
                cmd="he__lab__subcmd__volume__subcmd__fill"
                ;;
            he__lab__subcmd__volume,help)
                cmd="he__lab__subcmd__volume__subcmd__help"
                ;;
            he__lab__subcmd__volume,init)
                cmd="he__lab__subcmd__volume__subcmd__init"
                ;;
            he__lab__subcmd__volume__subcmd__help,demo)
                cmd="he__lab__subcmd__volume__subcmd__help__subcmd__demo"
                ;;
            he__lab__subcmd__volume__subcmd__help,dump)
                cmd="he__lab__subcmd__volume__subcmd__help__subcmd__dump"
                ;;
            he__lab__subcmd__volume__subcmd__help,fill)
                cmd="he__lab__subcmd__volume__subcmd__help__subcmd__fill"
                ;;
            he__lab__subcmd__volume__subcmd__help,help)
                cmd="he__lab__subcmd__volume__subcmd__help__subcmd__help"
                ;;
            he__lab__subcmd__volume__subcmd__help,init)
                cmd="he__lab__subcmd__volume__subcmd__help__subcmd__init"
                ;;
            *)
                ;;
        esac
    done

    case "${cmd}" in
        he__lab)
            opts="-h -V --dir --help --version demo bench-failover volume sim engine up down status fault heal logs exec canary-check supervise storage-connect power-sentinel help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 1 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__bench__subcmd__failover)
            opts="-h --profile --isolation --runs --cases --fencing --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --profile)
                    COMPREPLY=($(compgen -W "fast default" -- "${cur}"))
                    return 0
                    ;;
                --isolation)
                    COMPREPLY=($(compgen -W "none netns" -- "${cur}"))
                    return 0
                    ;;
                --runs)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cases)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__canary__subcmd__check)
            opts="-h --json --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__demo)
            opts="-h --isolation --fencing --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --isolation)
                    COMPREPLY=($(compgen -W "none netns" -- "${cur}"))
                    return 0
                    ;;
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__down)
            opts="-h --keep --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__engine)
            opts="-h --listen --canary --host --control --lab-id --vm-address --vm-bridge --vm-port-lock --shutdown-secs --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --listen)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --canary)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --host)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --control)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --lab-id)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --vm-address)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --vm-bridge)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --vm-port-lock)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --shutdown-secs)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__exec)
            opts="-h --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault)
            opts="-h --dir --help engine-network-down engine-stop engine-db-down vm-kill host-network-down storage-unmount storage-lost storage-readonly host-crash agent-kill all-network-down agent-pause partition agent-stop agent-start vm-manager-wedge slot-garbage slot-wipe slot-hostile late-write agent-pause-unfenced bmc-unreachable bmc-wrong-credentials bmc-lies help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__agent__subcmd__kill)
            opts="-h --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__agent__subcmd__pause)
            opts="-h --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__agent__subcmd__pause__subcmd__unfenced)
            opts="-h --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__agent__subcmd__start)
            opts="-h --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__agent__subcmd__stop)
            opts="-h --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__all__subcmd__network__subcmd__down)
            opts="-h --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__bmc__subcmd__lies)
            opts="-h --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__bmc__subcmd__unreachable)
            opts="-h --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__bmc__subcmd__wrong__subcmd__credentials)
            opts="-h --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__engine__subcmd__db__subcmd__down)
            opts="-h --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__engine__subcmd__network__subcmd__down)
            opts="-h --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__engine__subcmd__stop)
            opts="-h --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__help)
            opts="engine-network-down engine-stop engine-db-down vm-kill host-network-down storage-unmount storage-lost storage-readonly host-crash agent-kill all-network-down agent-pause partition agent-stop agent-start vm-manager-wedge slot-garbage slot-wipe slot-hostile late-write agent-pause-unfenced bmc-unreachable bmc-wrong-credentials bmc-lies help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__help__subcmd__agent__subcmd__kill)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__help__subcmd__agent__subcmd__pause)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__help__subcmd__agent__subcmd__pause__subcmd__unfenced)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__help__subcmd__agent__subcmd__start)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__help__subcmd__agent__subcmd__stop)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__help__subcmd__all__subcmd__network__subcmd__down)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__help__subcmd__bmc__subcmd__lies)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__help__subcmd__bmc__subcmd__unreachable)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__help__subcmd__bmc__subcmd__wrong__subcmd__credentials)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__help__subcmd__engine__subcmd__db__subcmd__down)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__help__subcmd__engine__subcmd__network__subcmd__down)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__help__subcmd__engine__subcmd__stop)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__help__subcmd__help)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__help__subcmd__host__subcmd__crash)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__help__subcmd__host__subcmd__network__subcmd__down)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__help__subcmd__late__subcmd__write)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__help__subcmd__partition)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__help__subcmd__slot__subcmd__garbage)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__help__subcmd__slot__subcmd__hostile)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__help__subcmd__slot__subcmd__wipe)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__help__subcmd__storage__subcmd__lost)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__help__subcmd__storage__subcmd__readonly)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__help__subcmd__storage__subcmd__unmount)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__help__subcmd__vm__subcmd__kill)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__help__subcmd__vm__subcmd__manager__subcmd__wedge)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__host__subcmd__crash)
            opts="-h --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__host__subcmd__network__subcmd__down)
            opts="-h --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__late__subcmd__write)
            opts="-h --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__partition)
            opts="-h --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__slot__subcmd__garbage)
            opts="-h --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__slot__subcmd__hostile)
            opts="-h --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__slot__subcmd__wipe)
            opts="-h --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__storage__subcmd__lost)
            opts="-h --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__storage__subcmd__readonly)
            opts="-h --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__storage__subcmd__unmount)
            opts="-h --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__vm__subcmd__kill)
            opts="-h --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__fault__subcmd__vm__subcmd__manager__subcmd__wedge)
            opts="-h --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__heal)
            opts="-h --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help)
            opts="demo bench-failover volume sim engine up down status fault heal logs exec canary-check supervise storage-connect power-sentinel help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__bench__subcmd__failover)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__canary__subcmd__check)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__demo)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__down)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__engine)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__exec)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__fault)
            opts="engine-network-down engine-stop engine-db-down vm-kill host-network-down storage-unmount storage-lost storage-readonly host-crash agent-kill all-network-down agent-pause partition agent-stop agent-start vm-manager-wedge slot-garbage slot-wipe slot-hostile late-write agent-pause-unfenced bmc-unreachable bmc-wrong-credentials bmc-lies"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__fault__subcmd__agent__subcmd__kill)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__fault__subcmd__agent__subcmd__pause)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__fault__subcmd__agent__subcmd__pause__subcmd__unfenced)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__fault__subcmd__agent__subcmd__start)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__fault__subcmd__agent__subcmd__stop)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__fault__subcmd__all__subcmd__network__subcmd__down)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__fault__subcmd__bmc__subcmd__lies)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__fault__subcmd__bmc__subcmd__unreachable)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__fault__subcmd__bmc__subcmd__wrong__subcmd__credentials)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__fault__subcmd__engine__subcmd__db__subcmd__down)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__fault__subcmd__engine__subcmd__network__subcmd__down)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__fault__subcmd__engine__subcmd__stop)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__fault__subcmd__host__subcmd__crash)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__fault__subcmd__host__subcmd__network__subcmd__down)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__fault__subcmd__late__subcmd__write)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__fault__subcmd__partition)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__fault__subcmd__slot__subcmd__garbage)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__fault__subcmd__slot__subcmd__hostile)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__fault__subcmd__slot__subcmd__wipe)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__fault__subcmd__storage__subcmd__lost)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__fault__subcmd__storage__subcmd__readonly)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__fault__subcmd__storage__subcmd__unmount)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__fault__subcmd__vm__subcmd__kill)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__fault__subcmd__vm__subcmd__manager__subcmd__wedge)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__heal)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__help)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__logs)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__power__subcmd__sentinel)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__sim)
            opts="run fuzz"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__sim__subcmd__fuzz)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__sim__subcmd__run)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__status)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__storage__subcmd__connect)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__supervise)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__up)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__volume)
            opts="demo init fill dump"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__volume__subcmd__demo)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__volume__subcmd__dump)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__volume__subcmd__fill)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__help__subcmd__volume__subcmd__init)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__logs)
            opts="-h --tail --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --tail)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__power__subcmd__sentinel)
            opts="-h --host --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --host)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__sim)
            opts="-h --dir --help run fuzz help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__sim__subcmd__fuzz)
            opts="-h --seeds --from --timings --fencing --defect --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --seeds)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --from)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --timings)
                    COMPREPLY=($(compgen -W "reference default" -- "${cur}"))
                    return 0
                    ;;
                --defect)
                    COMPREPLY=($(compgen -W "skip-settle expire-immediately release-before-down ignore-sequence unchecked-epoch take-unconfirmed-fence fence-publishing take-over-early" -- "${cur}"))
                    return 0
                    ;;
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__sim__subcmd__help)
            opts="run fuzz help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__sim__subcmd__help__subcmd__fuzz)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__sim__subcmd__help__subcmd__help)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__sim__subcmd__help__subcmd__run)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__sim__subcmd__run)
            opts="-h --scenario --seed --timings --fencing --defect --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --scenario)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --seed)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --timings)
                    COMPREPLY=($(compgen -W "reference default" -- "${cur}"))
                    return 0
                    ;;
                --defect)
                    COMPREPLY=($(compgen -W "skip-settle expire-immediately release-before-down ignore-sequence unchecked-epoch take-unconfirmed-fence fence-publishing take-over-early" -- "${cur}"))
                    return 0
                    ;;
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__status)
            opts="-h --json --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__storage__subcmd__connect)
            opts="-h --host --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --host)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__supervise)
            opts="-h --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__up)
            opts="-h --hosts --isolation --profile --deploy --fencing --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --hosts)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --isolation)
                    COMPREPLY=($(compgen -W "none netns" -- "${cur}"))
                    return 0
                    ;;
                --profile)
                    COMPREPLY=($(compgen -W "fast default" -- "${cur}"))
                    return 0
                    ;;
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__volume)
            opts="-h --dir --help demo init fill dump help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__volume__subcmd__demo)
            opts="-h --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__volume__subcmd__dump)
            opts="-h --format --timeout-secs --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --format)
                    COMPREPLY=($(compgen -W "text json" -- "${cur}"))
                    return 0
                    ;;
                --timeout-secs)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__volume__subcmd__fill)
            opts="-h --from --count --timeout-secs --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --from)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --count)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --timeout-secs)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__volume__subcmd__help)
            opts="demo init fill dump help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__volume__subcmd__help__subcmd__demo)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__volume__subcmd__help__subcmd__dump)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__volume__subcmd__help__subcmd__fill)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__volume__subcmd__help__subcmd__help)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__volume__subcmd__help__subcmd__init)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        he__subcmd__lab__subcmd__volume__subcmd__init)
            opts="-h --force --timeout-secs --dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --timeout-secs)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
    esac
}

if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _he__lab -o nosort -o bashdefault -o default he-lab
else
    complete -F _he__lab -o bashdefault -o default he-lab
fi
