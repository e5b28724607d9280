// The mounted filesystem's state: inode table, loaded directories, the link
// pool, lazy write-back. One directory's slow work (loading its index,
// writing it back) holds that directory's lock only: operations elsewhere
// go on meanwhile.
//
// Locks, always taken in this order, never the reverse:
//   1. Directory locks (OpLocks, Node::dir_mu, the link pool's pool_mu_):
//      held for a whole namespace operation (create, unlink, rename, link,
//      mkdir, rmdir) on a directory, by whoever loads it, takes a snapshot
//      of it for an index write (fsync, fsyncdir, the write-back) or a
//      listing of it (readdir). Several are taken in ascending order of
//      their directory's inode number, the link pool's last; never while
//      holding any lock below. Only a holder of a directory's lock creates
//      or destroys its DirState, or adds or removes its entries
//      (unlink_last_but_one only try_locks); a holder may use the
//      directory's fd without mu_ (Node::dir_pins keeps it open).
//   2. Fs::alloc_ (alloc_lock()), see BackingAllocLock (alloc_lock.hpp):
//      shared by whatever writes the backing (index writes too), exclusive
//      for the directory syncs a namespace operation makes (exclusive_io).
//      Never taken twice by one thread.
//   3. Fs::mu_ (mutex()): the node table and every loaded DirState's
//      content; held briefly, never across an index load or write: those
//      let it go (OpLocks::unlocked, OpLocks::exclusive_io) while the
//      directory lock keeps the directory theirs, and so does the
//      serializing of a large directory, every kSnapshotChunk entries.
//      Reads (getattr, readlink, xattrs, lookup in a loaded directory) and in-place
//      attribute changes (setattr, stamps) take mu_ alone, so a slow
//      directory never stalls them elsewhere; what they may see of a
//      directory in the middle of an operation is a state that operation
//      itself writes to the index (so a lazy snapshot of it is as safe).
//   4. IndexWriter::mu of one directory: its index file and slot
//      bookkeeping (dir_state.hpp); held across that index's pwrite+fsync
//      (run_index_job takes alloc_ shared first).
//      Whoever holds mu_ never waits for it: rmdir and a rename over a
//      directory let mu_ go to take it, and then take mu_ back.
//   5. IndexWriter::pending_mu (a leaf).
//   (backing_fsync's own mutex is a leaf around the fsync call alone, and
//   so is WriteBehind's; its worker takes 2 then, after letting go, 3, so
//   WriteBehind::drain is called holding none of 1-3.)
// The background mover (link_pool_out.cpp) takes 1-3 as an operation does
// (OpLocks, in order); its search of the tree holds none while it reads.
// Writer locks of two directories are never held together.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <sys/stat.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/unique_fd.hpp"
#include "fs/alloc_lock.hpp"
#include "fs/dir_state.hpp"
#include "fs/options.hpp"
#include "fs/passthrough.hpp"
#include "fs/write_behind.hpp"

namespace pershome::fs {

inline constexpr std::uint64_t kFatMaxFileSize = 0xFFFFFFFFull;  // 4 GiB - 1

struct Node {
    fuse_ino_t parent = 0;
    std::string name;           // a name in `parent` (for a hard link: one of them)
    std::uint64_t link_id = 0;  // non-zero: attributes live in the link pool
    std::uint64_t nlookup = 0;
    std::uint64_t st_ino = 0;  // what stat shows (inode_numbers.hpp)
    bool detached = false;     // unlinked (or replaced) while the kernel still knows it
    std::unique_ptr<Entry> detached_entry;  // its attributes once detached (rare: boxed)
    std::unique_ptr<DirState> dir;          // directories, once loaded
    // The directory lock (lock order 1), made on first use; shared so that
    // a holder keeps it while the node goes.
    std::shared_ptr<std::mutex> dir_mu;
    // Holders of dir_mu that use the directory's fd (OpLocks): while
    // non-zero, the fd of `dir` is not closed (dir_fd's bound). Under mu_.
    int dir_pins = 0;
    std::vector<int> open_fds;  // backing fds of open handles (owned by the handles)
    PassthroughUse pt;          // those of them opened for passthrough
};

// Where a node's data lives on the backing: name relative to an O_PATH
// directory fd (empty name: the directory fd itself). `held` owns that fd
// when it was opened for this location (a hard link's data at its path).
struct Location {
    int dirfd;
    std::string name;
    UniqueFd held;
};

// The entry holding a node's attributes and the directory to mark dirty.
struct AttrRef {
    Entry* entry = nullptr;
    DirState* owner = nullptr;  // null for a detached node
};

// An open directory: the names it had at its first readdir (or rewind),
// so offsets stay meaningful while the directory changes.
struct DirHandle {
    struct Item {
        std::string name;
        std::uint64_t st_ino;  // d_ino
        mode_t type;
    };
    std::vector<Item> items;
};

class Fs;

// The locks of one operation, taken in the lock order at construction:
// the directory locks of `dirs` (0s ignored) and of the link pool if
// `pool`, alloc_ shared if `alloc`, then mu_. Held until it goes; mu_
// may be let go around slow work by unlocked() and exclusive_io().
class OpLocks {
  public:
    OpLocks(Fs& fs, std::vector<fuse_ino_t> dirs, bool pool, bool alloc);
    ~OpLocks();
    OpLocks(const OpLocks&) = delete;
    OpLocks& operator=(const OpLocks&) = delete;

