// The daemon's logic, free of D-Bus: open and close sessions, one operation at
// a time per user (users are independent), slow work on the worker pool,
// state written to the state dir after every change and recovered at start.
// The bus layer (manager_bus.*, session_bus.*) only translates.
#pragma once

#include <sys/types.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tl/expected.hpp>
#include <vector>

#include "common/unique_fd.hpp"
#include "daemon/op_error.hpp"
#include "daemon/session.hpp"

namespace pershome {

class EventLoop;
class WorkerPool;
class StateStore;

struct ManagerSettings {
    std::string default_skel = "/etc/skel";
    // Whether a PAM line's tmphome= root is among those the admin allows.
    std::function<bool(std::string_view)> tmphome_root_allowed;
};

struct OpenRequest {
    std::string user;
    std::optional<std::string> tmphome;
    std::optional<std::string> skel;
    mode_t umask = 077;
    std::string service;
    std::string tty;
};

struct OpenReply {
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
};

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

    const std::map<std::string, std::unique_ptr<Session>>& sessions() const { return sessions_; }

  private:
    using Next = std::function<void()>;
    using Op = std::function<void(Next)>;

    void enqueue(const std::string& user, Op op);
    void run_next(const std::string& user);

    void run_open(const OpenRequest& request, const OpenDone& done, Next next);
    void add_reference(Session& session, const OpenDone& done, std::string message);
    void watch_reference(const std::string& user, const Reference& ref);
    void release_reference(const std::string& user, const std::string& reference,
                           const CloseDone& done, Next next);
    void teardown(Session& session, const CloseDone& done, Next next);
    void save(const Session& session);

    ManagerSettings settings_;
    EventLoop& loop_;
    WorkerPool& workers_;
    StateStore& store_;
    ManagerListener* listener_ = nullptr;
    std::map<std::string, std::unique_ptr<Session>> sessions_;
    struct Queue {
        bool running = false;
        std::deque<Op> ops;
    };
    std::map<std::string, Queue> queues_;
};

}  // namespace pershome
