// A session reference: a FIFO in the state dir whose write end the PAM module
// holds for the whole login. When every write end is closed (logout, or the
// login process crashed) the read end reports POLLHUP and the daemon releases
// the reference. Because the FIFO lives in the state dir, a restarted daemon
// reopens it and keeps counting (the idea of systemd-homed's ref FIFOs).
#pragma once

#include <string>
#include <tl/expected.hpp>
#include <utility>

#include "common/unique_fd.hpp"

namespace pershome {

class Reference {
  public:
    // Creates FIFO <refs_dir>/<id> and returns the reference plus the write end
    // to hand to the caller.
    [[nodiscard]] static tl::expected<std::pair<Reference, UniqueFd>, std::string> create(
        int refs_dirfd, std::string id);
    // After a daemon restart: reopen the read end of an existing FIFO. If no
    // writer is left, the read end reports POLLHUP at once.
    [[nodiscard]] static tl::expected<Reference, std::string> reopen(int refs_dirfd,
                                                                     std::string id);

    static std::string new_id();

    Reference(Reference&&) = default;
    Reference& operator=(Reference&&) = default;

    // Released for good: the FIFO is unlinked. Merely destroying a Reference
    // (daemon shutdown) keeps the FIFO for the next start.
    void remove();

    const std::string& id() const { return id_; }
    int fd() const { return read_end_.get(); }

  private:
    Reference(int refs_dirfd, std::string id, UniqueFd read_end)
        : refs_dirfd_(refs_dirfd), id_(std::move(id)), read_end_(std::move(read_end)) {}

    int refs_dirfd_ = -1;
    std::string id_;
    UniqueFd read_end_;
};

}  // namespace pershome
