// A stick pulled while pershome-fs runs on it, played with device-mapper in
// user-mode Linux: the kernel's vfat is mounted through a dm "linear" device
// over the stick; the pull swaps its table for "error", so every later I/O
// fails, as on a real pull, and nothing unsynced reaches the image.
//
// What must hold: what was fsync'ed before the pull is on the stick (content
// on the host with mtools; metadata when plugged in again), pershome-fs
// reports errors but neither crashes nor hangs, and the FAT needs no repair
// beyond the dirty bit every pulled stick has.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <regex>
#include <string>

#include "tests/support/temp_dir.hpp"
#include "tests/uml/pershome_guest.hpp"
#include "tests/uml/uml_machine.hpp"

namespace {

namespace fs = std::filesystem;
using namespace pershome::test;
using namespace pershome::test::uml;
using namespace std::chrono_literals;

const char* const kPullScript = R"sh(
export TZ=UTC DM_DISABLE_UDEV=1   # no udevd: dmsetup makes its nodes itself
# must_fail_quickly CMD...: CMD fails, within 20 s.
must_fail_quickly() {
    timeout 20 "$@"; _s=$?
    [ "$_s" -ne 124 ] || { echo "still running after 20 s"; return 1; }
    [ "$_s" -ne 0 ] || { echo "succeeded after the pull"; return 1; }
}
# bounded CMD...: CMD ends within 20 s, whatever its status.
bounded() {
    timeout 20 "$@"; _s=$?
    echo "status $_s"
    [ "$_s" -ne 124 ]
}
force_umount() { umount "$1" || umount -l "$1"; }
N=$(blockdev --getsz /dev/ubdb)
check dm_create dmsetup create stick --table "0 $N linear /dev/ubdb 0" || exit 1
check stick_mount stick_mount /dev/mapper/stick || exit 1
check home_mount home_mount || exit 1
cd "$HOME_DIR"

# Made, given metadata, fsync'ed: all of it must survive the pull.
printf 'precious data\n' > keep.txt
chmod 600 keep.txt
touch -d '2021-03-04 05:06:07.123456789' keep.txt
check fsync_keep sync keep.txt
head -c 300000 /dev/urandom > keep.bin && cp keep.bin "$SHARED/keep.bin"
check fsync_bin sync keep.bin
# A file in a directory made just now, fsync'ed as POSIX asks: the file, its
# new directory and the parent.
mkdir newdir2 && printf 'in a new dir\n' > newdir2/inner.txt
check fsync_posix sync newdir2/inner.txt newdir2 .
# The same with the file fsync'ed alone (as most programs do). Last: no
# fsync of the parent may follow before the pull.
mkdir newdir && printf 'in a new dir\n' > newdir/inner.txt
check fsync_inner sync newdir/inner.txt
# Not synced: may be lost, must not damage anything.
echo unsynced > unsynced.txt && chmod 640 keep.bin

# The pull. --nolockfs --noflush: no freeze and no flush first, which would
# write back what a real pull loses.
check pull_suspend timeout 20 dmsetup suspend --nolockfs --noflush stick
check pull_load timeout 20 dmsetup load stick --table "0 $N error"
check pull_resume timeout 20 dmsetup resume stick

check pulled.fsync_fails must_fail_quickly sh -c 'echo later > later.txt && sync later.txt'
check pulled.mkdir_fsync_fails must_fail_quickly sh -c 'mkdir d2 && echo x > d2/f && sync d2/f'
check pulled.listing_ends bounded ls -la
check pulled.chmod_ends bounded chmod 644 keep.txt
check pulled.fs_alive kill -0 "$FS_PID"
cd /run
check pulled.home_umount force_umount "$HOME_DIR"
wait_pid "$FS_PID" 20; st=$?
echo "pershome-fs exit status after the pull: $st"
check pulled.fs_exits test "$st" -ne 124
check pulled.fs_no_signal test "$st" -lt 128
check pulled.stick_umount force_umount "$STICK"
)sh";

