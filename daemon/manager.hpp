// The daemon's logic, free of D-Bus: open and close sessions, one operation at
// a time per user (users are independent), slow work on the worker pool,
// state written to the state dir after every change and recovered at start.
// The bus layer (manager_bus.*, session_bus.*) only translates.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tl/expected.hpp>
#include <vector>

#include "common/unique_fd.hpp"
#include "config/home_options.hpp"
#include "daemon/device.hpp"
#include "daemon/op_error.hpp"
#include "daemon/session.hpp"
#include "daemon/user_db.hpp"

namespace pershome {

class EventLoop;
class WorkerPool;
class StateStore;
struct PersistentTeardown;
struct PersistentSpec;
struct PersistentMounted;

struct ManagerSettings {
    std::string default_skel = "/etc/skel";
    // Whether a PAM line's tmphome= root is among those the admin allows.
    std::function<bool(std::string_view)> tmphome_root_allowed;
    std::string persistent_homes = "/etc/ltsp/persistent_homes";
    std::string pershome_fs = "/usr/bin/pershome-fs";
    std::chrono::milliseconds stick_settle{3000};
    std::chrono::seconds fsck_timeout{60};
    std::chrono::seconds mount_timeout{30};
    std::chrono::seconds logout_grace{5};
    std::string hostname;  // for the stick's last-use record
    // Whether udev still has events queued; null: never.
    std::function<bool()> udev_busy;
    std::map<std::string, std::vector<std::string>> stick_backends;
    int max_references_per_user = 64;
    int max_references = 4096;
    // Tests only (PERSHOMED_TEST_SLOW_OPEN_MS): a temporary home is made
    // this much later, so that a login's timeout= can pass meanwhile.
    std::chrono::milliseconds test_slow_open{0};
};

struct OpenRequest {
    std::string user;
    std::optional<std::string> tmphome;
    std::optional<std::string> skel;
    mode_t umask = 077;
    std::string service;
    std::string tty;
    // How long the login waits for the answer (pam_pershome's timeout=):
    // a stick's repair and mount are cut to fit, so that the login gets a
    // sentence and its fallback rather than a timeout.
    std::optional<std::chrono::seconds> login_timeout;
    std::chrono::steady_clock::time_point received = std::chrono::steady_clock::now();
};

struct OpenReply {
    std::string user;  // the session's name: the passwd name of the first login
    std::string mode;
    std::string home;
    std::string reference;
    UniqueFd fifo;
    std::string message;
};

// Told about every change, so the bus layer can publish it.
class ManagerListener {
  public:
    virtual ~ManagerListener() = default;
    virtual void session_added(const Session& session) = 0;
    virtual void session_changed(const Session& session, const std::vector<std::string>& props) = 0;
    virtual void session_removed(const Session& session) = 0;
    virtual void device_added(const Device& device) = 0;
    virtual void device_changed(const Device& device, const std::vector<std::string>& props) = 0;
    virtual void device_removed(const Device& device) = 0;
};

// What udev reports, as the Manager takes it.
enum class DeviceAction { Add, Change, Remove };

class Manager {
  public:
    using OpenDone = std::function<void(tl::expected<OpenReply, OpError>)>;
    using CloseDone = std::function<void(tl::expected<std::string, OpError>)>;

    Manager(ManagerSettings settings, EventLoop& loop, WorkerPool& workers, StateStore& store);
    ~Manager();

    void set_listener(ManagerListener* listener) { listener_ = listener; }

    // Reads the state dir: sessions of a previous run come back with their
    // references; those whose logins ended meanwhile are torn down.
    void recover();

    void open_session(OpenRequest request, OpenDone done);
    void close_session(const std::string& user, const std::string& reference, CloseDone done);

