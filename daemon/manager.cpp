#include "daemon/manager.hpp"

#include <time.h>

#include <algorithm>
#include <thread>

#include <fmt/core.h>

#include "common/bus_names.hpp"
#include "common/display_text.hpp"
#include "daemon/command.hpp"
#include "daemon/event_loop.hpp"
#include "daemon/log.hpp"
#include "daemon/login_decision.hpp"
#include "daemon/manager_internal.hpp"
#include "daemon/state_store.hpp"
#include "daemon/tmphome.hpp"
#include "daemon/user_db.hpp"
#include "daemon/worker_pool.hpp"
#include "homework/home_path.hpp"

namespace pershome {
namespace {

// Of a login's timeout=, what the answer needs to get back to it in time.
constexpr std::chrono::seconds kAnswerMargin{2};

// Said at every login into a temporary home: on a shared terminal the user
// must know that nothing saved there survives the logout.
std::string temporary_home_notice(const std::string& home) {
    return fmt::format("Your home {} is temporary: everything in it is deleted when you log out.",
                       home);
}

// A tmphome that was the fallback of a missing stick: the user still learns
// why there is no persistent home, also when no tmphome applies to them.
OpError after_no_stick(OpError e, const std::string& preface) {
    if (preface.empty()) return e;
    if (e.name == bus::kErrorNotApplicable)
        return OpError{bus::kErrorNoStick, preface + " Your usual home directory is used instead."};
    e.message = preface + " " + e.message;
    return e;
}

// What the worker found out and did for an open.
struct Prepared {
    UserInfo user;
    std::string root;
    std::string note;
};

}  // namespace

Manager::Manager(ManagerSettings settings, EventLoop& loop, WorkerPool& workers, StateStore& store)
    : settings_(std::move(settings)), loop_(loop), workers_(workers), store_(store) {}

Manager::~Manager() {
    // Shutdown keeps everything on disk for the next start: unwatch only.
    for (const auto& [uid, session] : sessions_) unwatch_references(*session);
}

void Manager::unwatch_references(const Session& session) {
    for (const auto& [id, ref] : session.references) loop_.unwatch(ref.fd());
}

void Manager::enqueue(uid_t uid, Op op) {
    auto& q = queues_[uid];
    q.ops.push_back(std::move(op));
    if (!q.running) run_next(uid);
}

void Manager::run_next(uid_t uid) {
    auto it = queues_.find(uid);
    if (it == queues_.end()) return;
    if (it->second.ops.empty()) {
        queues_.erase(it);
        return;
    }
    Op op = std::move(it->second.ops.front());
    it->second.ops.pop_front();
    it->second.running = true;
    op([this, uid] {
        // Through the loop, so a long queue of quick operations never nests.
        loop_.post([this, uid] {
            auto q = queues_.find(uid);
            if (q != queues_.end()) q->second.running = false;
            run_next(uid);
        });
    });
}

void Manager::save(const Session& session) {
    try {
        store_.save(session.record());
    } catch (const std::exception& e) {
        // The session still works; only a daemon crash now would forget it.
        log::error("cannot save state of {}: {}", session.user, e.what());
    }
}

void Manager::open_session(OpenRequest request, OpenDone done) {
    // One NSS lookup names the account; from here on it is its uid, so that
    // two names of one account queue behind each other and share one home.
    auto found = std::make_shared<tl::expected<UserInfo, std::string>>(
        tl::unexpected(std::string("internal error while looking up the user")));
    auto job = [found, name = request.user] { *found = lookup_user(name); };
    auto finish = [this, found, request = std::move(request), done = std::move(done)] {
        if (!*found) {
            log::event(log::Level::Error,
                       {.operation = "refuse", .user = request.user, .error = found->error()},
                       "{}: session not opened: {}", display_text(request.user), found->error());
            done(tl::unexpected(OpError{bus::kErrorNoSuchUser, found->error()}));
            return;
        }
        const UserInfo user = **found;
        enqueue(user.uid, [this, request, user, done](Next next) {
            run_open(request, user, done, std::move(next));
        });
    };
    workers_.submit(std::move(job), std::move(finish));
}

// Another account (another uid) with this name or this home has an open
// session: its home must be neither joined nor wiped by this login.
std::optional<OpError> Manager::home_taken_by_other(const UserInfo& user) const {
    for (const auto& [uid, s] : sessions_) {
        if (uid == user.uid) continue;
        if (s->home == user.home || s->user == user.name) {
            return OpError{bus::kErrorHomeUnsafe,
                           fmt::format("the home {} is in use by another account ({}, uid {})",
                                       s->home, s->user, uid)};
        }
    }
    return std::nullopt;
}

void Manager::run_open(const OpenRequest& request, const UserInfo& user, const OpenDone& done,
                       Next next) {
    if (auto limit = reference_limit(user.uid)) {
        log::event(log::Level::Warning,
                   {.operation = "refuse",
                    .user = user.name,
                    .uid = user.uid,
                    .home = user.home,
                    .error = limit->message},
                   "{}: session not opened: {}", user.name, limit->message);
        done(tl::unexpected(*limit));
        next();
        return;
    }
    if (auto taken = home_taken_by_other(user)) {
        log::event(log::Level::Error,
                   {.operation = "refuse",
                    .user = user.name,
                    .uid = user.uid,
                    .home = user.home,
                    .error = taken->message},
                   "{} (uid {}): session not opened: {}", user.name, user.uid, taken->message);
        done(tl::unexpected(*taken));
        next();
        return;
    }
    auto it = sessions_.find(user.uid);
    if (it != sessions_.end() && it->second->state == SessionState::Active) {
        Session& s = *it->second;
        log::info("{}: another session ({}{}{}{}) joins the open home {}", s.user,
                  request.user == s.user ? "" : "as " + display_text(request.user) + ", ",
                  request.service, request.tty.empty() ? "" : " on ", request.tty, s.home);
        std::string message = temporary_home_notice(s.home);
        if (s.persistent()) {
            auto d = devices_.find(s.device);
            message = s.degraded
                          ? "Your stick was pulled out during an earlier session; your home "
                            "is not available until you log out everywhere."
                          : fmt::format("Your home is on the stick {}.",
                                        d == devices_.end() ? s.device : d->second->display_name());
        }
        add_reference(s, done, message);
        next();
        return;
    }
    // Who gets which home: NSS and the admin's and the user's files, on a worker.
    auto result = std::make_shared<std::optional<LoginDecision>>();
    auto job = [result, user, path = settings_.persistent_homes] {
        *result = decide_login(user, path);
    };
    auto finish = [this, result, request, user, done, next] {
        if (!*result) {
            log::error("{}: session not opened: internal error while deciding the home", user.name);
            done(tl::unexpected(
                OpError{bus::kErrorFailed, "internal error while deciding the home"}));
            next();
            return;
        }
        LoginDecision& d = **result;
        for (const auto& w : d.warnings) log::warning("{}: {}", d.user.name, w);
        if (!d.home.persistent) {
            log::debug("{}: no persistent home ({})", d.user.name, d.home.reason);
            open_tmphome(request, user, done, next, "");
            return;
        }
        log::info("{}: persistent home wanted ({}; {})", d.user.name, d.home.reason,
                  d.home.options.str());
        auto login = std::make_shared<PendingLogin>();
        login->request = request;
        login->done = done;
        login->next = next;
        login->user = d.user;
        login->options = d.home.options;
        login->settle_deadline = std::chrono::steady_clock::now() + settings_.stick_settle;
        if (request.login_timeout)
            login->login_deadline = request.received + *request.login_timeout - kAnswerMargin;
        find_stick(std::move(login));
    };
    workers_.submit(std::move(job), std::move(finish));
}

void Manager::open_tmphome(const OpenRequest& request, const UserInfo& user_info,
                           const OpenDone& done, Next next, std::string preface) {
    auto fail = [&](OpError e) {
        done(tl::unexpected(after_no_stick(std::move(e), preface)));
        next();
    };
    if (!request.tmphome) {
        fail(OpError{bus::kErrorNotApplicable,
                     "no tmphome root given and no persistent home configured"});
        return;
    }
    // Whether the root is this user's at all comes first: a user whose home
    // lies elsewhere must not be refused for a root that is not theirs. (A
    // relative root goes on to be refused for everyone below.)
    if (request.tmphome->starts_with('/') &&
        !homework::relative_below(*request.tmphome, user_info.home)) {
        std::string msg = fmt::format("home {} of {} is not below tmphome root {}", user_info.home,
                                      user_info.name, *request.tmphome);
        log::debug("{}: nothing to do: {}", user_info.name, msg);
        fail(OpError{bus::kErrorNotApplicable, std::move(msg)});
        return;
    }
    if (settings_.tmphome_root_allowed && !settings_.tmphome_root_allowed(*request.tmphome)) {
        std::string msg = fmt::format(
            "tmphome root {} is not among the daemon's configured tmphome_roots", *request.tmphome);
        log::event(
            log::Level::Error,
            {.operation = "refuse", .user = user_info.name, .uid = user_info.uid, .error = msg},
            "{}: {}", user_info.name, msg);
        fail(OpError{bus::kErrorBadTmphomeRoot, msg});
        return;
    }

    // Failed until the job says otherwise: a job that throws must not pass
    // for a success.
    auto result = std::make_shared<tl::expected<Prepared, OpError>>(
        tl::unexpected(OpError{bus::kErrorFailed, "internal error while preparing the home"}));
    const std::string skel = request.skel.value_or(settings_.default_skel);
    auto job = [result, request, user = user_info, skel, slow = settings_.test_slow_open] {
        auto root = check_tmphome_applies(user, *request.tmphome);
        if (!root) {
            *result = tl::unexpected(root.error());
            return;
        }
        TmphomeSpec spec{user, *root, skel, request.umask};
        auto created = create_tmphome(spec);
        if (!created) {
            *result = tl::unexpected(created.error());
            return;
        }
        if (slow.count() > 0) std::this_thread::sleep_for(slow);
        *result = Prepared{user, *root, *created};
    };
    auto finish = [this, result, request, user_info, done, next, preface] {
        const std::string& name = user_info.name;
        if (!*result) {
            OpError e = result->error();
            if (e.name == bus::kErrorNotApplicable) {
                log::debug("{}: nothing to do: {}", name, e.message);
            } else {
                log::event(log::Level::Error,
                           {.operation = "refuse",
                            .user = name,
                            .uid = user_info.uid,
                            .home = user_info.home,
                            .error = e.message},
                           "{}: session not opened: {} ({})", name, e.message, e.name);
            }
            done(tl::unexpected(after_no_stick(std::move(e), preface)));
            next();
            return;
        }
        Prepared& p = **result;
        if (!p.note.empty()) log::warning("{}: {}", name, p.note);
        auto session = std::make_unique<Session>();
        session->user = p.user.name;
        session->uid = p.user.uid;
        session->gid = p.user.gid;
        session->mode = "tmphome";
        session->home = p.user.home;
        session->tmphome_root = p.root;
        session->opened_usec = now_usec();
        std::string message = temporary_home_notice(p.user.home);
        if (!preface.empty()) message = preface + " " + message;
        session_opened(
            std::move(session), done, message,
            fmt::format("temporary home {} created ({}{}{})", p.user.home, request.service,
                        request.tty.empty() ? "" : " on ", request.tty));
        next();
    };
    workers_.submit(std::move(job), std::move(finish));
}

void Manager::session_opened(std::unique_ptr<Session> session, const OpenDone& done,
                             std::string message, const std::string& how) {
    Session& s = *session;
    auto& slot = sessions_[s.uid];
    // The queue ends a session before another of this uid opens; should one
    // still be here, its fds must leave the loop before they close.
    if (slot) unwatch_references(*slot);
    slot = std::move(session);
    log::event(log::Level::Notice,
               {.operation = s.persistent() ? "mount" : "create",
                .user = s.user,
                .uid = s.uid,
                .home = s.home,
                .device = s.device},
               "{}: {}", s.user, how);
    save(s);
    if (listener_) listener_->session_added(s);
    add_reference(s, done, std::move(message));
}

// One account's logins, or all of them, past their limit: one fd each in
// the daemon, which every other login and logout needs too.
std::optional<OpError> Manager::reference_limit(uid_t uid) const {
    size_t all = 0;
    for (const auto& [id, s] : sessions_) all += s->references.size();
    auto it = sessions_.find(uid);
    const size_t mine = it == sessions_.end() ? 0 : it->second->references.size();
    if (mine >= static_cast<size_t>(settings_.max_references_per_user)) {
        return OpError{bus::kErrorFailed,
                       fmt::format("You have {} sessions open already; log out of one of them "
                                   "first.",
                                   mine)};
    }
    if (all >= static_cast<size_t>(settings_.max_references)) {
        return OpError{bus::kErrorFailed,
                       fmt::format("This computer has {} sessions open, as many as pershomed "
                                   "allows (max_references); try again later.",
                                   all)};
    }
    return std::nullopt;
}

void Manager::add_reference(Session& session, const OpenDone& done, std::string message) {
    std::string id = Reference::new_id();
    auto created = Reference::create(store_.refs_dirfd(), id);
    if (!created) {
        log::error("{}: cannot create session reference: {}", session.user, created.error());
        done(tl::unexpected(OpError{bus::kErrorFailed, "internal error: " + created.error()}));
        return;
    }
    auto& [ref, write_end] = *created;
    watch_reference(session.uid, session.user, ref);
    session.references.emplace(id, std::move(ref));
    save(session);
    if (listener_) listener_->session_changed(session, {"References"});
    OpenReply reply;
    reply.user = session.user;
    reply.mode = session.mode;
    reply.home = session.home;
    reply.reference = id;
    reply.fifo = std::move(write_end);
    reply.message = std::move(message);
    log::info("{}: reference {} taken ({} open)", session.user, id, session.references.size());
    done(std::move(reply));
}

void Manager::watch_reference(uid_t uid, const std::string& user, const Reference& ref) {
    const int fd = ref.fd();
    const std::string id = ref.id();
    loop_.watch(fd, POLLIN, [this, fd, uid, user, id](short revents) {
        if (revents & POLLIN) {
            // Nobody should write to it; drain so it cannot spin us.
            char buf[256];
            while (::read(fd, buf, sizeof buf) > 0) {
            }
        }
        if (!(revents & (POLLHUP | POLLERR | POLLNVAL))) return;
        loop_.unwatch(fd);
        if (revents & POLLNVAL) {
            // A bug of ours: the fd was closed while watched.
            log::error("{}: reference {} lost its fd; released", user, id);
        } else {
            log::info("{}: reference {} closed by its holder (logout or crash)", user, id);
        }
        enqueue(uid, [this, uid, id](Next next) {
            release_reference(uid, id, CloseDone(), std::move(next));
        });
    });
}

void Manager::close_session(const std::string& user, const std::string& reference, CloseDone done) {
    // The reference names the session; USER is the name the login used,
    // which may be another name of the same account.
    for (const auto& [uid, s] : sessions_) {
        if (!s->references.contains(reference)) continue;
        if (s->user != user)
            log::info("{}: reference {} closed as {}", s->user, reference, display_text(user));
        enqueue(uid, [this, uid, reference, done = std::move(done)](Next next) {
            release_reference(uid, reference, done, std::move(next));
        });
        return;
    }
    // Normal when the FIFO hangup already released it (the PAM module
    // closes its fd after CloseSession, or the login crashed first).
    done(tl::unexpected(OpError{bus::kErrorNoSuchSession,
                                fmt::format("no open session reference {} for user {}",
                                            display_text(reference), display_text(user))}));
}

void Manager::terminate_user(const std::string& user, CloseDone done) {
    for (const auto& [uid, s] : sessions_) {
        if (s->user != user) continue;
        log::event(log::Level::Notice,
                   {.operation = "terminate", .user = s->user, .uid = uid, .home = s->home},
                   "{}: session ended by an admin ({} login(s) still open)", s->user,
                   s->references.size());
        enqueue(uid, [this, uid, done = std::move(done)](Next next) {
            auto it = sessions_.find(uid);
            if (it == sessions_.end() || it->second->state != SessionState::Active) {
                // Its last logout came first and tears it down already.
                done(std::string("the session was closing already"));
                next();
                return;
            }
            Session& session = *it->second;
            for (auto& [id, ref] : session.references) {
                loop_.unwatch(ref.fd());
                ref.remove();
            }
            session.references.clear();
            teardown(session, done, std::move(next));
        });
        return;
    }
    done(tl::unexpected(
        OpError{bus::kErrorNoSuchSession, "no session of " + display_text(user, 64)}));
}

void Manager::release_reference(uid_t uid, const std::string& reference, const CloseDone& done,
                                Next next) {
    auto it = sessions_.find(uid);
    Session* session = it == sessions_.end() ? nullptr : it->second.get();
    if (!session || !session->references.contains(reference)) {
        if (done) {
            done(tl::unexpected(
                OpError{bus::kErrorNoSuchSession,
                        fmt::format("no open session reference {} for uid {}", reference, uid)}));
        }
        next();
        return;
    }
    const std::string& user = session->user;
    auto ref = session->references.find(reference);
    loop_.unwatch(ref->second.fd());
    ref->second.remove();
    session->references.erase(ref);
    log::info("{}: reference {} released ({} left)", user, reference, session->references.size());
    if (!session->references.empty()) {
        save(*session);
        if (listener_) listener_->session_changed(*session, {"References"});
        if (done) done(std::string());
        next();
        return;
    }
    // The logout does not wait for the removal (a display manager shows its
    // greeter only after close_session returns, so the next user would
    // wait). A new login of the same user waits in the queue instead.
    if (done) done(std::string());
    teardown(*session, CloseDone(), std::move(next));
}

void Manager::teardown(Session& session, const CloseDone& done, Next next) {
    session.state = SessionState::Closing;
    save(session);
    if (listener_) listener_->session_changed(session, {"References", "State"});
    if (session.persistent()) {
        teardown_persistent(session, done, std::move(next));
        return;
    }
    auto result = std::make_shared<tl::expected<std::string, OpError>>(
        tl::unexpected(OpError{bus::kErrorFailed, "internal error while removing the home"}));
    auto job = [result, root = session.tmphome_root, home = session.home, uid = session.uid] {
        *result = remove_tmphome(root, home, uid);
    };
    auto finish = [this, result, uid = session.uid, user = session.user, home = session.home, done,
                   next] {
        std::string message;
        log::Event event{.operation = "remove", .user = user, .uid = uid, .home = home};
        if (!*result) {
            message = result->error().message;
            event.error = message;
            log::event(log::Level::Error, event, "{}: temporary home {} not removed: {}", user,
                       home, message);
        } else if (!result->value().empty()) {
            message = result->value();
            event.error = message;
            log::event(log::Level::Warning, event, "{}: {}", user, message);
        } else {
            log::event(log::Level::Notice, event, "{}: temporary home {} removed", user, home);
        }
        finish_teardown(uid, message);
        if (done) done(message);
        next();
    };
    workers_.submit(std::move(job), std::move(finish));
}

void Manager::finish_teardown(uid_t uid, const std::string& /*message*/) {
    try {
        store_.erase(uid);
    } catch (const std::exception& e) {
        log::error("cannot erase state of uid {}: {}", uid, e.what());
    }
    auto it = sessions_.find(uid);
    if (it != sessions_.end()) {
        unwatch_references(*it->second);
        // Out of the map first, so the bus layer counts what is left.
        std::unique_ptr<Session> gone = std::move(it->second);
        sessions_.erase(it);
        if (listener_) listener_->session_removed(*gone);
    }
}

void Manager::recover() {
    std::vector<std::string> warnings;
    auto records = store_.load_all(warnings);
    for (const auto& w : warnings) log::warning("state: {}", w);
    for (auto& r : records) recover_session(r);
    // After the sessions: a remote stick that holds one is in use again.
    restore_remote_devices();
}

// What only the Manager can judge of a record the store found well-formed:
// whether its paths are still among what this daemon's settings allow.
std::optional<std::string> Manager::record_not_allowed(const SessionRecord& r) const {
    if (sessions_.contains(r.uid)) return "a second record for this uid";
    if (r.mode == "tmphome" && settings_.tmphome_root_allowed &&
        !settings_.tmphome_root_allowed(r.tmphome_root))
        return fmt::format("its tmphome root {} is not among the configured tmphome_roots",
                           r.tmphome_root);
    const std::string sticks = store_.dir() + "/sticks/";
    if (r.mode == "persistent" && (r.stick_dir.compare(0, sticks.size(), sticks) != 0 ||
                                   r.stick_dir.find('/', sticks.size()) != std::string::npos))
        return fmt::format("its stick dir {} is not directly below {}", r.stick_dir, sticks);
    return std::nullopt;
}

void Manager::recover_session(SessionRecord& r) {
    if (auto why = record_not_allowed(r)) {
        std::vector<std::string> warnings;
        store_.reject(r.uid, *why + "; nothing of it is touched", warnings);
        for (const auto& w : warnings)
            log::event(log::Level::Error,
                       {.operation = "reject",
                        .user = r.user,
                        .uid = r.uid,
                        .home = r.home,
                        .error = *why},
                       "state: {}", w);
        return;
    }
    auto session = std::make_unique<Session>(Session::from_record(r));
    // After a reboot (stale records) or a crash of pershome-fs, that pid
    // may belong to anyone now: never signal or wait on it.
    if (session->fs_pid > 0 && !process_runs(session->fs_pid, "pershome-fs")) {
        log::warning("{}: pershome-fs (pid {}) of the home {} is no longer running", session->user,
                     session->fs_pid, session->home);
        session->fs_pid = 0;
    }
    for (const auto& id : r.references) {
        auto ref = Reference::reopen(store_.refs_dirfd(), id);
        if (!ref) {
            log::warning("{}: reference {} lost: {}", r.user, id, ref.error());
            continue;
        }
        watch_reference(r.uid, r.user, *ref);
        session->references.emplace(id, std::move(*ref));
    }
    // We never write a closing record with references. Should one come back,
    // the logins that still hold them keep the home; it closes after them.
    if (session->state == SessionState::Closing && !session->references.empty()) {
        log::warning("{}: record says closing but holds {} reference(s); kept open until they end",
                     r.user, session->references.size());
        session->state = SessionState::Active;
    }
    Session& s = *session;
    sessions_[s.uid] = std::move(session);
    log::event(
        log::Level::Notice,
        {.operation = "recover", .user = s.user, .uid = s.uid, .home = s.home, .device = s.device},
        "{}: session recovered from state ({} reference(s), {})", s.user, s.references.size(),
        to_string(s.state));
    if (listener_) listener_->session_added(s);
    if (!s.references.empty()) return;
    const uid_t uid = s.uid;
    enqueue(uid, [this, uid](Next next) {
        auto it = sessions_.find(uid);
        if (it == sessions_.end() || !it->second->references.empty()) {
            next();
            return;
        }
        teardown(*it->second, CloseDone(), std::move(next));
    });
}

}  // namespace pershome
