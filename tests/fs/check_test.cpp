// pershome-fs --check [--repair] on a backing tree, offline.
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "fs/index_format.hpp"
#include "tests/fs/mount_harness.hpp"

namespace pershome::fs::test {
namespace {

struct Result {
    int status;
    std::string out;
};

Result check(const std::string& backing, bool repair = false) {
    const std::string cmd =
        fs_binary() + " --check " + (repair ? "--repair " : "") + backing + " 2>&1";
    Result r{0, {}};
    FILE* p = popen(cmd.c_str(), "r");
    char buf[4096];
    while (fgets(buf, sizeof buf, p)) r.out += buf;
    const int st = pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
}

TEST(Check, CleanDamagedRepaired) {
    TempTree t;
    {
        Mount m(t.backing(), t.mnt());
        ASSERT_EQ(mkdir(m.path("sub").c_str(), 0700), 0);
        write_file(m.path("sub/a:b"), "x");
        write_file(m.path("sub/plain"), "y");
        write_file(m.path("linked"), "z");
        ASSERT_EQ(link(m.path("linked").c_str(), m.path("sub/other").c_str()), 0);
        m.unmount();
    }
    auto r = check(t.backing());
    EXPECT_EQ(r.status, 0) << r.out;

    // Edited behind our back: a file vanished, another appeared.
    ASSERT_EQ(unlink((t.backing() + "/sub/plain").c_str()), 0);
    write_file(t.backing() + "/sub/new", "n");
    r = check(t.backing());
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find("plain"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("new"), std::string::npos) << r.out;
    r = check(t.backing(), true);
    EXPECT_EQ(r.status, 1) << r.out;
    r = check(t.backing());
    EXPECT_EQ(r.status, 0) << r.out;

    // Both slots of an index destroyed.
    const std::string idx = t.backing() + "/sub/PERSHOME.IDX";
    std::string bytes = read_file(idx);
    ASSERT_GT(bytes.size(), 64u);
    for (std::size_t off = 0; off < bytes.size(); off += 4096) bytes[off + 20] ^= 0x55;
    write_file(idx, bytes);
    r = check(t.backing());
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find("no index slot verifies"), std::string::npos) << r.out;
    r = check(t.backing(), true);
    EXPECT_EQ(r.status, 2) << r.out;  // says what was found, repaired or not
    EXPECT_NE(r.out.find("index rewritten"), std::string::npos) << r.out;
    r = check(t.backing());
    EXPECT_EQ(r.status, 0) << r.out;
    // The name needing a generated backing name fell back to that name, and
    // the hard link lost its second name: nothing is lost, all is visible.
    Mount m(t.backing(), t.mnt());
    struct stat st {};
    EXPECT_EQ(stat(m.path("linked").c_str(), &st), 0);
    EXPECT_EQ(read_file(m.path("sub/new")), "n");
}

// What a SIGKILL (or a pull) before the lazy index write leaves is catch-up
// (status 1), not damage (2): the next mount settles it by itself.
TEST(Check, CrashCatchUpIsNotDamage) {
    TempTree t;
    {
        Mount m(t.backing(), t.mnt(), "flush=3600");
        ASSERT_EQ(symlink("t", m.path("link").c_str()), 0);  // an index on the stick
        m.unmount();
    }
    {
        Mount m(t.backing(), t.mnt(), "flush=3600");
        write_file(m.path("added"), "a");              // backing file the index lacks
        ASSERT_EQ(unlink(m.path("link").c_str()), 0);  // entry without backing file
        ASSERT_EQ(kill(m.pid(), SIGKILL), 0);
        ASSERT_EQ(umount2(m.mnt().c_str(), MNT_DETACH), 0);
        m.unmount();
    }
    auto r = check(t.backing());
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find("new backing file added: added"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("entry without backing file dropped: link"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("0 damage, 2 catch-up"), std::string::npos) << r.out;
    r = check(t.backing(), true);
    EXPECT_EQ(r.status, 1) << r.out;
    r = check(t.backing());
    EXPECT_EQ(r.status, 0) << r.out;

    // A sanitised entry (two entries claiming one backing file: no crash of
    // ours writes that) is damage, not catch-up.
    IndexContent c;
    c.self.type = NodeType::Dir;
    c.self.mode = 0755;
    for (const char* name : {"added", "again"}) {
        Entry e;
        e.name = name;
        e.real = "added";
        c.entries.push_back(e);
    }
    std::string slot = encode_slot(1000, 8192, serialize_payload(c));
    slot.resize(8192, '\0');
    write_file(t.backing() + "/PERSHOME.IDX", slot);
    r = check(t.backing());
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find("1 damage"), std::string::npos) << r.out;
}

// A SIGKILL in a directory's first index write leaves the index file empty,
// or its slot without the header (written last for that reason): catch-up,
// since nothing of that directory was on the stick before; the mount shows
// every file. A slot whose header is there but whose body is not stays damage.
TEST(Check, FirstIndexWriteCutShortIsCatchUp) {
    TempTree t;
    {
        Mount m(t.backing(), t.mnt(), "flush=3600");
        ASSERT_EQ(mkdir(m.path("d").c_str(), 0755), 0);
        write_file(m.path("d/what?.txt"), "w");
        write_file(m.path("d/plain"), "p");
        m.unmount();
    }
    const std::string idx = t.backing() + "/d/PERSHOME.IDX";
    const std::string whole = read_file(idx);
    ASSERT_GT(whole.size(), 64u);
    std::string headless = whole;
    std::fill(headless.begin(), headless.begin() + 64, '\0');
    for (const std::string& cut : {std::string(), headless, headless.substr(0, 100)}) {
        write_file(idx, cut);
        auto r = check(t.backing());
        EXPECT_EQ(r.status, 1) << cut.size() << " bytes:\n" << r.out;
        EXPECT_NE(r.out.find("index file whose first write was cut short"), std::string::npos)
            << r.out;
        EXPECT_EQ(r.out.find("no index slot verifies"), std::string::npos) << r.out;
        Mount m(t.backing(), t.mnt(), "flush=3600");
        EXPECT_EQ(read_file(m.path("d/plain")), "p");
        // The name FAT cannot hold shows under its backing name: its entry
        // was never on the stick.
        bool found_w = false;
        for (const auto& e : std::filesystem::directory_iterator(m.path("d")))
            found_w |= read_file(e.path().string()) == "w";
        EXPECT_TRUE(found_w);
        m.unmount();
    }
    std::string torn = whole.substr(0, 64) + std::string(whole.size() - 64, '\0');
    write_file(idx, torn);
    auto r = check(t.backing());
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find("no index slot verifies"), std::string::npos) << r.out;
}

