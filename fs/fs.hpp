// The mounted filesystem's state: inode table, loaded directories, the link
// pool, lazy write-back. One mutex guards all metadata; file data never
// takes it except to stamp mtime after a write.
//
// Locks, always taken in this order, never the reverse:
//   0. Fs::alloc_ (alloc_lock()), see BackingAllocLock: shared by whatever
//      may allocate FAT clusters on the backing (namespace operations, file
//      writes, truncates, fsyncs of files), exclusive for an index write
//      done without mu_. Never taken twice by one thread.
//   1. Fs::mu_ (mutex()): all metadata, DirState included.
//   2. IndexWriter::mu of one directory: its index file and slot
//      bookkeeping (dir_state.hpp); held across that index's pwrite+fsync.
//   3. IndexWriter::pending_mu (a leaf).
//   (backing_fsync's own mutex is a leaf around the fsync call alone, and
//   so is WriteBehind's; its worker takes 0 then, after letting go, 1, so
//   WriteBehind::drain is called holding neither.)
// The lazy write-back and fsync/fsyncdir take the snapshot under mu_,
// release it, and write under the writer's lock alone: a slow stick stalls
// nobody else. Namespace operations that must write at once (flush())
// still hold mu_ while they take the writer's lock, which is why no code
// may take mu_ while holding a writer's lock (a failed write re-marks its
// directory dirty only after letting go of the writer). Writer locks of
// two directories are never held together.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <sys/stat.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/unique_fd.hpp"
#include "fs/dir_state.hpp"
#include "fs/options.hpp"
#include "fs/passthrough.hpp"
#include "fs/write_behind.hpp"

namespace pershome::fs {

inline constexpr std::uint64_t kFatMaxFileSize = 0xFFFFFFFFull;  // 4 GiB - 1

// Keeps FAT cluster allocation on the backing away from an index fsync that
// runs without mu_. vfat keeps every dirty FAT sector on one list that each
// fsync takes and writes; an fsync overlapping another one, or allocations
// racing the one in flight, returned before the FAT sectors of its file
// were on the stick: a pull then left a file whose clusters were free
// (tests/uml RandomPulls found it twice). backing_fsync (dir_state.hpp)
// runs fsyncs one at a time, which closes the overlap itself; this lock
// also keeps allocations out of a write-back's fsync. Shared: anything
// that may allocate; exclusive: an index write outside mu_. Exclusive
// waiters go first, so a stream of writes cannot starve the write-back.
// Lookups, getattr and readdir never take it.
class BackingAllocLock {
  public:
    void lock() {
        std::unique_lock l(m_);
        ++exclusive_waiting_;
        cv_.wait(l, [this] { return !exclusive_ && shared_ == 0; });
        --exclusive_waiting_;
        exclusive_ = true;
    }
    void unlock() {
        {
            std::lock_guard l(m_);
            exclusive_ = false;
        }
        cv_.notify_all();
    }
    void lock_shared() {
        std::unique_lock l(m_);
        cv_.wait(l, [this] { return !exclusive_ && exclusive_waiting_ == 0; });
        ++shared_;
    }
    void unlock_shared() {
        bool last = false;
        {
            std::lock_guard l(m_);
            last = --shared_ == 0;
        }
        if (last) cv_.notify_all();
    }

  private:
    std::mutex m_;
    std::condition_variable cv_;
    int shared_ = 0;
    int exclusive_waiting_ = 0;
    bool exclusive_ = false;
};

struct Node {
    fuse_ino_t parent = 0;
    std::string name;           // a name in `parent` (for a hard link: one of them)
    std::uint64_t link_id = 0;  // non-zero: attributes live in the link pool
    std::uint64_t nlookup = 0;
    std::uint64_t st_ino = 0;  // what stat shows (inode_numbers.hpp)
    bool detached = false;     // unlinked (or replaced) while the kernel still knows it
    Entry detached_entry;
    std::unique_ptr<DirState> dir;  // directories, once loaded
    std::vector<int> open_fds;      // backing fds of open handles (owned by the handles)
    PassthroughUse pt;              // those of them opened for passthrough
};

// Where a node's data lives on the backing: name relative to an O_PATH
// directory fd (empty name: the directory fd itself).
struct Location {
    int dirfd;
    std::string name;
};

// The entry holding a node's attributes and the directory to mark dirty.
struct AttrRef {
    Entry* entry = nullptr;
    DirState* owner = nullptr;  // null for a detached node
};

// An open directory: the names it had at opendir, so offsets stay
// meaningful while the directory changes.
struct DirHandle {
    struct Item {
        std::string name;
        std::uint64_t st_ino;  // d_ino
        mode_t type;
    };
    std::vector<Item> items;
};

class Fs {
  public:
    Fs(Options opt, UniqueFd root);
    ~Fs();

