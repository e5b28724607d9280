// D-Bus binding of one Session: /org/pershome1/session/<user>, read-only
// properties, announced with InterfacesAdded/Removed. Nothing but translation.
#pragma once

#include <sdbus-c++/sdbus-c++.h>

#include <string>

#include "daemon/session.hpp"
#include "daemon/stick.hpp"
#include "pershome1-adaptor.h"

namespace pershome {

std::string session_object_path(const std::string& user);

class SessionObject final
    : public sdbus::AdaptorInterfaces<org::pershome1::Session_adaptor, sdbus::ManagedObject_adaptor,
                                      sdbus::Properties_adaptor> {
  public:
    SessionObject(sdbus::IConnection& connection, const Session& session);
    ~SessionObject();

    void changed(const std::vector<std::string>& props);
    // At daemon shutdown the session lives on: leave without announcing removal.
    void detach_quietly() { announce_removal_ = false; }

  private:
    std::string User() override { return session_.user; }
    uint32_t Uid() override { return session_.uid; }
    uint32_t Gid() override { return session_.gid; }
    std::string Mode() override { return session_.mode; }
    std::string Home() override { return session_.home; }
    std::string State() override { return to_string(session_.state); }
    uint32_t References() override { return static_cast<uint32_t>(session_.references.size()); }
    uint64_t OpenedUSec() override { return session_.opened_usec; }
    sdbus::ObjectPath Device() override {
        return sdbus::ObjectPath(session_.device.empty() ? "/"
                                                         : device_object_path(session_.device));
    }
    bool Degraded() override { return session_.degraded; }

    const Session& session_;
    bool announce_removal_ = true;
};

}  // namespace pershome
