#include "daemon/bus_caller.hpp"

#include <fmt/core.h>

#include "common/bus_names.hpp"
#include "daemon/log.hpp"

namespace pershome {

void require_root(sdbus::IObject& object, const char* method) {
    const sdbus::Message* msg = object.getCurrentlyProcessedMessage();
    long uid = -1;
    try {
        if (msg) uid = static_cast<long>(msg->getCredsUid());
    } catch (const sdbus::Error&) {
        // Unknown caller: treated as not root.
    }
    if (uid == 0) return;
    log::warning("{} refused for uid {} (only root may call it)", method, uid);
    throw sdbus::Error(bus::kErrorPermissionDenied, fmt::format("only root may call {}", method));
}

}  // namespace pershome
