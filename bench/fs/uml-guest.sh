# The guest side of bench-fs-uml.sh (POSIX sh, run in user-mode Linux after
# tests/uml/guest/functions.sh): times the creates, walk and storm on the
# kernel's vfat (/dev/ubdb) and through pershome-fs over it, and appends
# "KEY SECONDS" lines to $OUT for the host to turn into ratios. Set by the
# host: FS, WL, OUT, LOG, REPS, FLUSH, CREATES, REPS_BIG, WALK_FILES, WALK_DIRS, ONLY,
# FS_OPTS (pershome-fs options for the walk).
# shellcheck shell=sh disable=SC2153  # those are set by the host
S=/run/stick H=/run/home B=/run/bindfs FS_PID=
VFAT_OPTS=shortname=mixed,utf8
rec() { echo "$1 $2" >> "$OUT"; }
now_ns() { date +%s%N; }
secs_since() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN { printf "%.4f", (b - a) / 1e9 }'; }

stick_up() { mount -t vfat -o "$VFAT_OPTS${1:+,$1}" /dev/ubdb "$S"; }
stick_down() { umount "$S"; }
# fs_up BACKING [OPTION...]: pershome-fs on $H ($FS_PID), log appended to $LOG.
fs_up() {
    _b=$1; shift
    echo "== pershome-fs $* $_b" >> "$LOG"
    "$FS" -f "$@" "$_b" "$H" >> "$LOG" 2>&1 &
    FS_PID=$!
    wait_until 20 mountpoint -q "$H" || { echo "# pershome-fs did not mount"; exit 1; }
}
fs_down() { cd /run && umount "$H" && wait_pid "$FS_PID" 120 && FS_PID=; }
# last_writes: N and M of the last "N index writes, M bytes" in $LOG.
last_writes() { sed -n 's/.*pershome-fs: \([0-9]*\) index writes, \([0-9]*\) bytes.*/\1 \2/p' "$LOG" | tail -n 1; }
# rotate LIST R: LIST started at its R-th word (rounds take turns going first).
rotate() { echo "$1" | awk -v r="$2" '{ for (i = 0; i < NF; i++) printf "%s ", $((i + r) % NF + 1) }'; }

# One round of N creates of KIND: pershome-fs kinds on a fresh mount each,
# so that the index writes logged at its unmount are the round's own.
create_round() {
    case $1 in
        direct) d=$S/direct/c$2-$3 && mkdir "$d" && rec "creates,direct,$2" "$("$WL" creates "$d" "$2" plain)" ;;
        *)
            fs_up "$S/pershome" -o flush="$FLUSH"
            mkdir "$H/$1-$2-$3" && _t=$("$WL" creates "$H/$1-$2-$3" "$2" "$1")
            fs_down
            rec "creates,$1,$2" "$_t"
            # shellcheck disable=SC2046  # two numbers
            set -- "$1" "$2" "$3" $(last_writes)
            rec "index,$1,$2,writes" "$4"
            rec "index,$1,$2,bytes" "$5"
            rec "index,$1,$2,size" "$(stat -c %s "$S/pershome/$1-$2-$3/PERSHOME.IDX" 2> /dev/null || echo 0)"
            rec "index,$1,$2,seconds" "$_t"
            ;;
    esac
}
creates() {
    mkdir -p "$S/pershome" "$S/direct"
    for n in $CREATES; do
        reps=$REPS
        [ "$n" -lt 10000 ] || reps=$REPS_BIG
        r=0
        while [ $r -lt "$reps" ]; do
            for kind in $(rotate "plain mapped direct" $r); do create_round "$kind" "$n" "$r"; done
            r=$((r + 1))
        done
        echo "# creates: $n per directory done"
    done
}

make_tree() {
    per=$((WALK_FILES / WALK_DIRS)) top=1
    while [ $top -le 10 ]; do
        sub=1
        while [ $sub -le $((WALK_DIRS / 10)) ]; do
            d="$S/pershome/walk/top$top/dir $sub"
            mkdir -p "$d" && seq -f "$d/file %g.txt" "$per" | xargs -d '\n' touch
            sub=$((sub + 1))
        done
        top=$((top + 1))
    done
    rec walk,files $((per * WALK_DIRS / 10 * 10))
    rec walk,dirs $((WALK_DIRS / 10 * 10))
}
# bindfs_up SOURCE / bindfs_down: bindfs, a FUSE filesystem that only passes
# calls through, on $B: what any FUSE layer costs in UML.
bindfs_up() { bindfs "$1" "$B" && wait_until 20 mountpoint -q "$B"; }
bindfs_down() { umount "$B"; }
# walk TARGET NAME [-ls]: cold (everything remounted, caches dropped), then warm.
# shellcheck disable=SC2086  # $3: no argument, or -ls
walk() {
    [ -z "$FS_PID" ] || fs_down
    ! mountpoint -q "$B" || bindfs_down
    stick_down && sync && echo 3 > /proc/sys/vm/drop_caches && stick_up
    case $1 in
        direct) _dir=$S/pershome/walk ;;
        bindfs) bindfs_up "$S/pershome/walk" && _dir=$B ;;
        pershome) fs_up "$S/pershome" ${FS_OPTS:-} && _dir=$H/walk ;;
    esac
    _t=$(now_ns); find "$_dir" $3 > /dev/null; rec "walk,$1,${2}_cold" "$(secs_since "$_t")"
    _t=$(now_ns); find "$_dir" $3 > /dev/null; rec "walk,$1,${2}_warm" "$(secs_since "$_t")"
}
walks() {
    make_tree
    r=0
    while [ $r -lt "$REPS" ]; do
        for target in $(rotate "direct bindfs pershome" $r); do
            walk "$target" find
            walk "$target" ls -ls
        done
        r=$((r + 1))
    done
    ! mountpoint -q "$B" || bindfs_down
    echo "# walks done"
    for kind in find ls; do
        [ -z "$FS_PID" ] || fs_down
        fs_up "$S/pershome"
        if [ $kind = ls ]; then find "$H/walk" -ls > /dev/null; else find "$H/walk" > /dev/null; fi
        rec "after,$kind,rss_kib" "$(awk '/^VmRSS/ { print $2 }' "/proc/$FS_PID/status")"
        rec "after,$kind,fds" "$(find "/proc/$FS_PID/fd" -mindepth 1 | wc -l)"
    done
    fs_down
}

storms() {
    # `quiet`: vfat refuses chmods it cannot store unless told to ignore them.
    stick_down && stick_up quiet
    mkdir -p "$S/storm" "$S/direct/bindfs"
    fs_up "$S/storm" -o flush="$FLUSH"
    bindfs_up "$S/direct/bindfs"
    r=0
    while [ $r -lt "$REPS" ]; do
        for target in $(rotate "direct bindfs pershome" $r); do
            case $target in direct) d=$S/direct/storm$r ;; bindfs) d=$B/storm$r ;; *) d=$H/storm$r ;; esac
            mkdir "$d" && rec "storm,$target" "$("$WL" storm "$d")"
        done
        r=$((r + 1))
    done
    bindfs_down
    fs_down
    # shellcheck disable=SC2046  # two numbers
    set -- $(last_writes)
    rec storm,writes "$1"
}
: > "$OUT"
mkdir -p "$S" "$H" "$B"
check vfat stick_up || exit 1
# ONLY=creates or walks: that part alone (a quick look at one change).
case ${ONLY:-} in
    creates) creates ;;
    walks) walks ;;
    *) creates; walks; storms ;;
esac
stick_down
check fsck fsck.vfat -n /dev/ubdb
