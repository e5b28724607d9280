// The lock that keeps FAT cluster allocation on the backing apart from the
// index writes and namespace fsyncs that must not overlap it.
#pragma once

#include <condition_variable>
#include <mutex>

namespace pershome::fs {

// Shared: whatever may allocate or free FAT clusters on the backing
// (namespace operations, file writes, truncates, file fsyncs) and an index
// write that stays inside its file's clusters (an in-place slot or delta:
// it allocates nothing). Exclusive: an index write that grows or creates
// its file, the renamed-file and directory fsyncs of an index job, and the
// backing fsyncs of namespace operations (OpLocks::exclusive_io), whose
// order of directory writes no other write of the same directory may
// come between (vfat writes a whole directory block with an index's
// entry). backing_fsync runs every fsync one at a time, which is what
// keeps vfat's one list of dirty FAT sectors from being taken by two
// fsyncs at once (dir_state.hpp). Exclusive waiters go first, so a stream
// of writes cannot starve the write-back. Lookups, getattr and readdir
// never take it.
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
