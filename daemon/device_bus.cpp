#include "daemon/device_bus.hpp"

#include "common/bus_names.hpp"
#include "daemon/bus_caller.hpp"
#include "daemon/log.hpp"

namespace pershome {

DeviceObject::DeviceObject(sdbus::IConnection& connection, const Device& device, Manager& manager)
    : AdaptorInterfaces(connection, device_object_path(device.name)),
      device_(device),
      manager_(manager) {
    registerAdaptor();
    emitInterfacesAddedSignal({bus::kDeviceInterface});
}

DeviceObject::~DeviceObject() {
    try {
        if (announce_removal_) emitInterfacesRemovedSignal({bus::kDeviceInterface});
    } catch (const sdbus::Error& e) {
        log::warning("cannot announce removal of device {}: {}", device_.name, e.what());
    }
    unregisterAdaptor();
}

std::string DeviceObject::Eject() {
    require_root(getObject(), "Eject");
    auto r = manager_.eject_device(device_.name);
    if (!r) throw sdbus::Error(r.error().name, r.error().message);
    return *r;
}

void DeviceObject::changed(const std::vector<std::string>& props) {
    try {
        emitPropertiesChangedSignal(bus::kDeviceInterface, props);
    } catch (const sdbus::Error& e) {
        log::warning("cannot announce change of device {}: {}", device_.name, e.what());
    }
}

}  // namespace pershome
