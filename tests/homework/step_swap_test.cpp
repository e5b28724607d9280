// A process of the user, left over from an earlier session, swaps an entry that root has just
// made or looked up by name for a link to a file outside, hoping root then gives that file away
// (issue 14, finding 2). The swap is injected through homework's step hook at the worst moment;
// the file outside must keep its owner, mode and times whatever the code under test does.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "capabilities.hpp"
#include "homework/skel_copy.hpp"
#include "homework/step_hook.hpp"
#include "homework/tree_remove.hpp"
#include "temp_dir.hpp"

namespace pershome::homework {
namespace {

using test::make_dir;
using test::TempDir;
using test::write_file;

constexpr uid_t kUid = 12345;
constexpr gid_t kGid = 23456;

enum class Swap { kHardLinkToFile, kSymlinkToFile, kHardLinkToSymlink };

// What the hook does; a plain function pointer cannot capture, so it lives here.
struct Plan {
    Step step{};
    Swap swap{};
    std::string victim;       // root's file outside, 0640
    std::string victim_link;  // root's symlink outside
    int fired = 0;
};
Plan g_plan;

void swap_entry(Step step, int dirfd, const char* name) {
    if (step != g_plan.step || g_plan.fired++ > 0) return;
    struct stat st {};
    const bool is_dir =
        ::fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
    if (::unlinkat(dirfd, name, is_dir ? AT_REMOVEDIR : 0) != 0) std::abort();
    int rc = -1;
    switch (g_plan.swap) {
        case Swap::kHardLinkToFile:
            rc = ::linkat(AT_FDCWD, g_plan.victim.c_str(), dirfd, name, 0);
            break;
        case Swap::kSymlinkToFile:
            rc = ::symlinkat(g_plan.victim.c_str(), dirfd, name);
            break;
        case Swap::kHardLinkToSymlink:  // linkat without AT_SYMLINK_FOLLOW links the link
            rc = ::linkat(AT_FDCWD, g_plan.victim_link.c_str(), dirfd, name, 0);
            break;
    }
    if (rc != 0) std::abort();
}

// Sets the hook for one test and clears it again, whatever happens.
struct HookGuard {
    HookGuard(Step step, Swap swap, const TempDir& tmp) {
        g_plan = Plan{step, swap, tmp / "outside/victim", tmp / "outside/victim-link", 0};
        after_step.store(&swap_entry);
    }
    ~HookGuard() { after_step.store(nullptr); }
};

struct Snapshot {
    uid_t uid;
    gid_t gid;
    mode_t mode;
    struct timespec atime, mtime;
};

Snapshot snapshot(const std::string& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return {};
    return {st.st_uid, st.st_gid, st.st_mode, st.st_atim, st.st_mtim};
}

// "" when `path` still looks as `before`, else what changed.
std::string changes(const std::string& path, const Snapshot& before) {
    const Snapshot now = snapshot(path);
    std::string out;
    if (now.uid != before.uid || now.gid != before.gid) out += " owner";
    if (now.mode != before.mode) out += " mode";
    auto same = [](timespec a, timespec b) {
        return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
    };
    if (!same(now.atime, before.atime) || !same(now.mtime, before.mtime)) out += " times";
    return out.empty() ? "" : path + " changed:" + out;
}

// Root's file and symlink outside any home, with times the copy would never give them, and
// how they looked before the code under test ran.
class Victims {
  public:
    explicit Victims(const TempDir& tmp)
        : file_(tmp / "outside/victim"), link_(tmp / "outside/victim-link") {
        make_dir(tmp / "outside", 0755);
        write_file(file_, "root's own\n", 0640);
        EXPECT_EQ(::symlink("victim", link_.c_str()), 0);
        const struct timespec times[2] = {{1000000000, 0}, {1100000000, 0}};
        EXPECT_EQ(::utimensat(AT_FDCWD, file_.c_str(), times, 0), 0);
        EXPECT_EQ(::utimensat(AT_FDCWD, link_.c_str(), times, AT_SYMLINK_NOFOLLOW), 0);
        file_before_ = snapshot(file_);
        link_before_ = snapshot(link_);
    }
    void expect_untouched() const {
        EXPECT_EQ(changes(file_, file_before_), "");
        EXPECT_EQ(changes(link_, link_before_), "");
        EXPECT_EQ(test::read_file(file_), "root's own\n");
    }

