// Session references: the FIFO hang-up that tells the daemon a login ended,
// also after the daemon itself was restarted.
#include "daemon/reference.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/stat.h>

#include "tests/support/temp_dir.hpp"

namespace pershome {
namespace {

bool hung_up(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 0) == 1 && (p.revents & POLLHUP);
}

class ReferenceTest : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_fd.reset(open(tmp.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        ASSERT_TRUE(dir_fd);
    }
    test::TempDir tmp;
    UniqueFd dir_fd;
};

TEST_F(ReferenceTest, HangUpWhenTheLastHolderCloses) {
    auto created = Reference::create(dir_fd.get(), "ref1");
    ASSERT_TRUE(created) << created.error();
    auto& [ref, write_end] = *created;
    struct stat st {};
    ASSERT_EQ(fstatat(dir_fd.get(), "ref1", &st, 0), 0);
    EXPECT_TRUE(S_ISFIFO(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0600u);

    UniqueFd second(dup(write_end.get()));  // a login process forks: two holders
    EXPECT_FALSE(hung_up(ref.fd()));
    write_end.reset();
    EXPECT_FALSE(hung_up(ref.fd())) << "one holder is still there";
    second.reset();
    EXPECT_TRUE(hung_up(ref.fd()));

    ref.remove();
    EXPECT_NE(fstatat(dir_fd.get(), "ref1", &st, 0), 0) << "removed reference keeps its FIFO";
}

TEST_F(ReferenceTest, ReopenedAfterRestartStillSeesTheHolderLeave) {
    UniqueFd holder;
    {
        auto created = Reference::create(dir_fd.get(), "ref2");
        ASSERT_TRUE(created);
        holder = std::move(created->second);
        // The daemon dies: its read end goes, the FIFO stays.
    }
    auto reopened = Reference::reopen(dir_fd.get(), "ref2");
    ASSERT_TRUE(reopened) << reopened.error();
    EXPECT_FALSE(hung_up(reopened->fd())) << "the login still holds it";
    holder.reset();
    EXPECT_TRUE(hung_up(reopened->fd())) << "the kernel's writer-generation rule hid the hang-up";
}

TEST_F(ReferenceTest, ReopenedWithNoHolderLeftHangsUpAtOnce) {
    {
        auto created = Reference::create(dir_fd.get(), "ref3");
        ASSERT_TRUE(created);
        // Daemon and login both gone.
    }
    auto reopened = Reference::reopen(dir_fd.get(), "ref3");
    ASSERT_TRUE(reopened);
    EXPECT_TRUE(hung_up(reopened->fd()));
}

TEST_F(ReferenceTest, ReopenRefusesWhatIsNotAFifo) {
    test::write_file(tmp / "plain", "x");
    EXPECT_FALSE(Reference::reopen(dir_fd.get(), "plain"));
    ASSERT_EQ(symlinkat("/dev/null", dir_fd.get(), "link"), 0);
    EXPECT_FALSE(Reference::reopen(dir_fd.get(), "link"));
    EXPECT_FALSE(Reference::reopen(dir_fd.get(), "missing"));
}

TEST(ReferenceId, IsLongAndUnique) {
    auto a = Reference::new_id(), b = Reference::new_id();
    EXPECT_EQ(a.size(), 32u);
    EXPECT_NE(a, b);
    EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
}

}  // namespace
}  // namespace pershome
