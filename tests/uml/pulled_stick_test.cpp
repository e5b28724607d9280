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

#include <filesystem>
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
check replug.fs_check "$FS_BIN" --check "$STICK/pershome"
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
// renaming and chmod'ing files, ROUNDS times in one boot; after each pull
// the stick is checked in the guest (fsck output for the host to judge,
// pershome-fs --check) and plugged in again: every file whose fsync
// returned is there, under exactly one of the names it had (old or new),
// with its content, its fsync'ed mtime, and its old or new mode.
const char* const kRandomPullScript = R"sh(
export TZ=UTC DM_DISABLE_UDEV=1
N=$(blockdev --getsz /dev/ubdb)
force_umount() { umount "$1" 2>/dev/null || umount -l "$1"; }
# workload DIR: step j makes fJ (mode 600, mtime 1600000000+j.123456789),
# fsyncs it and DIR, logs j as durable, then chmods fJ 640 and, with
# RENAME=1, renames f(j-1) to "g:(j-1)?" (a generated backing name), both
# not synced (the next step's fsync of DIR may or may not carry them).
workload() {
    cd "$HOME_DIR" && mkdir "$1" && sync "$1" . && cd "$1" || return 1
    j=1
    while :; do
        printf 'data %s\n' "$j" > "f$j" && chmod 600 "f$j" &&
            touch -d "@$((1600000000 + j)).123456789" "f$j" && sync "f$j" . || return 1
        echo "$j" > "/run/durable-$1"
        if [ "$RENAME" = 1 ] && [ "$j" -gt 1 ]; then mv "f$((j - 1))" "g:$((j - 1))?" || return 1; fi
        chmod 640 "f$j" || return 1
        j=$((j + 1))
    done
}
ends_within() { wait_pid "$1" "$2"; [ $? -ne 124 ]; }
verify() {
    _d="$HOME_DIR/$1"; _n=$2; _bad=""; _j=1
    while [ "$_j" -le "$_n" ]; do
        _a="$_d/f$_j"; _b="$_d/g:$_j?"; _p=""
        if [ -e "$_a" ] && [ -e "$_b" ]; then _bad="$_bad f$_j:under-both-names"
        elif [ -e "$_a" ]; then _p=$_a
        elif [ -e "$_b" ]; then _p=$_b
        else _bad="$_bad f$_j:lost"; fi
        if [ -n "$_p" ]; then
            [ "$(cat "$_p")" = "data $_j" ] ||
                _bad="$_bad f$_j:content(${_p##*/}:$(stat -c %s "$_p")_bytes)"
            _m=$(stat -c %a "$_p")
            [ "$_m" = 600 ] || [ "$_m" = 640 ] || _bad="$_bad f$_j:mode=$_m"
            _t=$(stat -c %.9Y "$_p")
            [ "$_t" = "$((1600000000 + _j)).123456789" ] || _bad="$_bad f$_j:mtime=$_t"
        fi
        _j=$((_j + 1))
    done
    if [ -z "$_bad" ]; then pass "$3"; else fail "$3" "of $_n durable files:$_bad"; fi
}
round() {
    check "pull$1.dm_create" dmsetup create stick --table "0 $N linear /dev/ubdb 0" || return 1
    check "pull$1.stick_mount" stick_mount /dev/mapper/stick || return 1
    check "pull$1.home_mount" home_mount -o flush=1 || return 1
    workload "r$1" > "$SHARED/workload-$1.txt" 2>&1 &
    _w=$!
    _cs=$(( $(od -An -N2 -tu2 /dev/urandom) % 200 + 30 ))
    echo "round $1: pull after $_cs cs"
    sleep "$((_cs / 100)).$((_cs / 10 % 10))$((_cs % 10))"
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
    check "pull$1.replug" stick_mount /dev/ubdb || return 1
    "$FS_BIN" --check "$STICK/pershome" > "$SHARED/check-$1.txt" 2>&1
    echo $? > "$SHARED/check-$1.status"
    check "pull$1.home_replug" home_mount || return 1
    verify "r$1" "$(cat "/run/durable-r$1" 2>/dev/null || echo 0)" "pull$1.durable_files"
    check "pull$1.home_umount" home_umount
    check "pull$1.stick_umount" stick_umount
}
i=1
while [ "$i" -le "$ROUNDS" ]; do round "$i" || break; i=$((i + 1)); done
)sh";

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
// FAILS (pershome-fs): fsync of newdir/inner.txt writes the file and
// newdir's index, not newdir's entry in its parent: after the pull newdir
// is not on the stick (its clusters are lost) and the fsync'ed file with it.
// POSIX allows that; a home on a stick that is pulled should not.
TEST_F(PulledStick, DISABLED_FsyncedFileInANewDirectorySurvives) {
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
    // ROUNDS pulls in one boot, then the host's judgement of each.
    void run_rounds(bool renames) {
        const int rounds = 4;
        UmlMachine m(tmp_.path());
        m.add_disk("ubdb", image_);
        m.add_module("dm-mod");
        m.add_guest_library(pershome_guest_library());
        GuestResult r = m.run("ROUNDS=" + std::to_string(rounds) +
                                  " RENAME=" + (renames ? "1" : "0") + "\n" + kRandomPullScript,
                              140s);
        ASSERT_TRUE(r.finished()) << r.describe();
        EXPECT_TRUE(r.all_passed());
        for (int i = 1; i <= rounds; ++i) {
            const std::string n = std::to_string(i);
            SCOPED_TRACE("pull " + n);
            EXPECT_TRUE(r.passed("pull" + n + ".durable_files"));
            EXPECT_TRUE(r.passed("pull" + n + ".fs_exits"));
            // The FAT: no damage beyond what any pull leaves (dirty bit,
            // lost clusters).
            const std::string fsck_status = read_file(tmp_ / ("fsck-" + n + ".status"));
            ASSERT_FALSE(fsck_status.empty());
            FsckResult f =
                classify_fsck(std::stoi(fsck_status), read_file(tmp_ / ("fsck-" + n + ".txt")));
            EXPECT_TRUE(f.no_damage) << f.output;
            // The index: no damaged slot, and the check ran (status 2:
            // could not). Files added or entries dropped are what a pull
            // before the lazy index write leaves; the mount reconciles them.
            const std::string check = read_file(tmp_ / ("check-" + n + ".txt"));
            EXPECT_NE(read_file(tmp_ / ("check-" + n + ".status")), "2\n") << check;
            static const std::regex damage("no index slot verifies|index file too large");
            EXPECT_FALSE(std::regex_search(check, damage)) << check;
            std::cout << "pull " << n << ": pershome-fs --check said:\n" << check;
        }
        std::cout << r.out;
        EXPECT_TRUE(log_is_clean(pershome_fs_log(tmp_.path())));
    }
};

TEST_F(RandomPulls, DuringCreatesAndChmodsKeepEveryFsyncedFile) {
    run_rounds(false);
}

// FAILS (pershome-fs on vfat): a file fsync'ed, then renamed to a name that
// needs a generated backing name, the directory fsync'ed afterwards by the
// next step, then the stick pulled: the file is found under its new name
// empty (0 bytes, the mtime of the pull instead of its fsync'ed one), its
// data clusters lost, or it is gone altogether ("entry without backing file
// dropped: g:6?"). Linux vfat writes a renamed file's cluster and size into
// its new directory entry only when the renamed inode is written back; an
// fsync of the directory does not do that, the file's own fsync does. So a
// rename is durable on vfat only after an fsync of the renamed file itself,
// which pershome-fs's rename (or its fsyncdir) has to do. Seen in every
// round of 4.
TEST_F(RandomPulls, DISABLED_DuringRenamesKeepEveryFsyncedFile) {
    run_rounds(true);
}

}  // namespace