  private:
    std::string file_, link_;
    Snapshot file_before_{}, link_before_{};
};

std::string swap_name(Swap s) {
    switch (s) {
        case Swap::kHardLinkToFile:
            return "HardLinkToFile";
        case Swap::kSymlinkToFile:
            return "SymlinkToFile";
        case Swap::kHardLinkToSymlink:
            return "HardLinkToSymlink";
    }
    return "?";
}

class SkelCopySwap : public ::testing::TestWithParam<std::tuple<Step, Swap>> {};

TEST_P(SkelCopySwap, OutsideFileKeepsOwnerModeAndTimes) {
    const auto [step, swap] = GetParam();
    TempDir tmp;
    const Victims victims(tmp);
    make_dir(tmp / "skel", 0755);
    make_dir(tmp / "home", 0700);
    switch (step) {
        case Step::kDirCreated:
            make_dir(tmp / "skel/e", 0755);
            break;
        case Step::kFileCreated:
            write_file(tmp / "skel/e", "skel data\n", 0644);
            break;
        default:
            ASSERT_EQ(::symlink("some/target", (tmp / "skel/e").c_str()), 0);
            break;
    }
    tl::expected<CopyStats, std::string> r;
    {
        HookGuard hook(step, swap, tmp);
        UniqueFd skel(::open((tmp / "skel").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        UniqueFd home(::open((tmp / "home").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        r = copy_skel(skel.get(), home.get(), kUid, kGid);
        ASSERT_EQ(g_plan.fired, 1) << "the swap was never injected";
    }
    victims.expect_untouched();
    if (step == Step::kFileCreated) {
        // Everything after the create goes through the fd O_EXCL gave us, so the copy cannot
        // see the swap and need not: nothing it does reaches the entry now under that name.
        return;
    }
    // Owners and times are set after the create; the copy must notice the entry is not the one
    // it made and stop, naming it, so that the login fails and the home is removed.
    ASSERT_FALSE(r) << "the swapped entry was accepted as the copy's own";
    EXPECT_NE(r.error().find("skel e:"), std::string::npos) << r.error();
}

INSTANTIATE_TEST_SUITE_P(EveryCreateStep, SkelCopySwap,
                         ::testing::Combine(::testing::Values(Step::kDirCreated, Step::kFileCreated,
                                                              Step::kSymlinkCreated),
                                            ::testing::Values(Swap::kHardLinkToFile,
                                                              Swap::kSymlinkToFile,
                                                              Swap::kHardLinkToSymlink)),
                         [](const auto& info) {
                             const Step step = std::get<0>(info.param);
                             const char* s = step == Step::kDirCreated    ? "Dir"
                                             : step == Step::kFileCreated ? "File"
                                                                          : "Symlink";
                             return std::string(s) + "_" + swap_name(std::get<1>(info.param));
                         });

// Runs remove_tree(tmp, "home") in a child that is root without CAP_DAC_OVERRIDE, so that it
// meets EACCES at a mode-000 directory and has to chmod it; the swap is armed at that moment.
void remove_confined(const TempDir& tmp, Swap swap, bool expect_removed) {
    HookGuard hook(Step::kOpenDenied, swap, tmp);
    test::in_child([&](std::string& failures) {
        CHILD_CHECK(failures, test::drop_dac_override());
        auto r = remove_tree(tmp.fd(), "home");
        CHILD_CHECK(failures, g_plan.fired == 1);
        CHILD_CHECK(failures, expect_removed == (r.has_value() && r->top_removed));
        CHILD_CHECK(failures, expect_removed || !r.has_value());
    });
}

class RemoveTreeSwap : public ::testing::TestWithParam<Swap> {};

TEST_P(RemoveTreeSwap, DirectoryBelowTheTop) {
    TempDir tmp;
    const Victims victims(tmp);
    make_dir(tmp / "home", 0755);
    write_file(tmp / "home/f", "f");
    make_dir(tmp / "home/locked", 0000);
    // The link swapped in is part of the tree: unlinking it removes a name, not the file.
    remove_confined(tmp, GetParam(), true);
    victims.expect_untouched();
}

TEST_P(RemoveTreeSwap, TheTopItself) {
    TempDir tmp;
    const Victims victims(tmp);
    make_dir(tmp / "home", 0000);
    // What was checked is gone; what is there now was never checked: refuse.
    remove_confined(tmp, GetParam(), false);
    victims.expect_untouched();
}

INSTANTIATE_TEST_SUITE_P(EverySwap, RemoveTreeSwap,
                         ::testing::Values(Swap::kHardLinkToFile, Swap::kSymlinkToFile,
                                           Swap::kHardLinkToSymlink),
                         [](const auto& info) { return swap_name(info.param); });

}  // namespace
}  // namespace pershome::homework
