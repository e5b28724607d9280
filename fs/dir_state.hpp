// One backing directory as pershome-fs sees it: its index entries in memory,
// reconciled with what the backing really holds, and the slot bookkeeping
// needed to write the index back without ever overwriting the newest copy.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "common/unique_fd.hpp"
#include "fs/alloc_lock.hpp"
#include "fs/index_format.hpp"

namespace pershome::fs {

struct IndexStats {
    std::uint64_t writes = 0;
    std::uint64_t bytes = 0;
};

// One directory's index file: the slot bookkeeping and the lock that
// serializes writes to it. Index writes run without the filesystem's mutex
// (an fsync on a USB stick takes up to seconds), so this lives apart from
// the DirState and is shared with the writes in flight: a write finishes
// safely even when its directory is dropped (rmdir, replaced) meanwhile.
// Every field is guarded by `mu`, except the pending renamed names.
struct IndexWriter {
    std::mutex mu;
    std::condition_variable done_cv;  // `attempted` moved

    // Backing names renamed in (DirState::renamed_in) handed over by
    // snapshots: whichever write takes the lock first fsyncs them all before
    // its index lands, as that index names them (snapshots may arrive out of
    // order). `pending_mu` is a leaf lock, never held across I/O.
    std::mutex pending_mu;
    std::vector<std::string> pending_renamed;

    bool index_exists = false;
    bool rebuild = false;  // file present but no slot verifies: truncate before writing
    // Where the newest slot and its delta records lie, and what a reader
    // reconstructs from them (docs/on-stick-format.md, section 2a): the next
    // write is a delta of what changed since, or a full slot.
    IndexWriteState state;

    // Snapshots are numbered (DirState::seq) when taken under the
    // filesystem's mutex; they may reach this lock out of order. One older
    // than what landed is skipped: older content must never land with a
    // newer generation.
    // Newest snapshot on the stick (fsynced). Written under `mu`; read
    // without it too, by a holder of the filesystem's mutex, which never
    // waits for `mu` (a write holds it across a slow fsync).
    std::atomic<std::uint64_t> landed = 0;
    std::uint64_t attempted = 0;  // newest snapshot whose write is over, landed or not
    int last_error = 0;           // of the newest failed write
    bool gone = false;            // the backing directory was removed: nothing to write
};

// One index write, prepared under the filesystem's mutex (the snapshot) and
// done without it.
struct IndexJob {
    std::shared_ptr<IndexWriter> writer;
    UniqueFd dirfd;  // a dup of the directory's O_PATH fd (the DirState may go)
    int dup_error = 0;
    std::uint64_t seq = 0;  // 0: nothing to write (fsyncs only)
    RecordSet records;      // the directory's content, record by record
    bool sync_dir = false;  // fsync the backing directory too (fsyncdir)
    int sync_error = 0;     // of the renamed files' or directory's fsyncs (the write goes on)
};

// What one directory's entries may take in its index (names, targets,
// xattrs): a third of the reader's cap, so that two full slots and their
// deltas fit within it (index_format.hpp). Past it, creates and setxattr
// answer ENOSPC.
inline constexpr std::uint64_t kIndexBudget = kMaxIndexFileSize / 3;
// An estimate of `e`'s bytes in an index slot (from above).
std::uint64_t index_bytes(const Entry& e);

struct DirState {
    UniqueFd fd;  // O_PATH fd of the backing directory; follows it through renames
    // Its node in a mount (whose lock guards it: fs/fs.hpp); 0 for the link
    // pool and outside a mount.
    std::uint64_t ino = 0;
    Entry self;  // the directory's own attributes (authoritative for the root only)
    std::map<std::string, Entry> entries;
    std::unordered_set<std::string> claimed;  // backing names owned by an entry
    // Entries of type Dir: st_nlink is 2 + this. Kept by add() and remove(),
    // the only ways entries change.
    std::uint32_t subdirs = 0;
    // index_bytes() of the entries (kept by add() and remove(); setxattr
    // adjusts it for the xattrs it changes in place).
    std::uint64_t bytes = 0;

    // Index file bookkeeping (shared with writes in flight).
    std::shared_ptr<IndexWriter> writer = std::make_shared<IndexWriter>();
    std::uint64_t seq = 0;  // newest snapshot taken for a write

    // Backing names renamed into this directory since its last sync: vfat
    // records a renamed file's clusters and size in the new directory entry
    // only when that file is written back, so these are fsynced with the
    // directory (an fsync of the directory alone does not carry them).
    std::vector<std::string> renamed_in;

    // Backing names created or renamed into this directory since a file's
    // fsync last synced it. vfat writes a name's long-name slots with the
    // directory, not with the file (they may lie in another sector than its
    // 8.3 entry): a file's fsync syncs the directory too while this is set,
    // or a pull could bring the file back under its 8.3 alias.
    std::uint32_t unsynced_names = 0;

    bool dirty = false;        // write at the next flush
    bool atime_dirty = false;  // write only along with something else, or at unmount

