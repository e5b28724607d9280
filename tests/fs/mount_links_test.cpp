// Hard-linked files stay visible to computers that read the stick without
// pershome-fs: the data stays under one of the file's names (the primary),
// the other names live in their directories' indexes. Checked on a plain
// backing directory, as another computer lists it, and through states a
// crash leaves between the steps of link, unlink and rename.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "fs/index_format.hpp"
#include "tests/fs/mount_harness.hpp"

namespace pershome::fs::test {
namespace {

using pershome::fs::Entry;
using pershome::fs::IndexContent;
using pershome::fs::NodeType;

// A backing directory as another computer lists it (pershome's own files
// are hidden there).
std::set<std::string> backing_files(const std::string& dir) {
    std::set<std::string> out;
    DIR* d = opendir(dir.c_str());
    if (!d) return out;
    while (dirent* de = readdir(d)) {
        const std::string n = de->d_name;
        if (n != "." && n != ".." && n != "PERSHOME.IDX") out.insert(n);
    }
    closedir(d);
    return out;
}

struct stat lst(const std::string& p) {
    struct stat st {};
    EXPECT_EQ(lstat(p.c_str(), &st), 0) << p << ": " << std::strerror(errno);
    return st;
}

bool exists(const std::string& p) {
    struct stat st {};
    return lstat(p.c_str(), &st) == 0;
}

// `pershome-fs --check DIR`'s exit status: 0 clean, 1 catch-up, 2 damage.
int check(const std::string& backing, bool repair = false) {
    const std::string cmd = fs_binary() + " --check " + (repair ? "--repair " : "") + "'" +
                            backing + "' > /dev/null 2>&1";
    const int st = std::system(cmd.c_str());
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// Polls `cond` (what another computer would look at) until it holds or
// 20 s have passed; whether it held.
template <class F>
bool wait_until(F cond) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!cond()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
}

std::size_t count_of(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

std::string check_output(const std::string& backing) {
    std::string out;
    FILE* p = popen((fs_binary() + " --check '" + backing + "' 2>&1").c_str(), "r");
    char buf[512];
    while (p && fgets(buf, sizeof buf, p)) out += buf;
    if (p) pclose(p);
    return out;
}

class LinksTest : public ::testing::Test {
  protected:
    std::string b(const std::string& rel) const { return t.backing() + "/" + rel; }
    // d1/a with "data", linked as d2/b and (three names) d3/c:odd.
    void make_group(Mount& m, bool three) {
        for (const char* d : {"d1", "d2", "d3"}) ASSERT_EQ(mkdir(m.path(d).c_str(), 0755), 0);
        write_file(m.path("d1/a"), "data");
        ASSERT_EQ(link(m.path("d1/a").c_str(), m.path("d2/b").c_str()), 0);
        if (three) {
            ASSERT_EQ(link(m.path("d1/a").c_str(), m.path("d3/c:odd").c_str()), 0);
        }
    }
    // make_group on a mount of its own; then a fresh mount, which has
    // visited no directory, unlinks d1/a and waits for the data to leave the
    // pool for d2/b (the search found it); `more` runs on that mount.
    void unlink_first_unvisited(bool three, const std::function<void(Mount&)>& more) {
        {
            Mount m(t.backing(), t.mnt());
            make_group(m, three);
            m.unmount();
        }
        Mount m(t.backing(), t.mnt());
        ASSERT_EQ(unlink(m.path("d1/a").c_str()), 0);
        EXPECT_TRUE(wait_until([&] {
            return exists(b("d2/b")) && backing_files(b("PERSHOME.LNK")).empty();
        })) << "pool: "
            << backing_files(b("PERSHOME.LNK")).size() << " files";
        more(m);
        m.unmount();
    }
    TempTree t;
};

TEST_F(LinksTest, LinkedFileKeepsItsDataUnderItsFirstName) {
    ino_t ino = 0;
    {
        Mount m(t.backing(), t.mnt());
        make_group(m, true);
        EXPECT_EQ(lst(m.path("d3/c:odd")).st_nlink, 3u);
        ino = lst(m.path("d1/a")).st_ino;
        EXPECT_EQ(lst(m.path("d2/b")).st_ino, ino);
        write_file(m.path("d3/c:odd"), "changed through c");
        // What another computer sees, with the mount still up.
        EXPECT_EQ(read_file(b("d1/a")), "changed through c");
        EXPECT_EQ(backing_files(b("d2")), std::set<std::string>{});
        EXPECT_EQ(backing_files(b("d3")), std::set<std::string>{});
        EXPECT_EQ(backing_files(b("PERSHOME.LNK")), std::set<std::string>{});
        m.unmount();
    }
    EXPECT_EQ(read_file(b("d1/a")), "changed through c");
    EXPECT_EQ(check(t.backing()), 0) << check_output(t.backing());
    Mount m(t.backing(), t.mnt());
    ino = lst(m.path("d1/a")).st_ino;  // (a hard-linked file's number is its group's)
    for (const char* n : {"d1/a", "d2/b", "d3/c:odd"}) {
        EXPECT_EQ(read_file(m.path(n)), "changed through c") << n;
        EXPECT_EQ(lst(m.path(n)).st_nlink, 3u) << n;
        EXPECT_EQ(lst(m.path(n)).st_ino, ino) << n;
    }
}

TEST_F(LinksTest, UnlinkingThePrimaryMovesTheDataToAnotherName) {
    {
        Mount m(t.backing(), t.mnt());
        make_group(m, true);
        ASSERT_EQ(unlink(m.path("d1/a").c_str()), 0);
        EXPECT_EQ(read_file(m.path("d2/b")), "data");
        EXPECT_EQ(lst(m.path("d3/c:odd")).st_nlink, 2u);
        // Another computer sees the file under b (a name FAT holds as
        // itself goes before one it cannot), and nothing in the pool.
        EXPECT_FALSE(exists(b("d1/a")));
        EXPECT_EQ(read_file(b("d2/b")), "data");
        EXPECT_EQ(backing_files(b("d3")), std::set<std::string>{});
        EXPECT_EQ(backing_files(b("PERSHOME.LNK")), std::set<std::string>{});
        m.unmount();
    }
    EXPECT_EQ(read_file(b("d2/b")), "data");
    EXPECT_EQ(check(t.backing()), 0) << check_output(t.backing());
    {
        Mount m(t.backing(), t.mnt());
        EXPECT_EQ(read_file(m.path("d3/c:odd")), "data");
        // Down to one name: the data is under it again, for other computers
        // (when that name's directory is loaded, as a listing does).
        EXPECT_EQ(read_file(m.path("d2/b")), "data");
        ASSERT_EQ(unlink(m.path("d3/c:odd").c_str()), 0);
        EXPECT_EQ(lst(m.path("d2/b")).st_nlink, 1u);
        EXPECT_EQ(read_file(b("d2/b")), "data");
        m.unmount();
    }
    EXPECT_EQ(backing_files(b("PERSHOME.LNK")), std::set<std::string>{});
    EXPECT_EQ(check(t.backing()), 0) << check_output(t.backing());
}

TEST_F(LinksTest, AnHeirFatCannotNameHoldsTheDataUnderItsGeneratedName) {
    {
        Mount m(t.backing(), t.mnt());
        make_group(m, true);
        ASSERT_EQ(unlink(m.path("d2/b").c_str()), 0);
        ASSERT_EQ(unlink(m.path("d1/a").c_str()), 0);
        EXPECT_EQ(read_file(m.path("d3/c:odd")), "data");
        EXPECT_EQ(lst(m.path("d3/c:odd")).st_nlink, 1u);
        m.unmount();
    }
    const auto d3 = backing_files(b("d3"));
    ASSERT_EQ(d3.size(), 1u);
    EXPECT_EQ(read_file(b("d3/" + *d3.begin())), "data") << *d3.begin();
    EXPECT_EQ(backing_files(b("PERSHOME.LNK")), std::set<std::string>{});
    EXPECT_EQ(check(t.backing()), 0) << check_output(t.backing());
    Mount m(t.backing(), t.mnt());
    EXPECT_EQ(read_file(m.path("d3/c:odd")), "data");
}

// Only names in directories visited since mount are known: with none, the
// data goes into the pool, and a search of the stick (in the background)
// finds another name to take it, so other computers see the file again.
TEST_F(LinksTest, UnlinkingThePrimaryWithNoOtherNameKnownMovesTheDataToOneFound) {
    unlink_first_unvisited(true, [&](Mount& m) {
        EXPECT_EQ(read_file(b("d2/b")), "data");
        EXPECT_EQ(backing_files(b("d3")), std::set<std::string>{});
        EXPECT_EQ(read_file(m.path("d3/c:odd")), "data");
        EXPECT_EQ(lst(m.path("d2/b")).st_nlink, 2u);
    });
    EXPECT_EQ(read_file(b("d2/b")), "data");
    EXPECT_EQ(backing_files(b("PERSHOME.LNK")), std::set<std::string>{});
    EXPECT_EQ(check(t.backing()), 0) << check_output(t.backing());
    {
        Mount m(t.backing(), t.mnt());
        for (const char* n : {"d2/b", "d3/c:odd"}) {
            EXPECT_EQ(read_file(m.path(n)), "data") << n;
            EXPECT_EQ(lst(m.path(n)).st_nlink, 2u) << n;
        }
        ASSERT_EQ(unlink(m.path("d3/c:odd").c_str()), 0);
        EXPECT_EQ(lst(m.path("d2/b")).st_nlink, 1u);
        m.unmount();
    }
    EXPECT_EQ(read_file(b("d2/b")), "data");
    EXPECT_EQ(check(t.backing()), 0) << check_output(t.backing());
}

// The same with two names: the one found is the file's last, and becomes
// a plain file holding the data.
TEST_F(LinksTest, UnlinkingThePrimaryWithItsOneOtherNameUnknownLeavesThatAPlainFile) {
    unlink_first_unvisited(false, [&](Mount& m) { EXPECT_EQ(lst(m.path("d2/b")).st_nlink, 1u); });
    EXPECT_EQ(read_file(b("d2/b")), "data");
    EXPECT_EQ(check(t.backing()), 0) << check_output(t.backing());
    Mount m(t.backing(), t.mnt());
    EXPECT_EQ(read_file(m.path("d2/b")), "data");
    EXPECT_EQ(lst(m.path("d2/b")).st_nlink, 1u);
}

TEST_F(LinksTest, ReplacingThePrimaryByARenameHandsTheDataOn) {
    {
        Mount m(t.backing(), t.mnt());
        make_group(m, true);
        write_file(m.path("d1/x"), "other");
        ASSERT_EQ(rename(m.path("d1/x").c_str(), m.path("d1/a").c_str()), 0);
        EXPECT_EQ(read_file(m.path("d1/a")), "other");
        EXPECT_EQ(lst(m.path("d1/a")).st_nlink, 1u);
        EXPECT_EQ(lst(m.path("d2/b")).st_nlink, 2u);
        m.unmount();
    }
    EXPECT_EQ(read_file(b("d1/a")), "other");
    EXPECT_EQ(read_file(b("d2/b")), "data");
    EXPECT_EQ(backing_files(b("PERSHOME.LNK")), std::set<std::string>{});
    EXPECT_EQ(check(t.backing()), 0) << check_output(t.backing());
    Mount m(t.backing(), t.mnt());
    EXPECT_EQ(read_file(m.path("d1/a")), "other");
    for (const char* n : {"d2/b", "d3/c:odd"}) {
        EXPECT_EQ(read_file(m.path(n)), "data") << n;
        EXPECT_EQ(lst(m.path(n)).st_nlink, 2u) << n;
    }
}

TEST_F(LinksTest, LinkThenUnlinkTheOldNameLeavesTheFileUnderTheNewOne) {
    // git's way of storing an object (link a temporary, unlink it).
    {
        Mount m(t.backing(), t.mnt());
        make_group(m, false);
        ASSERT_EQ(unlink(m.path("d1/a").c_str()), 0);
        EXPECT_EQ(lst(m.path("d2/b")).st_nlink, 1u);
        EXPECT_EQ(read_file(b("d2/b")), "data");
        EXPECT_FALSE(exists(b("d1/a")));
        m.unmount();
    }
    EXPECT_EQ(check(t.backing()), 0) << check_output(t.backing());
    Mount m(t.backing(), t.mnt());
    EXPECT_EQ(read_file(m.path("d2/b")), "data");
}

TEST_F(LinksTest, UnlinkingTheOtherNameMakesThePrimaryAPlainFile) {
    {
        Mount m(t.backing(), t.mnt());
        make_group(m, false);
        ASSERT_EQ(chmod(m.path("d2/b").c_str(), 0640), 0);
        ASSERT_EQ(unlink(m.path("d2/b").c_str()), 0);
        EXPECT_EQ(lst(m.path("d1/a")).st_nlink, 1u);
        m.unmount();
    }
    EXPECT_EQ(read_file(b("d1/a")), "data");
    EXPECT_EQ(check(t.backing()), 0) << check_output(t.backing());
    Mount m(t.backing(), t.mnt());
    EXPECT_EQ(lst(m.path("d1/a")).st_mode & 0777, 0640u);
    EXPECT_EQ(lst(m.path("d1/a")).st_nlink, 1u);
}

TEST_F(LinksTest, RenamingThePrimaryOrItsDirectoryTakesTheDataAlong) {
    {
        Mount m(t.backing(), t.mnt());
        make_group(m, true);
        ASSERT_EQ(rename(m.path("d1/a").c_str(), m.path("d2/z").c_str()), 0);
        EXPECT_EQ(read_file(m.path("d3/c:odd")), "data");
        EXPECT_EQ(read_file(m.path("d2/z")), "data");
        EXPECT_EQ(lst(m.path("d2/z")).st_nlink, 3u);
        // The file moved on the backing with its name.
        EXPECT_EQ(read_file(b("d2/z")), "data");
        EXPECT_FALSE(exists(b("d1/a")));
        // Then within its directory, to a name FAT cannot hold.
        ASSERT_EQ(rename(m.path("d2/z").c_str(), m.path("d2/z?").c_str()), 0);
        EXPECT_EQ(backing_files(b("d2")).size(), 1u);
        EXPECT_FALSE(exists(b("d2/z")));
        write_file(m.path("d1/e"), "second");
        ASSERT_EQ(link(m.path("d1/e").c_str(), m.path("d3/f").c_str()), 0);
        ASSERT_EQ(rename(m.path("d1").c_str(), m.path("d1 moved").c_str()), 0);
        EXPECT_EQ(read_file(m.path("d3/f")), "second");
        EXPECT_EQ(read_file(m.path("d1 moved/e")), "second");
        EXPECT_EQ(read_file(b("d1 moved/e")), "second");
        // And a directory renamed into another one.
        ASSERT_EQ(rename(m.path("d1 moved").c_str(), m.path("d2/sub").c_str()), 0);
        EXPECT_EQ(read_file(m.path("d3/f")), "second");
        m.unmount();
    }
    EXPECT_EQ(read_file(b("d2/sub/e")), "second");
    const auto d2 = backing_files(b("d2"));
    ASSERT_EQ(d2.size(), 2u);  // sub, and the data under z?'s generated name
    for (const auto& n : d2) {
        if (n == "sub") continue;
        EXPECT_EQ(read_file(b("d2/" + n)), "data") << n;
    }
    EXPECT_EQ(backing_files(b("PERSHOME.LNK")), std::set<std::string>{});
    EXPECT_EQ(check(t.backing()), 0) << check_output(t.backing());
    Mount m(t.backing(), t.mnt());
    EXPECT_EQ(read_file(m.path("d2/z?")), "data");
    EXPECT_EQ(read_file(m.path("d2/b")), "data");
    EXPECT_EQ(lst(m.path("d2/b")).st_nlink, 3u);
    EXPECT_EQ(lst(m.path("d2/z?")).st_nlink, 3u);
    EXPECT_EQ(read_file(m.path("d2/sub/e")), "second");
    EXPECT_EQ(read_file(m.path("d3/f")), "second");
    EXPECT_EQ(lst(m.path("d3/f")).st_nlink, 2u);
}

TEST_F(LinksTest, RenamingThePrimaryOverAFileKeepsTheDataUnderTheNewName) {
    {
        Mount m(t.backing(), t.mnt());
        make_group(m, false);
        write_file(m.path("d2/old"), "replaced");
        ASSERT_EQ(rename(m.path("d1/a").c_str(), m.path("d2/old").c_str()), 0);
        EXPECT_EQ(read_file(m.path("d2/old")), "data");
        EXPECT_EQ(lst(m.path("d2/b")).st_nlink, 2u);
        m.unmount();
    }
    EXPECT_EQ(read_file(b("d2/old")), "data");
    EXPECT_EQ(backing_files(b("d2")), std::set<std::string>{"old"});
    EXPECT_EQ(check(t.backing()), 0) << check_output(t.backing());
    Mount m(t.backing(), t.mnt());
    EXPECT_EQ(read_file(m.path("d2/b")), "data");
    EXPECT_EQ(lst(m.path("d2/old")).st_nlink, 2u);
}

// ---- States a crash leaves between two steps, written as the stick holds
// them (docs/on-stick-format.md, sections 5 and 7) ----

void write_index(const std::string& dir, const IndexContent& c) {
    const std::string slot = encode_slot(1, pershome::fs::kSlotAlign * 2, serialize_payload(c));
    write_file(dir + "/PERSHOME.IDX", slot);
}

Entry file_entry(const std::string& name, const std::string& real, std::uint64_t link_id) {
    Entry e;
    e.name = name;
    e.real = real;
    e.type = NodeType::File;
    e.mode = 0640;
    e.link_id = link_id;
    e.mtime = e.ctime = e.atime = {1700000000, 0};
    return e;
}

Entry dir_entry(const std::string& name) {
    Entry e = file_entry(name, name, 0);
    e.type = NodeType::Dir;
    e.mode = 0755;
    return e;
}

// The pool's entry of group 1.
Entry group(const std::string& real, const std::string& prev, bool at_path, std::uint32_t nlink) {
    Entry e = file_entry("0000000000000001", real, 0);
    e.at_path = at_path;
    e.real_prev = prev;
    e.nlink = nlink;
    return e;
}

class CrashStateTest : public LinksTest {
  protected:
    // d1/a (data under `a_real` or nowhere), d2/b linked to group 1 as
    // `b_linked` says; the pool holds `g`, its file `pool_file` if given.
    void lay_out(const Entry* g, bool a_linked, bool a_has_real, bool a_file, bool b_linked,
                 bool pool_file) {
        for (const char* d : {"d1", "d2", "PERSHOME.LNK"}) ASSERT_EQ(mkdir(b(d).c_str(), 0755), 0);
        // (Files with the indexed mtime: not taken for edits made elsewhere.)
        const timespec ts[2] = {{1700000000, 0}, {1700000000, 0}};
        if (a_file) {
            write_file(b("d1/a"), "data");
            ASSERT_EQ(utimensat(AT_FDCWD, b("d1/a").c_str(), ts, 0), 0);
        }
        if (pool_file) {
            write_file(b("PERSHOME.LNK/0000000000000001"), "data");
            ASSERT_EQ(utimensat(AT_FDCWD, b("PERSHOME.LNK/0000000000000001").c_str(), ts, 0), 0);
        }
        IndexContent root;
        root.self = dir_entry("");
        root.entries = {dir_entry("d1"), dir_entry("d2")};
        write_index(t.backing(), root);
        IndexContent d1, d2, pool;
        d1.entries = {file_entry("a", a_has_real ? "a" : "", a_linked ? 1 : 0)};
        write_index(b("d1"), d1);
        if (b_linked) d2.entries = {file_entry("b", "", 1)};
        write_index(b("d2"), d2);
        if (g) pool.entries = {*g};
        write_index(b("PERSHOME.LNK"), pool);
    }
    // Every name the state holds reads the data, and --check finds no
    // damage (what a crash leaves is catch-up at most).
    void expect_readable(const std::vector<std::string>& names, nlink_t nlink) {
        EXPECT_LE(check(t.backing()), 1) << check_output(t.backing());
        {
            Mount m(t.backing(), t.mnt());
            for (const auto& n : names) {
                EXPECT_EQ(read_file(m.path(n)), "data") << n;
                EXPECT_EQ(lst(m.path(n)).st_nlink, nlink) << n;
            }
            // Still a working file system after it: a new name, then all go.
            ASSERT_EQ(link(m.path(names[0]).c_str(), m.path("d2/new").c_str()), 0);
            EXPECT_EQ(read_file(m.path("d2/new")), "data");
            m.unmount();
        }
        EXPECT_LE(check(t.backing(), true), 1) << check_output(t.backing());
        EXPECT_EQ(check(t.backing()), 0) << check_output(t.backing());
    }
};

// A stick as a crash in the middle of a move of group 1's data leaves it
// (section 7): directories, their indexes, the files holding "data".
struct Stick {
    std::vector<std::string> root_index = {"d1", "d2"};  // directories the root's index names
    std::vector<std::string> dirs = {"d1", "d2"};        // on the backing
    std::vector<std::pair<std::string, std::vector<Entry>>> indexes;
    std::vector<std::string> files;
    Entry group;
    std::vector<Entry> more_groups;
};

class MoveStateTest : public CrashStateTest {
  protected:
    void lay_out(const Stick& s) {
        ASSERT_EQ(mkdir(b("PERSHOME.LNK").c_str(), 0755), 0);
        for (const auto& d : s.dirs) ASSERT_EQ(mkdir(b(d).c_str(), 0755), 0);
        const timespec ts[2] = {{1700000000, 0}, {1700000000, 0}};
        for (const auto& f : s.files) {
            write_file(b(f), "data");
            ASSERT_EQ(utimensat(AT_FDCWD, b(f).c_str(), ts, 0), 0);
        }
        IndexContent root, pool;
        root.self = dir_entry("");
        for (const auto& d : s.root_index) root.entries.push_back(dir_entry(d));
        write_index(t.backing(), root);
        for (const auto& [d, entries] : s.indexes) {
            IndexContent c;
            c.entries = entries;
            write_index(b(d), c);
        }
        pool.entries = {s.group};
        pool.entries.insert(pool.entries.end(), s.more_groups.begin(), s.more_groups.end());
        write_index(b("PERSHOME.LNK"), pool);
    }
    // A mount that visits `names` (loading their directories) sees the data
    // leave the pool for the name at `at`, where another computer then
    // sees it; the stick is clean after, and every name shows the file.
    void expect_leaves_pool_for(const std::vector<std::string>& names, const std::string& at) {
        {
            Mount m(t.backing(), t.mnt());
            for (const auto& n : names) EXPECT_EQ(read_file(m.path(n)), "data") << n;
            EXPECT_TRUE(wait_until([&] {
                return backing_files(b("PERSHOME.LNK")).empty() && exists(b(at));
            })) << "pool: "
                << backing_files(b("PERSHOME.LNK")).size() << " files";
            m.unmount();
        }
        EXPECT_EQ(read_file(b(at)), "data") << at;
        EXPECT_EQ(check(t.backing()), 0) << check_output(t.backing());
        Mount m(t.backing(), t.mnt());
        for (const auto& n : names) {
            EXPECT_EQ(read_file(m.path(n)), "data") << n;
            EXPECT_EQ(lst(m.path(n)).st_nlink, names.size()) << n;
        }
    }
    // What another computer sees once pershome-fs has been by: the data
    // under exactly one backing name, `at` if given, the pool empty.
    void expect_data_under_a_name(const std::string& at = "") {
        EXPECT_EQ(backing_files(b("PERSHOME.LNK")), std::set<std::string>{});
        if (at.empty()) return;
        EXPECT_EQ(read_file(b(at)), "data") << at;
    }
};

// Unlink (or replacement) of the primary d1/a, d2/b its heir.
TEST_F(MoveStateTest, HeirAfterItNamedItsBackingName) {
    Stick s;
    s.indexes = {{"d1", {file_entry("a", "a", 1)}}, {"d2", {file_entry("b", "b", 1)}}};
    s.files = {"d1/a"};
    s.group = group("d1/a", "", true, 2);
    lay_out(s);
    expect_readable({"d1/a", "d2/b"}, 2);
    expect_data_under_a_name("d1/a");
    EXPECT_FALSE(exists(b("d2/b")));
}

TEST_F(MoveStateTest, HeirBeforeTheRename) {
    Stick s;
    s.indexes = {{"d1", {file_entry("a", "a", 1)}}, {"d2", {file_entry("b", "b", 1)}}};
    s.files = {"d1/a"};
    s.group = group("d2/b", "d1/a", true, 2);
    lay_out(s);
    expect_readable({"d1/a", "d2/b"}, 2);
    expect_data_under_a_name("d1/a");
}

TEST_F(MoveStateTest, HeirAfterTheRename) {
    Stick s;
    s.indexes = {{"d1", {file_entry("a", "a", 1)}}, {"d2", {file_entry("b", "b", 1)}}};
    s.files = {"d2/b"};
    s.group = group("d2/b", "d1/a", true, 2);
    lay_out(s);
    expect_readable({"d1/a", "d2/b"}, 2);
    expect_data_under_a_name("d2/b");
}

// A pull between vfat's two directory updates of the rename: both entries
// on the stick (on FAT sharing clusters; here two files). The old place is
// read, the heir's file kept claimed: never shown twice, never removed.
TEST_F(MoveStateTest, HeirRenameTornByAPull) {
    Stick s;
    s.indexes = {{"d1", {file_entry("a", "a", 1)}}, {"d2", {file_entry("b", "b", 1)}}};
    s.files = {"d1/a", "d2/b"};
    s.group = group("d2/b", "d1/a", true, 2);
    lay_out(s);
    expect_readable({"d1/a", "d2/b"}, 2);
    expect_data_under_a_name("d1/a");
    EXPECT_TRUE(exists(b("d2/b")));
}

TEST_F(MoveStateTest, HeirSettledBeforeTheOldNameForgotItsFile) {
    Stick s;
    s.indexes = {{"d1", {file_entry("a", "a", 1)}}, {"d2", {file_entry("b", "b", 1)}}};
    s.files = {"d2/b"};
    s.group = group("d2/b", "", true, 2);
    lay_out(s);
    expect_readable({"d1/a", "d2/b"}, 2);
    expect_data_under_a_name("d2/b");
}

TEST_F(MoveStateTest, HeirDoneTheOldNameGone) {
    Stick s;
    s.indexes = {{"d1", {}}, {"d2", {file_entry("b", "b", 1)}}};
    s.files = {"d2/b"};
    s.group = group("d2/b", "", true, 2);
    lay_out(s);
    expect_readable({"d2/b"}, 2);  // the count drops after the name: catch-up
    expect_data_under_a_name("d2/b");
}

// Rename of the primary d1/a to d2/z, d2/b its other name: the count
// covers both names of the file while both may be on the stick.
TEST_F(MoveStateTest, PrimaryRenameAfterTheGroupNamedBothPlaces) {
    Stick s;
    s.indexes = {{"d1", {file_entry("a", "a", 1)}}, {"d2", {file_entry("b", "", 1)}}};
    s.files = {"d1/a"};
    s.group = group("d2/z", "d1/a", true, 3);
    lay_out(s);
    expect_readable({"d1/a", "d2/b"}, 3);
    expect_data_under_a_name("d1/a");
}

TEST_F(MoveStateTest, PrimaryRenameAfterTheNewNameWasWritten) {
    Stick s;
    s.indexes = {{"d1", {file_entry("a", "a", 1)}},
                 {"d2", {file_entry("b", "", 1), file_entry("z", "z", 1)}}};
    s.files = {"d1/a"};
    s.group = group("d2/z", "d1/a", true, 3);
    lay_out(s);
    expect_readable({"d1/a", "d2/b", "d2/z"}, 3);
    expect_data_under_a_name("d1/a");
}

TEST_F(MoveStateTest, PrimaryRenameAfterTheFileMoved) {
    Stick s;
    s.indexes = {{"d1", {file_entry("a", "a", 1)}},
                 {"d2", {file_entry("b", "", 1), file_entry("z", "z", 1)}}};
    s.files = {"d2/z"};
    s.group = group("d2/z", "d1/a", true, 3);
    lay_out(s);
    expect_readable({"d1/a", "d2/b", "d2/z"}, 3);
    expect_data_under_a_name("d2/z");
}

TEST_F(MoveStateTest, PrimaryRenameAfterTheOldNameWent) {
    Stick s;
    s.indexes = {{"d1", {}}, {"d2", {file_entry("b", "", 1), file_entry("z", "z", 1)}}};
    s.files = {"d2/z"};
    s.group = group("d2/z", "d1/a", true, 3);
    lay_out(s);
    expect_readable({"d2/b", "d2/z"}, 3);  // one too high: catch-up
    expect_data_under_a_name("d2/z");
}

// Rename of directory d1 (holding the primary a) to d9.
TEST_F(MoveStateTest, DirectoryRenameBeforeTheBackingRename) {
    Stick s;
    s.indexes = {{"d1", {file_entry("a", "a", 1)}}, {"d2", {file_entry("b", "", 1)}}};
    s.files = {"d1/a"};
    s.group = group("d9/a", "d1/a", true, 2);
    lay_out(s);
    expect_readable({"d1/a", "d2/b"}, 2);
    expect_data_under_a_name("d1/a");
}

TEST_F(MoveStateTest, DirectoryRenameBeforeTheIndexes) {
    Stick s;
    s.dirs = {"d9", "d2"};  // the root's index still names d1
    s.indexes = {{"d9", {file_entry("a", "a", 1)}}, {"d2", {file_entry("b", "", 1)}}};
    s.files = {"d9/a"};
    s.group = group("d9/a", "d1/a", true, 2);
    lay_out(s);
    expect_readable({"d9/a", "d2/b"}, 2);
    expect_data_under_a_name("d9/a");
}

TEST_F(MoveStateTest, DirectoryRenameBeforeThePathsSettled) {
    Stick s;
    s.root_index = s.dirs = {"d9", "d2"};
    s.indexes = {{"d9", {file_entry("a", "a", 1)}}, {"d2", {file_entry("b", "", 1)}}};
    s.files = {"d9/a"};
    s.group = group("d9/a", "d1/a", true, 2);
    lay_out(s);
    expect_readable({"d9/a", "d2/b"}, 2);
    expect_data_under_a_name("d9/a");
}

// Move of group 1's data out of the pool (a version 1-2 stick's group, or
// one whose primary went while no other name was known) to d2/b, d1/a its
// other name. A later visit moves it on where it is still in the pool
// (to d1/a: the first of the names by backing path).
Stick pooled_stick() {
    Stick s;
    s.indexes = {{"d1", {file_entry("a", "", 1)}}, {"d2", {file_entry("b", "b", 1)}}};
    s.files = {"PERSHOME.LNK/0000000000000001"};
    s.group = group("0000000000000001", "", false, 2);
    return s;
}

TEST_F(MoveStateTest, PoolOutAfterTheHeirNamedItsBackingName) {
    lay_out(pooled_stick());
    expect_leaves_pool_for({"d1/a", "d2/b"}, "d1/a");
    expect_readable({"d1/a", "d2/b"}, 2);
}

TEST_F(MoveStateTest, PoolOutBeforeTheRename) {
    Stick s = pooled_stick();
    s.group = group("d2/b", "PERSHOME.LNK/0000000000000001", true, 2);
    lay_out(s);
    expect_leaves_pool_for({"d1/a", "d2/b"}, "d1/a");
    expect_readable({"d1/a", "d2/b"}, 2);
}

TEST_F(MoveStateTest, PoolOutAfterTheRename) {
    Stick s = pooled_stick();
    s.group = group("d2/b", "PERSHOME.LNK/0000000000000001", true, 2);
    s.files = {"d2/b"};
    lay_out(s);
    expect_leaves_pool_for({"d1/a", "d2/b"}, "d2/b");
    expect_readable({"d1/a", "d2/b"}, 2);
}

// A pull between vfat's two directory updates of the rename out of the
// pool: the pool's file is read, d2/b's kept claimed (never shown twice,
// never removed, never given to another name).
TEST_F(MoveStateTest, PoolOutTornByAPull) {
    Stick s = pooled_stick();
    s.group = group("d2/b", "PERSHOME.LNK/0000000000000001", true, 2);
    s.files = {"PERSHOME.LNK/0000000000000001", "d2/b"};
    lay_out(s);
    expect_leaves_pool_for({"d1/a", "d2/b"}, "d1/a");
    expect_readable({"d1/a", "d2/b"}, 2);
    EXPECT_TRUE(exists(b("d2/b")));
}

TEST_F(MoveStateTest, PoolOutDone) {
    Stick s = pooled_stick();
    s.group = group("d2/b", "", true, 2);
    s.files = {"d2/b"};
    lay_out(s);
    EXPECT_EQ(check(t.backing()), 0) << check_output(t.backing());
    expect_leaves_pool_for({"d1/a", "d2/b"}, "d2/b");
    expect_readable({"d1/a", "d2/b"}, 2);
}

// An old stick's group down to one name FAT cannot hold: its data leaves
// the pool for that name's generated backing name, as any such file has,
// and another computer sees it there.
TEST_F(MoveStateTest, PoolOutOfALastNameFatCannotHold) {
    Stick s;
    s.indexes = {{"d2", {file_entry("b:odd", "", 1)}}};
    s.files = {"PERSHOME.LNK/0000000000000001"};
    s.group = group("0000000000000001", "", false, 1);
    lay_out(s);
    {
        Mount m(t.backing(), t.mnt());
        EXPECT_EQ(read_file(m.path("d2/b:odd")), "data");
        EXPECT_TRUE(wait_until([&] { return backing_files(b("PERSHOME.LNK")).empty(); }));
        m.unmount();
    }
    const auto in_d2 = backing_files(b("d2"));
    ASSERT_EQ(in_d2.size(), 1u);
    EXPECT_EQ(in_d2.begin()->rfind("b_odd~", 0), 0u) << *in_d2.begin();
    EXPECT_EQ(read_file(b("d2/" + *in_d2.begin())), "data");
    EXPECT_EQ(check(t.backing()), 0) << check_output(t.backing());
    Mount m(t.backing(), t.mnt());
    EXPECT_EQ(read_file(m.path("d2/b:odd")), "data");
    EXPECT_EQ(lst(m.path("d2/b:odd")).st_nlink, 1u);
}

// No name of group 1 can take its data (each one's backing path would pass
// the format's 1024 bytes): it stays in the pool, which the log says once
// however many of its names' directories are visited, and every name still
// shows it. Group 2 beside it leaves the pool.
TEST_F(MoveStateTest, PoolOutNoNameCanHoldItStaysAndIsLoggedOnce) {
    Stick s;
    std::string deep;
    for (int i = 1; i <= 5; ++i) {
        deep += std::string(200, 'l') + std::to_string(i);
        s.dirs.push_back(deep);
        deep += '/';
    }
    s.root_index.push_back(s.dirs[2].substr(0, 201));
    const std::string da = deep + std::string(200, 'a'), db = deep + std::string(200, 'b');
    s.dirs.push_back(da);
    s.dirs.push_back(db);
    s.indexes = {{da, {file_entry("x", "", 1)}},
                 {db, {file_entry("y", "", 1)}},
                 {"d2", {file_entry("p", "", 2), file_entry("q", "", 2)}}};
    s.files = {"PERSHOME.LNK/0000000000000001", "PERSHOME.LNK/0000000000000002"};
    s.group = group("0000000000000001", "", false, 2);
    Entry g2 = group("0000000000000002", "", false, 2);
    g2.name = "0000000000000002";
    s.more_groups = {g2};
    lay_out(s);
    const std::string said = "of 0000000000000001 stays in PERSHOME.LNK";
    {
        Mount m(t.backing(), t.mnt());
        EXPECT_EQ(read_file(m.path(da + "/x")), "data");
        EXPECT_TRUE(wait_until([&] { return count_of(read_file(t.mnt() + ".log"), said) > 0; }));
        EXPECT_EQ(read_file(m.path(db + "/y")), "data");
        // Group 2's move is queued after any second try of group 1 would be.
        EXPECT_EQ(read_file(m.path("d2/p")), "data");
        EXPECT_TRUE(wait_until([&] {
            return backing_files(b("PERSHOME.LNK")) == std::set<std::string>{"0000000000000001"};
        }));
        const std::string log = m.unmount();
        EXPECT_EQ(count_of(log, said), 1u) << log;
    }
    EXPECT_EQ(read_file(b("d2/p")), "data");
    EXPECT_EQ(check(t.backing()), 0) << check_output(t.backing());
    Mount m(t.backing(), t.mnt());
    for (const std::string& n : {da + "/x", db + "/y", std::string("d2/p"), std::string("d2/q")}) {
        EXPECT_EQ(read_file(m.path(n)), "data") << n;
        EXPECT_EQ(lst(m.path(n)).st_nlink, 2u) << n;
    }
}

TEST_F(CrashStateTest, LinkAfterThePrimaryWasMarkedOnly) {
    // Also what unlink leaves between the group's removal and the file's
    // (a name whose group is missing and whose file is there: a plain file).
    lay_out(nullptr, true, true, true, false, false);
    expect_readable({"d1/a"}, 1);
}

// (The order of earlier builds: a group no name refers to yet.)
TEST_F(CrashStateTest, LinkAfterThePoolEntryOnly) {
    const Entry g = group("d1/a", "", true, 2);
    lay_out(&g, false, true, true, false, false);
    expect_readable({"d1/a"}, 1);
}

TEST_F(CrashStateTest, LinkAfterThePrimaryAndGroupWereWritten) {
    const Entry g = group("d1/a", "", true, 2);
    lay_out(&g, true, true, true, false, false);
    expect_readable({"d1/a"}, 2);  // a count one too high: catch-up
}

TEST_F(CrashStateTest, LinkDone) {
    const Entry g = group("d1/a", "", true, 2);
    lay_out(&g, true, true, true, true, false);
    EXPECT_EQ(check(t.backing()), 0) << check_output(t.backing());
    expect_readable({"d1/a", "d2/b"}, 2);
}

TEST_F(CrashStateTest, MoveIntoThePoolBeforeTheRename) {
    const Entry g = group("PERSHOME.LNK/0000000000000001", "d1/a", true, 2);
    lay_out(&g, true, true, true, true, false);
    expect_readable({"d1/a", "d2/b"}, 2);
}

TEST_F(CrashStateTest, MoveIntoThePoolAfterTheRename) {
    const Entry g = group("PERSHOME.LNK/0000000000000001", "d1/a", true, 2);
    lay_out(&g, true, true, false, true, true);
    expect_readable({"d1/a", "d2/b"}, 2);
}

TEST_F(CrashStateTest, MoveIntoThePoolDoneBeforeThePrimaryForgotItsFile) {
    const Entry g = group("0000000000000001", "", false, 2);
    lay_out(&g, true, true, false, true, true);
    expect_readable({"d1/a", "d2/b"}, 2);
}

TEST_F(CrashStateTest, PrimaryDeletedOnAnotherComputer) {
    // The group goes with its file; the names with the group.
    const Entry g = group("d1/a", "", true, 2);
    lay_out(&g, true, true, false, true, false);
    EXPECT_LE(check(t.backing()), 1) << check_output(t.backing());
    Mount m(t.backing(), t.mnt());
    EXPECT_FALSE(exists(m.path("d1/a")));
    EXPECT_FALSE(exists(m.path("d2/b")));
}

// A backend (ltspfs) may show a symlink where FAT cannot: a group whose
// path runs through one is never followed by pershome-fs, which runs as
// root. Its name stays (a path it cannot judge is not a file gone), but the
// file outside is neither read through it nor touched.
TEST_F(CrashStateTest, AGroupPathThroughASymlinkIsNotFollowed) {
    const std::string outside = t.backing() + "-outside";
    ASSERT_EQ(mkdir(outside.c_str(), 0700), 0);
    write_file(outside + "/a", "secret");
    const Entry g = group("d3/a", "", true, 2);
    lay_out(&g, false, false, false, true, false);
    ASSERT_EQ(symlink(outside.c_str(), b("d3").c_str()), 0);
    {
        Mount m(t.backing(), t.mnt());
        const int fd = open(m.path("d2/b").c_str(), O_RDONLY | O_CLOEXEC);
        EXPECT_LT(fd, 0) << "read through the symlink: " << read_file(m.path("d2/b"));
        if (fd >= 0) close(fd);
        m.unmount();
    }
    EXPECT_EQ(read_file(outside + "/a"), "secret");
}

// A version 1-2 stick keeps every group's data in the pool: a visit to a
// directory with one of its names brings the data out under that name,
// where other computers see it.
TEST_F(CrashStateTest, OldStickGroupLeavesThePoolWhenANameIsVisited) {
    const Entry g = group("0000000000000001", "", false, 2);
    lay_out(&g, true, false, false, true, true);
    {
        Mount m(t.backing(), t.mnt());
        EXPECT_EQ(backing_files(m.path("d2")), std::set<std::string>{"b"});  // d2 only
        EXPECT_TRUE(wait_until([&] { return backing_files(b("PERSHOME.LNK")).empty(); }));
        EXPECT_EQ(read_file(b("d2/b")), "data");
        EXPECT_EQ(backing_files(b("d1")), std::set<std::string>{});
        m.unmount();
    }
    EXPECT_EQ(read_file(b("d2/b")), "data");
    EXPECT_EQ(check(t.backing()), 0) << check_output(t.backing());
    expect_readable({"d1/a", "d2/b"}, 2);
}

TEST_F(CrashStateTest, OldStickWithItsDataInTheLinkPoolLoads) {
    // Written by pershome-fs before primary names: the file in the pool,
    // every name an index entry.
    const Entry g = group("0000000000000001", "", false, 2);
    lay_out(&g, true, false, false, true, true);
    EXPECT_EQ(check(t.backing()), 0) << check_output(t.backing());
    {
        Mount m(t.backing(), t.mnt());
        EXPECT_EQ(read_file(m.path("d1/a")), "data");
        EXPECT_EQ(lst(m.path("d2/b")).st_nlink, 2u);
        ASSERT_EQ(link(m.path("d2/b").c_str(), m.path("d2/c").c_str()), 0);
        write_file(m.path("d2/c"), "more");
        ASSERT_EQ(unlink(m.path("d1/a").c_str()), 0);
        ASSERT_EQ(unlink(m.path("d2/b").c_str()), 0);
        EXPECT_EQ(lst(m.path("d2/c")).st_nlink, 1u);
        m.unmount();
    }
    // Down to one name, the old layout's file came out of the pool too.
    EXPECT_EQ(read_file(b("d2/c")), "more");
    EXPECT_EQ(check(t.backing()), 0) << check_output(t.backing());
}

}  // namespace
}  // namespace pershome::fs::test
