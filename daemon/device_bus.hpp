// D-Bus binding of one Device: /org/pershome1/device/<name>, read-only
// properties, announced with InterfacesAdded/Removed. Nothing but translation;
// strings from the stick are escaped here, since D-Bus takes only UTF-8.
#pragma once

#include <sdbus-c++/sdbus-c++.h>

#include <string>

#include "common/display_text.hpp"
#include "daemon/device.hpp"
#include "daemon/manager.hpp"
#include "pershome1-adaptor.h"

namespace pershome {

class DeviceObject final
    : public sdbus::AdaptorInterfaces<org::pershome1::Device_adaptor, sdbus::ManagedObject_adaptor,
                                      sdbus::Properties_adaptor> {
  public:
    DeviceObject(sdbus::IConnection& connection, const Device& device, Manager& manager);
    ~DeviceObject();

    void changed(const std::vector<std::string>& props);
    void detach_quietly() { announce_removal_ = false; }

  private:
    std::string DeviceNode() override { return display_text(device_.props.devnode); }
    std::string Label() override { return display_text(device_.props.label); }
    std::string UUID() override { return display_text(device_.props.uuid); }
    std::string FsType() override { return display_text(device_.props.fs_type); }
    uint64_t Size() override { return device_.props.size_bytes; }
    bool HasHome() override { return device_.has_home; }
    std::string State() override { return to_string(device_.state); }
    std::string User() override { return display_text(device_.user); }
    std::string MountPoint() override { return display_text(device_.mount_point); }
    std::string Error() override { return display_text(device_.error, 1024); }
    std::string LastUser() override { return display_text(device_.last_use.user); }
    std::string LastHost() override { return display_text(device_.last_use.host); }
    uint64_t LastUsed() override { return static_cast<uint64_t>(device_.last_use.time); }
    std::string Eject() override;

    const Device& device_;
    Manager& manager_;
    bool announce_removal_ = true;
};

}  // namespace pershome
