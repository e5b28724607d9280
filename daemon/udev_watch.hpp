// Block devices from udev, on the event loop: an enumeration at start, then
// the monitor's add/change/remove. Only devices udev has finished with are
// reported (the monitor listens to udev's own events, after its rules ran).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "daemon/stick.hpp"

struct udev;
struct udev_monitor;
struct udev_device;

namespace pershome {

class EventLoop;

class UdevWatch {
  public:
    enum class Action { Add, Change, Remove };
    using Handler = std::function<void(Action, const StickProps&)>;

    // Throws std::runtime_error when udev cannot be reached at all.
    UdevWatch(EventLoop& loop, Handler handler);
    ~UdevWatch();
    UdevWatch(const UdevWatch&) = delete;
    UdevWatch& operator=(const UdevWatch&) = delete;

    // Reports every block device present as Add, then watches.
    void start();

    // Whether udev still has events queued (a stick being probed).
    bool udev_busy() const;

  private:
    void receive();

    EventLoop& loop_;
    Handler handler_;
    struct udev* udev_ = nullptr;
    struct udev_monitor* monitor_ = nullptr;
    int fd_ = -1;
};

// The properties of DEV as the stick rule reads them.
StickProps stick_props(struct udev_device* dev);

}  // namespace pershome
