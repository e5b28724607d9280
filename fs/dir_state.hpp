// One backing directory as pershome-fs sees it: its index entries in memory,
// reconciled with what the backing really holds, and the slot bookkeeping
// needed to write the index back without ever overwriting the newest copy.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "common/unique_fd.hpp"
#include "fs/index_format.hpp"

namespace pershome::fs {

struct IndexStats {
    std::uint64_t writes = 0;
    std::uint64_t bytes = 0;
};

struct DirState {
    UniqueFd fd;  // O_PATH fd of the backing directory; follows it through renames
    Entry self;   // the directory's own attributes (authoritative for the root only)
    std::map<std::string, Entry> entries;
    std::unordered_set<std::string> claimed;  // backing names owned by an entry

    // Index file bookkeeping.
    bool index_exists = false;
    bool rebuild = false;  // file present but no slot verifies: truncate before writing
    std::optional<SlotSpan> newest;
    std::uint32_t capacity = 0;
    std::uint64_t generation = 0;

    // Backing names renamed into this directory since its last sync: vfat
    // records a renamed file's clusters and size in the new directory entry
    // only when that file is written back, so these are fsynced with the
    // directory (an fsync of the directory alone does not carry them).
    std::vector<std::string> renamed_in;

    bool dirty = false;        // write at the next flush
    bool atime_dirty = false;  // write only along with something else, or at unmount

    Entry* find(const std::string& name) {
        auto it = entries.find(name);
        return it == entries.end() ? nullptr : &it->second;
    }
    void add(Entry e);
    void remove(const std::string& name);
};

struct ReconcileOptions {
    mode_t umask = 022;
    // Is link group `id` present in the pool? (nullptr: no pool)
    std::function<bool(std::uint64_t)> link_alive;
};

// The mode reconcile gives a backing object no index entry claims (a file
// created elsewhere, or here shortly before a crash): 0666 or 0777 without
// the mount's umask= bits.
inline mode_t reconcile_default_mode(bool is_dir, mode_t umask) {
    return (is_dir ? 0777 : 0666) & ~umask & 0777;
}

// Reads the index of the directory `fd` (an O_PATH or O_RDONLY fd) and
// reconciles it with the backing listing. Never fails: a damaged index is
// rebuilt from the directory. Findings are appended to `problems`, except
// the catch-up a crash or another computer's edit leaves, which reconcile
// settles by itself (an entry whose backing vanished, a backing object no
// entry claims, a type changed on the backing): those go to `catch_up` when
// given (--check tells the two apart), else to `problems` too.
DirState load_dir(UniqueFd fd, const ReconcileOptions& opt, std::vector<std::string>* problems,
                  std::vector<std::string>* catch_up = nullptr);

// Writes the next slot and fsyncs; on failure leaves `d` dirty. errno-style.
int write_index(DirState& d, IndexStats* stats);

// Sets ATTR_HIDDEN on a FAT backing; a no-op elsewhere.
void mark_hidden(int fd);

// A Timestamp of now (CLOCK_REALTIME).
Timestamp now_ts();

}  // namespace pershome::fs
