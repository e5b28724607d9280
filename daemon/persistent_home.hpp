// The privileged work of persistent homes, run on worker threads. Login:
// repair a stick pulled last time, mount it where only root reaches it, mount
// pershome-fs from <stick>/pershome on the home. Logout, in reverse: end the
// user's leftover processes, unmount pershome-fs and wait for its process
// (it writes its index after the unmount returns), sync and unmount the stick,
// remove only the mount points made here. Nothing on the stick is deleted.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <tl/expected.hpp>
#include <vector>

#include "daemon/device.hpp"
#include "daemon/op_error.hpp"
#include "daemon/user_db.hpp"

namespace pershome {

struct PersistentSpec {
    UserInfo user;
    std::string device;  // object name, for messages
    std::string devnode;
    std::string fs_type;
    std::string stick_dir;  // where to mount the raw stick (its parent exists, root only)
    std::string pershome_fs;
    // A remote stick: the backend's command, {source} and {mountpoint}
    // filled in. Empty for a local block device (mounted with mount(2)).
    std::vector<std::string> backend_argv;
    int flush_seconds = 5;
    std::chrono::seconds fsck_timeout{60};
    std::chrono::seconds mount_timeout{30};
    LastUse now;  // written to the stick as its new last use
    // The login's tmphome root when the home lies below it: a directory left
    // there (a temporary home of a crashed session) is removed before the
    // mount point is made, or it would hide under the mount and take the
    // user's writes after logout.
    std::string leftover_root;
};

struct PersistentMounted {
    pid_t fs_pid = 0;
    bool made_mount_point = false;
    bool repaired = false;  // the dirty bit was set and fsck repaired it
    LastUse previous;       // the stick's record before this login
};

[[nodiscard]] tl::expected<PersistentMounted, OpError> open_persistent(const PersistentSpec& spec);

// The pershome-fs command line; under systemd it runs in a transient scope
// of its own, logging to the journal as that scope (systemd-run --scope and
// systemd-cat, which both exec: the pid stays the same).
std::vector<std::string> pershome_fs_command(const PersistentSpec& spec, bool under_systemd);

struct PersistentTeardown {
    std::string user;
    uid_t uid = 0;
    std::string home;
    std::string stick_dir;
    pid_t fs_pid = 0;
    bool made_mount_point = false;
    std::chrono::seconds grace{5};
};

// Returns a note for the log (what was busy, what was forced), "" if none.
std::string close_persistent(const PersistentTeardown& t);

// After a pull: both mounts detached lazily, pershome-fs asked to stop.
std::string detach_pulled(const PersistentTeardown& t);

// A stick pulled while its home was being opened, before any session held
// it: detached as after a pull, and the mount points made for it removed.
std::string undo_pulled_open(const PersistentTeardown& t);

}  // namespace pershome
