// Sticks in the Manager: udev's reports become Devices, each probed once on a
// worker (is there a pershome/ folder, who used it last), and a stick pulled
// while it holds a home degrades that session.
#include <fmt/core.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "common/bus_names.hpp"
#include "common/display_text.hpp"
#include "common/path_escape.hpp"
#include "daemon/event_loop.hpp"
#include "daemon/log.hpp"
#include "daemon/manager_internal.hpp"
#include "daemon/state_store.hpp"
#include "daemon/stick_mount.hpp"
#include "daemon/worker_pool.hpp"

namespace pershome {

const char* to_string(DeviceState state) {
    switch (state) {
        case DeviceState::Idle:
            return "idle";
        case DeviceState::InUse:
            return "in-use";
        case DeviceState::SafeToRemove:
            return "safe-to-remove";
        case DeviceState::Gone:
            return "gone";
        case DeviceState::Failed:
            return "failed";
    }
    return "unknown";
}

std::string Device::display_name() const {
    const std::string node = props.devnode.empty() ? name : props.devnode;
    if (props.label.empty()) return node;
    return fmt::format("{} ({})", display_text(props.label, 64), node);
}

void Manager::device_event(DeviceAction action, const StickProps& props) {
    if (props.sysname.empty()) return;
    if (action == DeviceAction::Remove) {
        remove_device(props.sysname);
        return;
    }
    std::string why;
    const bool stick = is_stick(props, &why);
    auto it = devices_.find(props.sysname);
    if (!stick) {
        // A stick reformatted to something else, or marked PERSHOME_IGNORE.
        if (it != devices_.end() && it->second->state != DeviceState::InUse) {
            log::info("device {} is no longer a stick ({})", props.sysname, why);
            remove_device(props.sysname);
        }
        return;
    }
    if (it != devices_.end() && it->second->state != DeviceState::Gone) {
        Device& d = *it->second;
        const bool same = d.props.fs_type == props.fs_type && d.props.uuid == props.uuid &&
                          d.props.label == props.label && d.props.devnode == props.devnode;
        // Our own mount and unmount make udev report "change": nothing new.
        if (same) return;
        if (d.state == DeviceState::InUse) return;
        d.props = props;
        d.probed = false;
        if (listener_)
            listener_->device_changed(d, {"Label", "UUID", "FsType", "Size", "DeviceNode"});
        probe(d);
        return;
    }
    log::info("stick {} plugged: {} filesystem{}, {} ({})", props.devnode, props.fs_type,
              props.label.empty() ? "" : ", label " + display_text(props.label, 64),
              props.uuid.empty() ? "no UUID" : "UUID " + display_text(props.uuid, 64), why);
    add_device(props);
}

void Manager::add_device(const StickProps& props) {
    if (auto old = devices_.find(props.sysname); old != devices_.end()) {
        // Plugged again while its session from before the pull is still open.
        if (listener_) listener_->device_removed(*old->second);
        devices_.erase(old);
    }
    auto device = std::make_unique<Device>();
    device->name = props.sysname;
    device->props = props;
    adopt_session(*device);
    Device& d = *device;
    devices_[d.name] = std::move(device);
    if (listener_) listener_->device_added(d);
    if (!d.probed) probe(d);
}

void Manager::adopt_session(Device& device) {
    // After a restart of the daemon: a session of ours may be on it.
    for (const auto& [uid, s] : sessions_) {
        if (s->persistent() && s->device == device.name && !s->degraded &&
            s->state == SessionState::Active) {
            device.state = DeviceState::InUse;
            device.user = s->user;
            device.mount_point = s->stick_dir;
            device.has_home = true;
            device.probed = true;
        }
    }
}

void Manager::save_remote_devices() {
    std::vector<RemoteDeviceRecord> records;
    for (const auto& [name, d] : devices_)
        if (!d->backend.empty() && d->state != DeviceState::Gone)
            records.push_back({name, d->backend, d->source, d->props.label});
    try {
        store_.save_remote_devices(records);
    } catch (const std::exception& e) {
        // Only a restart of the daemon would forget them.
        log::error("cannot save the attached remote sticks: {}", e.what());
    }
}

void Manager::restore_remote_devices() {
    std::vector<std::string> warnings;
    for (const auto& r : store_.load_remote_devices(warnings)) {
        if (auto a = attach_device(r.name, r.backend, r.source, r.label); !a)
            log::warning("remote stick {} not attached again: {}", r.name, a.error().message);
    }
    for (const auto& w : warnings) log::warning("state: {}", w);
}

void Manager::remove_device(const std::string& name) {
    auto it = devices_.find(name);
    if (it == devices_.end()) return;
    Device& d = *it->second;
    if (d.state == DeviceState::InUse) {
        log::warning("stick {} pulled while in use by {}", d.props.devnode, d.user);
        set_device_state(d, DeviceState::Gone, d.user, d.mount_point);
        for (const auto& [uid, s] : sessions_) {
            if (s->persistent() && s->device == name && s->state == SessionState::Active) {
                stick_pulled(*s);
                break;
            }
        }
        return;
    }
    log::info("stick {} removed", d.props.devnode.empty() ? name : d.props.devnode);
    std::unique_ptr<Device> gone = std::move(it->second);
    devices_.erase(it);
    if (listener_) listener_->device_removed(*gone);
}

tl::expected<std::string, OpError> Manager::attach_device(const std::string& name,
                                                          const std::string& backend,
                                                          const std::string& source,
                                                          const std::string& label) {
    auto invalid = [](std::string m) {
        return tl::unexpected(OpError{bus::kErrorInvalidArgument, m});
    };
    const bool name_ok = !name.empty() && name.size() <= 64 &&
                         name.find_first_not_of(
                             "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                             "0123456789._-") == std::string::npos;
    if (!name_ok)
        return invalid("device name " + display_text(name, 64) +
                       " must be 1 to 64 of A-Z a-z 0-9 . _ -");
    if (!settings_.stick_backends.contains(backend))
        return invalid("no stick backend " + display_text(backend, 64) +
                       " in pershomed.json's stick_backends");
    if (source.empty() || source.find('\0') != std::string::npos)
        return invalid("the source of a remote stick must not be empty");
    if (devices_.contains(name)) return invalid("a device named " + name + " exists already");
    StickProps props;
    props.sysname = name;
    props.fs_type = "remote";
    props.label = label;
    auto device = std::make_unique<Device>();
    device->name = name;
    device->props = props;
    device->backend = backend;
    device->source = source;
    adopt_session(*device);
    Device& d = *device;
    devices_[name] = std::move(device);
    log::notice("remote stick {} attached: backend {}, source {}", name, backend,
                display_text(source));
    if (listener_) listener_->device_added(d);
    if (!d.probed) probe(d);
    save_remote_devices();
    return device_object_path(name);
}

tl::expected<std::string, OpError> Manager::eject_device(const std::string& name) {
    auto it = devices_.find(name);
    if (it == devices_.end())
        return tl::unexpected(
            OpError{bus::kErrorInvalidArgument, "no stick named " + display_text(name, 64)});
    Device& d = *it->second;
    if (d.state == DeviceState::InUse)
        return tl::unexpected(OpError{
            bus::kErrorBusy, fmt::format("the stick {} is in use by {}: end that session first "
                                         "(TerminateUser)",
                                         d.display_name(), d.user)});
    if (!d.probed)
        return tl::unexpected(OpError{
            bus::kErrorBusy,
            fmt::format("the stick {} is still being looked at; try again", d.display_name())});
    const std::string shown = d.display_name();
    if (!d.backend.empty()) {
        // After the answer: the device's bus object is the one answering.
        loop_.post([this, name] {
            remove_device(name);
            save_remote_devices();
        });
        log::notice("remote stick {} ejected", name);
        return fmt::format("The remote stick {} is detached.", shown);
    }
    // Nothing of a local stick stays mounted between uses: a probe mounts,
    // looks and unmounts at once.
    if (d.state != DeviceState::Gone) set_device_state(d, DeviceState::SafeToRemove, "", "");
    log::notice("stick {} ejected: nothing of it is mounted", d.props.devnode);
    return fmt::format("Nothing of the stick {} is mounted; it can be pulled out.", shown);
}

tl::expected<void, OpError> Manager::detach_device(const std::string& name) {
    auto it = devices_.find(name);
    if (it == devices_.end() || it->second->backend.empty())
        return tl::unexpected(
            OpError{bus::kErrorInvalidArgument, "no remote stick named " + display_text(name, 64)});
    remove_device(name);
    save_remote_devices();
    return {};
}

void Manager::probe(Device& device) {
    ++probing_;
    const std::string name = device.name;
    const std::string probe_dir = store_.dir() + "/sticks/probe-" + path_escape(name);
    auto result = std::make_shared<tl::expected<StickLook, std::string>>(
        tl::unexpected(std::string("internal error while probing")));
    std::vector<std::string> backend_argv;
    if (!device.backend.empty())
        backend_argv =
            backend_command(settings_.stick_backends.at(device.backend), device.source, probe_dir);
    auto job = [result, probe_dir, node = device.props.devnode, type = device.props.fs_type,
                backend_argv, timeout = settings_.mount_timeout] {
        if (::mkdir(probe_dir.c_str(), 0700) != 0 && errno != EEXIST) {
            *result = tl::unexpected(fmt::format("cannot make {}", probe_dir));
            return;
        }
        if (backend_argv.empty()) {
            *result = probe_stick(node, type, probe_dir);
        } else if (auto m = mount_backend(backend_argv, probe_dir, timeout); !m) {
            *result = tl::unexpected(m.error());
        } else {
            *result = look_at_stick(probe_dir);
            if (::umount2(probe_dir.c_str(), 0) != 0) ::umount2(probe_dir.c_str(), MNT_DETACH);
        }
        ::rmdir(probe_dir.c_str());
    };
    auto finish = [this, result, name] {
        --probing_;
        auto it = devices_.find(name);
        if (it == devices_.end()) return;
        Device& d = *it->second;
        // A login may have taken it meanwhile (it did its own look).
        if (d.state != DeviceState::Idle) return;
        d.probed = true;
        if (!*result) {
            d.error = result->error();
            log::warning("stick {} cannot be read: {}", d.props.devnode, d.error);
            set_device_state(d, DeviceState::Failed, "", "", d.error);
            return;
        }
        d.has_home = (*result)->has_home;
        d.last_use = (*result)->last_use;
        d.error = (*result)->note;
        log::info("stick {}: {}{}", d.props.devnode,
                  d.has_home ? "has a pershome folder" : "no pershome folder",
                  d.error.empty() ? "" : " (" + d.error + ")");
        if (listener_)
            listener_->device_changed(d, {"HasHome", "LastUser", "LastHost", "LastUsed", "Error"});
    };
    workers_.submit(std::move(job), std::move(finish));
}

void Manager::set_device_state(Device& device, DeviceState state, const std::string& user,
                               const std::string& mount_point, const std::string& error) {
    device.state = state;
    device.user = user;
    device.mount_point = mount_point;
    if (state == DeviceState::Failed) device.error = error;
    if (listener_) listener_->device_changed(device, {"State", "User", "MountPoint", "Error"});
}

}  // namespace pershome
