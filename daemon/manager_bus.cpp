#include "daemon/manager_bus.hpp"

#include <fmt/core.h>

#include "common/bus_names.hpp"
#include "daemon/bus_caller.hpp"
#include "daemon/log.hpp"

#ifndef PERSHOME_VERSION
#define PERSHOME_VERSION "unknown"
#endif

namespace pershome {
namespace {

// Option values arrive as variants; a wrong type is the caller's bug and is
// named in the error.
template <typename T>
std::optional<T> option(const std::map<std::string, sdbus::Variant>& options, const char* key,
                        const char* type_name) {
    auto it = options.find(key);
    if (it == options.end()) return std::nullopt;
    if (!it->second.containsValueOfType<T>()) {
        throw sdbus::Error(bus::kErrorInvalidArgument,
                           fmt::format("option \"{}\" must be of type {}", key, type_name));
    }
    return it->second.get<T>();
}

// The answer of a method that replies one string once the Manager is done.
Manager::CloseDone string_reply(sdbus::Result<std::string>&& result, const char* method,
                                const std::string& user) {
    auto shared = std::make_shared<sdbus::Result<std::string>>(std::move(result));
    return [shared, method, user](tl::expected<std::string, OpError> r) {
        try {
            if (!r) {
                shared->returnError(sdbus::Error(r.error().name, r.error().message));
                return;
            }
            shared->returnResults(*r);
        } catch (const std::exception& e) {
            log::error("cannot send {} reply for {}: {}", method, display_text(user), e.what());
        }
    };
}

}  // namespace

ManagerObject::ManagerObject(sdbus::IConnection& connection, Manager& manager)
    : AdaptorInterfaces(connection, bus::kManagerPath), connection_(connection), manager_(manager) {
    registerAdaptor();
    manager_.set_listener(this);
}

ManagerObject::~ManagerObject() {
    manager_.set_listener(nullptr);
    for (auto& [user, object] : objects_) object->detach_quietly();
    objects_.clear();
    for (auto& [name, object] : devices_) object->detach_quietly();
    devices_.clear();
    unregisterAdaptor();
}

void ManagerObject::OpenSession(sdbus::Result<sdbus::ObjectPath, std::string, std::string,
                                              std::string, sdbus::UnixFd, std::string>&& result,
                                std::string user, std::map<std::string, sdbus::Variant> options) {
    require_root(getObject(), "OpenSession");
    if (user.empty()) throw sdbus::Error(bus::kErrorInvalidArgument, "empty user name");
    OpenRequest req;
    req.user = user;
    req.tmphome = option<std::string>(options, "tmphome", "string (s)");
    req.skel = option<std::string>(options, "skel", "string (s)");
    if (auto u = option<uint32_t>(options, "umask", "uint32 (u)")) {
        if (*u > 0777)
            throw sdbus::Error(bus::kErrorInvalidArgument, "option \"umask\" above 0777");
        req.umask = static_cast<mode_t>(*u);
    }
    if (auto t = option<uint32_t>(options, "timeout", "uint32 (u)"))
        req.login_timeout = std::chrono::seconds(*t);
    req.service = option<std::string>(options, "service", "string (s)").value_or("");
    req.tty = option<std::string>(options, "tty", "string (s)").value_or("");
    for (const auto& [key, value] : options) {
        if (key != "tmphome" && key != "skel" && key != "umask" && key != "timeout" &&
            key != "service" && key != "tty") {
            log::debug("OpenSession for {}: ignoring unknown option \"{}\"", user, key);
        }
    }
    log::info("OpenSession {} (service {}, tmphome {})", user, req.service,
              req.tmphome.value_or("-"));
    const sdbus::Message* msg = getObject().getCurrentlyProcessedMessage();
    std::string sender = msg ? msg->getSender() : "";
    auto shared = std::make_shared<std::remove_reference_t<decltype(result)>>(std::move(result));
    auto reply = [this, shared, user, sender](tl::expected<OpenReply, OpError> r) {
        try {
            if (!r) {
                shared->returnError(sdbus::Error(r.error().name, r.error().message));
                return;
            }
            // The login gave up (its timeout=) while the home was being made.
            // Its reference would only be released when the bus drops the
            // reply; the login, if optional, goes on meanwhile, and must not
            // find a home that is about to vanish. Released here, at once.
            if (!sender.empty() && !still_connected(sender)) {
                log::warning(
                    "{}: the login ({}) gave up waiting before its home {} was ready; its "
                    "reference {} is released",
                    r->user, sender, r->home, r->reference);
                manager_.close_session(r->user, r->reference,
                                       [](tl::expected<std::string, OpError>) {});
                return;
            }
            // UnixFd dups the fd for the message; ours closes with the reply.
            sdbus::UnixFd fd(r->fifo.get());
            shared->returnResults(sdbus::ObjectPath(session_object_path(r->user)), r->mode, r->home,
                                  r->reference, fd, r->message);
        } catch (const std::exception& e) {
            log::error("cannot send OpenSession reply for {}: {}", user, e.what());
        }
    };
    manager_.open_session(std::move(req), std::move(reply));
}

bool ManagerObject::still_connected(const std::string& sender) {
    try {
        if (!bus_driver_)
            bus_driver_ =
                sdbus::createProxy(connection_, "org.freedesktop.DBus", "/org/freedesktop/DBus");
        bool has = true;
        bus_driver_->callMethod("NameHasOwner")
            .onInterface("org.freedesktop.DBus")
            .withArguments(sender)
            .storeResultsTo(has);
        return has;
    } catch (const sdbus::Error& e) {
        // Unknown: answer as if it were there; the FIFO's hang-up still
        // releases a reference nobody took.
        log::warning("cannot ask the bus whether {} is still there: {}", sender, e.getMessage());
        return true;
    }
}

void ManagerObject::CloseSession(sdbus::Result<std::string>&& result, std::string user,
                                 std::string reference,
                                 std::map<std::string, sdbus::Variant> /*options*/) {
    require_root(getObject(), "CloseSession");
    log::info("CloseSession {} reference {}", user, reference);
    manager_.close_session(user, reference, string_reply(std::move(result), "CloseSession", user));
}

sdbus::ObjectPath ManagerObject::AttachDevice(const std::string& name, const std::string& backend,
                                              const std::string& source, const std::string& label) {
    require_root(getObject(), "AttachDevice");
    auto r = manager_.attach_device(name, backend, source, label);
    if (!r) throw sdbus::Error(r.error().name, r.error().message);
    return sdbus::ObjectPath(*r);
}

void ManagerObject::TerminateUser(sdbus::Result<std::string>&& result, std::string user) {
    require_root(getObject(), "TerminateUser");
    log::info("TerminateUser {}", display_text(user));
    manager_.terminate_user(user, string_reply(std::move(result), "TerminateUser", user));
}

void ManagerObject::DetachDevice(const std::string& name) {
    require_root(getObject(), "DetachDevice");
    auto r = manager_.detach_device(name);
    if (!r) throw sdbus::Error(r.error().name, r.error().message);
}

std::string ManagerObject::Version() {
    return PERSHOME_VERSION;
}

uint32_t ManagerObject::SessionCount() {
    return static_cast<uint32_t>(manager_.sessions().size());
}

void ManagerObject::session_added(const Session& session) {
    objects_[session.uid] = std::make_unique<SessionObject>(connection_, session);
    emitPropertiesChangedSignal(bus::kManagerInterface, {"SessionCount"});
}

void ManagerObject::session_changed(const Session& session, const std::vector<std::string>& props) {
    auto it = objects_.find(session.uid);
    if (it != objects_.end()) it->second->changed(props);
}

void ManagerObject::session_removed(const Session& session) {
    objects_.erase(session.uid);
    emitPropertiesChangedSignal(bus::kManagerInterface, {"SessionCount"});
}

void ManagerObject::device_added(const Device& device) {
    devices_[device.name] = std::make_unique<DeviceObject>(connection_, device, manager_);
}

void ManagerObject::device_changed(const Device& device, const std::vector<std::string>& props) {
    auto it = devices_.find(device.name);
    if (it != devices_.end()) it->second->changed(props);
}

void ManagerObject::device_removed(const Device& device) {
    devices_.erase(device.name);
}

}  // namespace pershome
