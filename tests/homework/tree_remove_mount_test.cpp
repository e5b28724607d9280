// Mounts inside a home must survive its removal. Every mount is made in a forked child that
// first enters a private mount namespace, so nothing reaches the host's mount table.
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include <gtest/gtest.h>

#include "homework/tree_remove.hpp"
#include "temp_dir.hpp"
#include "tests/support/mount_namespace.hpp"

namespace pershome::homework {
namespace {

using test::exists;
using test::make_dir;
using test::read_file;
using test::TempDir;
using test::write_file;

bool enter_private_mount_namespace() {
    try {
        pershome::test::enter_private_mount_namespace();
        return true;
    } catch (const std::exception&) {
        return false;
    }
}

// An fd opened before unshare() still points into the old namespace's mounts and would not see
// the mounts made in the new one; the daemon, like these children, must open its dirfds in the
// namespace where the mounts are.
UniqueFd open_here(const TempDir& tmp) {
    return UniqueFd(::open(tmp.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(RemoveTreeMounts, BindMountAndTmpfsInsideAreLeftUntouched) {
    TempDir tmp;
    make_dir(tmp / "stick");
    write_file(tmp / "stick/report.odt", "Joseph's report");
    make_dir(tmp / "stick/sub");
    write_file(tmp / "stick/sub/notes", "notes");
    make_dir(tmp / "home");
    write_file(tmp / "home/plain", "goes");
    make_dir(tmp / "home/docs");
    write_file(tmp / "home/docs/old", "goes");
    make_dir(tmp / "home/docs/mnt");
    make_dir(tmp / "home/scratch");
    make_dir(tmp / "home/other");
    write_file(tmp / "home/other/x", "goes");

    test::in_child([&](std::string& failures) {
        CHILD_CHECK(failures, enter_private_mount_namespace());
        // Same filesystem, same st_dev: only the mount id tells this one apart.
        CHILD_CHECK(failures, ::mount((tmp / "stick").c_str(), (tmp / "home/docs/mnt").c_str(),
                                      nullptr, MS_BIND, nullptr) == 0);
        CHILD_CHECK(failures,
                    ::mount("tmpfs", (tmp / "home/scratch").c_str(), "tmpfs", 0, "size=1m") == 0);
        write_file(tmp / "home/scratch/in-tmpfs", "tmpfs data");

        auto r = remove_tree(open_here(tmp).get(), "home");
        CHILD_CHECK(failures, r.has_value());
        if (!r) return;
        CHILD_CHECK(failures, !r->top_removed);
        CHILD_CHECK(failures, r->skipped_mounts.size() == 2);
        CHILD_CHECK(failures, contains(r->skipped_mounts, "docs/mnt"));
        CHILD_CHECK(failures, contains(r->skipped_mounts, "scratch"));
        CHILD_CHECK(failures, r->failures.empty());
        // The mounts' content, seen through the mount points, is intact.
        CHILD_CHECK(failures, read_file(tmp / "home/docs/mnt/report.odt") == "Joseph's report");
        CHILD_CHECK(failures, read_file(tmp / "home/docs/mnt/sub/notes") == "notes");
        CHILD_CHECK(failures, read_file(tmp / "home/scratch/in-tmpfs") == "tmpfs data");
        // Everything else went; only the ancestors of the mount points stay.
        CHILD_CHECK(failures, !exists(tmp / "home/plain"));
        CHILD_CHECK(failures, !exists(tmp / "home/docs/old"));
        CHILD_CHECK(failures, !exists(tmp / "home/other"));
        CHILD_CHECK(failures, exists(tmp / "home/docs"));

        // Once unmounted, a second pass removes the rest.
        CHILD_CHECK(failures, ::umount((tmp / "home/docs/mnt").c_str()) == 0);
        CHILD_CHECK(failures, ::umount((tmp / "home/scratch").c_str()) == 0);
        auto again = remove_tree(open_here(tmp).get(), "home");
        CHILD_CHECK(failures, again.has_value() && again->top_removed);
        CHILD_CHECK(failures, !exists(tmp / "home"));
    });
    // Seen from outside the namespace: the bind mount's source was never touched.
    EXPECT_EQ(read_file(tmp / "stick/report.odt"), "Joseph's report");
    EXPECT_EQ(read_file(tmp / "stick/sub/notes"), "notes");
}

TEST(RemoveTreeMounts, FileBindMountInsideIsLeftUntouched) {
    TempDir tmp;
    write_file(tmp / "precious", "keep");
    make_dir(tmp / "home");
    write_file(tmp / "home/target", "placeholder");
    write_file(tmp / "home/other", "goes");
    test::in_child([&](std::string& failures) {
        CHILD_CHECK(failures, enter_private_mount_namespace());
        CHILD_CHECK(failures, ::mount((tmp / "precious").c_str(), (tmp / "home/target").c_str(),
                                      nullptr, MS_BIND, nullptr) == 0);
        auto r = remove_tree(open_here(tmp).get(), "home");
        CHILD_CHECK(failures, r.has_value());
        if (!r) return;
        CHILD_CHECK(failures, !r->top_removed);
        CHILD_CHECK(failures, contains(r->skipped_mounts, "target"));
        CHILD_CHECK(failures, read_file(tmp / "home/target") == "keep");
        CHILD_CHECK(failures, !exists(tmp / "home/other"));
    });
    EXPECT_EQ(read_file(tmp / "precious"), "keep");
}

TEST(RemoveTreeMounts, RefusesTopThatIsAMountPoint) {
    TempDir tmp;
    make_dir(tmp / "stick");
    write_file(tmp / "stick/report.odt", "Joseph's report");
    make_dir(tmp / "home");
    test::in_child([&](std::string& failures) {
        CHILD_CHECK(failures, enter_private_mount_namespace());
        CHILD_CHECK(failures, ::mount((tmp / "stick").c_str(), (tmp / "home").c_str(), nullptr,
                                      MS_BIND, nullptr) == 0);
        auto r = remove_tree(open_here(tmp).get(), "home");
        CHILD_CHECK(failures, !r.has_value());
        if (!r) CHILD_CHECK(failures, r.error().find("mount point") != std::string::npos);
        CHILD_CHECK(failures, read_file(tmp / "home/report.odt") == "Joseph's report");
    });
    EXPECT_EQ(read_file(tmp / "stick/report.odt"), "Joseph's report");
}

}  // namespace
}  // namespace pershome::homework
