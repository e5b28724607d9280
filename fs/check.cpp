#include "fs/check.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <memory>

#include "fs/dir_state.hpp"
#include "fs/name_codec.hpp"

namespace pershome::fs {

namespace {

void say(const std::string& where, const std::string& what) {
    std::printf("%s: %s\n", where.c_str(), what.c_str());
}

}  // namespace

int run_check(const std::string& backing, bool repair, mode_t umask) {
    UniqueFd root(open(backing.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) {
        std::fprintf(stderr, "pershome-fs: %s: %s\n", backing.c_str(), std::strerror(errno));
        return 2;
    }
    int found = 0;
    IndexStats stats;
    auto settle = [&](const std::string& where, DirState& d, std::vector<std::string>& problems) {
        for (const auto& p : problems) say(where, p);
        found += static_cast<int>(problems.size());
        if (d.dirty && problems.empty()) {
            say(where, "index out of date (times changed on the backing)");
            ++found;
        }
        if (repair && d.dirty) {
            if (int err = write_index(d, &stats))
                say(where, std::string("repair failed: ") + std::strerror(err));
            else
                say(where, "index rewritten");
        }
    };

    // The link pool first: directories refer to it.
    std::unique_ptr<DirState> pool;
    const std::string pool_name(kLinkPoolName);
    if (UniqueFd pfd{
            openat(root.get(), pool_name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)}) {
        std::vector<std::string> problems;
        ReconcileOptions ro;
        ro.umask = umask;
        pool = std::make_unique<DirState>(load_dir(std::move(pfd), ro, &problems));
        settle(pool_name, *pool, problems);
    }
    auto link_name = [](std::uint64_t id) {
        char buf[17];
        std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(id));
        return std::string(buf);
    };
    ReconcileOptions ro;
    ro.umask = umask;
    ro.link_alive = [&](std::uint64_t id) {
        return pool && pool->entries.count(link_name(id)) != 0;
    };

    std::map<std::string, std::uint32_t> refs;
    std::deque<std::pair<std::string, UniqueFd>> todo;
    todo.emplace_back("/", UniqueFd(openat(root.get(), ".", O_PATH | O_DIRECTORY | O_CLOEXEC)));
    while (!todo.empty()) {
        auto [path, fd] = std::move(todo.front());
        todo.pop_front();
        std::vector<std::string> problems;
        DirState d = load_dir(std::move(fd), ro, &problems);
        settle(path, d, problems);
        for (const auto& [name, e] : d.entries) {
            if (e.linked()) refs[link_name(e.link_id)]++;
            if (e.type != NodeType::Dir || e.real.empty()) continue;
            UniqueFd c(
                openat(d.fd.get(), e.real.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            if (c) todo.emplace_back((path == "/" ? "/" : path + "/") + name, std::move(c));
        }
    }
    if (pool) {
        bool changed = false;
        std::vector<std::string> orphans;
        for (auto& [name, e] : pool->entries) {
            const std::uint32_t n = refs.count(name) ? refs[name] : 0;
            if (n == 0) {
                say(pool_name, "hard-linked file with no name left: " + name);
                orphans.push_back(name);
            } else if (n != e.nlink) {
                say(pool_name, "link count of " + name + " is " + std::to_string(e.nlink) +
                                   ", names found " + std::to_string(n));
                e.nlink = n;
                changed = true;
            } else {
                continue;
            }
            ++found;
        }
        if (repair) {
            // Never delete data: an orphan goes back to the root under a
            // name that says what it is; the next mount shows it.
            for (const auto& name : orphans) {
                const std::string dest = "pershome-orphan-" + name;
                if (renameat(pool->fd.get(), pool->find(name)->real.c_str(), root.get(),
                             dest.c_str()) == 0) {
                    pool->remove(name);
                    changed = true;
                    say(pool_name, "moved " + name + " to /" + dest);
                }
            }
            if (changed) {
                if (int err = write_index(*pool, &stats))
                    say(pool_name, std::string("repair failed: ") + std::strerror(err));
            }
        }
    }
    std::printf("pershome-fs --check: %d problem%s%s\n", found, found == 1 ? "" : "s",
                repair && found ? " (repaired)" : "");
    return found ? 1 : 0;
}

}  // namespace pershome::fs
