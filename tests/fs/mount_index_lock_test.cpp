// An index write stuck in a slow fsync (a USB stick takes 100 ms to seconds)
// must not stall the rest of the mount: pershome-fs runs on a passthrough
// backing (gate_backing.cpp) whose fsync of PERSHOME.IDX blocks while a gate
// file exists; meanwhile operations in another directory, and getattr in
// the same one, must answer. The same for a directory's load held in the
// read of its index, and for the index write an operation makes at once.
// Every wait is on a condition with a deadline.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/fs/gated_backing.hpp"
#include "tests/fs/mount_harness.hpp"

namespace pershome::fs::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kAnswerDeadline = 3s;  // an operation that should not wait at all
constexpr auto kEventDeadline = 20s;  // something that must happen eventually

// Runs `op` in a thread; its duration in ms, or -1 if it did not finish
// within kAnswerDeadline (then the gate opens so it can, and the test fails).
double timed_answer(GatedBacking& g, const char* what, const std::function<void()>& op) {
    const auto start = Clock::now();
    auto f = std::async(std::launch::async, op);
    if (f.wait_for(kAnswerDeadline) != std::future_status::ready) {
        ADD_FAILURE() << what << " did not answer within 3 s while an index fsync or read was held";
        g.open_gate();
        g.open_read_gate();
        f.wait();
        return -1;
    }
    f.get();
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    std::printf("  %-44s %8.2f ms\n", what, ms);
    return ms;
}

int statx_mode(const std::string& path, mode_t* mode) {
    struct statx sx {};
    // FORCE_SYNC: the kernel asks pershome-fs even if it cached the attributes.
    if (statx(AT_FDCWD, path.c_str(), AT_STATX_FORCE_SYNC, STATX_BASIC_STATS, &sx) != 0)
        return errno;
    *mode = sx.stx_mode & 07777;
    return 0;
}

// fsyncdir of each of `dirs` (relative to the mount): their indexes on the stick.
void fsync_dirs(Mount& m, std::initializer_list<const char*> dirs) {
    for (const char* dir : dirs) {
        const int fd = open(m.path(dir).c_str(), O_RDONLY | O_DIRECTORY);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(fsync(fd), 0);
        close(fd);
    }
}

// Getattr, lookup and readdir in B, and getattr of A itself, answer while
// something of A is held at a gate.
void directory_b_answers(GatedBacking& g, Mount& m) {
    timed_answer(g, "getattr in another directory", [&] {
        mode_t mode = 0;
        EXPECT_EQ(statx_mode(m.path("B/g"), &mode), 0);
        EXPECT_EQ(mode, 0644u);
    });
    timed_answer(g, "lookup of a new name in another directory", [&] {
        struct stat st {};
        EXPECT_NE(stat(m.path("B/nonexistent").c_str(), &st), 0);
        EXPECT_EQ(errno, ENOENT);
    });
    timed_answer(g, "readdir of another directory", [&] {
        DIR* d = opendir(m.path("B").c_str());
        ASSERT_NE(d, nullptr);
        int names = 0;
        while (dirent* de = readdir(d)) names += de->d_name[0] != '.';
        closedir(d);
        EXPECT_GE(names, 1);
    });
    timed_answer(g, "getattr of the held directory itself", [&] {
        mode_t mode = 0;
        EXPECT_EQ(statx_mode(m.path("A"), &mode), 0);
    });
}

