#include "fs/check.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <memory>

#include "common/display_text.hpp"
#include "fs/dir_state.hpp"
#include "fs/name_codec.hpp"

namespace pershome::fs {

namespace {

// Names come from the stick, which may hold any bytes: a control byte or
// invalid UTF-8 is escaped (\xNN) on its way to the terminal.
void say(const std::string& where, const std::string& what) {
    std::printf("%s: %s\n", display_text(where, kShownBytes).c_str(),
                display_text(what, kShownBytes).c_str());
}

// The pool's AT_PATH entries: a move under way (catch-up, as a mount
// settles it) or a file gone (renamed or deleted elsewhere: the group goes).
void settle_data_paths(int root, DirState& pool, std::vector<std::string>& problems,
                       std::vector<std::string>& catch_up) {
    std::vector<std::string> gone;
    std::vector<Entry> settled;
    for (const auto& [name, pe] : pool.entries) {
        if (!pe.at_path) continue;
        Entry e = pe;
        switch (settle_data_path(root, e)) {
            case DataPath::Settled:
                catch_up.push_back(
                    "move of a hard-linked file's data settled: " + name + " at " +
                    (e.at_path ? e.real : std::string(kLinkPoolName) + "/" + e.real));
                settled.push_back(std::move(e));
                break;
            case DataPath::Gone:
                catch_up.push_back("hard-linked file gone from " + pe.real + ": " + name);
                gone.push_back(name);
                break;
            case DataPath::Unknown:
                problems.push_back("cannot look at " + pe.real + ": " + std::strerror(errno));
                break;
            case DataPath::Same:
                break;
        }
    }
    for (auto& e : settled) {
        pool.remove(e.name);
        pool.add(std::move(e));
        pool.dirty = true;
    }
    for (const auto& name : gone) {
        pool.remove(name);
        pool.dirty = true;
    }
}

}  // namespace

int run_check(const std::string& backing, bool repair, mode_t umask) {
    UniqueFd root(open(backing.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) {
        std::fprintf(stderr, "pershome-fs: %s: %s\n", display_text(backing, kShownBytes).c_str(),
                     std::strerror(errno));
        return kCheckFailed;
    }
    int caught_up = 0;  // findings any mount settles by itself
    int damaged = 0;    // findings no crash of ours leaves
    bool repair_failed = false;
    IndexStats stats;
    auto settle = [&](const std::string& where, DirState& d, std::vector<std::string>& problems,
                      std::vector<std::string>& catch_up) {
        for (const auto& p : problems) say(where, p);
        for (const auto& p : catch_up) say(where, p);
        damaged += static_cast<int>(problems.size());
        caught_up += static_cast<int>(catch_up.size());
        if (d.dirty && problems.empty() && catch_up.empty()) {
            say(where, "index out of date (times changed on the backing)");
            ++caught_up;
        }
        if (repair && d.dirty) {
            if (int err = write_index(d, &stats)) {
                say(where, std::string("repair failed: ") + std::strerror(err));
                repair_failed = true;
            } else {
                say(where, "index rewritten");
            }
        }
    };

    // The link pool first: directories refer to it.
    std::unique_ptr<DirState> pool;
    const std::string pool_name(kLinkPoolName);
    if (UniqueFd pfd{
            openat(root.get(), pool_name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)}) {
        std::vector<std::string> problems, catch_up;
        ReconcileOptions ro;
        ro.umask = umask;
        ro.pool = true;
        pool = std::make_unique<DirState>(load_dir(std::move(pfd), ro, &problems, &catch_up));
        settle_data_paths(root.get(), *pool, problems, catch_up);
        settle(pool_name, *pool, problems, catch_up);
    }
    auto link_name = [](std::uint64_t id) {
        char buf[17];
        std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(id));
        return std::string(buf);
    };
    ReconcileOptions ro;
    ro.umask = umask;
    ro.link_group = [&](std::uint64_t id) {
        using G = ReconcileOptions::LinkGroup;
        const Entry* pe = pool ? pool->find(link_name(id)) : nullptr;
        return !pe ? G::Missing : pe->at_path ? G::AtPath : G::InPool;
    };

    std::map<std::string, std::uint32_t> refs;
    std::deque<std::pair<std::string, UniqueFd>> todo;
    todo.emplace_back("/", UniqueFd(openat(root.get(), ".", O_PATH | O_DIRECTORY | O_CLOEXEC)));
    while (!todo.empty()) {
        auto [path, fd] = std::move(todo.front());
        todo.pop_front();
        std::vector<std::string> problems, catch_up;
        DirState d = load_dir(std::move(fd), ro, &problems, &catch_up);
        settle(path, d, problems, catch_up);
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
            if (n == 0 && e.at_path) {
                // What a crash in the middle of link(2), or of the last
                // name's unlink, leaves: its file is where it was, under
                // its own name or none. Only the entry goes.
                say(pool_name, "link group with no name left, file at " + e.real + ": " + name);
                orphans.push_back(name);
                ++caught_up;
            } else if (n == 0) {
                // No mount shows it: only --repair brings it back.
                say(pool_name, "hard-linked file with no name left: " + name);
                orphans.push_back(name);
                ++damaged;
            } else if (n != e.nlink) {
                // What a crash in the middle of link(2) leaves (see the
                // on-stick format, section 7).
                say(pool_name, "link count of " + name + " is " + std::to_string(e.nlink) +
                                   ", names found " + std::to_string(n));
                e.nlink = n;
                changed = true;
                ++caught_up;
            }
        }
        if (repair) {
            // Never delete data: an orphan goes back to the root under a
            // name that says what it is; the next mount shows it.
            for (const auto& name : orphans) {
                if (pool->find(name)->at_path) {
                    pool->remove(name);
                    changed = true;
                    continue;
                }
                const std::string dest = "pershome-orphan-" + name;
                if (renameat(pool->fd.get(), pool->find(name)->real.c_str(), root.get(),
                             dest.c_str()) == 0) {
                    pool->remove(name);
                    changed = true;
                    say(pool_name, "moved " + name + " to /" + dest);
                } else {
                    say(pool_name,
                        "repair failed: cannot move " + name + ": " + std::strerror(errno));
                    repair_failed = true;
                }
            }
            if (changed) {
                if (int err = write_index(*pool, &stats)) {
                    say(pool_name, std::string("repair failed: ") + std::strerror(err));
                    repair_failed = true;
                }
            }
        }
    }
    const int found = caught_up + damaged;
    std::printf("pershome-fs --check: %d problem%s (%d damage, %d catch-up)%s\n", found,
                found == 1 ? "" : "s", damaged, caught_up,
                repair && found ? (repair_failed ? " (repair failed)" : " (repaired)") : "");
    if (repair_failed) return kCheckFailed;
    if (damaged) return kCheckDamage;
    return caught_up ? kCheckCatchUp : kCheckClean;
}

}  // namespace pershome::fs