    const Options& opt() const { return opt_; }
    std::mutex& mutex() { return mu_; }
    // Take (shared) before mutex(), around backing work that may allocate.
    BackingAllocLock& alloc_lock() { return alloc_; }
    // Large writes on their way to the backing; call its drain() holding
    // neither lock above.
    WriteBehind& write_behind() { return write_behind_; }
    Passthrough& passthrough() { return passthrough_; }
    // Stamps mtime and ctime after a write to `ino`; takes mutex().
    void stamp_write(fuse_ino_t ino);
    // Logs a queued write of `ino` that failed and that no fsync or write
    // reported (see WriteBehind); takes mutex().
    void log_lost_write(fuse_ino_t ino, int err);

    // All below: call with mutex() held.
    Node* node(fuse_ino_t ino);
    DirState* dir_of(fuse_ino_t ino, int* err);  // loads on first use
    AttrRef attrs(fuse_ino_t ino);
    std::optional<Location> locate(fuse_ino_t ino);
    int stat_node(fuse_ino_t ino, struct stat* st);
    // A directory's st_nlink: 2 + its subdirectories (`backing_nlink`: its
    // backing directory's, used while it is not loaded).
    nlink_t dir_nlink(fuse_ino_t ino, nlink_t backing_nlink);
    // A writer passing through (passthrough.hpp) writes without this daemon:
    // if the backing changed since last looked at, mtime and ctime move now.
    // `ours`: the change was this daemon's own (setattr): only remember it.
    void notice_passthrough_writes(fuse_ino_t ino, bool ours = false);
    // The same for every such node: before each write-back and the last.
    void notice_all_passthrough_writes();
    // "/dir/name" of a node as the user sees it (for logs).
    std::string path_of(fuse_ino_t ino);
    // The node for entry `e` named in `parent`, created if new; does not count a lookup.
    fuse_ino_t node_for(fuse_ino_t parent, const Entry& e);
    int fill_entry(fuse_ino_t parent, const Entry& e, fuse_entry_param* out);  // counts a lookup
    void forget(fuse_ino_t ino, std::uint64_t n);
    void detach(fuse_ino_t parent, const std::string& name, const Entry& copy);
    // The node known as `name` in `parent` becomes the hard-linked inode `id`.
    void rekey_to_link(fuse_ino_t parent, const std::string& name, std::uint64_t id);
    // RENAME_EXCHANGE of two names in one directory.
    void swap_keys(fuse_ino_t parent, const std::string& a, const std::string& b);
    // A hard-linked node's hint name moved.
    void relink_hint(std::uint64_t id, fuse_ino_t parent, const std::string& name);
    void rekey(fuse_ino_t parent, const std::string& name, fuse_ino_t newparent,
               const std::string& newname);

    // Places a new entry `e` in `d`, creating its backing with `make(dirfd,
    // real)` (errno-style). Names FAT can hold are tried as themselves first;
    // otherwise (or when the backing says it collides) under a generated
    // name. Lazily: the index follows at the next write-back, so a crash
    // before it shows the object under its backing name with reconcile's
    // defaults. `sync`: the index holding the entry is written (fsynced)
    // before the backing object is made, so a crash never shows either (see
    // keeps_mode_only_in_index).
    using MakeBacking = std::function<int(int, const std::string&)>;
    int place_new(DirState& d, const Entry& e, const MakeBacking& make, bool sync);
    // Removes name `name` of directory `d` (file or hard link, not a directory).
    int remove_name(fuse_ino_t parent, DirState& d, const std::string& name);

    // A hard-linked inode down to one name moves back out of the link pool,
    // under that name, when its directory is loaded and FAT can hold it.
    void unlink_last_but_one(std::uint64_t id);
    DirState* pool(bool create, int* err);
    // The naming policy (names=auto or names=8.3): may `name` be its own
    // backing name, and the generated one otherwise.
    bool stored_as_itself(const std::string& name) const;
    std::string generated(const std::string& name, std::uint32_t attempt) const;
    // The pool's backing name for link group `id`.
    std::string pool_backing_name(std::uint64_t id) const;
    std::string link_name(std::uint64_t id) const;
    std::uint64_t next_link_id();

