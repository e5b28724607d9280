// One user's open session: who, which kind of home, where, and the live
// references (logins) that keep it open. Owned by the Manager; the bus layer
// only reads it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>

#include "daemon/reference.hpp"
#include "daemon/state_store.hpp"

namespace pershome {

enum class SessionState { Active, Closing };

const char* to_string(SessionState state);

struct Session {
    std::string user;
    uid_t uid = 0;
    gid_t gid = 0;
    std::string mode;  // "tmphome" or "persistent"
    std::string home;
    std::string tmphome_root;
    // Persistent homes (see SessionRecord).
    std::string device;
    std::string devnode;
    std::string stick_dir;
    pid_t fs_pid = 0;
    bool made_mount_point = false;
    bool degraded = false;
    SessionState state = SessionState::Active;
    uint64_t opened_usec = 0;
    std::map<std::string, Reference> references;

    SessionRecord record() const;
    // References are not part of it: they are reopened one by one.
    static Session from_record(const SessionRecord& record);
    bool persistent() const { return mode == "persistent"; }
};

}  // namespace pershome