// Mounted after --check found NAME's backing file under ALIAS: NAME has
// its mode and data, and the alias does not show as a second file.
void expect_mapped_back(const TempTree& t, const std::string& name, const std::string& alias,
                        mode_t mode, const std::string& data) {
    Mount m(t.backing(), t.mnt(), "flush=3600");
    struct stat st {};
    ASSERT_EQ(stat(m.path(name).c_str(), &st), 0) << name;
    EXPECT_EQ(st.st_mode & 07777, mode);
    EXPECT_EQ(read_file(m.path(name)), data);
    EXPECT_NE(stat(m.path(alias).c_str(), &st), 0) << "the alias shows as a second file";
    m.unmount();
}

// A pull between vfat's two writes of a new name (its long-name slots and
// its 8.3 entry lie in different sectors) leaves the file under its 8.3
// alias only: KEY for key. The index still names it; the file comes back
// as key with its mode, not as a stranger KEY with reconcile's 0644.
TEST(Check, NameFoundUnderIts83AliasAfterACrash) {
    TempTree t;
    {
        Mount m(t.backing(), t.mnt(), "flush=3600");
        write_file(m.path("key"), "secret");
        ASSERT_EQ(chmod(m.path("key").c_str(), 0600), 0);
        m.unmount();
    }
    ASSERT_EQ(rename((t.backing() + "/key").c_str(), (t.backing() + "/KEY").c_str()), 0);
    auto r = check(t.backing());
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find("entry found under its 8.3 alias KEY: key"), std::string::npos) << r.out;
    expect_mapped_back(t, "key", "KEY", 0600, "secret");
    r = check(t.backing());
    EXPECT_EQ(r.status, 0) << r.out;
}