const char* const kReplugScript = R"sh(
export TZ=UTC
check stick_mount stick_mount || exit 1
# 0 clean or 1 catch-up (what a pull before the lazy index write leaves,
# e.g. a directory made since the last write); 2 would be damage.
check replug.fs_check sh -c '"$0" --check "$1"; [ $? -le 1 ]' "$FS_BIN" "$STICK/pershome"
check home_mount home_mount || exit 1
cd "$HOME_DIR"
expect_eq replug.content 'precious data' "$(cat keep.txt)"
expect_eq replug.mode 600 "$(stat -c %a keep.txt)"
expect_eq replug.mtime '2021-03-04 05:06:07.123456789 +0000' "$(stat -c %y keep.txt)"
check replug.bin cmp keep.bin "$SHARED/keep.bin"
expect_eq replug.inner 'in a new dir' "$(cat newdir/inner.txt)"
expect_eq replug.inner_posix 'in a new dir' "$(cat newdir2/inner.txt)"
check replug.home_umount home_umount
check replug.stick_umount stick_umount
)sh";

// Pulls at random instants of a workload that keeps making, fsync'ing,
// renaming and chmod'ing files and making directories, ROUNDS times in one
// boot; after each pull the stick is checked in the guest (fsck output for
// the host to judge, pershome-fs --check) and plugged in again: every file
// whose fsync returned is there, under exactly one of the names it had (old
// or new), with its content, its fsync'ed mtime, and its old or new mode;
// every directory made before an fsync of its parent is there; and no entry
// has a name the workload never gave (a backing name leaking through, a
// half-done rename's temporary).
const char* const kRandomPullScript = R"sh(
export TZ=UTC DM_DISABLE_UDEV=1
N=$(blockdev --getsz /dev/ubdb)
force_umount() { umount "$1" 2>/dev/null || umount -l "$1"; }
# fname J: step J's file name in $_f: FAT-legal for odd J, one that needs a
# generated backing name for even J, so both create paths are pulled.
fname() { if [ $(($1 % 2)) = 1 ]; then _f="f$1"; else _f="f$1?"; fi; }
# workload DIR: step j makes, with MKDIR=1 every 4th step, a directory "dJ*"
# (generated backing name), then the file fname J (mode 600, mtime
# 1600000000+j.123456789), fsyncs it and DIR, logs j as durable, then chmods
# it 640 and, with RENAME=1, renames step j-1's file to "g:(j-1)?" (a
# generated name), both not synced (the next step's fsync of DIR may or may
# not carry them).
workload() {
    cd "$HOME_DIR" && mkdir "$1" && sync "$1" . && cd "$1" || return 1
    j=1
    while :; do
        fname "$j"
        if [ "$MKDIR" = 1 ] && [ $((j % 4)) = 0 ]; then mkdir "d$j*" || return 1; fi
        printf 'data %s\n' "$j" > "$_f" && chmod 600 "$_f" &&
            touch -d "@$((1600000000 + j)).123456789" "$_f" && sync "$_f" . || return 1
        echo "$j" > "/run/durable-$1"
        if [ "$RENAME" = 1 ] && [ "$j" -gt 1 ]; then
            fname $((j - 1)); mv "$_f" "g:$((j - 1))?" || return 1; fname "$j"
        fi
        chmod 640 "$_f" || return 1
        j=$((j + 1))
    done
}
ends_within() { wait_pid "$1" "$2"; [ $? -ne 124 ]; }
# verify DIR N CHECK: the N durable steps of DIR's workload, and no stranger.
verify() {
    _d="$HOME_DIR/$1"; _n=$2; _bad=""; _j=1
    while [ "$_j" -le "$_n" ]; do
        fname "$_j"
        _a="$_d/$_f"; _b="$_d/g:$_j?"; _p=""
        if [ -e "$_a" ] && [ -e "$_b" ]; then _bad="$_bad $_f:under-both-names"
        elif [ -e "$_a" ]; then _p=$_a
        elif [ -e "$_b" ]; then _p=$_b
        else _bad="$_bad $_f:lost"; fi
        if [ -n "$_p" ]; then
            [ "$(cat "$_p")" = "data $_j" ] ||
                _bad="$_bad $_f:content(${_p##*/}:$(stat -c %s "$_p")_bytes)"
            _m=$(stat -c %a "$_p")
            [ "$_m" = 600 ] || [ "$_m" = 640 ] || _bad="$_bad $_f:mode=$_m"
            _t=$(stat -c %.9Y "$_p")
            [ "$_t" = "$((1600000000 + _j)).123456789" ] || _bad="$_bad $_f:mtime=$_t"
        fi
        if [ "$MKDIR" = 1 ] && [ $((_j % 4)) = 0 ] && [ ! -d "$_d/d$_j*" ]; then
            _bad="$_bad d$_j*:lost"
        fi
        _j=$((_j + 1))
    done
    # Every name there is one the workload gave, of a step that had begun.
    ls -A "$_d" > /run/names || _bad="$_bad cannot-list"
    while IFS= read -r _e; do
        _k=""
        # The create of the step in flight under its generated backing name:
        # its index entry comes with the directory's next write-back or fsync
        # (pershome-fs(1), WHAT SURVIVES A CRASH).
        case "$_e" in
            [df][0-9]*_~[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f])
                _k=${_e#?}; _k=${_k%%_~*}
                case "$_k" in *[!0-9]*) ;; *) [ "$_k" -eq $((_n + 1)) ] && continue ;; esac
                _k="" ;;
        esac
        case "$_e" in
            g:*\?) [ "$RENAME" = 1 ] && { _k=${_e#g:}; _k=${_k%\?}; } ;;
            d*\*) [ "$MKDIR" = 1 ] && { _k=${_e#d}; _k=${_k%\*}; } ;;
            f*) _k=${_e#f}; _k=${_k%\?} ;;
        esac
        case "$_k" in ''|*[!0-9]*) _bad="$_bad stranger:'$_e'"; continue ;; esac
        fname "$_k"
        case "$_e" in
            g:*|d*) _want=$_e ;;
            *) _want=$_f ;;
        esac
        if [ "$_e" != "$_want" ] || [ "$_k" -gt $((_n + 1)) ] ||
            { [ "${_e#d}" != "$_e" ] && [ $((_k % 4)) != 0 ]; }; then
            _bad="$_bad stranger:'$_e'"
        fi
    done < /run/names
    if [ -z "$_bad" ]; then pass "$3"; else fail "$3" "of $_n durable steps:$_bad"; fi
}
round() {
    check "pull$1.dm_create" dmsetup create stick --table "0 $N linear /dev/ubdb 0" || return 1
    check "pull$1.stick_mount" stick_mount /dev/mapper/stick || return 1
    check "pull$1.home_mount" home_mount -o flush=1 || return 1
    workload "r$1" > "$SHARED/workload-$1.txt" 2>&1 &
    _w=$!
    _pcs=$(( $(od -An -N2 -tu2 /dev/urandom) % 220 + 10 ))
    _uptime_cs; echo "round $1 at $_cs cs uptime: pull after $_pcs cs"
    sleep "$((_pcs / 100)).$((_pcs / 10 % 10))$((_pcs % 10))"
    check "pull$1.pull" sh -c "dmsetup suspend --nolockfs --noflush stick &&
        dmsetup load stick --table '0 $N error' && dmsetup resume stick"
    kill -9 "$_w" 2>/dev/null
    check "pull$1.workload_ends" ends_within "$_w" 20
    cd /run
    force_umount "$HOME_DIR"
    wait_pid "$FS_PID" 20; _st=$?
    echo "round $1: pershome-fs exit status $_st, $(cat "/run/durable-r$1" 2>/dev/null || echo 0) durable"
    check "pull$1.fs_exits" test "$_st" -ne 124 -a "$_st" -lt 128
    force_umount "$STICK"
    check "pull$1.dm_remove" wait_until 10 dmsetup remove stick || return 1
    fsck.vfat -n /dev/ubdb > "$SHARED/fsck-$1.txt" 2>&1; echo $? > "$SHARED/fsck-$1.status"
    # Then repaired, as whoever mounts a pulled stick must: an entry left
    # pointing at clusters the FAT marks free (a pull inside vfat's fsync)
    # would otherwise be handed to the next round's mkdir, and fsck would
    # blame that round for the shared clusters.
    fsck.vfat -a /dev/ubdb > "$SHARED/repair-$1.txt" 2>&1
    check "pull$1.replug" stick_mount /dev/ubdb || return 1
    "$FS_BIN" --check "$STICK/pershome" > "$SHARED/check-$1.txt" 2>&1
    echo $? > "$SHARED/check-$1.status"
    check "pull$1.home_replug" home_mount || return 1
    verify "r$1" "$(cat "/run/durable-r$1" 2>/dev/null || echo 0)" "pull$1.durable_files"
    check "pull$1.home_umount" home_umount
    check "pull$1.stick_umount" stick_umount
    _uptime_cs; echo "round $1 done at $_cs cs uptime"
}
i=1
while [ "$i" -le "$ROUNDS" ]; do round "$i" || break; i=$((i + 1)); done
)sh";

