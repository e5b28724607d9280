// Guest-side helpers for running pershome-fs on the kernel's vfat inside a
// UmlMachine, and host-side looks at the stick image afterwards.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/uml/uml_machine.hpp"

namespace pershome::test::uml {

// The pershome-fs binary of this build.
std::string pershome_fs_binary();

// Why pershome-fs cannot be tested in UML here ("" when it can): UML
// missing, or a sanitizer build (ASan cannot place its shadow memory in a
// UML guest's address space: "Shadow memory range interleaves with an
// existing memory mapping").
std::string home_unavailable_reason();

// The attribute-storm program (bench/fs/workload.cpp): `STORM storm DIR`
// makes 100 files in DIR, then chmods/utimensats them 10,000 times and
// prints the seconds the changes took.
std::string storm_workload_binary();

// Shell functions for UmlMachine::add_guest_library (documented in the .cpp):
// stick_mount [DEV], stick_umount, home_mount [OPT...], home_umount,
// home_is_mounted, listing DIR, times_listing DIR, backing_listing DIR, with
// $STICK (/run/stick), $HOME_DIR (/run/home), $FS_PID, $FS_LOG
// ($SHARED/pershome-fs.log), $VFAT_OPTS (as udisks mounts sticks, minus
// `flush`, which costs ~100 ms per close in UML) and $STORM_BIN.
std::string pershome_guest_library();

// What pershome-fs logged in the guest (SHARED/pershome-fs.log), and whether
// it holds a sanitizer report or a crash.
std::string pershome_fs_log(const std::filesystem::path& shared);
testing::AssertionResult log_is_clean(const std::string& log);

// What pershome-fs said at each unmount ("pershome-fs: N index writes, M
// bytes"), in the order of the log: one per mount that ended cleanly.
struct IndexWrites {
    long writes = 0;
    long bytes = 0;
};
std::vector<IndexWrites> index_writes(const std::string& log);

// The same listing as the guest's `backing_listing`, of DIR inside IMAGE as
// fusefat (a second FAT implementation, in user space) shows it. fusefat
// runs read-only, in this process's private mount namespace, bounded by
// TIMEOUT. Throws with fusefat's output when it cannot mount or list.
std::string fusefat_listing(const std::filesystem::path& image, const std::string& dir,
                            const std::filesystem::path& scratch,
                            std::chrono::seconds timeout = std::chrono::seconds(30));

}  // namespace pershome::test::uml
