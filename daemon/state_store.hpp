// What the daemon must remember across its own crash or restart: one JSON
// record per account with an open session, <state_dir>/sessions/<uid>.json,
// written atomically (temp file + fsync + rename), plus the reference FIFOs
// in <state_dir>/refs/. Records are read back as untrusted input: every field
// is checked before the daemon acts on it as root.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/unique_fd.hpp"

namespace pershome {

struct SessionRecord {
    std::string user;
    uid_t uid = 0;
    gid_t gid = 0;
    std::string mode;  // "tmphome" or "persistent"
    std::string home;
    std::string tmphome_root;
    std::string state;  // "active", "closing"
    uint64_t opened_usec = 0;
    std::vector<std::string> references;
    // Persistent homes: the stick and what was mounted, for teardown after a
    // restart of the daemon.
    std::string device;             // device object name ("sdb1")
    std::string devnode;            // "/dev/sdb1"
    std::string stick_dir;          // where the raw stick is mounted
    int64_t fs_pid = 0;             // the pershome-fs process
    bool made_mount_point = false;  // the home directory was created as a mount point
    bool degraded = false;          // the stick was pulled
};

// A remote stick (AttachDevice), kept across restarts of the daemon.
struct RemoteDeviceRecord {
    std::string name, backend, source, label;
};

class StateStore {
  public:
    // Creates the state dir (0755) and its subdirectories (0700) if missing.
    explicit StateStore(std::string state_dir);

    void save(const SessionRecord& record);
    void erase(uid_t uid);
    // Every readable, well-formed record. Others are reported in WARNINGS and
    // renamed to <name>.rejected for an admin to look at; records of older
    // versions, named after the user, are renamed to <uid>.json.
    std::vector<SessionRecord> load_all(std::vector<std::string>& warnings);
    // Sets a record aside (as load_all does with a malformed one).
    void reject(uid_t uid, const std::string& why, std::vector<std::string>& warnings);

    // All attached remote sticks, replaced as a whole.
    void save_remote_devices(const std::vector<RemoteDeviceRecord>& devices);
    std::vector<RemoteDeviceRecord> load_remote_devices(std::vector<std::string>& warnings) const;

    int refs_dirfd() const { return refs_fd_.get(); }
    const std::string& dir() const { return dir_; }

  private:
    std::optional<SessionRecord> load_one(const std::string& name,
                                          std::vector<std::string>& warnings);
    void set_aside(const std::string& name, const std::string& why,
                   std::vector<std::string>& warnings);
    static void write_atomically(int dirfd, const std::string& name, const std::string& text,
                                 const std::string& shown_dir);

    std::string dir_;
    UniqueFd top_fd_;
    UniqueFd sessions_fd_;
    UniqueFd refs_fd_;
};

}  // namespace pershome
