// SIGKILL the filesystem at random points of a metadata-heavy workload; after
// each kill, --check finds no damage and every file is there under a name
// the workload gave it (its old or its new one), with its content.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "tests/fs/mount_harness.hpp"

namespace pershome::fs::test {
namespace {

// Names that exercise both stored-as-itself and generated backing names.
std::string name_for(int k, int variant) {
    static const char* const kSuffix[] = {"", "?", ".", " ", ":x", "CON", "_Case", "_case"};
    if (variant == 5) return "aux." + std::to_string(k);  // a reserved DOS name
    return "f" + std::to_string(k) + kSuffix[variant % 8];
}

// The file number a name was made from (name_for).
int k_of(const std::string& n) {
    const std::size_t start = n.rfind("aux.", 0) == 0 ? 4 : 1;
    return std::atoi(n.c_str() + start);
}

// The workload: runs until killed, journaling each operation before ("I")
// and after ("D") it, to a file outside the mount.
[[noreturn]] void workload(const std::string& mnt, const std::string& journal, int first_k,
                           std::set<std::pair<int, std::string>> live, unsigned seed) {
    std::mt19937 rng(seed);
    const int j = open(journal.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    auto note = [&](const std::string& line) { (void)!write(j, line.data(), line.size()); };
    int next_k = first_k;
    std::vector<std::pair<int, std::string>> files(live.begin(), live.end());
    while (true) {
        const int op = static_cast<int>(rng() % 10);
        if (op < 4 || files.empty()) {
            const int k = next_k++;
            const std::string n = name_for(k, static_cast<int>(rng() % 8));
            note("I create " + std::to_string(k) + " " + std::to_string(n.size()) + ":" + n + "\n");
            const int fd = open((mnt + "/" + n).c_str(), O_CREAT | O_EXCL | O_WRONLY, 0600);
            if (fd < 0) _exit(0);
            const std::string content = "file " + std::to_string(k) + "\n";
            if (write(fd, content.data(), content.size()) != static_cast<ssize_t>(content.size()))
                _exit(0);
            close(fd);
            note("D\n");
            files.emplace_back(k, n);
        } else if (op < 7) {
            auto& [k, n] = files[rng() % files.size()];
            const std::string to = name_for(k, static_cast<int>(rng() % 8));
            if (to == n) continue;
            note("I rename " + std::to_string(k) + " " + std::to_string(to.size()) + ":" + to +
                 "\n");
            if (rename((mnt + "/" + n).c_str(), (mnt + "/" + to).c_str()) != 0) _exit(0);
            note("D\n");
            n = to;
        } else if (op < 9) {
            auto& [k, n] = files[rng() % files.size()];
            if (chmod((mnt + "/" + n).c_str(), 0600 | (rng() % 2 ? 040 : 0)) != 0) _exit(0);
        } else {
            const std::size_t i = rng() % files.size();
            const auto [k, n] = files[i];
            note("I unlink " + std::to_string(k) + "\n");
            if (unlink((mnt + "/" + n).c_str()) != 0) _exit(0);
            note("D\n");
            files.erase(files.begin() + static_cast<long>(i));
        }
    }
}

struct FileModel {
    std::string name;          // last acknowledged name ("" = absent)
    std::string pending_name;  // name if the unacknowledged op took effect
    bool pending = false;
    bool pending_link = false;  // interrupted link+unlink: both names allowed
};

// Replays the journal into: k -> acceptable names.
std::map<int, FileModel> replay(const std::string& journal) {
    std::map<int, FileModel> m;
    std::ifstream in(journal);
    std::string line;
    int cur = -1;
    std::string cur_name;
    bool cur_unlink = false;
    auto read_name = [](std::istringstream& ls) {
        std::string len_colon;
        ls >> std::ws;
        std::getline(ls, len_colon, ':');
        const std::size_t len = std::stoul(len_colon);
        std::string n(len, '\0');
        ls.read(n.data(), static_cast<std::streamsize>(len));
        return n;
    };
    while (std::getline(in, line)) {
        if (line == "D") {
            if (cur >= 0) {
                m[cur].name = cur_unlink ? "" : cur_name;
                m[cur].pending = false;
            }
            cur = -1;
            continue;
        }
        std::istringstream ls(line);
        std::string i, op;
        int k;
        ls >> i >> op >> k;
        cur = k;
        cur_unlink = op == "unlink";
        cur_name = cur_unlink ? "" : read_name(ls);
        auto& f = m[k];
        f.pending = true;
        f.pending_name = cur_name;
        f.pending_link = op == "linkmove";
    }
    return m;
}

std::map<std::string, std::string> snapshot(const std::string& dir) {
    std::map<std::string, std::string> out;
    DIR* d = opendir(dir.c_str());
    if (!d) return out;
    while (dirent* de = readdir(d)) {
        const std::string n = de->d_name;
        if (n == "." || n == "..") continue;
        out[n] = read_file(dir + "/" + n);
    }
    closedir(d);
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

TEST(Crash, SigkillAtRandomPointsLosesNothing) {
    TempTree t;
    const std::string journal = t.root() + "/journal";
    const char* seed_env = std::getenv("PERSHOME_CRASH_SEED");
    std::mt19937 rng(seed_env ? static_cast<unsigned>(std::atoi(seed_env)) : 20261126u);
    std::size_t journaled = 0, settled = 0;
    int next_k = 0;
    std::set<int> empties;  // cut short in an earlier round
    constexpr int kRounds = 60;
    for (int round = 0; round < kRounds; ++round) {
        // Files alive before this round, from the journal so far.
        std::set<std::pair<int, std::string>> live;
        pid_t fs_pid;
        pid_t child;
        {
            Mount m(t.backing(), t.mnt(), "flush=1");
            for (const auto& [n, content] : snapshot(t.mnt())) live.emplace(k_of(n), n);
            fs_pid = m.pid();
            child = fork();
            if (child == 0) workload(t.mnt(), journal, next_k, live, rng());
            std::this_thread::sleep_for(std::chrono::milliseconds(5 + rng() % 60));
            kill(fs_pid, SIGKILL);
            int st;
            waitpid(child, &st, 0);
            umount2(t.mnt().c_str(), MNT_DETACH);
            // The harness reaps the killed process.
        }
        // Continue numbering after everything the journal mentions.
        for (const auto& [k, f] : replay(journal)) next_k = std::max(next_k, k + 1);

        const std::string check = run(fs_binary() + " --check " + t.backing() + " 2>&1");
        EXPECT_EQ(check.find("no index slot verifies"), std::string::npos) << check;
        EXPECT_EQ(check.find("invalid"), std::string::npos) << check;
        EXPECT_EQ(check.find("duplicate"), std::string::npos) << check;

        const auto model = replay(journal);
        journaled -= settled;
        journaled += std::count(std::istreambuf_iterator<char>(std::ifstream(journal).rdbuf()),
                                std::istreambuf_iterator<char>(), 'D');
        Mount m(t.backing(), t.mnt());
        const auto seen = snapshot(t.mnt());
        std::map<int, std::string> where;
        std::vector<std::string> extra;
        for (const auto& [n, content] : seen) {
            const int k = k_of(n);
            ASSERT_TRUE(model.count(k)) << "round " << round << ": unknown name '" << n << "'";
            const auto& f = model.at(k);
            // A create cut short before its write shows an empty file.
            const bool fresh =
                content.empty() && ((f.pending && f.name.empty()) || empties.count(k));
            EXPECT_TRUE(fresh || content == "file " + std::to_string(k) + "\n")
                << "round " << round << ": '" << n << "' holds '" << content << "'";
            const bool ok = n == f.name || (f.pending && n == f.pending_name);
            EXPECT_TRUE(ok) << "round " << round << ": file " << k << " shows as '" << n
                            << "', expected '" << f.name << "' or '" << f.pending_name << "'";
            EXPECT_TRUE(!where.count(k) || f.pending_link) << "file " << k << " twice";
            if (where.count(k)) {
                extra.push_back(n);  // an interrupted link+unlink: finish it
                continue;
            }
            where[k] = n;
            if (content.empty()) empties.insert(k);
        }
        for (const auto& [k, f] : model) {
            const bool may_be_absent = f.name.empty() || (f.pending && f.pending_name.empty());
            if (!may_be_absent) {
                EXPECT_TRUE(where.count(k))
                    << "round " << round << ": lost file " << k << " '" << f.name << "'";
            }
        }
        for (const auto& n : extra) EXPECT_EQ(unlink(m.path(n).c_str()), 0) << n;
        m.unmount();
        if (HasFailure()) break;
        // Settle the journal: what is on the stick now is the truth.
        std::ofstream j(journal, std::ios::trunc);
        for (const auto& [k, n] : where)
            j << "I create " << k << " " << n.size() << ":" << n << "\nD\n";
        settled = where.size();
    }
    std::printf("crash: %d rounds, %zu acknowledged namespace operations killed into\n", kRounds,
                journaled);
}

}  // namespace
}  // namespace pershome::fs::test
