#!/usr/bin/env bash
# The bash completion file as bash-completion loads it: commands, each
# command's options, and the users `terminate` offers (from the sessions
# table of a pershomectl on PATH; a stand-in script prints one here, since
# the table itself is tested against the real daemon in ctl_daemon_test).
# usage: completion_test.sh COMPLETION_FILE
set -euo pipefail
[ -r /usr/share/bash-completion/bash_completion ] || { echo "SKIP: no bash-completion"; exit 77; }
# shellcheck disable=SC1091
source /usr/share/bash-completion/bash_completion
# shellcheck disable=SC1090
source "$1"

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
cat >"$bin/pershomectl" <<'STUB'
#!/bin/sh
[ "$1 $2 $3" = "-H root@client07 sessions" ] || exit 3
printf 'USER  UID\npatron1  20001\npatron2  20002\n'
STUB
chmod +x "$bin/pershomectl"
PATH="$bin:$PATH"

complete_line() {  # WORDS... (the last one is being completed)
    COMP_WORDS=("$@")
    COMP_CWORD=$(($# - 1))
    COMP_LINE="$*"
    COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    _pershomectl pershomectl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    echo "${COMPREPLY[*]}"
}
expect() {  # WANT GOT
    [ "$1" = "$2" ] || { echo "FAIL: want '$1', got '$2'" >&2; exit 1; }
}

expect "status sessions devices terminate eject check prepare" "$(complete_line pershomectl "")"
expect "prepare" "$(complete_line pershomectl pre)"
expect "--force --list --help" "$(complete_line pershomectl prepare --)"
expect "--repair --help" "$(complete_line pershomectl check --)"
expect "--json" "$(complete_line pershomectl sessions --j)"
expect "patron1 patron2" "$(complete_line pershomectl -H root@client07 terminate pat)"
echo "completion: OK"