// A create and a write in B (both may allocate FAT clusters) do not wait
// for an index write of A.
void allocations_in_b_answer(GatedBacking& g, Mount& m) {
    timed_answer(g, "create in another directory", [&] {
        const int fd = ::open(m.path("B/new").c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
        EXPECT_GE(fd, 0) << std::strerror(errno);
        if (fd >= 0) close(fd);
    });
    timed_answer(g, "write in another directory", [&] {
        const int fd = ::open(m.path("B/g").c_str(), O_WRONLY | O_APPEND);
        ASSERT_GE(fd, 0) << std::strerror(errno);
        const std::string block(4096, 'w');
        EXPECT_EQ(write(fd, block.data(), block.size()), static_cast<ssize_t>(block.size()));
        close(fd);
    });
}

// While an index write of directory A is held at the gate: getattr and
// lookup in A, and getattr, lookup, readdir, a create and a write in B
// answer.
void other_operations_answer(GatedBacking& g, Mount& m) {
    directory_b_answers(g, m);
    timed_answer(g, "getattr in the same directory", [&] {
        mode_t mode = 0;
        EXPECT_EQ(statx_mode(m.path("A/f"), &mode), 0);
        EXPECT_EQ(mode, 0600u);
    });
    timed_answer(g, "lookup of a new name in the same directory", [&] {
        struct stat st {};
        EXPECT_NE(stat(m.path("A/nonexistent").c_str(), &st), 0);
    });
    allocations_in_b_answer(g, m);
}

// Directories A and B with one 0644 file each, then A/f chmod 0600 with the
// gate closed (lazily: only A is dirty).
void populate_and_chmod(GatedBacking& g, Mount& m) {
    ASSERT_EQ(mkdir(m.path("A").c_str(), 0755), 0);
    ASSERT_EQ(mkdir(m.path("B").c_str(), 0755), 0);
    write_file(m.path("A/f"), "a");
    write_file(m.path("B/g"), "b");
    // Everything so far on the stick, so the only write the gate holds is A's.
    fsync_dirs(m, {"", "A", "B"});
    g.close_gate();
    ASSERT_EQ(chmod(m.path("A/f").c_str(), 0600), 0);
}

// The chmod reached the stick (not only the unmount's final write): the
// filesystem is killed, and a fresh mount shows it.
void chmod_landed(TempTree& t, GatedBacking& g, Mount& m) {
    kill(m.pid(), SIGKILL);
    ASSERT_TRUE(wait_until([&] { return umount2(t.mnt().c_str(), MNT_DETACH) == 0; }, 10s));
    m.unmount();  // reaps the killed process
    Mount again(g.mnt(), t.mnt());
    struct stat st {};
    ASSERT_EQ(stat(again.path("A/f").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    EXPECT_EQ(stat(again.path("B/new").c_str(), &st), 0);
}

TEST(IndexLock, FsyncHeldInIndexWriteStallsNoOtherOperation) {
    TempTree t;
    GatedBacking g(t.root());
    Mount m(g.mnt(), t.mnt(), "flush=3600");  // no lazy write-back during the test
    populate_and_chmod(g, m);

    std::printf("fsync of A/f held in its index write:\n");
    auto fsync_done = std::async(std::launch::async, [&] {
        const int fd = open(m.path("A/f").c_str(), O_RDONLY);
        if (fd < 0) return errno;
        const int rc = fsync(fd) == 0 ? 0 : errno;
        close(fd);
        return rc;
    });
    ASSERT_TRUE(wait_until([&] { return g.holding(); }, kEventDeadline))
        << "the fsync never reached the index write";
    other_operations_answer(g, m);
    EXPECT_EQ(fsync_done.wait_for(0s), std::future_status::timeout)
        << "the fsync returned while its index write was held";
    g.open_gate();
    ASSERT_EQ(fsync_done.wait_for(kEventDeadline), std::future_status::ready);
    EXPECT_EQ(fsync_done.get(), 0);
    chmod_landed(t, g, m);
}

TEST(IndexLock, LazyWriteBackHeldStallsNoOtherOperation) {
    TempTree t;
    GatedBacking g(t.root());
    Mount m(g.mnt(), t.mnt(), "flush=1");
    populate_and_chmod(g, m);

    std::printf("lazy write-back of A held in its index write:\n");
    ASSERT_TRUE(wait_until([&] { return g.holding(); }, kEventDeadline))
        << "the write-back never reached the index write";
    other_operations_answer(g, m);
    // An fsync now finds A clean (the held write took its snapshot) and
    // must wait for that write rather than report success early.
    auto fsync_done = std::async(std::launch::async, [&] {
        const int fd = open(m.path("A").c_str(), O_RDONLY | O_DIRECTORY);
        if (fd < 0) return errno;
        const int rc = fsync(fd) == 0 ? 0 : errno;
        close(fd);
        return rc;
    });
    // (It is either blocked on the held write or would have returned at once.)
    EXPECT_EQ(fsync_done.wait_for(200ms), std::future_status::timeout)
        << "fsyncdir returned while the index write holding its content was held";
    g.open_gate();
    ASSERT_EQ(fsync_done.wait_for(kEventDeadline), std::future_status::ready);
    EXPECT_EQ(fsync_done.get(), 0);
    chmod_landed(t, g, m);
}

TEST(IndexLock, RmdirWhileItsIndexWriteIsHeldSucceeds) {
    TempTree t;
    GatedBacking g(t.root());
    Mount m(g.mnt(), t.mnt(), "flush=1");
    ASSERT_EQ(mkdir(m.path("C").c_str(), 0755), 0);
    write_file(m.path("C/x"), "x");
    fsync_dirs(m, {"", "C"});
    g.close_gate();
    ASSERT_EQ(unlink(m.path("C/x").c_str()), 0);  // C (and / for C's times) dirty
    ASSERT_TRUE(wait_until([&] { return g.holding(); }, kEventDeadline));
    // The write-back holds C's or /'s write; either way C goes cleanly and
    // no write recreates its index file afterwards.
    auto rmdir_done =
        std::async(std::launch::async, [&] { return rmdir(m.path("C").c_str()) == 0 ? 0 : errno; });
    g.open_gate();
    ASSERT_EQ(rmdir_done.wait_for(kEventDeadline), std::future_status::ready);
    EXPECT_EQ(rmdir_done.get(), 0);
    EXPECT_FALSE(exists(g.source() + "/C"));
    const std::string log = m.unmount();
    EXPECT_EQ(log.find("index write failed"), std::string::npos) << log;
}

// Runs `op` (something of directory A) until it is held at a gate
// (`held`); meanwhile B answers (with `allocations`, a create and a write
// there too), `op` does not; then `open` lets it go. Its result, or -1 if
// it never reached the gate.
int held_while_b_answers(GatedBacking& g, Mount& m, const std::function<int()>& op,
                         const std::function<bool()>& held, const std::function<void()>& open,
                         bool allocations) {
    auto done = std::async(std::launch::async, op);
    if (!wait_until(held, kEventDeadline)) {
        ADD_FAILURE() << "the operation in A never reached the gate";
        return -1;
    }
    directory_b_answers(g, m);
    if (allocations) allocations_in_b_answer(g, m);
    EXPECT_EQ(done.wait_for(0s), std::future_status::timeout)
        << "the operation in A answered while held at the gate";
    open();
    if (done.wait_for(kEventDeadline) != std::future_status::ready) {
        ADD_FAILURE() << "the operation in A did not end after the gate opened";
        return -1;
    }
    return done.get();
}

// Directories A and B, B with its file g (0644).
void make_a_and_b(Mount& m) {
    ASSERT_EQ(mkdir(m.path("A").c_str(), 0755), 0);
    ASSERT_EQ(mkdir(m.path("B").c_str(), 0755), 0);
    write_file(m.path("B/g"), "b");
}

// A 0600 create in A, whose entry reaches A's index before the file exists
// (keeps_mode_only_in_index), held in that write while B answers.
int create_held_while_b_answers(GatedBacking& g, Mount& m) {
    return held_while_b_answers(
        g, m,
        [&] {
            const int fd = open(m.path("A/key").c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
            if (fd < 0) return errno;
            close(fd);
            return 0;
        },
        [&] { return g.holding(); }, [&] { g.open_gate(); }, true);
}

TEST(DirLock, IndexLoadHeldStallsNoOtherDirectory) {
    TempTree t;
    GatedBacking g(t.root());
    {
        // A with an index (a 0600 file), B: on the stick, not yet loaded.
        Mount m(g.mnt(), t.mnt());
        ASSERT_EQ(mkdir(m.path("A").c_str(), 0755), 0);
        ASSERT_EQ(mkdir(m.path("B").c_str(), 0755), 0);
        write_file(m.path("A/f"), "a");
        ASSERT_EQ(chmod(m.path("A/f").c_str(), 0600), 0);
        write_file(m.path("B/g"), "b");
        m.unmount();
    }
    ASSERT_TRUE(exists(g.source() + "/A/PERSHOME.IDX"));
    Mount m(g.mnt(), t.mnt(), "flush=3600");
    struct stat st {};
    ASSERT_EQ(stat(m.path("B/g").c_str(), &st), 0);  // B loaded
    g.close_read_gate();
    std::printf("load of A held in the read of its index:\n");
    const int mode = held_while_b_answers(
        g, m,
        [&] {
            mode_t mode = 0;
            const int err = statx_mode(m.path("A/f"), &mode);
            return err ? -err : static_cast<int>(mode);
        },
        [&] { return g.holding_read(); }, [&] { g.open_read_gate(); }, true);
    EXPECT_EQ(mode, 0600);
}

TEST(DirLock, IndexWriteOfAnOperationHeldStallsNoOtherDirectory) {
    TempTree t;
    GatedBacking g(t.root());
    Mount m(g.mnt(), t.mnt(), "flush=3600");
    make_a_and_b(m);
    // A has an index already, so the create's write stays inside its file.
    write_file(m.path("A/f"), "a");
    ASSERT_EQ(chmod(m.path("A/f").c_str(), 0600), 0);
    fsync_dirs(m, {"", "A", "B"});
    ASSERT_TRUE(exists(g.source() + "/A/PERSHOME.IDX"));
    g.close_gate();
    std::printf("index write of a 0600 create in A held:\n");
    EXPECT_EQ(create_held_while_b_answers(g, m), 0);
}

// The first index write of a directory creates its file and allocates its
// clusters; creates and writes elsewhere do not wait for it either.
TEST(DirLock, AFirstIndexWriteHeldStallsNoOtherDirectory) {
    TempTree t;
    GatedBacking g(t.root());
    Mount m(g.mnt(), t.mnt(), "flush=3600");
    make_a_and_b(m);
    fsync_dirs(m, {"", "B"});
    ASSERT_FALSE(exists(g.source() + "/A/PERSHOME.IDX"));
    g.close_gate();
    std::printf("first index write of A (a 0600 create) held:\n");
    EXPECT_EQ(create_held_while_b_answers(g, m), 0);
}

// A rename or link acknowledged to the caller survives a crash because its
// index writes landed: when one fails, the caller hears it (EIO), even when
// the backing rename already happened (issue 14).
TEST(IndexErrors, RenameAndLinkReportAFailedIndexWrite) {
    TempTree t;
    GatedBacking g(t.root());
    Mount m(g.mnt(), t.mnt(), "flush=3600");
    write_file(m.path("a"), "a");
    write_file(m.path("l"), "l");
    ASSERT_EQ(link(m.path("l").c_str(), m.path("l2").c_str()), 0);
    g.fail_index_fsyncs(true);
    // A FAT-legal name: the backing rename, then both indexes.
    EXPECT_EQ(rename(m.path("a").c_str(), m.path("b").c_str()), -1);
    EXPECT_EQ(errno, EIO);
    // A third name: the pool's count, then the new name's directory.
    EXPECT_EQ(link(m.path("l").c_str(), m.path("l3").c_str()), -1);
    EXPECT_EQ(errno, EIO);
    g.fail_index_fsyncs(false);
    const std::string log = m.unmount();
    EXPECT_NE(log.find("index write failed"), std::string::npos) << log;
}

}  // namespace
}  // namespace pershome::fs::test
