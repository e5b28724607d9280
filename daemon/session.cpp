#include "daemon/session.hpp"

namespace pershome {

const char* to_string(SessionState state) {
    switch (state) {
        case SessionState::Active:
            return "active";
        case SessionState::Closing:
            return "closing";
    }
    return "unknown";
}

SessionRecord Session::record() const {
    SessionRecord r;
    r.user = user;
    r.uid = uid;
    r.gid = gid;
    r.mode = mode;
    r.home = home;
    r.tmphome_root = tmphome_root;
    r.state = to_string(state);
    r.opened_usec = opened_usec;
    for (const auto& [id, ref] : references) r.references.push_back(id);
    r.device = device;
    r.devnode = devnode;
    r.stick_dir = stick_dir;
    r.fs_pid = fs_pid;
    r.made_mount_point = made_mount_point;
    r.degraded = degraded;
    return r;
}

}  // namespace pershome
