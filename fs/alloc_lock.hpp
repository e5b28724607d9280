// The lock that keeps a namespace operation's directory syncs apart from
// every other write to the backing.
#pragma once

#include <condition_variable>
#include <mutex>

namespace pershome::fs {

// Keeps the ordered directory writes of a namespace operation apart from
// every other write to the backing. mkdir, a move into or out of the link
// pool, or a link syncs one directory right after changing it, because
// vfat keeps what makes the change whole (a new directory's own cluster,
// the other half of a rename) in buffers that reach the stick only with
// that sync, while a write of any entry in the same directory block (an
// index fsync, a renamed file's fsync) would carry the change's first
// half alone. Those syncs take this lock exclusive (exclusive_io);
// everything that writes the backing takes it shared: namespace
// operations, file writes, truncates, fsyncs, and index writes (which run
// without the directory's lock). Shared holders run side by side: vfat
// keeps one list of dirty FAT sectors, which only two fsyncs at once could
// lose (one finds the list taken by the other), and backing_fsync runs
// every fsync one at a time (dir_state.hpp). Exclusive waiters go first,
// so a stream of writes cannot starve a sync. Lookups, getattr and
// readdir never take it.
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

}  // namespace pershome::fs
