// A hard-linked file's data leaving the link pool for its last name stays
// in view through the whole move: the move syncs the file at its new place
// before any index says it is there, and a lookup or read meanwhile must
// find it (the gated backing holds that sync).
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <future>
#include <string>

#include <gtest/gtest.h>

#include "tests/fs/gated_backing.hpp"
#include "tests/fs/mount_harness.hpp"

namespace pershome::fs::test {
namespace {

using namespace std::chrono_literals;

// What another computer sees in the pool: no file.
bool pool_empty(const std::string& source) {
    for (const auto& e : std::filesystem::directory_iterator(source + "/PERSHOME.LNK"))
        if (e.path().filename() != "PERSHOME.IDX") return false;
    return true;
}

TEST(PoolOut, TheLastNameAnswersWhileItsFileIsSyncedAtItsNewPlace) {
    TempTree t;
    GatedBacking g(t.root());
    {
        Mount m(g.mnt(), t.mnt());
        ASSERT_EQ(mkdir(m.path("d1").c_str(), 0755), 0);
        ASSERT_EQ(mkdir(m.path("d2").c_str(), 0755), 0);
        write_file(m.path("d1/a"), "data");
        ASSERT_EQ(link(m.path("d1/a").c_str(), m.path("d2/b").c_str()), 0);
        m.unmount();
    }
    // A fresh mount knows no name in d2: the unlink puts the data in the
    // pool, and the background search moves it out to d2/b.
    Mount m(g.mnt(), t.mnt());
    g.close_fsync_gate("b");
    ASSERT_EQ(unlink(m.path("d1/a").c_str()), 0);
    ASSERT_TRUE(wait_until([&] { return g.holding_fsync(); }, 20s));
    struct stat st {};
    EXPECT_EQ(lstat(m.path("d2/b").c_str(), &st), 0) << std::strerror(errno);
    EXPECT_EQ(st.st_nlink, 1u);
    EXPECT_EQ(read_file(m.path("d2/b")), "data");
    // A chmod waits for the sync (as for any sync a namespace operation
    // makes) and lasts, whichever side of the move's end it lands on.
    auto chmodded =
        std::async(std::launch::async, [&] { return chmod(m.path("d2/b").c_str(), 0600); });
    g.open_fsync_gate();
    EXPECT_EQ(chmodded.get(), 0);
    m.unmount();  // (finishes the move under way)
    EXPECT_TRUE(pool_empty(g.source()));
    EXPECT_EQ(read_file(g.source() + "/d2/b"), "data");
    Mount again(g.mnt(), t.mnt());
    EXPECT_EQ(read_file(again.path("d2/b")), "data");
    EXPECT_EQ(lstat(again.path("d2/b").c_str(), &st), 0);
    EXPECT_EQ(st.st_nlink, 1u);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
}

}  // namespace
}  // namespace pershome::fs::test
