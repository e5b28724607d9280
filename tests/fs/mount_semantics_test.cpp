// What a user of the mounted home sees, checked with real syscalls.
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>

#include <gtest/gtest.h>

#include "fs/index_format.hpp"
#include "tests/fs/mount_harness.hpp"

namespace pershome::fs::test {
namespace {

using pershome::fs::Entry;
using pershome::fs::IndexContent;
using pershome::fs::NodeType;

std::set<std::string> list(const std::string& dir) {
    std::set<std::string> out;
    DIR* d = opendir(dir.c_str());
    if (!d) return out;
    while (dirent* de = readdir(d)) {
        std::string n = de->d_name;
        if (n != "." && n != "..") out.insert(n);
    }
    closedir(d);
    return out;
}

struct stat lst(const std::string& p) {
    struct stat st {};
    EXPECT_EQ(lstat(p.c_str(), &st), 0) << p << ": " << std::strerror(errno);
    return st;
}

std::vector<std::string> odd_names() {
    std::vector<std::string> n = {"Makefile",
                                  "makefile",
                                  "a:b",
                                  "what?",
                                  "x.",
                                  "x ",
                                  "CON",
                                  "aux.txt",
                                  "%41",
                                  "a\\b",
                                  "l<g>|\"*",
                                  " lead",
                                  "caf\xc3\xa9",
                                  "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
                                  "bad\xff\xfeutf8",
                                  "tab\there",
                                  "PERSHOME.IDX",
                                  "pershome.lnk",
                                  "...",
                                  ".hidden"};
    n.push_back(std::string(255, 'L'));
    n.push_back(std::string(254, 'q') + "?");
    std::string wide;
    for (int i = 0; i < 85; ++i) wide += "\xe2\x82\xac";  // 255 bytes of euro signs
    n.push_back(wide);
    return n;
}

class FsTest : public ::testing::Test {
  protected:
    TempTree t;
};

TEST_F(FsTest, OddNamesSurviveRemountAndStayReadableOnTheBacking) {
    {
        Mount m(t.backing(), t.mnt());
        for (const auto& n : odd_names()) write_file(m.path(n), "content of " + n);
        ASSERT_EQ(mkdir(m.path("dir: odd?").c_str(), 0755), 0);
        write_file(m.path("dir: odd?/CON"), "nested");
        const auto names = list(t.mnt());
        for (const auto& n : odd_names()) EXPECT_TRUE(names.count(n)) << n;
        m.unmount();
    }
    // FAT-legal names are stored as themselves; the others are not.
    const auto backing = list(t.backing());
    for (const char* n : {"Makefile", "makefile", "%41", "caf\xc3\xa9", ".hidden"})
        EXPECT_TRUE(backing.count(n)) << n;
    for (const char* n : {"a:b", "what?", "x.", "x ", "CON", "aux.txt", "..."})
        EXPECT_FALSE(backing.count(n)) << n;
    EXPECT_TRUE(backing.count("PERSHOME.IDX"));
    for (const auto& b : backing) EXPECT_EQ(b.find_first_of(":?*<>|\"\\"), std::string::npos) << b;
    Mount m(t.backing(), t.mnt());
    for (const auto& n : odd_names()) EXPECT_EQ(read_file(m.path(n)), "content of " + n) << n;
    EXPECT_EQ(read_file(m.path("dir: odd?/CON")), "nested");
    EXPECT_EQ(list(t.mnt()).size(), odd_names().size() + 1);
    // A name too long is refused, not truncated.
    EXPECT_LT(open(m.path(std::string(256, 'x')).c_str(), O_CREAT | O_WRONLY, 0644), 0);
    EXPECT_EQ(errno, ENAMETOOLONG);
}

TEST_F(FsTest, ShortNamesOption) {
    {
        Mount m(t.backing(), t.mnt(), "names=8.3");
        for (const auto& n : odd_names()) write_file(m.path(n), "content of " + n);
        ASSERT_EQ(mkdir(m.path("Long Directory Name").c_str(), 0755), 0);
        write_file(m.path("Long Directory Name/inner file.html"), "inner");
        ASSERT_EQ(rename(m.path("Makefile").c_str(), m.path("GNUmakefile").c_str()), 0);
        ASSERT_EQ(link(m.path("GNUmakefile").c_str(), m.path("hard link").c_str()), 0);
        m.unmount();
    }
    // Every backing name, at every level, is an 8.3 name.
    for (const auto& entry : std::filesystem::recursive_directory_iterator(t.backing())) {
        const std::string n = entry.path().filename().string();
        EXPECT_TRUE(n.size() <= 12 &&
                    n.find_first_of("abcdefghijklmnopqrstuvwxyz ") == std::string::npos)
            << n;
    }
    Mount m(t.backing(), t.mnt(), "names=8.3");
    for (const auto& n : odd_names()) {
        if (n == "Makefile") continue;
        EXPECT_EQ(read_file(m.path(n)), "content of " + n) << n;
    }
    EXPECT_EQ(read_file(m.path("GNUmakefile")), "content of Makefile");
    EXPECT_EQ(read_file(m.path("hard link")), "content of Makefile");
    EXPECT_EQ(read_file(m.path("Long Directory Name/inner file.html")), "inner");
}

TEST_F(FsTest, RenamesAmongOddNames) {
    Mount m(t.backing(), t.mnt());
    write_file(m.path("plain"), "1");
    ASSERT_EQ(rename(m.path("plain").c_str(), m.path("what?").c_str()), 0);
    ASSERT_EQ(rename(m.path("what?").c_str(), m.path("CON").c_str()), 0);
    ASSERT_EQ(rename(m.path("CON").c_str(), m.path("back").c_str()), 0);
    EXPECT_EQ(list(t.mnt()), (std::set<std::string>{"back"}));
    EXPECT_EQ(read_file(m.path("back")), "1");
    // Replace an existing file atomically.
    write_file(m.path("x:y"), "old");
    ASSERT_EQ(rename(m.path("back").c_str(), m.path("x:y").c_str()), 0);
    EXPECT_EQ(read_file(m.path("x:y")), "1");
    // RENAME_NOREPLACE and RENAME_EXCHANGE.
    write_file(m.path("other"), "2");
    EXPECT_NE(renameat2(AT_FDCWD, m.path("other").c_str(), AT_FDCWD, m.path("x:y").c_str(),
                        RENAME_NOREPLACE),
              0);
    EXPECT_EQ(errno, EEXIST);
    ASSERT_EQ(renameat2(AT_FDCWD, m.path("other").c_str(), AT_FDCWD, m.path("x:y").c_str(),
                        RENAME_EXCHANGE),
              0);
    EXPECT_EQ(read_file(m.path("x:y")), "2");
    EXPECT_EQ(read_file(m.path("other")), "1");
    // Directories with contents, across directories.
    ASSERT_EQ(mkdir(m.path("d1").c_str(), 0755), 0);
    ASSERT_EQ(mkdir(m.path("d2?").c_str(), 0755), 0);
    write_file(m.path("d1/f"), "in d1");
    ASSERT_EQ(rename(m.path("d1").c_str(), m.path("d2?/moved:dir").c_str()), 0);
    EXPECT_EQ(read_file(m.path("d2?/moved:dir/f")), "in d1");
    ASSERT_EQ(rename(m.path("x:y").c_str(), m.path("d2?/moved:dir/g").c_str()), 0);
    // Case-only rename.
    write_file(m.path("readme"), "r");
    ASSERT_EQ(rename(m.path("readme").c_str(), m.path("README").c_str()), 0);
    // Over an empty directory, not over a full one.
    ASSERT_EQ(mkdir(m.path("empty").c_str(), 0755), 0);
    ASSERT_EQ(mkdir(m.path("e2").c_str(), 0755), 0);
    ASSERT_EQ(rename(m.path("e2").c_str(), m.path("empty").c_str()), 0);
    EXPECT_NE(rename(m.path("empty").c_str(), m.path("d2?").c_str()), 0);
    EXPECT_EQ(errno, ENOTEMPTY);
    m.unmount();
    Mount m2(t.backing(), t.mnt());
    EXPECT_EQ(list(t.mnt()), (std::set<std::string>{"README", "d2?", "other", "empty"}));
    EXPECT_EQ(read_file(m2.path("d2?/moved:dir/g")), "2");
    EXPECT_EQ(read_file(m2.path("d2?/moved:dir/f")), "in d1");
    EXPECT_EQ(read_file(m2.path("README")), "r");
}

TEST_F(FsTest, ModesOwnersAndTimes) {
    {
        Mount m(t.backing(), t.mnt());
        write_file(m.path("f"), "x");
        ASSERT_EQ(chmod(m.path("f").c_str(), 0640), 0);
        ASSERT_EQ(chmod(m.path(".").c_str(), 0711), 0);
        ASSERT_EQ(mkdir(m.path("d").c_str(), 0700), 0);
        write_file(m.path("s"), "x");
        ASSERT_EQ(chmod(m.path("s").c_str(), 07755), 0);
        EXPECT_EQ(lst(m.path("s")).st_mode & 07777, 0755u);  // setuid/setgid/sticky dropped
        // chown to another owner is refused; to the mount's owner it is fine.
        EXPECT_NE(chown(m.path("f").c_str(), 4321, -1), 0);
        EXPECT_EQ(errno, EPERM);
        EXPECT_NE(chown(m.path("f").c_str(), -1, 4321), 0);
        EXPECT_EQ(errno, EPERM);
        EXPECT_EQ(chown(m.path("f").c_str(), getuid(), getgid()), 0);
        const timespec ts[2] = {{1000000000, 111111111}, {1234567890, 987654321}};
        ASSERT_EQ(utimensat(AT_FDCWD, m.path("f").c_str(), ts, 0), 0);
        ASSERT_EQ(utimensat(AT_FDCWD, m.path("d").c_str(), ts, 0), 0);
        // Device nodes are refused; fifos and sockets are not.
        EXPECT_NE(mknod(m.path("dev").c_str(), S_IFCHR | 0600, makedev(1, 3)), 0);
        EXPECT_EQ(errno, EPERM);
        m.unmount();
    }
    Mount m(t.backing(), t.mnt());
    auto st = lst(m.path("f"));
    EXPECT_EQ(st.st_mode, S_IFREG | 0640u);
    EXPECT_EQ(st.st_uid, getuid());
    EXPECT_EQ(st.st_atim.tv_sec, 1000000000);
    EXPECT_EQ(st.st_atim.tv_nsec, 111111111);
    EXPECT_EQ(st.st_mtim.tv_sec, 1234567890);
    EXPECT_EQ(st.st_mtim.tv_nsec, 987654321);
    st = lst(m.path("d"));
    EXPECT_EQ(st.st_mode, S_IFDIR | 0700u);
    EXPECT_EQ(st.st_mtim.tv_nsec, 987654321);
    EXPECT_EQ(lst(m.path(".")).st_mode & 07777, 0711u);
    EXPECT_EQ(lst(m.path("s")).st_mode & 07777, 0755u);
    EXPECT_EQ(access(m.path("dev").c_str(), F_OK), -1);
}

TEST_F(FsTest, ModesAreEnforcedForOtherUsers) {
    const uid_t nobody = 65534;
    Mount m(t.backing(), t.mnt(),
            "allow_other,uid=" + std::to_string(nobody) + ",gid=" + std::to_string(nobody));
    ASSERT_EQ(chmod(t.root().c_str(), 0755), 0);  // let them reach the mount point
    ASSERT_EQ(chmod(t.mnt().c_str(), 0755), 0);
    write_file(m.path("secret"), "s");
    write_file(m.path("mine"), "m");
    ASSERT_EQ(chmod(m.path("secret").c_str(), 0400), 0);
    ASSERT_EQ(chmod(m.path("mine").c_str(), 0600), 0);
    const pid_t pid = fork();
    if (pid == 0) {
        if (setgid(nobody) != 0 || setuid(nobody) != 0) _exit(10);
        // Owner (nobody) may read 0400 but not write it.
        if (open(m.path("secret").c_str(), O_RDONLY) < 0) _exit(11);
        if (open(m.path("secret").c_str(), O_WRONLY) >= 0 || errno != EACCES) _exit(12);
        if (open(m.path("mine").c_str(), O_RDWR) < 0) _exit(13);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    const pid_t pid2 = fork();
    if (pid2 == 0) {
        // Someone else: 0600 keeps them out.
        if (setgid(4242) != 0 || setuid(4242) != 0) _exit(10);
        if (open(m.path("mine").c_str(), O_RDONLY) >= 0 || errno != EACCES) _exit(14);
        _exit(0);
    }
    waitpid(pid2, &status, 0);
    EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST_F(FsTest, SymlinksAreExact) {
    std::string long_target(4000, 'a');
    for (std::size_t i = 0; i < long_target.size(); i += 100) long_target[i] = '/';
    const std::vector<std::pair<std::string, std::string>> links = {
        {"rel", "../x/y"},
        {"abs", "/etc/passwd"},
        {"dangling", "does/not/exist"},
        {"todir", "sub"},
        {"odd?", std::string("any \xff\x01 bytes: *?<>|\\")},
        {"long", long_target},
    };
    {
        Mount m(t.backing(), t.mnt());
        ASSERT_EQ(mkdir(m.path("sub").c_str(), 0755), 0);
        write_file(m.path("sub/file"), "via link");
        for (const auto& [n, target] : links)
            ASSERT_EQ(symlink(target.c_str(), m.path(n).c_str()), 0) << n;
        EXPECT_EQ(read_file(m.path("todir/file")), "via link");
        m.unmount();
    }
    Mount m(t.backing(), t.mnt());
    for (const auto& [n, target] : links) {
        char buf[8192];
        const ssize_t len = readlink(m.path(n).c_str(), buf, sizeof buf);
        ASSERT_GE(len, 0) << n;
        EXPECT_EQ(std::string(buf, static_cast<std::size_t>(len)), target) << n;
        EXPECT_TRUE(S_ISLNK(lst(m.path(n)).st_mode));
        EXPECT_EQ(lst(m.path(n)).st_size, static_cast<off_t>(target.size()));
    }
    EXPECT_EQ(read_file(m.path("todir/file")), "via link");
}

TEST_F(FsTest, HardLinks) {
    {
        Mount m(t.backing(), t.mnt());
        write_file(m.path("a"), "shared");
        ASSERT_EQ(mkdir(m.path("d").c_str(), 0755), 0);
        ASSERT_EQ(link(m.path("a").c_str(), m.path("b").c_str()), 0);
        ASSERT_EQ(link(m.path("a").c_str(), m.path("d/c:odd").c_str()), 0);
        EXPECT_EQ(lst(m.path("a")).st_nlink, 3u);
        EXPECT_EQ(lst(m.path("a")).st_ino, lst(m.path("d/c:odd")).st_ino);
        write_file(m.path("b"), "changed through b");
        EXPECT_EQ(read_file(m.path("d/c:odd")), "changed through b");
        ASSERT_EQ(chmod(m.path("b").c_str(), 0600), 0);
        EXPECT_EQ(lst(m.path("a")).st_mode & 0777, 0600u);
        ASSERT_EQ(unlink(m.path("a").c_str()), 0);
        EXPECT_EQ(lst(m.path("b")).st_nlink, 2u);
        EXPECT_NE(link(m.path("d").c_str(), m.path("dl").c_str()), 0);  // no links to directories
        // Hard links to a symlink are to the symlink itself.
        ASSERT_EQ(symlink("target", m.path("sl").c_str()), 0);
        ASSERT_EQ(linkat(AT_FDCWD, m.path("sl").c_str(), AT_FDCWD, m.path("sl2").c_str(), 0), 0);
        ASSERT_EQ(rename(m.path("b").c_str(), m.path("b renamed?").c_str()), 0);
        m.unmount();
    }
    Mount m(t.backing(), t.mnt());
    EXPECT_EQ(list(t.mnt()), (std::set<std::string>{"b renamed?", "d", "sl", "sl2"}));
    EXPECT_EQ(read_file(m.path("b renamed?")), "changed through b");
    EXPECT_EQ(lst(m.path("d/c:odd")).st_nlink, 2u);
    EXPECT_EQ(lst(m.path("d/c:odd")).st_mode & 0777, 0600u);
    EXPECT_EQ(lst(m.path("d/c:odd")).st_ino, lst(m.path("b renamed?")).st_ino);
    char buf[64];
    EXPECT_EQ(readlink(m.path("sl2").c_str(), buf, sizeof buf), 6);
    ASSERT_EQ(unlink(m.path("d/c:odd").c_str()), 0);
    EXPECT_EQ(lst(m.path("b renamed?")).st_nlink, 1u);
    EXPECT_EQ(read_file(m.path("b renamed?")), "changed through b");
}

TEST_F(FsTest, HostileLinkPoolIdDoesNotBreakNewLinks) {
    // A crafted pool entry named with the largest id: the next id must not
    // wrap to 0 ("not linked").
    ASSERT_EQ(mkdir((t.backing() + "/PERSHOME.LNK").c_str(), 0755), 0);
    write_file(t.backing() + "/PERSHOME.LNK/ffffffffffffffff", "planted");
    {
        Mount m(t.backing(), t.mnt());
        write_file(m.path("a"), "shared");
        ASSERT_EQ(link(m.path("a").c_str(), m.path("b").c_str()), 0);
        EXPECT_EQ(lst(m.path("a")).st_nlink, 2u);
        EXPECT_EQ(lst(m.path("a")).st_ino, lst(m.path("b")).st_ino);
        write_file(m.path("b"), "through b");
        EXPECT_EQ(read_file(m.path("a")), "through b");
        m.unmount();
    }
    Mount m(t.backing(), t.mnt());
    EXPECT_EQ(lst(m.path("b")).st_nlink, 2u);
    EXPECT_EQ(lst(m.path("a")).st_ino, lst(m.path("b")).st_ino);
    EXPECT_EQ(read_file(m.path("a")), "through b");
}

TEST_F(FsTest, LastNameOfAHardLinkLeavesThePool) {
    // What git does for every object: link(tmp, objects/ab/cd), unlink(tmp).
    {
        Mount m(t.backing(), t.mnt());
        ASSERT_EQ(mkdir(m.path("ab").c_str(), 0755), 0);
        write_file(m.path("tmp_obj"), "object");
        ASSERT_EQ(chmod(m.path("tmp_obj").c_str(), 0444), 0);
        const ino_t ino = lst(m.path("tmp_obj")).st_ino;
        ASSERT_EQ(link(m.path("tmp_obj").c_str(), m.path("ab/cdef").c_str()), 0);
        ASSERT_EQ(unlink(m.path("tmp_obj").c_str()), 0);
        EXPECT_EQ(lst(m.path("ab/cdef")).st_nlink, 1u);
        EXPECT_EQ(lst(m.path("ab/cdef")).st_ino, ino);
        EXPECT_EQ(read_file(m.path("ab/cdef")), "object");
        m.unmount();
    }
    // On the stick it is a plain file under its own name again.
    EXPECT_EQ(read_file(t.backing() + "/ab/cdef"), "object");
    EXPECT_EQ(list(t.backing() + "/PERSHOME.LNK"), (std::set<std::string>{"PERSHOME.IDX"}));
    Mount m(t.backing(), t.mnt());
    EXPECT_EQ(lst(m.path("ab/cdef")).st_mode & 0777, 0444u);
    EXPECT_EQ(read_file(m.path("ab/cdef")), "object");
}

TEST_F(FsTest, RenamesInvolvingHardLinks) {
    Mount m(t.backing(), t.mnt());
    write_file(m.path("a"), "A");
    ASSERT_EQ(link(m.path("a").c_str(), m.path("a2").c_str()), 0);
    write_file(m.path("plain?"), "P");
    // A plain file over one name of a linked pair.
    ASSERT_EQ(rename(m.path("plain?").c_str(), m.path("a2").c_str()), 0);
    EXPECT_EQ(read_file(m.path("a2")), "P");
    EXPECT_EQ(lst(m.path("a")).st_nlink, 1u);
    // A linked name over a plain file.
    ASSERT_EQ(link(m.path("a").c_str(), m.path("b:").c_str()), 0);
    write_file(m.path("c"), "C");
    ASSERT_EQ(rename(m.path("b:").c_str(), m.path("c").c_str()), 0);
    EXPECT_EQ(read_file(m.path("c")), "A");
    EXPECT_EQ(lst(m.path("c")).st_ino, lst(m.path("a")).st_ino);
    // Two names of one inode: rename does nothing.
    ASSERT_EQ(rename(m.path("a").c_str(), m.path("c").c_str()), 0);
    EXPECT_EQ(list(t.mnt()), (std::set<std::string>{"a", "a2", "c"}));
    m.unmount();
    Mount m2(t.backing(), t.mnt());
    EXPECT_EQ(list(t.mnt()), (std::set<std::string>{"a", "a2", "c"}));
    EXPECT_EQ(read_file(m2.path("a")), "A");
    EXPECT_EQ(read_file(m2.path("c")), "A");
    EXPECT_EQ(read_file(m2.path("a2")), "P");
    EXPECT_EQ(lst(m2.path("a")).st_nlink, 2u);
}

TEST_F(FsTest, FifosAndSockets) {
    Mount m(t.backing(), t.mnt());
    ASSERT_EQ(mkfifo(m.path("fifo").c_str(), 0600), 0);
    EXPECT_TRUE(S_ISFIFO(lst(m.path("fifo")).st_mode));
    const pid_t pid = fork();
    if (pid == 0) {
        const int fd = open(m.path("fifo").c_str(), O_WRONLY);
        (void)!write(fd, "ping", 4);
        _exit(0);
    }
    const int rfd = open(m.path("fifo").c_str(), O_RDONLY);
    ASSERT_GE(rfd, 0);
    char buf[8] = {};
    EXPECT_EQ(read(rfd, buf, sizeof buf), 4);
    close(rfd);
    waitpid(pid, nullptr, 0);
    // A unix socket bound in the home, connected to.
    const int s = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string sp = m.path("agent.sock");
    ASSERT_LT(sp.size(), sizeof addr.sun_path);
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sp.c_str());
    ASSERT_EQ(bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
    ASSERT_EQ(listen(s, 1), 0);
    const int c = socket(AF_UNIX, SOCK_STREAM, 0);
    EXPECT_EQ(connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    close(c);
    close(s);
    EXPECT_TRUE(S_ISSOCK(lst(sp).st_mode));
    m.unmount();
    Mount m2(t.backing(), t.mnt());
    EXPECT_TRUE(S_ISFIFO(lst(m2.path("fifo")).st_mode));
    EXPECT_TRUE(S_ISSOCK(lst(m2.path("agent.sock")).st_mode));
}

TEST_F(FsTest, FatSizeLimitIsEfbig) {
    Mount m(t.backing(), t.mnt());
    const int fd = open(m.path("big").c_str(), O_CREAT | O_RDWR, 0644);
    ASSERT_GE(fd, 0);
    const off_t last = 0xFFFFFFFFll - 1;  // the last byte FAT can hold
    EXPECT_EQ(pwrite(fd, "x", 1, last), 1);
    EXPECT_EQ(lst(m.path("big")).st_size, 0xFFFFFFFFll);
    EXPECT_EQ(pwrite(fd, "x", 1, last + 1), -1);
    EXPECT_EQ(errno, EFBIG);
    EXPECT_EQ(ftruncate(fd, 0x100000000ll), -1);
    EXPECT_EQ(errno, EFBIG);
    EXPECT_EQ(ftruncate(fd, 10), 0);
    // fallocate where the backing allows it, EFBIG past FAT's limit.
    EXPECT_EQ(fallocate(fd, 0, 0, 1 << 20), 0) << std::strerror(errno);
    EXPECT_EQ(lst(m.path("big")).st_size, 1 << 20);
    EXPECT_EQ(fallocate(fd, 0, 0xFFFFFFFFll - 10, 100), -1);
    EXPECT_EQ(errno, EFBIG);
    EXPECT_EQ(ftruncate(fd, 10), 0);
    close(fd);
    EXPECT_EQ(lst(m.path("big")).st_size, 10);
}

TEST_F(FsTest, LocksAndSharedMmap) {
    Mount m(t.backing(), t.mnt());
    write_file(m.path("f"), std::string(8192, 'a'));
    const int a = open(m.path("f").c_str(), O_RDWR);
    const int b = open(m.path("f").c_str(), O_RDWR);
    ASSERT_GE(a, 0);
    ASSERT_GE(b, 0);
    EXPECT_EQ(flock(a, LOCK_EX | LOCK_NB), 0);
    EXPECT_NE(flock(b, LOCK_EX | LOCK_NB), 0);
    EXPECT_EQ(errno, EWOULDBLOCK);
    EXPECT_EQ(flock(a, LOCK_UN), 0);
    // A POSIX lock held by another process blocks ours.
    struct flock fl {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_len = 10;
    ASSERT_EQ(fcntl(a, F_SETLK, &fl), 0);
    const pid_t pid = fork();
    if (pid == 0) {
        const int c = open(m.path("f").c_str(), O_RDWR);
        struct flock f2 = fl;
        _exit(fcntl(c, F_SETLK, &f2) == -1 && (errno == EAGAIN || errno == EACCES) ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_EQ(WEXITSTATUS(status), 0);
    // Shared writable mmap: writes reach the file.
    void* p = mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, b, 0);
    ASSERT_NE(p, MAP_FAILED);
    std::memcpy(static_cast<char*>(p) + 4096, "mapped", 6);
    ASSERT_EQ(msync(p, 8192, MS_SYNC), 0);
    munmap(p, 8192);
    close(a);
    close(b);
    m.unmount();
    EXPECT_EQ(read_file(t.backing() + "/f").substr(4096, 6), "mapped");
}

TEST_F(FsTest, Xattrs) {
    {
        Mount m(t.backing(), t.mnt());
        write_file(m.path("f"), "");
        ASSERT_EQ(setxattr(m.path("f").c_str(), "user.one", "1", 1, 0), 0);
        ASSERT_EQ(setxattr(m.path("f").c_str(), "user.bin", "\0\xff", 2, 0), 0);
        EXPECT_NE(setxattr(m.path("f").c_str(), "user.one", "x", 1, XATTR_CREATE), 0);
        EXPECT_EQ(errno, EEXIST);
        EXPECT_NE(setxattr(m.path("f").c_str(), "trusted.x", "x", 1, 0), 0);
        ASSERT_EQ(removexattr(m.path("f").c_str(), "user.one"), 0);
        EXPECT_NE(removexattr(m.path("f").c_str(), "user.one"), 0);
        EXPECT_EQ(errno, ENODATA);
        m.unmount();
    }
    Mount m(t.backing(), t.mnt());
    char buf[16];
    EXPECT_EQ(getxattr(m.path("f").c_str(), "user.bin", buf, sizeof buf), 2);
    EXPECT_EQ(std::string(buf, 2), std::string("\0\xff", 2));
    EXPECT_EQ(listxattr(m.path("f").c_str(), buf, sizeof buf), 9);  // "user.bin\0"
}

TEST_F(FsTest, ReconcileEditsMadeElsewhere) {
    {
        Mount m(t.backing(), t.mnt());
        write_file(m.path("kept"), "k");
        write_file(m.path("gone"), "g");
        write_file(m.path("gone?"), "g");
        ASSERT_EQ(chmod(m.path("kept").c_str(), 0600), 0);
        m.unmount();
    }
    // Another computer: adds, deletes, makes a folder.
    write_file(t.backing() + "/new.txt", "n");
    ASSERT_EQ(mkdir((t.backing() + "/New Folder").c_str(), 0700), 0);
    write_file(t.backing() + "/New Folder/inside", "i");
    ASSERT_EQ(unlink((t.backing() + "/gone").c_str()), 0);
    for (const auto& b : list(t.backing()))
        if (b.rfind("gone_~", 0) == 0) {
            ASSERT_EQ(unlink((t.backing() + "/" + b).c_str()), 0);
        }
    Mount m(t.backing(), t.mnt());
    EXPECT_EQ(list(t.mnt()), (std::set<std::string>{"kept", "new.txt", "New Folder"}));
    EXPECT_EQ(lst(m.path("kept")).st_mode & 0777, 0600u);
    EXPECT_EQ(lst(m.path("new.txt")).st_mode & 0777, 0644u);
    EXPECT_EQ(lst(m.path("New Folder")).st_mode & 0777, 0755u);
    EXPECT_EQ(read_file(m.path("New Folder/inside")), "i");
}

TEST_F(FsTest, TimeZoneShiftIsNotAnEdit) {
    const timespec exact[2] = {{1600000000, 123456789}, {1600000000, 123456789}};
    {
        Mount m(t.backing(), t.mnt());
        write_file(m.path("tz"), "t");
        write_file(m.path("edited"), "e");
        ASSERT_EQ(utimensat(AT_FDCWD, m.path("tz").c_str(), exact, 0), 0);
        ASSERT_EQ(utimensat(AT_FDCWD, m.path("edited").c_str(), exact, 0), 0);
        m.unmount();
    }
    // The same stick under another time zone (local time on FAT): +1 h.
    const timespec shifted[2] = {{1600003600, 0}, {1600003600, 0}};
    ASSERT_EQ(utimensat(AT_FDCWD, (t.backing() + "/tz").c_str(), shifted, 0), 0);
    // Really edited elsewhere: 100 s later.
    const timespec later[2] = {{1600000100, 0}, {1600000100, 0}};
    ASSERT_EQ(utimensat(AT_FDCWD, (t.backing() + "/edited").c_str(), later, 0), 0);
    Mount m(t.backing(), t.mnt());
    EXPECT_EQ(lst(m.path("tz")).st_mtim.tv_sec, 1600000000);
    EXPECT_EQ(lst(m.path("tz")).st_mtim.tv_nsec, 123456789);
    EXPECT_EQ(lst(m.path("edited")).st_mtim.tv_sec, 1600000100);
}

TEST_F(FsTest, HostileIndexIsIgnored) {
    write_file(t.backing() + "/file", "data");
    std::string junk(10000, '\0');
    for (std::size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<char>(i * 7919 % 251);
    junk.replace(0, 8, "PSHMIDX1");
    write_file(t.backing() + "/PERSHOME.IDX", junk);
    Mount m(t.backing(), t.mnt());
    EXPECT_EQ(list(t.mnt()), (std::set<std::string>{"file"}));
    EXPECT_EQ(read_file(m.path("file")), "data");
    ASSERT_EQ(chmod(m.path("file").c_str(), 0600), 0);
    const std::string log = m.unmount();
    EXPECT_NE(log.find("rebuilt"), std::string::npos) << log;
    Mount m2(t.backing(), t.mnt());
    EXPECT_EQ(lst(m2.path("file")).st_mode & 0777, 0600u);
}

TEST_F(FsTest, CraftedHostileIndexIsSanitised) {
    // A well-formed, correctly checksummed index written by an attacker.
    for (const char* f : {"suid", "dev", "victim", "sym", "dir"})
        write_file(t.backing() + "/" + f, "x");
    IndexContent c;
    auto add = [&](std::string name, std::string real, NodeType type, std::uint32_t mode) {
        Entry e;
        e.name = std::move(name);
        e.real = std::move(real);
        e.type = type;
        e.mode = mode;
        c.entries.push_back(e);
        return &c.entries.back();
    };
    add("setuid", "suid", NodeType::File, 0777);
    add("..", "victim", NodeType::File, 0644);
    add("a/b", "victim", NodeType::File, 0644);
    add("device", "dev", NodeType::File, 0644);
    add("again", "suid", NodeType::File, 0644);  // a second name for one backing file
    add("escape", "../../etc", NodeType::File, 0644);
    add("index", "PERSHOME.IDX", NodeType::File, 0644);
    add("dir-claims-file", "dir", NodeType::Dir, 0755);
    std::string payload = serialize_payload(c);
    // Forge what serialize_payload refuses to write: setuid bits and a
    // device-node type (mode field at +8, type at +4 of each entry record).
    const std::size_t first = 8 + 68;
    payload[first + 8 + 1] = static_cast<char>(payload[first + 8 + 1] | 0x0E);  // 07000
    std::size_t off = first;
    for (int i = 0; i < 3; ++i) {  // walk to the 4th record ("device")
        const auto nl = static_cast<unsigned char>(payload[off]) |
                        static_cast<unsigned char>(payload[off + 1]) << 8;
        const auto rl = static_cast<unsigned char>(payload[off + 2]) |
                        static_cast<unsigned char>(payload[off + 3]) << 8;
        off += 68 + nl + rl;
    }
    payload[off + 4] = 6;  // not a type pershome-fs has
    const std::string slot = encode_slot(1, kSlotAlign, payload);
    write_file(t.backing() + "/PERSHOME.IDX", slot);
    Mount m(t.backing(), t.mnt());
    const auto names = list(t.mnt());
    // ("dir-claims-file" keeps its name; the backing decides it is a file.)
    EXPECT_EQ(names, (std::set<std::string>{"setuid", "dev", "victim", "sym", "dir-claims-file"}))
        << [&] {
               std::string all;
               for (const auto& n : names) all += "'" + n + "' ";
               return all;
           }();
    EXPECT_EQ(lst(m.path("setuid")).st_mode, S_IFREG | 0777u);  // no setuid, ever
    EXPECT_TRUE(S_ISREG(lst(m.path("dev")).st_mode));
    EXPECT_TRUE(S_ISREG(lst(m.path("dir-claims-file")).st_mode));
    const std::string log = m.unmount();
    EXPECT_NE(log.find("invalid"), std::string::npos) << log;
}

TEST_F(FsTest, UnlinkRmdirStatfsAndOpenUnlinked) {
    Mount m(t.backing(), t.mnt());
    ASSERT_EQ(mkdir(m.path("d").c_str(), 0755), 0);
    write_file(m.path("d/f"), "x");
    EXPECT_NE(rmdir(m.path("d").c_str()), 0);
    EXPECT_EQ(errno, ENOTEMPTY);
    const int fd = open(m.path("d/f").c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(unlink(m.path("d/f").c_str()), 0);
    EXPECT_EQ(pwrite(fd, "yz", 2, 1), 2);  // still usable after unlink
    char buf[4] = {};
    EXPECT_EQ(pread(fd, buf, 3, 0), 3);
    EXPECT_EQ(std::string(buf), "xyz");
    close(fd);
    EXPECT_EQ(rmdir(m.path("d").c_str()), 0);
    EXPECT_TRUE(list(t.mnt()).empty());
    struct statvfs sv {};
    EXPECT_EQ(statvfs(t.mnt().c_str(), &sv), 0);
    EXPECT_GT(sv.f_blocks, 0u);
    EXPECT_EQ(sv.f_namemax, 255u);
}

TEST_F(FsTest, DirectoryTimesFollowTheirContents) {
    Mount m(t.backing(), t.mnt());
    ASSERT_EQ(mkdir(m.path("d").c_str(), 0755), 0);
    const timespec old[2] = {{1000, 0}, {1000, 0}};
    ASSERT_EQ(utimensat(AT_FDCWD, m.path("d").c_str(), old, 0), 0);
    write_file(m.path("d/f"), "x");
    EXPECT_GT(lst(m.path("d")).st_mtim.tv_sec, 1000);
    ASSERT_EQ(utimensat(AT_FDCWD, m.path("d").c_str(), old, 0), 0);
    ASSERT_EQ(unlink(m.path("d/f").c_str()), 0);
    EXPECT_GT(lst(m.path("d")).st_mtim.tv_sec, 1000);
}

TEST_F(FsTest, DirectoriesLinkCountIsTwoPlusSubdirectories) {
    std::filesystem::create_directories(t.backing() + "/made elsewhere/one");
    std::filesystem::create_directories(t.backing() + "/made elsewhere/two");
    auto nlink = [&](const std::string& rel) { return lst(t.mnt() + "/" + rel).st_nlink; };
    {
        Mount m(t.backing(), t.mnt());
        for (const char* d : {"a", "a/x", "a/y?", "a/z", "b"})
            ASSERT_EQ(mkdir(m.path(d).c_str(), 0755), 0) << d;
        // Files, placeholders and links are no subdirectories.
        write_file(m.path("a/f"), "x");
        ASSERT_EQ(symlink("x", m.path("a/s").c_str()), 0);
        ASSERT_EQ(mkfifo(m.path("a/p").c_str(), 0644), 0);
        ASSERT_EQ(link(m.path("a/f").c_str(), m.path("b/f").c_str()), 0);
        EXPECT_EQ(nlink("a"), 5u);
        EXPECT_EQ(nlink("a/x"), 2u);
        EXPECT_EQ(nlink("b"), 2u);
        EXPECT_EQ(nlink("made elsewhere"), 4u);
        EXPECT_EQ(nlink(""), 5u);  // a, b, made elsewhere
        // A directory moved to another one takes its link along (its "..").
        ASSERT_EQ(rename(m.path("a/x").c_str(), m.path("b/x").c_str()), 0);
        EXPECT_EQ(nlink("a"), 4u);
        EXPECT_EQ(nlink("b"), 3u);
        // Replacing an empty directory: one subdirectory fewer in a, none more in b.
        ASSERT_EQ(rename(m.path("a/y?").c_str(), m.path("b/x").c_str()), 0);
        EXPECT_EQ(nlink("a"), 3u);
        EXPECT_EQ(nlink("b"), 3u);
        // Within one directory, to a name FAT cannot hold: no change.
        ASSERT_EQ(rename(m.path("a/z").c_str(), m.path("a/z:").c_str()), 0);
        EXPECT_EQ(nlink("a"), 3u);
        ASSERT_EQ(rmdir(m.path("a/z:").c_str()), 0);
        EXPECT_EQ(nlink("a"), 2u);
        ASSERT_EQ(rename(m.path("made elsewhere/one").c_str(), m.path("a/one").c_str()), 0);
        EXPECT_EQ(nlink("made elsewhere"), 3u);
        EXPECT_EQ(nlink("a"), 3u);
    }
    // After a remount, directories not listed yet and listed ones agree.
    Mount m(t.backing(), t.mnt());
    EXPECT_EQ(nlink(""), 5u);
    EXPECT_EQ(nlink("a"), 3u);
    EXPECT_EQ(nlink("b"), 3u);
    EXPECT_EQ(nlink("made elsewhere"), 3u);
    EXPECT_EQ(list(m.path("a")), (std::set<std::string>{"f", "one", "p", "s"}));
    EXPECT_EQ(list(m.path("b")), (std::set<std::string>{"f", "x"}));
    EXPECT_EQ(nlink("a"), 3u);
    EXPECT_EQ(nlink("b"), 3u);
    EXPECT_EQ(nlink("b/x"), 2u);
}

TEST_F(FsTest, ReadOnlyMount) {
    write_file(t.backing() + "/f", "x");
    Mount m(t.backing(), t.mnt(), "ro");
    EXPECT_EQ(read_file(m.path("f")), "x");
    EXPECT_LT(open(m.path("g").c_str(), O_CREAT | O_WRONLY, 0644), 0);
    EXPECT_EQ(errno, EROFS);
    EXPECT_NE(chmod(m.path("f").c_str(), 0600), 0);
    m.unmount();
    EXPECT_FALSE(std::filesystem::exists(t.backing() + "/PERSHOME.IDX"));
}

TEST_F(FsTest, ManyFilesAndReaddir) {
    Mount m(t.backing(), t.mnt());
    std::set<std::string> want;
    for (int i = 0; i < 2000; ++i) {
        const std::string n = "file " + std::to_string(i) + (i % 3 ? "?" : "");
        write_file(m.path(n), n);
        want.insert(n);
    }
    EXPECT_EQ(list(t.mnt()), want);
    m.unmount();
    Mount m2(t.backing(), t.mnt());
    EXPECT_EQ(list(t.mnt()), want);
}

}  // namespace
}  // namespace pershome::fs::test