    bool holds(fuse_ino_t dir) const;
    bool holds_pool() const { return pool_.owns_lock(); }
    std::unique_lock<std::mutex>& mu() { return mu_; }
    // Locks `m` of a directory not in the set if it is free (out of
    // order, so never waits); true if it is held now. Kept until the end.
    bool try_add(fuse_ino_t dir, std::shared_ptr<std::mutex> m);

    // Runs `f` with mu_ let go: a directory load.
    template <class F>
    auto unlocked(F&& f) {
        Relock r(*this, false);
        return f();
    }
    // Runs `f` with mu_ and alloc_ (shared) let go and alloc_ held
    // exclusive: a namespace operation's directory sync, which no other
    // write may come between (BackingAllocLock).
    template <class F>
    auto exclusive_io(F&& f);
    // Takes the writer lock of a directory this operation holds: at once
    // if free, else with mu_ let go while waiting (a write holds it across
    // a slow fsync). Look again at what mu_ guards afterwards.
    std::unique_lock<std::mutex> writer_lock(IndexWriter& w) {
        std::unique_lock wl(w.mu, std::try_to_lock);
        if (!wl.owns_lock()) unlocked([&] { wl.lock(); });
        return wl;
    }
    // Runs `f` with mu_ and alloc_ (shared) let go: an index job, which
    // takes alloc_ itself (run_index_job).
    template <class F>
    auto index_io(F&& f) {
        Relock r(*this, true);
        return f();
    }

