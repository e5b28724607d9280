// A user-mode Linux machine for tests: the real Linux kernel (vfat, fuse,
// device-mapper, udev) as an ordinary process, with the host's / as its root
// through hostfs, so the build tree and every installed program are there.
//
// One boot costs about 2 s, so a test boots once and runs a whole sequence of
// checks in one guest script. The script is POSIX sh, run by the guest's PID 1
// after a prelude that mounts /proc, /sys, /run, a private /tmp and loads the
// FAT, NLS and FUSE modules. It reports with the prelude's `check` functions
// (see guest/functions.sh) and the host reads the results from
// files in the test's directory, which the guest sees at the same path: UML's
// own exit status says nothing.
//
//   TempDir tmp("pershome-uml");
//   make_fat32_image(tmp / "stick.img", 64, {"pershome"});
//   UmlMachine m(tmp.path());
//   m.add_disk("ubdb", tmp / "stick.img");
//   GuestResult r = m.run("mkdir /run/s\ncheck mount mount -t vfat /dev/ubdb /run/s\n", 60s);
//   EXPECT_TRUE(r.passed("mount"));
//
// Guest functions: check NAME CMD..., check_fails NAME CMD..., expect_eq NAME
// EXPECTED ACTUAL, pass NAME, fail NAME MSG, wait_until SECS CMD...,
// wait_pid PID SECS, signal_host NAME, wait_for_host NAME [SECS],
// load_module NAME... (modprobe in UML's module tree), start_udev. $SHARED
// is the test's directory.
//
// For hot-plug, start() boots in the background; the guest signals readiness
// with `signal_host NAME` (wait_for_file on the host), the host changes disks
// with mconsole("config ubdc=...") and touches files the guest waits for with
// `wait_for_host NAME`; finish() collects the result.
//
// PERSHOME_UML_VERBOSE=1 in the environment prints every guest's output and
// each check's duration to stderr.
//
// Writes from the guest to hostfs reach the host's disk: guest scripts write
// only below the shared directory ($SHARED), /run, /tmp (both private tmpfs)
// and the disks they were given.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "tests/support/process.hpp"

namespace pershome::test::uml {

inline constexpr const char* kUmlKernel = "/usr/bin/linux.uml";

// Why UML tests cannot run on this machine ("" when they can): for GTEST_SKIP.
std::string unavailable_reason();

// The kernel version UML runs (its module directory under /usr/lib/uml/modules).
std::string kernel_version();

struct CheckOutcome {
    bool ok = true;
    std::string detail;  // for a failed check: its status and output
};

struct GuestResult {
    enum class Outcome {
        Finished,  // the guest script ran to its end (any exit status)
        NoBoot,    // the guest never reached the script (boot deadline or UML died)
        Timeout,   // the script was still running at the deadline; UML was killed
        Died,      // UML exited while the script ran (kernel panic, oops, ...)
    };
    Outcome outcome = Outcome::NoBoot;
    int exit_status = -1;                    // the script's, when Finished
    std::string out;                         // the script's stdout (check reports included)
    std::string err;                         // the script's stderr
    std::string console;                     // UML's console: kernel messages
    std::chrono::milliseconds boot_time{0};  // start to the guest script's first line
    std::chrono::milliseconds total_time{0};
    std::chrono::seconds deadline{0};

    // Check reports parsed from `out`, by name, and the order they came in.
    std::map<std::string, CheckOutcome> checks;
    std::vector<std::string> check_order;

    bool finished() const { return outcome == Outcome::Finished; }

    // A paragraph for failure messages: what happened, the script's exit
    // status, the tails of its stderr and of the kernel's console.
    std::string describe() const;

    // The script ran to its end with status 0.
    testing::AssertionResult ok() const;
    // The check named NAME ran, and passed every time it ran.
    testing::AssertionResult passed(const std::string& name) const;
    // The check named NAME ran and failed (for checks that must fail).
    testing::AssertionResult failed(const std::string& name) const;
    // Checks whose names start with PREFIX ran (at least one) and passed.
    testing::AssertionResult passed_all(const std::string& prefix) const;
    // The script finished and every check it ran passed.
    testing::AssertionResult all_passed() const;
};

class UmlMachine {
  public:
    // DIR: the test's temp dir; the machine keeps its files in DIR/uml and the
    // guest sees DIR at the same path ($SHARED). NAME: the umid (mconsole).
    explicit UmlMachine(std::filesystem::path dir, std::string name = "pershome");
    ~UmlMachine();
    UmlMachine(const UmlMachine&) = delete;
    UmlMachine& operator=(const UmlMachine&) = delete;