    Entry* find(const std::string& name) {
        auto it = entries.find(name);
        return it == entries.end() ? nullptr : &it->second;
    }
    void add(Entry e);
    void remove(const std::string& name);
    // Whether a new entry `e` keeps the index within the reader's caps
    // (kIndexBudget, kMaxIndexEntries).
    bool has_room_for(const Entry& e) const;
};

// How much of a finding or log line is shown (common/display_text.hpp, which
// also escapes what a stick's names may hold): a line names at most two
// names of up to 255 bytes.
inline constexpr std::size_t kShownBytes = 1024;

struct ReconcileOptions {
    mode_t umask = 022;
    // Only the listing (names and types, from d_type) is read at load; each
    // entry's backing times are looked at on its first use (settle_entry).
    // A walk that needs no attributes (find) then reads no inode. --check
    // loads eagerly: it reports edits made elsewhere.
    bool lazy_times = false;
    // Where link group `id`'s data is (nullptr: no pool).
    enum class LinkGroup { Missing, InPool, AtPath };
    std::function<LinkGroup(std::uint64_t)> link_group;
    // Loading the link pool itself: its AT_PATH entries have their data
    // elsewhere (they are not checked against its listing).
    bool pool = false;
};

// The mode reconcile gives a backing object no index entry claims (a file
// created elsewhere, or here shortly before a crash): 0666 or 0777 without
// the mount's umask= bits.
inline mode_t reconcile_default_mode(bool is_dir, mode_t umask) {
    return (is_dir ? 0777 : 0666) & ~umask & 0777;
}

// Where the file of an AT_PATH link-pool entry is (docs/on-stick-format.md,
// section 5): at its previous place while that still exists (a move writes
// the new place first and clears the old one once the file is there), else
// at its path. Same: found where `e` says; Settled: found, and `e` now says
// so (a file that reached the pool makes `e` an ordinary pool entry); Gone:
// neither exists; Unknown: the backing would not say.
enum class DataPath { Same, Settled, Gone, Unknown };
// A path below the backing root ("d1/d2/a", a hard link's data at its
// primary name): its directory opened O_PATH with no symlink followed and
// no mount crossed on the way (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|
// RESOLVE_NO_XDEV), and the last component, for the caller's *at call with
// its own no-follow flag. A backend may show a symlink where FAT cannot,
// and pershome-fs runs as root.
struct BeneathPath {
    UniqueFd dir;
    std::string name;
};
std::optional<BeneathPath> open_parent_beneath(int root_fd, const std::string& path);
// The directory at `path` below the backing root ("" for the root itself,
// "a/b/" or "a/b"), opened O_PATH the same way; invalid on failure.
UniqueFd open_dir_beneath(int root_fd, const std::string& path);

DataPath settle_data_path(int root_fd, Entry& e);

// Reads the index of the directory `fd` (an O_PATH or O_RDONLY fd) and
// reconciles it with the backing listing. Never fails: a damaged index is
// rebuilt from the directory. Findings are appended to `problems`, except
// the catch-up a crash or another computer's edit leaves, which reconcile
// settles by itself (an entry whose backing vanished, a backing object no
// entry claims, a type changed on the backing): those go to `catch_up` when
// given (--check tells the two apart), else to `problems` too.
DirState load_dir(UniqueFd fd, const ReconcileOptions& opt, std::vector<std::string>* problems,
                  std::vector<std::string>* catch_up = nullptr);

// What a lazy load left of `e` settled from its backing object's `st`;
// true when that changed what the index holds (an edit made elsewhere).
bool settle_entry(Entry& e, const struct stat& st);

// Writes the next slot and fsyncs; on failure leaves `d` dirty. errno-style.
// (prepare_index_job + run_index_job, for a caller that holds `d` throughout.)
[[nodiscard]] int write_index(DirState& d, IndexStats* stats);

// Takes the snapshot of `d` (with `payload`: the index content, numbered,
// and `d` counts as clean; without: only the renamed names to fsync). Call
// with whatever guards `d` held. `pause`, if given, is called after every
// kSnapshotChunk entries: the caller may let others in (fs.cpp lets go of
// its mutex), as long as no entry is added or removed meanwhile; an entry
// changed in place meanwhile marks `d` dirty again, so the next snapshot
// carries it.
inline constexpr std::size_t kSnapshotChunk = 256;
IndexJob prepare_index_job(DirState& d, bool payload, const std::function<void()>& pause = {});
// Does the job's fsyncs and index write under the writer's lock, and
// under `alloc` shared if given (the caller holds neither it nor the
// filesystem's mutex). The index write's errno, or 0 (also when skipped as
// older than what landed).
[[nodiscard]] int run_index_job(IndexJob& job, IndexStats* stats,
                                BackingAllocLock* alloc = nullptr);
// A job that failed: `d` dirty again.
void restore_after_failure(DirState& d);
// Waits until snapshot `seq` of `w`'s directory has been written or has
// failed (another thread took it); 0 when it (or a newer one) landed.
[[nodiscard]] int wait_landed(IndexWriter& w, std::uint64_t seq);

// Sets ATTR_HIDDEN on a FAT backing; a no-op elsewhere.
void mark_hidden(int fd);

// fsyncs `name` in the backing directory `dirfd` (an O_PATH fd is fine), or
// the directory itself when `name` is empty. errno-style.
[[nodiscard]] int fsync_backing(int dirfd, const std::string& name);

// pwrite of all of `data` at `off` (EINTR retried); 0 or an errno.
[[nodiscard]] int pwrite_all(int fd, const char* data, std::size_t size, std::uint64_t off);

// fsync (or fdatasync) of a backing fd; every fsync pershome-fs makes goes
// through here, one at a time. vfat keeps its dirty FAT sectors on one list
// that every fsync writes; a second fsync running while the first has taken
// them off the list finds it empty and returns before they are on the stick
// (fs/buffer.c fsync_buffers_list): a file fsynced that way came back after
// a pull with its clusters marked free. Returns 0 or -1 with errno set.
[[nodiscard]] int backing_fsync(int fd, bool datasync = false);

// A Timestamp of now (CLOCK_REALTIME).
Timestamp now_ts();

}  // namespace pershome::fs
