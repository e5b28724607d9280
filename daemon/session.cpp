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

Session Session::from_record(const SessionRecord& r) {
    Session s;
    s.user = r.user;
    s.uid = r.uid;
    s.gid = r.gid;
    s.mode = r.mode;
    s.home = r.home;
    s.tmphome_root = r.tmphome_root;
    s.opened_usec = r.opened_usec;
    s.device = r.device;
    s.devnode = r.devnode;
    s.stick_dir = r.stick_dir;
    s.fs_pid = static_cast<pid_t>(r.fs_pid);
    s.made_mount_point = r.made_mount_point;
    s.degraded = r.degraded;
    s.state = r.state == "closing" ? SessionState::Closing : SessionState::Active;
    return s;
}

}  // namespace pershome
