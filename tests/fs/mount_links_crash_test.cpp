// SIGKILL the filesystem at random points while hard-linked files are made
// and their primary names unlinked or renamed, and the directory holding
// them renamed (each of which moves the data, link_moves.cpp): after each
// kill, every file whose create returned is still there under one of its
// names with its content, --check finds no damage, and the link pool holds
// no file (other computers see each file's data under one of its names).
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "fs/index_format.hpp"
#include "tests/fs/mount_harness.hpp"

namespace pershome::fs::test {
namespace {

using pershome::fs::Entry;
using pershome::fs::IndexContent;
using pershome::fs::NodeType;

bool exists(const std::string& p) {
    struct stat st {};
    return lstat(p.c_str(), &st) == 0;
}

// The directory that holds the primaries, under whichever name it has.
std::string first_dir(const std::string& mnt) {
    return exists(mnt + "/d1x") ? "d1x" : "d1";
}

// Runs until killed; "created K" once file K's create and write returned.
[[noreturn]] void workload(const std::string& mnt, const std::string& journal, int first_k,
                           unsigned seed) {
    std::mt19937 rng(seed);
    const int j = open(journal.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    for (int k = first_k;; ++k) {
        const std::string d1 = first_dir(mnt);
        const std::string name = "g" + std::to_string(k), a = mnt + "/" + d1 + "/" + name;
        const std::string content = "file " + std::to_string(k) + "\n";
        const int fd = open(a.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
        if (fd < 0) _exit(0);
        if (write(fd, content.data(), content.size()) != static_cast<ssize_t>(content.size()))
            _exit(0);
        close(fd);
        const std::string line = "created " + std::to_string(k) + "\n";
        (void)!write(j, line.data(), line.size());
        if (link(a.c_str(), (mnt + "/d2/" + name).c_str()) != 0) _exit(0);
        if (rng() % 2 && link(a.c_str(), (mnt + "/d3/" + name + ":odd").c_str()) != 0) _exit(0);
        switch (rng() % 4) {
            case 0:  // the primary goes
                if (unlink(a.c_str()) != 0) _exit(0);
                break;
            case 1:  // the primary is renamed, here or to another directory
                if (rename(a.c_str(),
                           (mnt + (rng() % 2 ? "/d2/" : "/" + d1 + "/") + name + ".r").c_str()) !=
                    0)
                    _exit(0);
                break;
            case 2:  // the directory holding it is renamed
                if (rename((mnt + "/" + d1).c_str(),
                           (mnt + (d1 == "d1" ? "/d1x" : "/d1")).c_str()) != 0)
                    _exit(0);
                break;
            default:  // another name goes
                if (unlink((mnt + "/d2/" + name).c_str()) != 0) _exit(0);
                break;
        }
    }
}

// k -> names (relative paths) and what they hold.
std::map<int, std::map<std::string, std::string>> files_seen(const std::string& mnt) {
    std::map<int, std::map<std::string, std::string>> out;
    for (const char* d : {"d1", "d1x", "d2", "d3"}) {
        DIR* dir = opendir((mnt + "/" + d).c_str());
        if (!dir) continue;
        while (dirent* de = readdir(dir)) {
            const std::string n = de->d_name;
            if (n.size() < 2 || n[0] != 'g') continue;
            const std::string rel = std::string(d) + "/" + n;
            out[std::atoi(n.c_str() + 1)][rel] = read_file(mnt + "/" + rel);
        }
        closedir(dir);
    }
    return out;
}

// Files in the link pool's backing directory besides its index.
std::vector<std::string> pool_files(const std::string& backing) {
    std::vector<std::string> out;
    DIR* d = opendir((backing + "/PERSHOME.LNK").c_str());
    while (dirent* de = d ? readdir(d) : nullptr) {
        const std::string n = de->d_name;
        if (n != "." && n != ".." && n != "PERSHOME.IDX") out.push_back(n);
    }
    if (d) closedir(d);
    return out;
}

std::string run(const std::string& cmd) {
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    char buf[4096];
    while (p && fgets(buf, sizeof buf, p)) out += buf;
    if (p) pclose(p);
    return out;
}

TEST(LinksCrash, SigkillWhilePrimariesMoveLosesNothing) {
    TempTree t;
    const std::string journal = t.root() + "/journal";
    const char* seed_env = std::getenv("PERSHOME_CRASH_SEED");
    std::mt19937 rng(seed_env ? static_cast<unsigned>(std::atoi(seed_env)) : 20261204u);
    {
        Mount m(t.backing(), t.mnt());
        for (const char* d : {"d1", "d2", "d3"}) ASSERT_EQ(mkdir(m.path(d).c_str(), 0755), 0);
        m.unmount();
    }
    int next_k = 0, created = 0;
    constexpr int kRounds = 40;
    for (int round = 0; round < kRounds; ++round) {
        {
            Mount m(t.backing(), t.mnt(), "flush=1");
            const pid_t fs_pid = m.pid();
            const pid_t child = fork();
            if (child == 0) workload(t.mnt(), journal, next_k, rng());
            std::this_thread::sleep_for(std::chrono::milliseconds(5 + rng() % 80));
            kill(fs_pid, SIGKILL);
            int st;
            waitpid(child, &st, 0);
            umount2(t.mnt().c_str(), MNT_DETACH);
        }
        std::set<int> acknowledged;
        {
            std::ifstream in(journal);
            std::string word;
            int k;
            while (in >> word >> k) acknowledged.insert(k);
        }
        for (int k : acknowledged) next_k = std::max(next_k, k + 1);
        ++next_k;  // (one whose create began but was not journaled)

        const std::string check = run(fs_binary() + " --check " + t.backing() + " 2>&1");
        std::smatch damage;
        ASSERT_TRUE(std::regex_search(check, damage, std::regex("([0-9]+) damage"))) << check;
        EXPECT_EQ(damage[1].str(), "0") << "round " << round << ":\n" << check;
        EXPECT_EQ(pool_files(t.backing()), std::vector<std::string>{}) << "round " << round;

        Mount m(t.backing(), t.mnt());
        const auto seen = files_seen(t.mnt());
        for (int k : acknowledged) {
            const auto it = seen.find(k);
            EXPECT_TRUE(it != seen.end()) << "round " << round << ": lost file " << k;
            if (it == seen.end()) continue;
            for (const auto& [n, content] : it->second) {
                EXPECT_EQ(content, "file " + std::to_string(k) + "\n")
                    << "round " << round << ": " << n;
                struct stat st {};
                ASSERT_EQ(lstat(m.path(n).c_str(), &st), 0);
                EXPECT_GE(st.st_nlink, it->second.size())
                    << "round " << round << ": " << n << " ino " << st.st_ino << "\n"
                    << run("ls -liR " + t.mnt() + " " + t.backing() + "; " + fs_binary() +
                           " --check " + t.backing() + " 2>&1; tail -5 " + journal);
            }
        }
        created = static_cast<int>(acknowledged.size());
        m.unmount();
        if (HasFailure()) break;
    }
    std::printf("links crash: %d rounds, %d files linked and moved\n", kRounds, created);
}

// ---- Files leaving the link pool (link_pool_out.cpp) ----

void write_index(const std::string& dir, const IndexContent& c) {
    write_file(dir + "/PERSHOME.IDX", encode_slot(1, kSlotAlign * 2, serialize_payload(c)));
}

Entry entry(const std::string& name, const std::string& real, NodeType type,
            std::uint64_t link_id) {
    Entry e;
    e.name = name;
    e.real = real;
    e.type = type;
    e.mode = type == NodeType::Dir ? 0755 : 0644;
    e.link_id = link_id;
    e.mtime = e.ctime = e.atime = {1700000000, 0};
    return e;
}

std::string group_name(int k) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016x", k);
    return buf;
}

// A version 1-2 stick: files g1..gN, each named d1/gK and d2/gK, their data
// in the link pool.
void lay_out_pooled(const std::string& backing, int n) {
    for (const char* d : {"d1", "d2", "PERSHOME.LNK"})
        ASSERT_EQ(mkdir((backing + "/" + d).c_str(), 0755), 0);
    IndexContent root, d1, d2, pool;
    root.self = entry("", "", NodeType::Dir, 0);
    root.entries = {entry("d1", "d1", NodeType::Dir, 0), entry("d2", "d2", NodeType::Dir, 0)};
    for (int k = 1; k <= n; ++k) {
        const std::string g = "g" + std::to_string(k);
        d1.entries.push_back(entry(g, "", NodeType::File, k));
        d2.entries.push_back(entry(g, "", NodeType::File, k));
        Entry pe = entry(group_name(k), group_name(k), NodeType::File, 0);
        pe.nlink = 2;
        pool.entries.push_back(pe);
        const std::string f = backing + "/PERSHOME.LNK/" + group_name(k);
        write_file(f, "file " + std::to_string(k) + "\n");
        const timespec ts[2] = {{1700000000, 0}, {1700000000, 0}};
        ASSERT_EQ(utimensat(AT_FDCWD, f.c_str(), ts, 0), 0);
    }
    write_index(backing, root);
    write_index(backing + "/d1", d1);
    write_index(backing + "/d2", d2);
    write_index(backing + "/PERSHOME.LNK", pool);
}

// SIGKILL while the files of an old stick move out of the pool (a listing
// of d1 queues them all): after each kill, --check finds no damage and
// every name reads its file with both names counted; in the end every file
// is out of the pool, under one of its names.
TEST(LinksCrash, SigkillWhileFilesLeaveThePoolLosesNothing) {
    TempTree t;
    constexpr int kFiles = 100, kRounds = 20;
    int rounds = 0;
    lay_out_pooled(t.backing(), kFiles);
    ASSERT_FALSE(HasFailure());
    std::mt19937 rng(20261205u);
    auto expect_all = [&](const std::string& mnt, const std::string& when) {
        for (int k = 1; k <= kFiles; ++k)
            for (const char* d : {"d1", "d2"}) {
                const std::string n = mnt + "/" + d + "/g" + std::to_string(k);
                EXPECT_EQ(read_file(n), "file " + std::to_string(k) + "\n") << when << n;
                struct stat st {};
                EXPECT_EQ(lstat(n.c_str(), &st), 0) << when << n;
                EXPECT_EQ(st.st_nlink, 2u) << when << n;
            }
    };
    std::size_t left = kFiles;
    for (int round = 0; round < kRounds && left > 0; ++round) {
        {
            Mount m(t.backing(), t.mnt(), "flush=1");
            DIR* d = opendir(m.path("d1").c_str());
            while (d && readdir(d)) {
            }
            if (d) closedir(d);
            std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 25));
            m.crash();
        }
        const std::string check = run(fs_binary() + " --check " + t.backing() + " 2>&1");
        std::smatch damage;
        ASSERT_TRUE(std::regex_search(check, damage, std::regex("([0-9]+) damage"))) << check;
        EXPECT_EQ(damage[1].str(), "0") << "round " << round << ":\n" << check;
        // (Read-only: nothing moves but in the rounds' own mounts.)
        Mount m(t.backing(), t.mnt(), "ro");
        expect_all(t.mnt(), "round " + std::to_string(round) + ": ");
        m.unmount();
        left = pool_files(t.backing()).size();
        ++rounds;
        if (HasFailure()) return;
    }
    {
        Mount m(t.backing(), t.mnt());
        expect_all(t.mnt(), "last mount: ");
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (!pool_files(t.backing()).empty() && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        EXPECT_EQ(pool_files(t.backing()), std::vector<std::string>{});
        m.unmount();
    }
    EXPECT_EQ(run(fs_binary() + " --check " + t.backing() + " >/dev/null 2>&1; echo $?"), "0\n")
        << run(fs_binary() + " --check " + t.backing() + " 2>&1");
    for (int k = 1; k <= kFiles; ++k) {
        const std::string g = "/g" + std::to_string(k);
        const bool in1 = exists(t.backing() + "/d1" + g), in2 = exists(t.backing() + "/d2" + g);
        EXPECT_TRUE(in1 != in2) << g << " on the stick under " << in1 + in2 << " names";
        EXPECT_EQ(read_file(t.backing() + (in1 ? "/d1" : "/d2") + g),
                  "file " + std::to_string(k) + "\n");
    }
    std::printf("links crash: %d SIGKILL rounds, %zu of %d files still in the pool after them\n",
                rounds, left, kFiles);
}

}  // namespace
}  // namespace pershome::fs::test
