# Shell helpers for the bench/fs drivers that run in user-mode Linux
# (sourced, not run): one boot of Debian's linux.uml with the host's / as its
# root, the guest prelude and check functions of tests/uml/guest/, and the
# kernel's own vfat.
# shellcheck shell=bash

UML_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# uml_missing: why user-mode Linux cannot run here ("" when it can).
uml_missing() {
    [ -x /usr/bin/linux.uml ] || { echo "/usr/bin/linux.uml is missing (package user-mode-linux)"; return; }
    compgen -G '/usr/lib/uml/modules/*' > /dev/null || { echo "no UML kernel modules in /usr/lib/uml/modules"; return; }
    command -v mkfs.vfat > /dev/null || { echo "mkfs.vfat is missing (package dosfstools)"; return; }
}

# uml_fat32 IMAGE MB: a fresh FAT32 image, as a stick comes from the shop.
uml_fat32() {
    rm -f "$1" && truncate -s "${2}M" "$1" && mkfs.vfat -F 32 -n STICK "$1" > /dev/null
}

# uml_run DIR SCRIPT SECONDS [UBD=IMAGE...]: boots UML with DIR shared (the
# guest sees it at the same path, as $SHARED) and runs the file SCRIPT, POSIX
# sh, after the guest functions (check, wait_until, ...); its stdout is
# streamed here. Killed at the deadline. Returns the script's exit status
# (UML's own says nothing); the console log stays in DIR/uml/console.log.
uml_run() {
    local d=$1 script=$2 secs=$3 uml tailer end st
    shift 3
    mkdir -p "$d/uml"
    { printf "#!/bin/sh\nSHARED='%s'\nMODULES=\n" "$d"; cat "$UML_SRC/tests/uml/guest/boot.sh"; } > "$d/uml/init"
    chmod 0755 "$d/uml/init"
    cp "$UML_SRC/tests/uml/guest/functions.sh" "$d/uml/functions.sh"
    cp "$script" "$d/uml/script.sh"
    rm -f "$d/uml/status"
    : > "$d/uml/stdout"
    # setsid: UML's processes are one group, ended together at the deadline.
    setsid /usr/bin/linux.uml mem=1024M "umid=bench$$" "uml_dir=$d/uml/" "$@" \
        root=/dev/root rootfstype=hostfs rootflags=/ rw con=null con0=fd:0,fd:1 \
        "init=$d/uml/init" < /dev/null > "$d/uml/console.log" 2>&1 &
    uml=$!
    tail -s 0.2 -n +1 -f --pid="$uml" "$d/uml/stdout" &
    tailer=$!
    end=$((SECONDS + secs))
    while kill -0 "$uml" 2> /dev/null; do
        if [ $SECONDS -ge "$end" ]; then
            echo "$(basename "$0"): user-mode Linux still running after $secs s: stopped" >&2
            kill -KILL -- "-$uml" 2> /dev/null || true
            break
        fi
        sleep 0.2
    done
    wait "$uml" 2> /dev/null || true
    wait "$tailer" 2> /dev/null || true
    st=$(cat "$d/uml/status" 2> /dev/null || echo 255)
    if [ "$st" != 0 ]; then
        echo "$(basename "$0"): the guest ended with status $st; its stderr:" >&2
        tail -n 20 "$d/uml/stderr" >&2 || true
    fi
    return "$st"
}