// Pulls per RandomPulls test and run, from PERSHOME_UML_PULLS (default 4).
// Issue 3 asks for at least 50 pulls at random points: the default gives 12
// a ctest run (three tests, about 5 s a pull in one boot), a share of CI's
// time it can afford, so CI reaches 50 over a few runs.
// For 50 in one go run the binary itself (ctest's 150 s timeout would stop
// it): PERSHOME_UML_PULLS=25 build/tests/uml/uml_test --gtest_filter='RandomPulls.*'
int pulls_per_test() {
    const char* env = getenv("PERSHOME_UML_PULLS");
    if (!env || !*env) return 4;
    char* end = nullptr;
    const long n = strtol(env, &end, 10);
    if (*end || n < 1 || n > 1000) {
        ADD_FAILURE() << "PERSHOME_UML_PULLS=" << env << ": want a count of pulls, 1 to 1000";
        return 1;
    }
    return static_cast<int>(n);
}

class PulledStick : public testing::Test {
  protected:
    void SetUp() override {
        if (std::string why = home_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
        // pershome/ made before: on a user's stick it has been there for long,
        // and a directory made just before the pull is not what we test.
        make_fat32_image(image_, 64, {"pershome"});
    }
    void TearDown() override {
        if (HasFailure()) tmp_.keep();
    }

    // Boot 1: write, fsync, pull, poke, unmount.
    GuestResult pull() {
        UmlMachine m(tmp_.path());
        m.add_disk("ubdb", image_);
        m.add_module("dm-mod");
        m.add_guest_library(pershome_guest_library());
        GuestResult r = m.run(kPullScript, 150s);
        EXPECT_TRUE(r.finished()) << r.describe();
        for (const char* c :
             {"dm_create", "stick_mount", "home_mount", "fsync_keep", "fsync_bin", "fsync_inner",
              "fsync_posix", "pull_suspend", "pull_load", "pull_resume"}) {
            EXPECT_TRUE(r.passed(c));
        }
        return r;
    }

    // Boot 2: the stick plugged in again (no device-mapper).
    GuestResult replug() {
        UmlMachine m(tmp_.path());
        m.add_disk("ubdb", image_);
        m.add_guest_library(pershome_guest_library());
        GuestResult r = m.run(kReplugScript, 120s);
        EXPECT_TRUE(r.finished()) << r.describe();
        EXPECT_TRUE(r.passed("stick_mount"));
        EXPECT_TRUE(r.passed("home_mount"));
        return r;
    }

    // A file's bytes on the stick as mtools reads them ("" if it is not there).
    std::string on_stick(const std::string& path) {
        const fs::path copy = tmp_ / "from-stick";
        fs::remove(copy);
        ToolResult t =
            run_tool({"mcopy", "-n", "-i", image_.string(), "::/pershome/" + path, copy.string()});
        EXPECT_EQ(t.status, 0) << t.text();
        return fs::exists(copy) ? read_file(copy) : "";
    }

    TempDir tmp_{"pershome-uml"};
    fs::path image_ = tmp_ / "stick.img";
};

TEST_F(PulledStick, FailsCleanlyAndKeepsFsyncedData) {
    GuestResult r = pull();
    for (const char* c : {"pulled.fsync_fails", "pulled.mkdir_fsync_fails", "pulled.listing_ends",
                          "pulled.chmod_ends", "pulled.fs_alive", "pulled.home_umount",
                          "pulled.fs_exits", "pulled.fs_no_signal", "pulled.stick_umount"}) {
        EXPECT_TRUE(r.passed(c));
    }
    const std::string log = pershome_fs_log(tmp_.path());
    EXPECT_TRUE(log_is_clean(log));
    EXPECT_NE(log.find("Input/output error"), std::string::npos)
        << "pershome-fs did not report the I/O errors:\n"
        << log;

    FsckResult f = fsck_vfat(image_);
    EXPECT_TRUE(f.no_damage) << f.output;
    EXPECT_EQ(on_stick("keep.txt"), "precious data\n");
    EXPECT_TRUE(on_stick("keep.bin") == read_file(tmp_ / "keep.bin")) << "keep.bin differs";
}

// A file fsync'ed with its new directory and that directory's parent, as
// POSIX asks for a new file to be durable.
TEST_F(PulledStick, FileFsyncedWithItsNewDirectoriesSurvives) {
    pull();
    EXPECT_EQ(on_stick("newdir2/inner.txt"), "in a new dir\n");
}

// A file fsync'ed alone in a directory made just before (what most programs
// do; ext4 keeps it, its journal commits the mkdir with the fsync): the
// directory's own entry must reach the stick too, or the file is
// unreachable after the pull.
// It failed until pershome-fs fsynced the parent right after each backing
// mkdir (vfat keeps a new directory's entry in the parent's buffers).
TEST_F(PulledStick, FsyncedFileInANewDirectorySurvives) {
    pull();
    EXPECT_EQ(on_stick("newdir/inner.txt"), "in a new dir\n");
}

TEST_F(PulledStick, FsyncedMetadataSurvivesReplug) {
    pull();
    GuestResult r = replug();
    for (const char* c :
         {"replug.fs_check", "replug.content", "replug.mode", "replug.mtime", "replug.bin",
          "replug.inner_posix", "replug.home_umount", "replug.stick_umount"}) {
        EXPECT_TRUE(r.passed(c));
    }
    EXPECT_TRUE(log_is_clean(pershome_fs_log(tmp_.path())));
    // Linux leaves a dirty bit it found at mount for fsck to see.
    FsckResult f = fsck_vfat(image_);
    EXPECT_TRUE(f.no_damage) << f.output;
}

class RandomPulls : public PulledStick {
  protected:
    // pulls_per_test() pulls in one boot, then the host's judgement of each.
    void run_rounds(bool renames, bool mkdirs = false) {
        const int rounds = pulls_per_test();
        UmlMachine m(tmp_.path());
        m.add_disk("ubdb", image_);
        m.add_module("dm-mod");
        m.add_guest_library(pershome_guest_library());
        // About 5 s a round when two tests share 2 cores; twice that spare.
        GuestResult r =
            m.run("ROUNDS=" + std::to_string(rounds) + " RENAME=" + (renames ? "1" : "0") +
                      " MKDIR=" + (mkdirs ? "1" : "0") + "\n" + kRandomPullScript,
                  std::chrono::seconds(20 + 15 * rounds));
        ASSERT_TRUE(r.finished()) << r.describe();
        EXPECT_TRUE(r.all_passed());
        int beyond_dirty_bit = 0;
        for (int i = 1; i <= rounds; ++i) {
            const std::string n = std::to_string(i);
            SCOPED_TRACE("pull " + n);
            EXPECT_TRUE(r.passed("pull" + n + ".durable_files"));
            EXPECT_TRUE(r.passed("pull" + n + ".fs_exits"));
            // The FAT: no damage beyond what any pull leaves (dirty bit,
            // lost clusters). A pull without the flush that `dmsetup
            // suspend` does by default can leave lost clusters; only the
            // dirty bit is left when everything had reached the stick.
            const std::string fsck_status = read_file(tmp_ / ("fsck-" + n + ".status"));
            ASSERT_FALSE(fsck_status.empty());
            FsckResult f =
                classify_fsck(std::stoi(fsck_status), read_file(tmp_ / ("fsck-" + n + ".txt")));
            EXPECT_TRUE(f.no_damage) << f.output;
            if (!f.clean && !f.clean_but_dirty) ++beyond_dirty_bit;
            // The index: --check finds no damage (exit status 2) and could
            // check (3), and names nothing pershome-fs itself would refuse
            // to write. Crash catch-up (status 1: files added, entries
            // dropped) is what a pull before the lazy index write leaves;
            // the mount reconciles it.
            const std::string check = read_file(tmp_ / ("check-" + n + ".txt"));
            const std::string check_status = read_file(tmp_ / ("check-" + n + ".status"));
            EXPECT_TRUE(check_status == "0\n" || check_status == "1\n")
                << "--check exit status " << check_status << check;
            static const std::regex damage(
                "no index slot verifies|index file too large|invalid|duplicate|cannot list|"
                "forbidden type|without backing name|without link id|sanitised|NUL in|"
                "empty symlink target");
            EXPECT_FALSE(std::regex_search(check, damage)) << check;
            std::cout << "pull " << n << ": pershome-fs --check said:\n" << check;
        }
        std::cout << r.out << rounds
                  << " pulls; fsck found lost clusters or a wrong free count after "
                  << beyond_dirty_bit << " of them, only the dirty bit after the others\n";
        EXPECT_TRUE(log_is_clean(pershome_fs_log(tmp_.path())));
    }
};

TEST_F(RandomPulls, DuringCreatesAndChmodsKeepEveryFsyncedFile) {
    run_rounds(false);
}

// A file fsync'ed, then renamed to a name that needs a generated backing
// name, the directory fsync'ed by the next step, then the stick pulled: the
// file must be under its old or its new name, whole. (Linux vfat writes a
// renamed file's clusters and size into its new entry only when the file
// itself is written back; pershome-fs fsyncs renamed files with their
// directory since 6196a8c, found by this test.)
TEST_F(RandomPulls, DuringRenamesKeepEveryFsyncedFile) {
    run_rounds(true);
}

// A pull while the workload makes directories (some with generated backing
// names, "d4*" as d4_~13d2f93d) must leave the FAT undamaged. It did not:
// fsck found a new directory's entry with a cluster lacking '.' and '..',
// later handed out again. vfat keeps a new directory's cluster as dirty
// buffers of the parent, while the parent's entry reached the stick with the
// next index write in that block. pershome-fs now fsyncs the parent right
// after the backing mkdir (failed 2 of 3 runs of 6 pulls before; 0 of 6 after).
TEST_F(RandomPulls, DuringMkdirsLeaveTheFatUndamaged) {
    run_rounds(false, true);
}

}  // namespace
