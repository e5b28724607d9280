# Sourced by scripts/demo-inner: Joseph's day (the README's demo, the story
# of issue 11 and of the design brief). Two terminals, lab-pc07 and then
# library-t3, each a user-mode Linux machine booted from this machine's /
# (a real kernel with vfat, udev and FUSE, run as an ordinary process), each
# with its own pershomed, config, state dir (/run in the guest) and hostname.
# One FAT32 stick image goes from one to the other, hot-plugged with
# uml_mconsole. The guests run scripts/demo-story-guest.sh with the UML
# tests' own boot and helper shell text (tests/uml/guest/), and write only
# below $T and in their own /run and /tmp (tmpfs). Uses $build, $src, $T,
# groups, say and bus_config from scripts/demo-inner; sets status.

export MTOOLS_SKIP_CHECK=1 LC_ALL=C.UTF-8
stick=$T/stick.img

# terminal_files DIR: what one terminal's guest reads from its shared DIR
# (tests/uml/guest/system.sh's system_up): users, PAM, bus, udev rule, config.
terminal_files() {
    local d=$1
    mkdir -p "$d/pam.d" "$d/skel/Documents"
    cat > "$d/passwd" <<EOF
root:x:0:0:root:/root:/bin/sh
joseph:x:20001:20001:Joseph:/run/tmphome/joseph:/bin/sh
patron4711:x:24711:24711:Library patron 4711:/run/tmphome/patron4711:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
    printf 'root:x:0:\njoseph:x:20001:\npatron4711:x:24711:\nnogroup:x:65534:\n' > "$d/group"
    printf '# welcome\nexport EDITOR=nano\n' > "$d/skel/.bashrc"
    cat > "$d/pam.d/pershome" <<EOF
session required $build/pam-shim/pam_pershome.so tmphome=/run/tmphome/ skel=$d/skel/ umask=0077
session required pam_permit.so
EOF
    echo 'session required pam_permit.so' > "$d/pam.d/other"
    bus_config /run/bus/socket > "$d/bus.conf"
    # ubd disks are not removable: mark them as sticks, as the UML tests do.
    echo 'SUBSYSTEM=="block", KERNEL=="ubd[b-z]*", ENV{PERSHOME_STICK}="1"' > "$d/90-pershome-test.rules"
    echo '*' > "$d/persistent_homes"
    printf '{"state_dir": "/run/pershome", "persistent_homes": "%s", "pershome_fs": "%s", "tmphome_roots": ["/run/tmphome"], "logout_grace_sec": 2}\n' \
        "$d/persistent_homes" "$build/fs/pershome-fs" > "$d/pershomed.json"
}

# mconsole NAME COMMAND...: UML's management console (its socket named by
# path: uml_mconsole warns on stderr that it is no umid); retried while the
# disk is still open (udev may probe it a moment longer).
mconsole() {
    local name=$1 reply; shift
    for _ in $(seq 30); do
        reply=$(uml_mconsole "$T/$name/uml/$name/mconsole" "$@" 2>/dev/null) || true
        case $reply in OK*) break ;; esac
        sleep 0.2
    done
    echo "uml_mconsole $name $*: $reply"
}

