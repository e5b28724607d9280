// D-Bus binding of the Manager: /org/pershome1 with org.pershome1.Manager and
// the ObjectManager. Checks the caller, converts arguments and errors, and
// keeps one SessionObject per session. The logic is in manager.cpp.
#pragma once

#include <sdbus-c++/sdbus-c++.h>

#include <map>
#include <memory>
#include <string>

#include "daemon/device_bus.hpp"
#include "daemon/manager.hpp"
#include "daemon/session_bus.hpp"
#include "pershome1-adaptor.h"

namespace pershome {

class ManagerObject final
    : public sdbus::AdaptorInterfaces<org::pershome1::Manager_adaptor, sdbus::ObjectManager_adaptor,
                                      sdbus::Properties_adaptor>,
      public ManagerListener {
  public:
    ManagerObject(sdbus::IConnection& connection, Manager& manager);
    ~ManagerObject();

  private:
    // org.pershome1.Manager
    void OpenSession(sdbus::Result<sdbus::ObjectPath, std::string, std::string, std::string,
                                   sdbus::UnixFd, std::string>&& result,
                     std::string user, std::map<std::string, sdbus::Variant> options) override;
    void CloseSession(sdbus::Result<std::string>&& result, std::string user, std::string reference,
                      std::map<std::string, sdbus::Variant> options) override;
    sdbus::ObjectPath AttachDevice(const std::string& name, const std::string& backend,
                                   const std::string& source, const std::string& label) override;
    void DetachDevice(const std::string& name) override;
    void TerminateUser(sdbus::Result<std::string>&& result, std::string user) override;
    std::string Version() override;
    uint32_t SessionCount() override;

    // ManagerListener
    void session_added(const Session& session) override;
    void session_changed(const Session& session, const std::vector<std::string>& props) override;
    void session_removed(const Session& session) override;
    void device_added(const Device& device) override;
    void device_changed(const Device& device, const std::vector<std::string>& props) override;
    void device_removed(const Device& device) override;

    // Whether the unique bus name SENDER is still connected.
    bool still_connected(const std::string& sender);

    sdbus::IConnection& connection_;
    Manager& manager_;
    std::map<uid_t, std::unique_ptr<SessionObject>>
        objects_;  // by uid, as the Manager keys sessions
    std::map<std::string, std::unique_ptr<DeviceObject>> devices_;
    std::unique_ptr<sdbus::IProxy> bus_driver_;
};

}  // namespace pershome