  private:
    struct Held {
        fuse_ino_t ino;
        std::shared_ptr<std::mutex> m;
        std::unique_lock<std::mutex> lock;
    };
    // Lets go of mu_ (and alloc_ shared for exclusive work) for its
    // lifetime; takes them back in order.
    struct Relock {
        Relock(OpLocks& l, bool alloc_too);
        ~Relock();
        OpLocks& l;
        bool alloc_too;
    };
    Fs& fs_;
    std::vector<Held> dirs_;  // in ascending inode order
    std::shared_ptr<std::mutex> pool_mu_;
    std::unique_lock<std::mutex> pool_;
    std::shared_lock<BackingAllocLock> alloc_;
    std::unique_lock<std::mutex> mu_;
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
    // The directory `ino`, loaded on first use (with mu_ let go meanwhile:
    // pointers into other directories may not survive a call that loads).
    // `l` holds its directory lock.
    [[nodiscard]] DirState* dir_of(OpLocks& l, fuse_ino_t ino, int* err);
    // The directory `ino` if loaded, else null (for readers holding mu_ alone).
    DirState* loaded_dir(fuse_ino_t ino);
    // The lock of directory `ino` (null if there is no such node).
    std::shared_ptr<std::mutex> dir_mutex(fuse_ino_t ino);
    std::shared_ptr<std::mutex> pool_mutex() const { return pool_mu_; }
    // (Settles the entry's backing times a lazy load left: settle(); what
    // that found of the backing object goes to `backing` if given.)
    AttrRef attrs(fuse_ino_t ino, std::optional<struct stat>* backing = nullptr);
    // Looks up what a lazy load left of `e` (in `d`) in its backing object
    // (into `backing`, if given).
    void settle(DirState& d, Entry& e, std::optional<struct stat>* backing = nullptr);
    std::optional<Location> locate(fuse_ino_t ino);
    // The O_PATH fd of `d`'s backing directory, opened again (from its
    // parent's, by its current backing name) if closed: at most kDirFds of
    // them stay open, the least recently used closed first unless a
    // directory lock holder uses it (Node::dir_pins), so fds do not grow
    // with the directories a walk visits. -1 with errno on failure. Use it
    // at once: a later dir_fd() may close it (not within kDirFds calls).
    int dir_fd(DirState& d);
    static constexpr std::size_t kDirFds = 128;
    [[nodiscard]] int stat_node(fuse_ino_t ino, struct stat* st);
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
    // The key of a directory's current path (inode_numbers.hpp).
    std::uint64_t path_key(fuse_ino_t dir);
    // The st_ino a listing shows for `e` in `parent` (`key`: its path_key)
    // without making a node for it: its node's if it has one, else the
    // number its node would get. Should another node take that number
    // first (two paths colliding, about one pair in 80,000), the entry's
    // own stat shows the next one.
    std::uint64_t listed_ino(fuse_ino_t parent, std::uint64_t key, const Entry& e);
    [[nodiscard]] int fill_entry(fuse_ino_t parent, const Entry& e,
                                 fuse_entry_param* out);  // counts a lookup
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
    // `l` holds `d`'s directory lock.
    using MakeBacking = std::function<int(int, const std::string&)>;
    [[nodiscard]] int place_new(OpLocks& l, DirState& d, const Entry& e, const MakeBacking& make,
                                bool sync);
    // Removes name `name` of directory `d` (file or hard link, not a
    // directory). A hard link needs the pool's lock in `l` too.
    [[nodiscard]] int remove_name(OpLocks& l, fuse_ino_t parent, DirState& d,
                                  const std::string& name);

