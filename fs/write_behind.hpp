// Write-behind of large file writes: a WRITE whose data arrived in a pipe
// (spliced from /dev/fuse) is answered at once, and a worker thread splices
// the data on into the backing file. Without FUSE's writeback cache every
// write(2) waits for its request to be answered, so the writer's copy into
// the kernel and ours into the backing would run one after the other on a
// two-core terminal; with this they overlap. (The writeback cache would do
// the same, but then a write past FAT's 4 GiB - 1 would fail long after
// write(2) had returned, and EFBIG must come from write(2).)
//
// What the user can observe stays as without it:
//   - errors that depend on the request (EFBIG, a read-only mount) come
//     from write(2) itself; a write is taken only while the backing has
//     room for everything queued plus a margin, so a full stick still
//     answers ENOSPC from write(2);
//   - sizes: every attribute reply counts queued writes (pending_end);
//   - order: every operation that reads or changes a file's data or size,
//     or its times (read, setattr, fallocate, fsync, release, open with
//     O_TRUNC), first waits for that file's queued writes (drain);
//   - an error of a queued write (the stick gone: EIO) is answered once to
//     every handle open on the file when it failed, at its next write or
//     fsync; a handle closed without having seen it gets it logged.
//
// Locks: mu_ here is a leaf. drain()/drain_all() wait for the worker, which
// takes BackingAllocLock shared and then Fs::mu_ (to stamp mtime): so they
// must be called holding neither.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/unique_fd.hpp"

namespace pershome::fs {

class BackingAllocLock;

class WriteBehind {
  public:
    // `alloc` is held shared around each backing write (see
    // BackingAllocLock); `landed` runs after each write, with no lock held.
    WriteBehind(BackingAllocLock& alloc, std::function<void(fuse_ino_t)> landed);
    ~WriteBehind();  // writes out everything queued
    WriteBehind(const WriteBehind&) = delete;
    WriteBehind& operator=(const WriteBehind&) = delete;

    // Makes the pipes and starts the worker. Until then (and if it fails)
    // nothing is taken. Called after the daemon forked (fuse_daemonize):
    // a thread started before would not exist in the child.
    void start();

    // Free space the backing must keep beyond all queued writes for a
    // write to be taken.
    static constexpr std::uint64_t kFreeMargin = 64ull << 20;

    // Moves up to `size` bytes from the pipe `src` into a pipe of its own
    // and queues their write to `fd` at `off`. Returns how many it took
    // (0 when the backing lacks room, counting the zeros FAT writes into a
    // gap before `off`, or `size` is more than a pipe holds); the caller
    // writes the rest itself, after drain(ino). Waits while all its pipes
    // are queued.
    std::size_t submit(fuse_ino_t ino, int fd, int src, std::size_t size, off_t off);

    // Waits until the writes of `ino` queued before this call are on the
    // backing (later ones may still be queued).
    void drain(fuse_ino_t ino);
    void drain_all();

    // The end offset of the furthest queued write of `ino`, 0 if none.
    std::uint64_t pending_end(fuse_ino_t ino) const;

    // Errors of queued writes are reported as the kernel reports writeback
    // errors: to every handle that was open when the write failed, once
    // (check, at its next write or fsync), else when it closes.
    void opened(int fd, fuse_ino_t ino);
    [[nodiscard]] int check(int fd);   // the error this handle has not seen, 0 if none
    [[nodiscard]] int closed(int fd);  // the same, and the handle is forgotten
    // Handles still open at unmount with an error they never saw.
    std::vector<std::pair<fuse_ino_t, int>> unseen_errors();

  private:
    struct Pipe {
        UniqueFd r, w;
    };
    struct Item {
        fuse_ino_t ino;
        int fd;
        off_t off;
        std::size_t size;
        std::size_t pipe;
        std::uint64_t seq;
    };
    struct InoState {
        unsigned queued = 0;
        std::uint64_t end = 0;       // furthest queued byte
        std::uint64_t last_seq = 0;  // newest queued item
    };
    struct ErrState {
        int err = 0;
        std::uint64_t seq = 0;  // bumped by each failed write
    };
    struct Handle {
        fuse_ino_t ino;
        std::uint64_t seen;  // ErrState::seq when last reported
    };

    void run();
    [[nodiscard]] int write_out(const Item& it);
    bool make_pipe(Pipe& p) const;
    static void empty_pipe(Pipe& p);
    [[nodiscard]] int take_unseen(Handle& h);  // mu_ held

    BackingAllocLock& alloc_;
    std::function<void(fuse_ino_t)> landed_;
    bool started_ = false;  // pipes made, worker running

    mutable std::mutex mu_;
    std::condition_variable cv_;  // queued, landed, pipe freed, stop
    std::vector<Pipe> pipes_;
    std::vector<std::size_t> free_pipes_;
    std::deque<Item> queue_;
    std::unordered_map<fuse_ino_t, InoState> inos_;
    std::unordered_map<fuse_ino_t, ErrState> errors_;
    std::unordered_map<int, Handle> handles_;
    std::uint64_t queued_bytes_ = 0;
    std::uint64_t next_seq_ = 1;
    std::uint64_t done_seq_ = 0;  // items land in order: all up to here are done
    bool stop_ = false;
    std::thread worker_;
};

}  // namespace pershome::fs
