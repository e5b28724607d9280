#include "daemon/udev_watch.hpp"

#include <libudev.h>
#include <poll.h>
#include <sys/stat.h>

#include <cstring>
#include <stdexcept>

#include "daemon/event_loop.hpp"
#include "daemon/log.hpp"
#include "homework/errno_text.hpp"

namespace pershome {
namespace {

std::string prop(udev_device* dev, const char* key) {
    const char* v = udev_device_get_property_value(dev, key);
    return v ? v : "";
}

std::string attr(udev_device* dev, const char* key) {
    const char* v = udev_device_get_sysattr_value(dev, key);
    return v ? v : "";
}

struct DeviceRef {
    udev_device* dev;
    ~DeviceRef() {
        if (dev) udev_device_unref(dev);
    }
};

}  // namespace

StickProps stick_props(udev_device* dev) {
    StickProps p;
    if (const char* s = udev_device_get_syspath(dev)) p.syspath = s;
    if (const char* s = udev_device_get_sysname(dev)) p.sysname = s;
    if (const char* s = udev_device_get_devnode(dev)) p.devnode = s;
    if (const char* s = udev_device_get_devtype(dev)) p.devtype = s;
    p.fs_type = prop(dev, "ID_FS_TYPE");
    const std::string enc = prop(dev, "ID_FS_LABEL_ENC");
    p.label = enc.empty() ? prop(dev, "ID_FS_LABEL") : udev_decode(enc);
    p.uuid = prop(dev, "ID_FS_UUID");
    p.bus = prop(dev, "ID_BUS");
    p.force_stick = prop(dev, "PERSHOME_STICK") == "1";
    p.force_ignore = prop(dev, "PERSHOME_IGNORE") == "1";
    // "removable" lives on the whole disk; a partition asks its parent.
    udev_device* disk = p.devtype == "partition"
                            ? udev_device_get_parent_with_subsystem_devtype(dev, "block", "disk")
                            : dev;
    if (disk) p.removable = attr(disk, "removable") == "1";
    const std::string sectors = attr(dev, "size");
    if (!sectors.empty()) p.size_bytes = std::strtoull(sectors.c_str(), nullptr, 10) * 512u;
    return p;
}

UdevWatch::UdevWatch(EventLoop& loop, Handler handler) : loop_(loop), handler_(std::move(handler)) {
    udev_ = udev_new();
    if (!udev_) throw std::runtime_error("cannot talk to udev (udev_new failed)");
    monitor_ = udev_monitor_new_from_netlink(udev_, "udev");
    if (!monitor_) {
        udev_unref(udev_);
        throw std::runtime_error("cannot open a udev monitor");
    }
    udev_monitor_filter_add_match_subsystem_devtype(monitor_, "block", nullptr);
    // Sticks come in bursts (20 at once at a hub); the default buffer drops events.
    udev_monitor_set_receive_buffer_size(monitor_, 4 * 1024 * 1024);
}

UdevWatch::~UdevWatch() {
    if (fd_ >= 0) loop_.unwatch(fd_);
    udev_monitor_unref(monitor_);
    udev_unref(udev_);
}

void UdevWatch::start() {
    if (udev_monitor_enable_receiving(monitor_) < 0) {
        log::error("udev monitor cannot receive: {}; sticks plugged from now on are not seen",
                   homework::errno_text(errno));
    } else {
        fd_ = udev_monitor_get_fd(monitor_);
        loop_.watch(fd_, POLLIN, [this](short) { receive(); });
    }
    // After enabling the monitor: a stick plugged meanwhile is then seen twice
    // (as add and as present), never not at all.
    udev_enumerate* e = udev_enumerate_new(udev_);
    if (!e) return;
    udev_enumerate_add_match_subsystem(e, "block");
    udev_enumerate_scan_devices(e);
    udev_list_entry* entry;
    udev_list_entry_foreach(entry, udev_enumerate_get_list_entry(e)) {
        DeviceRef dev{udev_device_new_from_syspath(udev_, udev_list_entry_get_name(entry))};
        if (!dev.dev) continue;
        handler_(Action::Add, stick_props(dev.dev));
    }
    udev_enumerate_unref(e);
}

void UdevWatch::receive() {
    // Drain: one wake-up may carry many events.
    for (int i = 0; i < 256; ++i) {
        DeviceRef dev{udev_monitor_receive_device(monitor_)};
        if (!dev.dev) return;
        const char* a = udev_device_get_action(dev.dev);
        std::string action = a ? a : "";
        StickProps p = stick_props(dev.dev);
        if (action == "remove") {
            handler_(Action::Remove, p);
        } else if (action == "add") {
            handler_(Action::Add, p);
        } else if (action == "change") {
            handler_(Action::Change, p);
        }
    }
}

bool UdevWatch::udev_busy() const {
    // udevd keeps this file while its queue is not empty (what `udevadm settle` waits on).
    struct stat st {};
    return ::stat("/run/udev/queue", &st) == 0;
}

}  // namespace pershome