// The same for a name that needs a generated backing name: vfat's alias
// of g_25_~XXXXXXXX is made up (G_25_~~1), as a RandomPulls run on the
// kernel's vfat left it after a pull; a second file that could be the
// alias too makes it ambiguous, and then nothing is guessed.
TEST(Check, GeneratedNameFoundUnderItsMadeUpAliasAfterACrash) {
    TempTree t;
    std::string real;
    {
        Mount m(t.backing(), t.mnt(), "flush=3600");
        write_file(m.path("g:25?"), "data 25");
        ASSERT_EQ(chmod(m.path("g:25?").c_str(), 0640), 0);
        write_file(m.path("other?"), "x");
        m.unmount();
    }
    for (const auto& de : std::filesystem::directory_iterator(t.backing()))
        if (de.path().filename().string().rfind("g_25_~", 0) == 0) real = de.path().filename();
    ASSERT_FALSE(real.empty()) << "no generated backing name for g:25?";
    ASSERT_EQ(rename((t.backing() + "/" + real).c_str(), (t.backing() + "/G_25_~~1").c_str()), 0);
    auto r = check(t.backing());
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find("entry found under its 8.3 alias G_25_~~1: g:25?"), std::string::npos)
        << r.out;
    expect_mapped_back(t, "g:25?", "G_25_~~1", 0640, "data 25");
    EXPECT_EQ(check(t.backing()).status, 0);

    // Two files that could be its alias: neither is taken.
    ASSERT_EQ(rename((t.backing() + "/G_25_~~1").c_str(), (t.backing() + "/G_25_~~2").c_str()), 0);
    write_file(t.backing() + "/G_25_~~3", "made elsewhere");
    r = check(t.backing());
    EXPECT_EQ(r.out.find("8.3 alias"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("entry without backing file dropped: g:25?"), std::string::npos) << r.out;
}

TEST(Check, UsageErrors) {
    auto r = check("/nonexistent/pershome-check");
    EXPECT_EQ(r.status, 3) << r.out;
    r = check("--no-such-option");
    EXPECT_EQ(r.status, 3) << r.out;
}

// A name from a stick may hold any bytes: one made to forge a line of its
// own (a newline, a syslog priority), a terminal escape, invalid UTF-8.
// --check and the mount's log show it escaped (\xNN), on one line.
TEST(Check, NamesFromTheStickAreEscapedInOutputAndLog) {
    TempTree t;
    {
        Mount m(t.backing(), t.mnt());
        write_file(m.path("plain"), "x");
        m.unmount();  // the root has an index now
    }
    const std::string evil = "evil\n<1>sshd[1]: Accepted password for root\x1b[31m\xff";
    write_file(t.backing() + "/" + evil, "e");
    const std::string shown = "evil\\x0a<1>sshd[1]: Accepted password for root\\x1b[31m\\xff";
    auto forged = [](const std::string& out) {
        std::string bad;
        for (char c : out)
            if ((static_cast<unsigned char>(c) < 0x20 && c != '\n') || c == '\x7f' ||
                static_cast<unsigned char>(c) >= 0x80)
                bad += c;
        return bad.empty() && out.find("\n<1>") == std::string::npos;
    };
    const auto r = check(t.backing());
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find("/: new backing file added: " + shown), std::string::npos) << r.out;
    EXPECT_TRUE(forged(r.out)) << r.out;
    Mount m(t.backing(), t.mnt());
    const std::string log = m.unmount();
    EXPECT_NE(log.find("pershome-fs: /: new backing file added: " + shown), std::string::npos)
        << log;
    EXPECT_TRUE(forged(log)) << log;
}

}  // namespace
}  // namespace pershome::fs::test