    void mark_dirty(DirState* d, bool atime_only = false);
    // A directory's contents changed: its mtime and ctime move (lazily written).
    void touch_dir(fuse_ino_t dir);
    // Writes `d`'s index now if dirty (after fsyncing the files renamed into
    // it), holding mutex() throughout: for namespace operations (which hold
    // alloc_lock() shared) whose next step relies on the index being on the
    // stick. If `d` is clean but a snapshot of it is still in flight, writes
    // a fresh one rather than wait: that write may be waiting for alloc_.
    int flush(DirState* d);
    // The same for fsync/fsyncdir, with `lk` (holding mutex()) released
    // during the I/O; `sync_dir`: fsync the backing directory too. `d` may
    // be gone when it returns (lk is held again). Call without alloc_lock().
    int flush_released(std::unique_lock<std::mutex>& lk, DirState* d, bool sync_dir);
    void note_renamed(DirState* d, const std::string& real);
    void flush_all();
    void forget_dirty(DirState* d) { dirty_.erase(d); }
    void start_flusher();
    void stop_flusher();
    IndexStats stats() const { return {index_writes_.load(), index_bytes_.load()}; }
    // Bytes asked for by the read requests this daemon served (reads passed
    // through never come here), for the log line at unmount.
    void count_read(std::size_t n) { read_bytes_.fetch_add(n, std::memory_order_relaxed); }
    std::uint64_t read_bytes() const { return read_bytes_.load(); }
    void log(const std::string& msg) const;
    // The findings of a directory's load, the first few of them.
    void log_findings(const std::string& where, const std::vector<std::string>& findings) const;

    mode_t type_bits(NodeType t) const;
    // Whether a new entry of type `t` created with `mode` would come back
    // after a crash (before its lazy index write) with bits it was not given:
    // reconcile shows an unknown backing object with reconcile_default_mode,
    // so any bit of that default missing from `mode` (0600 lacks 044) would
    // be added. Such creates write the index at once; ordinary modes
    // (0644/0664/0755 under umask=022) stay lazy to spare the flash. Modes
    // granting more than the default (0755 files) stay lazy too: a crash
    // then takes bits away, never exposes anything.
    bool keeps_mode_only_in_index(NodeType t, mode_t mode) const;

    // Directory handles between opendir and releasedir live here, so that
    // those the kernel never releases (the mount stopped while a directory
    // was open) go with the filesystem. Call with mutex() held.
    DirHandle* keep_dir_handle(std::unique_ptr<DirHandle> h);
    void drop_dir_handle(DirHandle* h) { dir_handles_.erase(h); }

  private:
    ReconcileOptions reconcile_options();
    // place_new under backing name `real`; `make_failed`: the error is
    // make's (the backing's answer), not the index write's.
    int place_as(DirState& d, const Entry& e, const std::string& real, const MakeBacking& make,
                 bool sync, bool* make_failed);
    // Runs a prepared job and counts what it wrote. `outside_mu`: the
    // caller holds no lock (takes alloc_ exclusive); otherwise it holds mu_
    // inside an operation that holds alloc_ shared.
    int run_job(IndexJob& job, bool outside_mu);
    // A node for `name` in `parent` (a hard-linked inode if `link_id`),
    // with an st_ino no live node has; erase_node forgets both.
    fuse_ino_t new_node(fuse_ino_t parent, const std::string& name, std::uint64_t link_id);
    void erase_node(fuse_ino_t ino);
    // The key of a directory's current path (inode_numbers.hpp).
    std::uint64_t path_key(fuse_ino_t dir);
    // After a job that ran without mutex() failed (call with mutex() held):
    // its directory, if still loaded, is dirty again.
    void redirty(IndexJob& job);

    Options opt_;
    UniqueFd root_fd_;
    BackingAllocLock alloc_;
    std::mutex mu_;
    std::unordered_map<fuse_ino_t, Node> nodes_;
    std::unordered_map<std::uint64_t, fuse_ino_t> by_st_ino_;
    std::map<std::pair<fuse_ino_t, std::string>, fuse_ino_t> by_name_;
    std::unordered_map<std::uint64_t, fuse_ino_t> by_link_;
    fuse_ino_t next_ino_ = FUSE_ROOT_ID + 1;
    std::unique_ptr<DirState> pool_;
    bool pool_loaded_ = false;
    std::uint64_t max_link_id_ = 0;
    std::unordered_set<DirState*> dirty_;
    std::unordered_map<DirHandle*, std::unique_ptr<DirHandle>> dir_handles_;
    // Index writes happen outside mu_, in several threads at once.
    std::atomic<std::uint64_t> index_writes_{0};
    std::atomic<std::uint64_t> index_bytes_{0};
    std::atomic<std::uint64_t> read_bytes_{0};
    std::condition_variable stop_cv_;
    bool stopping_ = false;
    std::thread flusher_;
    Passthrough passthrough_;
    // Last: its worker finishes (and stamps times) before the rest goes.
    WriteBehind write_behind_;
};

Fs& fs_of(fuse_req_t req);
const fuse_lowlevel_ops& pershome_ops();

}  // namespace pershome::fs