# boot NAME: boots terminal NAME, runs its scene, streams its transcript,
# plugs and unplugs the stick when the guest asks. Fails if the scene did.
boot() {
    local name=$1 d=$T/$1 uml tailer t0=$SECONDS
    mkdir -p "$d/uml"
    terminal_files "$d"
    { printf "#!/bin/sh\nSHARED='%s'\nMODULES=\n" "$d"; cat "$src/tests/uml/guest/boot.sh"; } > "$d/uml/init"
    chmod 0755 "$d/uml/init"
    { printf "PERSHOMED_BIN='%s'\nPAM_LOGIN_BIN='%s'\n" "$build/daemon/pershomed" \
          "$build/tests/integration/pershome-pam-login"
      cat "$src/tests/uml/guest/functions.sh" "$src/tests/uml/guest/system.sh"; } > "$d/uml/functions.sh"
    printf ". '%s'\n%s\n" "$src/scripts/demo-story-guest.sh" "$name" > "$d/uml/script.sh"
    : > "$d/uml/stdout"
    # setsid: UML's processes are one group, ended together (cleanup).
    setsid /usr/bin/linux.uml mem=512M "umid=$name" "uml_dir=$d/uml/" \
        root=/dev/root rootfstype=hostfs rootflags=/ rw con=null con0=fd:0,fd:1 \
        "init=$d/uml/init" < /dev/null > "$d/uml/console.log" 2>&1 &
    uml=$!
    # Its exit status says nothing (the guest's does), and UML may even
    # abort at poweroff: no job notice of that in the transcript.
    disown "$uml"
    groups=("$uml")
    tail -s 0.1 -n +1 -f --pid="$uml" "$d/uml/stdout" &
    tailer=$!
    # A bound for a hang, not a target: a boot and its scene took 20 to 60 s
    # on a shared 2-core machine under load (UML slows down with the host).
    local end=$((SECONDS + 300))
    while kill -0 "$uml" 2>/dev/null; do
        if [ -e "$d/ready" ] && [ ! -e "$d/plugged" ]; then
            mconsole "$name" config "ubdb=$stick" > "$d/plugged.tmp"
            mv "$d/plugged.tmp" "$d/plugged"
        fi
        if [ -e "$d/unplug" ] && [ ! -e "$d/unplugged" ]; then
            mconsole "$name" remove ubdb > "$d/unplugged.tmp"
            mv "$d/unplugged.tmp" "$d/unplugged"
        fi
        if [ $SECONDS -ge $end ]; then
            echo "   !! $name still running after 300 s: stopped"
            kill -KILL -- "-$uml"
            break
        fi
        sleep 0.1
    done
    groups=()  # gone, its group with it (UML ends its processes at poweroff)
    wait "$tailer" || true
    if [ "$(cat "$d/uml/status" 2>/dev/null)" != 0 ]; then
        echo "   !! $name: the scene did not happen as told (status $(cat "$d/uml/status" 2>/dev/null || echo none))"
        echo "   --- its stderr:"; tail -n 20 "$d/uml/stderr" | sed 's/^/   /'
        echo "   --- pershomed's log:"; tail -n 30 "$d/pershomed.log" 2>/dev/null | sed 's/^/   /'
        echo "   --- UML console:"; tail -n 10 "$d/uml/console.log" | sed 's/^/   /'
        return 1
    fi
    echo "   ($name: booted, told its part and powered off in $((SECONDS - t0)) s)"
}

story() {
    say "Joseph's stick: FAT32, as it came from the shop, with a folder pershome/ (made with mtools)"
    truncate -s 64M "$stick"
    mkfs.vfat -F 32 -n JOSEPH "$stick" > /dev/null
    mmd -i "$stick" ::/pershome
    mdir -i "$stick" ::/ | sed 's/^/   /'

    boot lab || return 1

    say "Back on this machine between the boots: the stick's raw FAT (mdir -a -i stick.img ::/pershome)"
    echo "   (long names as FAT keeps them; PERSHOME.IDX: pershome-fs's index of what FAT cannot hold,"
    echo "   modes, owners, symlinks; PERSHOME.USE: who used the stick last, where; both hidden files)"
    mdir -a -i "$stick" ::/pershome | sed 's/^/   /'
    mdir -b -i "$stick" ::/pershome | grep -qxF '::/pershome/Biofuel feedstock report (draft 1).odt' ||
        { echo "   !! the report is not on the stick"; return 1; }
    echo "   \$ fsck.fat -n stick.img"
    fsck.fat -n "$stick" | sed 's/^/   /' || { echo "   !! the stick is not clean"; return 1; }

    boot library || return 1

    say "The end: Joseph's report went from the lab to the library and back home on his stick"
    mdir -a -i "$stick" ::/pershome | sed 's/^/   /'
    echo "   \$ fsck.fat -n stick.img"
    fsck.fat -n "$stick" | sed 's/^/   /' || { echo "   !! the stick is not clean"; return 1; }
    echo "   (the whole story took $SECONDS s)"
}

if story; then status=0; else status=1; fi