    // /dev/UBD (ubdb, ubdc, ...) in the guest is IMAGE. Before start().
    void add_disk(const std::string& ubd, const std::filesystem::path& image);
    void set_memory_mb(int mb) { memory_mb_ = mb; }
    void set_boot_timeout(std::chrono::seconds s) { boot_timeout_ = s; }
    // Extra modules to load, as paths under kernel/ without .ko, e.g.
    // "drivers/md/dm-mod". FAT, NLS and FUSE are always loaded.
    void add_module(const std::string& module) { modules_.push_back(module); }
    // Extra shell text the guest sources before the script (helper functions).
    void add_guest_library(const std::string& text) { libraries_.push_back(text); }
    // Another PID 1 than guest/boot.sh (its SHARED= and MODULES= lines come
    // first all the same): systemd_guest.hpp boots systemd with it.
    void set_boot_script(std::string text) { boot_script_ = std::move(text); }

    const std::filesystem::path& shared_dir() const { return dir_; }

    // Boots with SCRIPT; returns at once.
    void start(const std::string& script);
    // Waits for the file SHARED/NAME (the guest's `signal_host NAME`) while
    // UML runs. False when UML ended or the deadline passed first.
    bool wait_for_file(const std::string& name, Clock::time_point deadline);
    // uml_mconsole COMMAND against this machine; the reply ("OK ..." or
    // "ERR ..."). Throws if mconsole cannot be run.
    std::string mconsole(const std::string& command);
    // Waits for the guest to power off, at most until TIMEOUT after start();
    // kills UML (its whole process group) at the deadline.
    GuestResult finish(std::chrono::seconds timeout);

    // start + finish.
    GuestResult run(const std::string& script, std::chrono::seconds timeout) {
        start(script);
        return finish(timeout);
    }

  private:
    std::filesystem::path guest_file(const std::string& name) const { return dir_ / "uml" / name; }
    void kill_group();

    std::filesystem::path dir_;
    std::string name_;
    std::vector<std::pair<std::string, std::filesystem::path>> disks_;
    std::vector<std::string> modules_;
    std::vector<std::string> libraries_;
    std::string boot_script_;  // "": guest/boot.sh
    int memory_mb_ = 1024;
    std::chrono::seconds boot_timeout_{60};
    Child uml_;
    bool exited_ = false;  // UML powered off (or died) by itself
    Clock::time_point started_{};
};

// What a host tool printed and how it ended.
struct ToolResult {
    int status = -1;  // exit status; -1: killed at its deadline or by a signal
    std::string out, err;
    std::string text() const { return out + err; }
};

// Runs ARGV (argv[0] a path or a name looked up in PATH) on the host with a
// deadline; killed by pid at the deadline. LC_ALL=C.UTF-8 so tools print UTF-8.
ToolResult run_tool(const std::vector<std::string>& argv,
                    std::chrono::seconds timeout = std::chrono::seconds(30));

// A FAT32 image of MB megabytes (at least 64: FAT32 needs 65525 clusters)
// with FOLDERS (made with mmd, in order).
void make_fat32_image(const std::filesystem::path& image, int mb,
                      const std::vector<std::string>& folders = {},
                      const std::string& label = "STICK");

// fsck.vfat -n IMAGE. `clean`: nothing to report. `clean_but_dirty`: the
// only finding is the dirty bit (and its copy in the backup boot sector),
// which every stick pulled while mounted has: Linux sets it at mount.
// `no_damage`: besides the dirty bit, at most lost clusters (allocated in
// the FAT, in no file): what a pull leaves on FAT when the FAT sectors were
// written (any fsync on vfat writes them all) but the entries of files made
// since were not. No file is damaged by that; fsck -a frees the space.
struct FsckResult {
    int status = -1;
    std::string output;
    bool clean = false;
    bool clean_but_dirty = false;
    bool no_damage = false;
};
FsckResult fsck_vfat(const std::filesystem::path& image);
// The same judgement of fsck.vfat -n output got elsewhere (in a guest).
FsckResult classify_fsck(int status, const std::string& output);

// mdir -b: the long names (or 8.3 names) of the entries of DIR ("::/pershome"),
// directories included (without mdir's trailing '/'), hidden ones not.
std::vector<std::string> mdir_names(const std::filesystem::path& image, const std::string& dir);

}  // namespace pershome::test::uml
