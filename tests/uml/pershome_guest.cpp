#include "tests/uml/pershome_guest.hpp"

#include <sys/mount.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>

#include "tests/support/mount_namespace.hpp"
#include "tests/support/temp_dir.hpp"

namespace pershome::test::uml {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Lists a FAT tree so that two FAT drivers can be compared: path, type and
// size (not for directories: drivers report them differently), then an md5
// of every file. Run by the guest on vfat and by the host on fusefat.
const char* const kBackingListing = R"sh(
backing_listing() {
    (cd "$1" || exit 1
     find . -mindepth 1 -printf '%p|%y|%s\n' |
         awk -F'|' -v OFS='|' '$2 == "d" { $3 = "" } { print }' | LC_ALL=C sort
     find . -mindepth 1 -type f -exec md5sum {} + | LC_ALL=C sort -k 2)
}
)sh";

const char* const kHomeFunctions = R"sh(
STICK=/run/stick
HOME_DIR=/run/home
FS_LOG="$SHARED/pershome-fs.log"
export STICK HOME_DIR FS_LOG
# As udisks mounts sticks, without `flush` (slow here, and not what we test).
VFAT_OPTS=shortname=mixed,utf8
# stick_mount [DEVICE]: the stick's vfat at $STICK, with pershome/ on it.
stick_mount() {
    mkdir -p "$STICK" &&
    mount -t vfat -o "$VFAT_OPTS" "${1:-/dev/ubdb}" "$STICK" &&
    mkdir -p "$STICK/pershome"
}
stick_umount() { cd /run && umount "$STICK"; }
home_is_mounted() { grep -q "^[^ ]* $HOME_DIR fuse" /proc/mounts; }
# home_mount [OPTION...]: pershome-fs in the foreground of a background job
# ($FS_PID), so that home_umount can wait for it to write back and exit.
home_mount() {
    mkdir -p "$HOME_DIR"
    echo "== pershome-fs $* $STICK/pershome $HOME_DIR" >> "$FS_LOG"
    "$FS_BIN" -f "$@" "$STICK/pershome" "$HOME_DIR" >> "$FS_LOG" 2>&1 &
    FS_PID=$!
    _uptime_cs; _h_end=$((_cs + 1000))
    until home_is_mounted; do
        if ! kill -0 "$FS_PID" 2>/dev/null; then
            wait "$FS_PID"
            echo "pershome-fs exited with status $? before mounting" >&2
            return 1
        fi
        _uptime_cs
        [ "$_cs" -lt "$_h_end" ] || { echo "pershome-fs did not mount within 10 s" >&2; return 1; }
        sleep 0.05
    done
}
# home_umount: unmounts; waits up to 20 s for pershome-fs to exit. Its exit
# status (124: still running; above 128: killed by a signal).
home_umount() {
    cd /run
    umount "$HOME_DIR" || return 1
    wait_pid "$FS_PID" 20
    _h_st=$?
    [ "$_h_st" -eq 0 ] || echo "pershome-fs: exit status $_h_st" >&2
    return "$_h_st"
}
# listing DIR: path|type|mode|links|size (not of dirs)|symlink target, sorted.
listing() {
    (cd "$1" || exit 1
     find . -mindepth 1 -printf '%p|%y|%m|%n|%s|%l\n' |
         awk -F'|' -v OFS='|' '$2 == "d" { $5 = "" } { print }' | LC_ALL=C sort)
}
# times_listing DIR: path|mtime|ctime, to the nanosecond, sorted.
times_listing() {
    (cd "$1" || exit 1; find . -printf '%p|%T@|%C@\n' | LC_ALL=C sort)
}
# atimes_listing DIR: path|atime.
atimes_listing() {
    (cd "$1" || exit 1; find . -printf '%p|%A@\n' | LC_ALL=C sort)
}
)sh";

}  // namespace

std::string pershome_fs_binary() {
    return PERSHOME_FS_BIN;
}

std::string storm_workload_binary() {
    return PERSHOME_STORM_BIN;
}

std::string home_unavailable_reason() {
    if (std::string why = unavailable_reason(); !why.empty()) return why;
#ifdef PERSHOME_FS_SANITIZED
    return "sanitizer build: ASan cannot map its shadow memory inside user-mode Linux";
#else
    return "";
#endif
}

std::string pershome_guest_library() {
    return "FS_BIN='" + pershome_fs_binary() + "'\nSTORM_BIN='" + storm_workload_binary() + "'\n" +
           kHomeFunctions + kBackingListing;
}

std::string pershome_fs_log(const std::filesystem::path& shared) {
    return read_file(shared / "pershome-fs.log");
}

testing::AssertionResult log_is_clean(const std::string& log) {
    for (const char* bad : {"AddressSanitizer", "runtime error:", "LeakSanitizer", "Segmentation",
                            "Aborted", "terminate called"}) {
        if (log.find(bad) != std::string::npos) {
            return testing::AssertionFailure() << "pershome-fs log holds \"" << bad << "\":\n"
                                               << log;
        }
    }
    return testing::AssertionSuccess();
}

std::vector<IndexWrites> index_writes(const std::string& log) {
    static const std::regex line(R"(pershome-fs: (\d+) index writes, (\d+) bytes)");
    std::vector<IndexWrites> all;
    for (std::sregex_iterator it(log.begin(), log.end(), line), end; it != end; ++it) {
        all.push_back({std::stol((*it)[1]), std::stol((*it)[2])});
    }
    return all;
}

std::string fusefat_listing(const std::filesystem::path& image, const std::string& dir,
                            const std::filesystem::path& scratch, std::chrono::seconds timeout) {
    // Nothing mounted here may reach the machine.
    enter_private_mount_namespace();
    const fs::path mnt = scratch / "fusefat";
    fs::create_directories(mnt);
    const fs::path log = scratch / "fusefat.log";
    Child fusefat;
    std::vector<std::string> env = clean_environment();
    fusefat.start({"/usr/bin/fusefat", "-f", "-o", "ro", image.string(), mnt.string()}, env,
                  log.string());
    fusefat.close_stdin();
    const auto deadline = Clock::now() + timeout;
    auto mounted = [&] {
        std::ifstream m("/proc/self/mounts");
        std::string line;
        const std::string needle = " " + mnt.string() + " ";
        while (std::getline(m, line)) {
            if (line.find(needle) != std::string::npos) return true;
        }
        return false;
    };
    while (!mounted()) {
        if (Clock::now() >= deadline || fusefat.wait(Clock::now() + 20ms) != -1) {
            throw std::runtime_error("fusefat did not mount " + image.string() + ":\n" +
                                     read_file(log));
        }
    }
    // fusefat was seen to spin forever in its FAT-chain code: the listing is
    // bounded, and fusefat is killed by pid whatever happens.
    ToolResult r = run_tool(
        {"timeout", std::to_string(timeout.count()), "sh", "-c",
         std::string(kBackingListing) + "backing_listing \"$1\"", "sh", (mnt / dir).string()},
        timeout + 5s);
    umount2(mnt.c_str(), MNT_DETACH);
    fusefat.kill_and_reap();
    if (r.status != 0) {
        throw std::runtime_error("listing through fusefat failed (status " +
                                 std::to_string(r.status) + "):\n" + r.text() + "\n" +
                                 read_file(log));
    }
    return r.out;
}

}  // namespace pershome::test::uml