    // A hard-linked inode down to one name moves back out of the link pool,
    // under that name, when its directory is loaded, FAT can hold it and
    // its directory lock is free or held by `l` (which holds the pool's).
    // `from`: the directory whose name just went (its lock held), if any.
    void unlink_last_but_one(OpLocks& l, std::uint64_t id, DirState* from = nullptr);
    // The directory of the one name group `id` keeps once `name` in
    // `parent` goes, if it comes to that and the directory is loaded; else 0
    // (for unlink to take that directory's lock in order).
    fuse_ino_t last_other_name_dir(std::uint64_t id, fuse_ino_t parent, const std::string& name);
    // The same for a group whose data is under its last name already: that
    // name becomes a plain entry.
    void last_name_in_place(OpLocks& l, std::uint64_t id, fuse_ino_t dir_ino, DirState* d,
                            const std::string& name, DirState* from);
    // Group `id`'s inode, if the node table knows it, becomes the plain
    // file `name` in `dir_ino` there too, as it just did in the index.
    void node_leaves_group(std::uint64_t id, fuse_ino_t dir_ino, const std::string& name);
    // Link groups whose data stays under one of their names (link_groups.cpp).
    // The backing path of directory `dir` from the backing root, "" for the
    // root, else ending in '/'; nullopt if not known (not loaded).
    std::optional<std::string> backing_path(fuse_ino_t dir);
    // The pool's entry of group `id` if its data is under a name (AT_PATH).
    Entry* group_at_path(std::uint64_t id);
    // Whether `e` in `dir` is the name holding its group's data.
    bool is_primary(fuse_ino_t dir, const Entry& e);
    // Settles the pool's AT_PATH entries at mount: the place a crash in the
    // middle of a move left the file, or the group gone with its file.
    void resolve_data_paths();
    // Moves group `id`'s data from its primary name into the pool (see
    // link_groups.cpp); `home`, if given (its lock held), is the primary's
    // directory, whose entry then forgets the backing name. `l` holds the
    // pool's lock.
    [[nodiscard]] int group_to_pool(OpLocks& l, std::uint64_t id, DirState* home);
    // The primary of group `id` is about to go (unlinked, or replaced by a
    // rename): its data moves to another of its names, the heir, as
    // heir_dir() orders them (link_moves.cpp), or into the pool if none
    // can take it (then, if no other name was known, want_search()).
    // `home`: as for group_to_pool.
    [[nodiscard]] int group_leaves_primary(OpLocks& l, std::uint64_t id, DirState* home);
    // Groups whose data is in the pool move out to one of their names in
    // the background (link_pool_out.cpp), never on a caller's path. Call
    // with mutex() held. The groups `d` (just loaded) has names of:
    void queue_pool_out(const DirState& d);
    // Group `id`'s data went into the pool for lack of a known other name:
    // a search of the stick looks for a directory holding one.
    void want_search(std::uint64_t id);
    // The directory of the name group `id`'s data would move to if its
    // primary went (for the caller to take its lock in order); 0 if none.
    fuse_ino_t heir_dir(std::uint64_t id);
    // Renames the primary `name` of `sd` (`parent`) to `newname` in `dd`
    // (`newparent`), its data following on the backing; nullopt if no
    // backing name or path can hold it there (the caller moves the data to
    // another name first). Locks: both directories' and the pool's.
    std::optional<int> rename_primary(OpLocks& l, fuse_ino_t parent, DirState* sd,
                                      const std::string& name, fuse_ino_t newparent, DirState* dd,
                                      const std::string& newname);
    // Before directory `dir` is renamed to backing name `target` in
    // `newparent`: the data paths of the groups below it name the new place
    // and the old one, written (a path too long for the format moves its
    // data into the pool instead). settle_group_paths() afterwards writes
    // where the data is (`moved`: the rename happened).
    // `groups` gets the pool names of the groups whose paths changed.
    [[nodiscard]] int group_paths_follow(OpLocks& l, fuse_ino_t dir, fuse_ino_t newparent,
                                         const std::string& target,
                                         std::vector<std::string>* groups);
    [[nodiscard]] int settle_group_paths(OpLocks& l, const std::vector<std::string>& groups,
                                         bool moved);
    // The link pool, null if there is none yet.
    DirState* pool() { return pool_.get(); }
    // The link pool, made if there is none (`l` holds the pool's lock).
    [[nodiscard]] DirState* make_pool(OpLocks& l, int* err);
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
    // it), for namespace operations whose next step relies on the index
    // being on the stick; `l` holds `d`'s directory lock (or the pool's),
    // and alloc_ shared; the write runs in l.index_io(). If `d` is clean
    // but a snapshot of it is still in flight, writes a fresh one.
    [[nodiscard]] int flush(OpLocks& l, DirState* d);
    // The same for fsync/fsyncdir, with `lk` (holding mutex()) released
    // during the I/O; `sync_dir`: fsync the backing directory too. The
    // caller holds `d`'s directory lock, not alloc_lock().
    [[nodiscard]] int flush_released(std::unique_lock<std::mutex>& lk, DirState* d, bool sync_dir);
    void note_renamed(DirState* d, const std::string& real);
    // Writes every dirty directory (at unmount); takes mutex() itself.
    void flush_all();
    void forget_dirty(DirState* d) { dirty_.erase(d); }
    // The periodic write-back and the background mover: started after the
    // daemon forked; stopped before the last write-back (a move under way
    // is finished first, queued ones and a search are left for later mounts).
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
    friend class OpLocks;
    ReconcileOptions reconcile_options();
    // Loads the link pool at start, if there is one.
    void load_pool();
    // Snapshots of the dirty directories (all, or those due at a flush=
    // tick), each taken under its directory lock, written with mu_ (held
    // by `lk`, held again at the end) let go. Call holding no directory lock.
    void write_back(std::unique_lock<std::mutex>& lk, bool all);
    // Settles every entry of `d` (the caller holds its directory lock) with
    // mu_ let go during the lookups.
    void settle_all(std::unique_lock<std::mutex>& lk, DirState& d);
    // prepare_index_job of `d`, letting go of mu_ (held by `lk`) between
    // chunks; the caller holds `d`'s directory lock.
    IndexJob snapshot(std::unique_lock<std::mutex>& lk, DirState& d, bool payload);
    // The names group `id`'s data may move to when its primary goes, in
    // the order tried: names FAT holds as themselves first, then by backing
    // path (bytewise); only names in loaded directories are known.
    std::vector<std::pair<fuse_ino_t, std::string>> heirs(std::uint64_t id);
    // Moves group `id`'s data from its primary, or from the pool, to `name`
    // in `d` (its lock held), at path `to` (link_moves.cpp).
    [[nodiscard]] int group_to_heir(OpLocks& l, std::uint64_t id, DirState& d,
                                    const std::string& name, const std::string& to, DirState* home);
    // group_to_heir to `name` in directory `dir` (its lock held), if that
    // name can take the file (its directory loaded, a free backing name,
    // the path within kMaxRealLen); nullopt if it cannot.
    std::optional<int> try_heir(OpLocks& l, std::uint64_t id, fuse_ino_t dir,
                                const std::string& name, DirState* home);
    // The background mover (link_pool_out.cpp): queued moves out of the
    // pool, then searches; each move takes its locks in order.
    void run_mover();
    // Runs the queued moves, with mu_ (held by `lk`) let go during each.
    void run_queued_moves(std::unique_lock<std::mutex>& lk);
    void move_out_of_pool(std::uint64_t id);
    // The move of group `id` is not tried again during this mount.
    void give_up_pool_out(std::uint64_t id, const std::string& why);
    // Walks the backing tree (no lock held) for directories whose index
    // names a group of `ids`, and loads each found through the node table
    // (queue_pool_out takes over). Removes from `ids` the groups found.
    void search_names(std::set<std::uint64_t>& ids);
    // Loads the directory at backing path `path` ("" or "a/b/") and those
    // above it, as lookups would; false if the path is not the tree's now.
    bool load_backing_path(const std::string& path);
    // The loaded directory holding group `id`'s primary, its lock held by
    // `l` or taken now if free; else null.
    DirState* primary_home(OpLocks& l, std::uint64_t id);
    // place_new under backing name `real`; `make_failed`: the error is
    // make's (the backing's answer), not the index write's.
    [[nodiscard]] int place_as(OpLocks& l, DirState& d, const Entry& e, const std::string& real,
                               const MakeBacking& make, bool sync, bool* make_failed);
    // Runs a prepared job and counts what it wrote; the caller holds
    // neither alloc_ nor mu_.
    [[nodiscard]] int run_job(IndexJob& job);
    // A node for `name` in `parent` (a hard-linked inode if `link_id`),
    // with an st_ino no live node has; erase_node forgets both.
    fuse_ino_t new_node(fuse_ino_t parent, const std::string& name, std::uint64_t link_id);
    void erase_node(fuse_ino_t ino);
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
    std::shared_ptr<std::mutex> pool_mu_ = std::make_shared<std::mutex>();
    std::uint64_t max_link_id_ = 0;
    std::unordered_set<DirState*> dirty_;
    std::unordered_map<DirHandle*, std::unique_ptr<DirHandle>> dir_handles_;
    // Loaded directories other than the root and the pool whose fd is
    // open, most recently used first (dir_fd).
    std::list<DirState*> fd_lru_;
    std::unordered_map<DirState*, std::list<DirState*>::iterator> fd_lru_pos_;
    void fd_used(DirState* d);
    void fd_forget(DirState* d);
    // Index writes happen outside mu_, in several threads at once.
    std::atomic<std::uint64_t> index_writes_{0};
    std::atomic<std::uint64_t> index_bytes_{0};
    std::atomic<std::uint64_t> read_bytes_{0};
    std::condition_variable stop_cv_;
    bool stopping_ = false;
    std::thread flusher_;
    // The mover's work (under mu_): groups to move out of the pool, groups
    // whose names to search for, groups whose move failed (not retried).
    std::set<std::uint64_t> out_queue_, search_ids_, out_given_up_;
    // A group's file renamed out of the pool to its last name's backing
    // name while the syncs that must precede the entries saying so run
    // (unlink_last_but_one): where locate() finds it meanwhile. Never
    // written: the index says the file is in the pool until it is plain.
    std::unordered_map<std::uint64_t, std::pair<fuse_ino_t, std::string>> leaving_pool_;
    std::condition_variable mover_cv_;
    std::thread mover_;
    Passthrough passthrough_;
    // Last: its worker finishes (and stamps times) before the rest goes.
    WriteBehind write_behind_;
};

template <class F>
auto OpLocks::exclusive_io(F&& f) {
    Relock r(*this, true);
    std::unique_lock excl(fs_.alloc_);
    return f();
}

Fs& fs_of(fuse_req_t req);
const fuse_lowlevel_ops& pershome_ops();

}  // namespace pershome::fs
