#include "daemon/session_bus.hpp"

#include "common/bus_names.hpp"
#include "common/path_escape.hpp"
#include "daemon/log.hpp"

namespace pershome {

std::string session_object_path(const std::string& user) {
    return std::string(bus::kSessionPathPrefix) + "/" + path_escape(user);
}

SessionObject::SessionObject(sdbus::IConnection& connection, const Session& session)
    : AdaptorInterfaces(connection, session_object_path(session.user)), session_(session) {
    registerAdaptor();
    emitInterfacesAddedSignal({bus::kSessionInterface});
}

SessionObject::~SessionObject() {
    try {
        if (announce_removal_) emitInterfacesRemovedSignal({bus::kSessionInterface});
    } catch (const sdbus::Error& e) {
        log::warning("cannot announce removal of session {}: {}", session_.user, e.what());
    }
    unregisterAdaptor();
}

void SessionObject::changed(const std::vector<std::string>& props) {
    try {
        emitPropertiesChangedSignal(bus::kSessionInterface, props);
    } catch (const sdbus::Error& e) {
        log::warning("cannot announce change of session {}: {}", session_.user, e.what());
    }
}

}  // namespace pershome
