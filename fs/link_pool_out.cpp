// Hard-linked files whose data is in the link pool (every group of a
// version 1-2 stick; a group whose primary went while no other name was
// known) move out to one of their names, so computers reading the stick
// without pershome-fs see the file (docs/on-stick-format.md, sections 5
// and 7). A background thread does it, never a caller: a directory load
// that brings in a name of such a group queues its move; a group that just
// went into the pool for lack of a known name gets a search of the stick
// for a directory holding one, which it then loads as a lookup would.
#include <algorithm>
#include <cstring>
#include <deque>
#include <string>

#include "fs/fs.hpp"
#include "fs/link_paths.hpp"
#include "fs/name_codec.hpp"

namespace pershome::fs {

namespace {

// A search's bounds: a home's tree is far smaller; a crafted or huge one
// costs at most this many listings and index reads.
constexpr int kSearchDirs = 4096;
constexpr int kSearchDepth = 32;

}  // namespace

void Fs::queue_pool_out(const DirState& d) {
    if (!pool_ || opt_.read_only) return;
    bool queued = false;
    for (const auto& [name, e] : d.entries) {
        if (!e.linked() || out_given_up_.count(e.link_id)) continue;
        const Entry* pe = pool_->find(link_name(e.link_id));
        if (pe && !pe->at_path) queued = out_queue_.insert(e.link_id).second || queued;
    }
    if (queued) mover_cv_.notify_one();
}

void Fs::want_search(std::uint64_t id) {
    if (opt_.read_only) return;
    search_ids_.insert(id);
    mover_cv_.notify_one();
}

void Fs::run_queued_moves(std::unique_lock<std::mutex>& lk) {
    while (!stopping_ && !out_queue_.empty()) {
        const std::uint64_t id = *out_queue_.begin();
        out_queue_.erase(out_queue_.begin());
        lk.unlock();
        move_out_of_pool(id);
        lk.lock();
    }
}

void Fs::run_mover() {
    std::unique_lock lk(mu_);
    while (!stopping_) {
        mover_cv_.wait(lk,
                       [this] { return stopping_ || !out_queue_.empty() || !search_ids_.empty(); });
        run_queued_moves(lk);
        if (stopping_ || search_ids_.empty()) continue;
        // One search at a time, for every group waiting for one.
        std::set<std::uint64_t> ids;
        ids.swap(search_ids_);
        lk.unlock();
        search_names(ids);
        lk.lock();
        for (std::uint64_t id : ids) {
            if (stopping_) break;
            const Entry* pe = pool_ ? pool_->find(link_name(id)) : nullptr;
            if (pe && !pe->at_path)
                log("link pool: no other name of " + link_name(id) + " found (" +
                    std::to_string(kSearchDirs) + " directories at most): its file stays in " +
                    std::string(kLinkPoolName) + " until one is visited");
        }
    }
}

void Fs::give_up_pool_out(std::uint64_t id, const std::string& why) {
    std::lock_guard lk(mu_);
    if (out_given_up_.insert(id).second)
        log("link pool: the file of " + link_name(id) + " stays in " + std::string(kLinkPoolName) +
            ": " + why);
}

void Fs::move_out_of_pool(std::uint64_t id) {
    // Each loaded name in heirs() order, until one takes the file.
    std::string why = "no name can hold it (its backing path would pass " +
                      std::to_string(kMaxRealLen) + " bytes, or no backing name is free)";
    for (std::size_t i = 0;; ++i) {
        fuse_ino_t dir = 0;
        {
            std::lock_guard lk(mu_);
            const Entry* pe = pool_ ? pool_->find(link_name(id)) : nullptr;
            if (!pe || pe->at_path || stopping_) return;
            const auto h = heirs(id);
            if (h.empty()) return;  // (none loaded: a later load queues it again)
            if (i >= h.size()) break;
            dir = h[i].first;
        }
        // The pool's lock keeps every move of a directory above it away
        // (a directory's rename takes it too): the path stays true.
        OpLocks l(*this, {dir}, true, true);
        const Entry* pe = pool_ ? pool_->find(link_name(id)) : nullptr;
        if (!pe || pe->at_path) return;
        const auto h = heirs(id);
        if (h.empty()) return;
        if (i >= h.size()) break;
        if (h[i].first != dir) continue;  // (changed meanwhile: the next round looks again)
        if (pe->nlink < 2) {
            // Down to one name: it becomes a plain file, as after an unlink.
            unlink_last_but_one(l, id, nullptr);
            pe = pool_->find(link_name(id));
            if (!pe || pe->at_path) return;
            why = "its one name cannot take it (no free backing name, or the move failed)";
            break;
        }
        const auto moved = try_heir(l, id, dir, h[i].second, nullptr);
        if (!moved) continue;
        if (*moved) {
            why = std::string("the move failed: ") + std::strerror(*moved);
            break;
        }
        return;
    }
    give_up_pool_out(id, why);
}

void Fs::search_names(std::set<std::uint64_t>& ids) {
    // Breadth first, by backing path from the root: each directory opened
    // beneath the root with no symlink followed, listed and its index read
    // (load_dir, as a mount would), then closed before the next.
    std::deque<std::pair<std::string, int>> todo{{"", 0}};
    ReconcileOptions ro;
    ro.umask = opt_.umask;
    ro.lazy_times = true;
    // (Every linked name is kept: which group it has is all that is asked.)
    ro.link_group = [](std::uint64_t) { return ReconcileOptions::LinkGroup::InPool; };
    for (int visited = 0; !todo.empty() && !ids.empty() && visited < kSearchDirs; ++visited) {
        {
            std::lock_guard lk(mu_);
            if (stopping_) return;
        }
        auto [path, depth] = std::move(todo.front());
        todo.pop_front();
        UniqueFd fd = open_dir_beneath(root_fd_.get(), path);
        if (!fd) continue;
        std::vector<std::uint64_t> here;
        {
            const DirState d = load_dir(std::move(fd), ro, nullptr);
            for (const auto& [name, e] : d.entries) {
                if (e.linked() && ids.count(e.link_id))
                    here.push_back(e.link_id);
                else if (e.type == NodeType::Dir && !e.real.empty() && depth < kSearchDepth &&
                         !is_reserved_backing_name(e.real))
                    todo.emplace_back(path + e.real + '/', depth + 1);
            }
        }
        if (here.empty() || !load_backing_path(path)) continue;
        std::unique_lock lk(mu_);
        for (std::uint64_t id : here) {
            // Found in the index on the stick: the load made it known (its
            // move is queued), unless what the stick said was out of date.
            if (heirs(id).empty()) continue;
            ids.erase(id);
            out_queue_.insert(id);
        }
        run_queued_moves(lk);  // (before the walk goes on for the others)
    }
}

bool Fs::load_backing_path(const std::string& path) {
    fuse_ino_t cur = FUSE_ROOT_ID;
    for (std::size_t at = 0;;) {
        OpLocks l(*this, {cur}, false, false);
        int err = 0;
        DirState* d = dir_of(l, cur, &err);
        if (!d) return false;
        if (at >= path.size()) return true;
        const auto slash = path.find('/', at);
        const std::string real = path.substr(at, slash - at);
        at = slash == std::string::npos ? path.size() : slash + 1;
        auto it = std::find_if(d->entries.begin(), d->entries.end(), [&](const auto& kv) {
            return kv.second.type == NodeType::Dir && kv.second.real == real;
        });
        if (it == d->entries.end()) return false;
        cur = node_for(cur, it->second);
    }
}

}  // namespace pershome::fs
