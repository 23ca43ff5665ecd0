_ovirt__ha__agent() {
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
                cmd="ovirt__ha__agent"
                ;;
            *)
                ;;
        esac
    done

    case "${cmd}" in
        ovirt__ha__agent)
            opts="-h -V --check-config --keep-lease --config-root --he-conf --agent-conf --ha-conf --broker-conf --runtime-dir --state-dir --help --version"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 1 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --config-root)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --he-conf)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --agent-conf)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --ha-conf)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --broker-conf)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --runtime-dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --state-dir)
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
    complete -F _ovirt__ha__agent -o nosort -o bashdefault -o default ovirt-ha-agent
else
    complete -F _ovirt__ha__agent -o bashdefault -o default ovirt-ha-agent
fi