    // A block device appeared, changed or went (udev). Sticks become Devices.
    void device_event(DeviceAction action, const StickProps& props);
    // Remote sticks (AttachDevice / DetachDevice). Returns the object path.
    [[nodiscard]] tl::expected<std::string, OpError> attach_device(const std::string& name,
                                                                   const std::string& backend,
                                                                   const std::string& source,
                                                                   const std::string& label);
    [[nodiscard]] tl::expected<void, OpError> detach_device(const std::string& name);
    // An admin's Eject: a sentence, or Busy while a home is on the stick.
    [[nodiscard]] tl::expected<std::string, OpError> eject_device(const std::string& name);
    // An admin's TerminateUser: the session named USER ends as at its last
    // logout; DONE gets the teardown's note once it is over.
    void terminate_user(const std::string& user, CloseDone done);

    // Keyed by uid: NSS may give one account several names (case-insensitive
    // directories, two passwd lines with one uid), and they share one home.
    const std::map<uid_t, std::unique_ptr<Session>>& sessions() const { return sessions_; }
    // No operation queued or running: nothing of this Manager is still
    // posted to the loop or out on a worker.
    bool idle() const { return queues_.empty() && probing_ == 0; }
    const std::map<std::string, std::unique_ptr<Device>>& devices() const { return devices_; }

  private:
    struct PendingLogin;
    using Next = std::function<void()>;
    using Op = std::function<void(Next)>;

    // One operation at a time per account: queues are keyed by uid.
    void enqueue(uid_t uid, Op op);
    void run_next(uid_t uid);

    void run_open(const OpenRequest& request, const UserInfo& user, const OpenDone& done,
                  Next next);
    std::optional<OpError> home_taken_by_other(const UserInfo& user) const;
    std::optional<OpError> reference_limit(uid_t uid) const;
    void open_tmphome(const OpenRequest& request, const UserInfo& user, const OpenDone& done,
                      Next next, std::string preface);
    void session_opened(std::unique_ptr<Session> session, const OpenDone& done, std::string message,
                        const std::string& how);

    // Persistent homes (manager_persistent.cpp).
    void find_stick(std::shared_ptr<PendingLogin> login);
    void mount_home(std::shared_ptr<PendingLogin> login, Device& device);
    void no_stick(std::shared_ptr<PendingLogin> login, const std::string& why);
    void teardown_persistent(Session& session, const CloseDone& done, Next next);
    PersistentTeardown teardown_of(const Session& session) const;
    void stick_pulled(Session& session);
    void pulled_while_opening(std::shared_ptr<PendingLogin> login, const std::string& name,
                              const PersistentSpec& spec, const PersistentMounted& m);
    bool sticks_settling() const;

    // Devices (manager_devices.cpp).
    void add_device(const StickProps& props);
    void adopt_session(Device& device);
    void save_remote_devices();
    void restore_remote_devices();
    void remove_device(const std::string& name);
    void probe(Device& device);
    void set_device_state(Device& device, DeviceState state, const std::string& user,
                          const std::string& mount_point, const std::string& error = "");
    void add_reference(Session& session, const OpenDone& done, std::string message);
    void watch_reference(uid_t uid, const std::string& user, const Reference& ref);
    void release_reference(uid_t uid, const std::string& reference, const CloseDone& done,
                           Next next);
    void teardown(Session& session, const CloseDone& done, Next next);
    void finish_teardown(uid_t uid, const std::string& message);
    void unwatch_references(const Session& session);
    void recover_session(SessionRecord& record);
    std::optional<std::string> record_not_allowed(const SessionRecord& record) const;
    void save(const Session& session);

    ManagerSettings settings_;
    EventLoop& loop_;
    WorkerPool& workers_;
    StateStore& store_;
    ManagerListener* listener_ = nullptr;
    std::map<uid_t, std::unique_ptr<Session>> sessions_;
    std::map<std::string, std::unique_ptr<Device>> devices_;
    int probing_ = 0;
    struct Queue {
        bool running = false;
        std::deque<Op> ops;
    };
    std::map<uid_t, Queue> queues_;
};

}  // namespace pershome
