// Persistent homes in the Manager: which stick a login gets, mounting it as the
// home, the messages that say so, and the teardown at the last logout.
#include <time.h>
#include <unistd.h>

#include <fmt/core.h>

#include <algorithm>

#include "common/bus_names.hpp"
#include "common/display_text.hpp"
#include "common/path_escape.hpp"
#include "daemon/event_loop.hpp"
#include "daemon/log.hpp"
#include "daemon/manager_internal.hpp"
#include "daemon/persistent_home.hpp"
#include "daemon/state_store.hpp"
#include "daemon/stick_mount.hpp"
#include "daemon/worker_pool.hpp"
#include "homework/home_path.hpp"

namespace pershome {
namespace {

using namespace std::chrono_literals;

constexpr auto kSettleRetry = 50ms;

// "2 Dec", with the year when it is not this year's.
std::string short_date(int64_t t) {
    time_t tt = static_cast<time_t>(t), now = ::time(nullptr);
    tm when{}, today{};
    localtime_r(&tt, &when);
    localtime_r(&now, &today);
    char buf[64];
    strftime(buf, sizeof buf, when.tm_year == today.tm_year ? "%e %b" : "%e %b %Y", &when);
    std::string s = buf;
    return s.substr(s.find_first_not_of(' '));
}

// One sentence naming the stick and who used it last, so that a patron who
// finds someone else's stick in the terminal notices.
std::string stick_sentence(const Device& d, const PersistentMounted& m) {
    std::string s = fmt::format("Your home is on the stick {}", d.display_name());
    if (m.previous.time > 0 && !m.previous.user.empty()) {
        s += fmt::format(", last used by {} on {} on {}", display_text(m.previous.user, 64),
                         display_text(m.previous.host, 64), short_date(m.previous.time));
    } else {
        s += ", used as a home for the first time";
    }
    s += ".";
    if (m.repaired) s += " It was not removed safely last time and has been repaired.";
    s += " Log out before you pull it out.";
    return s;
}

const char* fallback_clause(config::Fallback f) {
    switch (f) {
        case config::Fallback::Deny:
            return "You cannot log in without it.";
        case config::Fallback::None:
            return "Your usual home directory is used instead.";
        case config::Fallback::Tmphome:
            break;
    }
    return "";
}

}  // namespace

bool Manager::sticks_settling() const {
    if (probing_ > 0) return true;
    return settings_.udev_busy && settings_.udev_busy();
}

void Manager::find_stick(std::shared_ptr<PendingLogin> login) {
    const config::StickSelector& want = login->options.stick;
    // Candidates in device-name order (sdb1 before sdc1): the documented
    // choice when stick=any finds more than one.
    std::vector<Device*> with_home, without_home, other_selected;
    for (auto& [name, d] : devices_) {
        if (d->state == DeviceState::Gone || !d->probed) continue;
        const bool selected = want.matches(d->props.label, d->props.uuid);
        if (!selected) {
            other_selected.push_back(d.get());
        } else if (d->has_home || d->state == DeviceState::Failed) {
            // A stick that could not even be probed is named with its reason.
            with_home.push_back(d.get());
        } else {
            without_home.push_back(d.get());
        }
    }
    auto usable = std::find_if(with_home.begin(), with_home.end(), [](Device* d) {
        return d->state == DeviceState::Idle || d->state == DeviceState::SafeToRemove;
    });
    if (usable != with_home.end()) {
        if (with_home.size() > 1)
            log::info("{}: {} sticks with a pershome folder; taking {} (first by device name)",
                      login->user.name, with_home.size(), (*usable)->name);
        mount_home(std::move(login), **usable);
        return;
    }
    if (sticks_settling() && std::chrono::steady_clock::now() < login->settle_deadline) {
        loop_.add_timer(kSettleRetry, [this, login] { find_stick(login); });
        return;
    }
    std::string why;
    if (!with_home.empty()) {
        const Device& d = *with_home.front();
        why = d.state == DeviceState::Failed
                  ? fmt::format("The stick {} cannot be used: {}.", d.display_name(),
                                display_text(d.error, 200))
                  : fmt::format("The stick {} is in use by {}.", d.display_name(), d.user);
    } else if (!without_home.empty()) {
        why = fmt::format(
            "The stick {} has no pershome folder: create a folder named pershome at its top "
            "(or run pershome-prepare) and log in again.",
            without_home.front()->display_name());
    } else if (want.kind != config::StickSelector::Kind::Any && !other_selected.empty()) {
        why = fmt::format("No plugged stick is {} (your persistent home setting); plugged: {}.",
                          want.str(), other_selected.front()->display_name());
    } else {
        why =
            "No USB stick with a pershome folder is plugged in: plug in your stick (it needs a "
            "folder named pershome at its top) and log in again to keep your files.";
    }
    no_stick(std::move(login), why);
}

void Manager::no_stick(std::shared_ptr<PendingLogin> login, const std::string& why) {
    const config::Fallback fallback = login->options.fallback;
    log::event(log::Level::Notice,
               {.operation = "no-stick", .user = login->user.name, .uid = login->user.uid},
               "{}: no persistent home: {} (fallback={})", login->user.name, why,
               config::to_string(fallback));
    if (fallback == config::Fallback::Tmphome && login->request.tmphome) {
        open_tmphome(login->request, login->user, login->done, login->next, why);
        return;
    }
    const bool deny = fallback == config::Fallback::Deny;
    login->done(tl::unexpected(
        OpError{deny ? bus::kErrorDenied : bus::kErrorNoStick,
                why + " " + fallback_clause(deny ? fallback : config::Fallback::None)}));
    login->next();
}

namespace {

// The session a successful open_persistent makes.
std::unique_ptr<Session> persistent_session(const UserInfo& user, const std::string& device,
                                            const PersistentSpec& spec,
                                            const PersistentMounted& m) {
    auto session = std::make_unique<Session>();
    session->user = user.name;
    session->uid = user.uid;
    session->gid = user.gid;
    session->mode = "persistent";
    session->home = user.home;
    session->device = device;
    session->devnode = spec.devnode;
    session->stick_dir = spec.stick_dir;
    session->fs_pid = m.fs_pid;
    session->made_mount_point = m.made_mount_point;
    session->opened_usec = now_usec();
    return session;
}

}  // namespace

void Manager::mount_home(std::shared_ptr<PendingLogin> login, Device& device) {
    const std::string name = device.name;
    // Reserved at once: another user's login cannot take it meanwhile.
    PersistentSpec spec;
    spec.user = login->user;
    spec.device = device.display_name();
    spec.devnode = device.props.devnode;
    spec.fs_type = device.props.fs_type;
    spec.stick_dir = store_.dir() + "/sticks/" + path_escape(name);
    spec.pershome_fs = settings_.pershome_fs;
    if (!device.backend.empty())
        spec.backend_argv = backend_command(settings_.stick_backends.at(device.backend),
                                            device.source, spec.stick_dir);
    spec.flush_seconds = static_cast<int>(login->options.flush.count());
    spec.fsck_timeout = settings_.fsck_timeout;
    spec.mount_timeout = settings_.mount_timeout;
    if (login->request.tmphome && homework::relative_below(*login->request.tmphome, spec.user.home))
        spec.leftover_root = *login->request.tmphome;
    if (login->login_deadline) {
        // What is left of the login's wait bounds each step; a repair cut
        // short fails like one that hung, and the fallback applies in time.
        const auto left = std::chrono::duration_cast<std::chrono::seconds>(
            *login->login_deadline - std::chrono::steady_clock::now());
        const auto step = std::max(left, std::chrono::seconds(1));
        spec.fsck_timeout = std::min(spec.fsck_timeout, step);
        spec.mount_timeout = std::min(spec.mount_timeout, step);
    }
    spec.now = LastUse{login->user.name, settings_.hostname, static_cast<int64_t>(::time(nullptr))};
    set_device_state(device, DeviceState::InUse, login->user.name, spec.stick_dir);
    auto result = std::make_shared<tl::expected<PersistentMounted, OpError>>(
        tl::unexpected(OpError{bus::kErrorFailed, "internal error while mounting the home"}));
    auto job = [result, spec] { *result = open_persistent(spec); };
    auto finish = [this, result, login, name, spec] {
        auto dit = devices_.find(name);
        Device* d = dit == devices_.end() ? nullptr : dit->second.get();
        if (!*result) {
            const std::string& why = result->error().message;
            log::event(log::Level::Error,
                       {.operation = "mount",
                        .user = login->user.name,
                        .uid = login->user.uid,
                        .home = login->user.home,
                        .device = name,
                        .error = why},
                       "{}: stick {} not mounted: {}", login->user.name, name, why);
            if (d && d->state == DeviceState::InUse)
                set_device_state(*d, DeviceState::Failed, "", "", why);
            // Pulled while it was being opened: nothing holds it any more.
            if (d && d->state == DeviceState::Gone) remove_device(name);
            no_stick(login, fmt::format("Your home on the stick {} could not be opened: {}",
                                        spec.device, why));
            return;
        }
        PersistentMounted& m = **result;
        if (!d || d->state == DeviceState::Gone) {
            pulled_while_opening(login, name, spec, m);
            return;
        }
        auto session = persistent_session(login->user, name, spec, m);
        if (d) d->last_use = spec.now;
        std::string message = d ? stick_sentence(*d, m) : "Your home is on your stick.";
        const auto& r = login->request;
        session_opened(std::move(session), login->done, message,
                       fmt::format("persistent home {} mounted from stick {} ({}{}{}){}",
                                   login->user.home, name, r.service, r.tty.empty() ? "" : " on ",
                                   r.tty, m.repaired ? "; the stick was repaired first" : ""));
        if (d && d->state == DeviceState::InUse && listener_)
            listener_->device_changed(*d, {"LastUser", "LastHost", "LastUsed"});
        login->next();
    };
    workers_.submit(std::move(job), std::move(finish));
}

// The stick went (udev remove) while open_persistent ran: what it mounted
// is detached, and the login gets the sentence and its fallback instead of a
// home that is already gone.
void Manager::pulled_while_opening(std::shared_ptr<PendingLogin> login, const std::string& name,
                                   const PersistentSpec& spec, const PersistentMounted& m) {
    const PersistentTeardown t = teardown_of(*persistent_session(login->user, name, spec, m));
    log::event(log::Level::Error,
               {.operation = "pull", .user = t.user, .uid = t.uid, .home = t.home, .device = name},
               "{}: the stick {} was pulled while the home {} was being opened; detached", t.user,
               name, t.home);
    auto note = std::make_shared<std::string>();
    workers_.submit([note, t] { *note = undo_pulled_open(t); },
                    [this, note, login, name, device = spec.device] {
                        if (!note->empty()) log::warning("{}: {}", login->user.name, *note);
                        auto dit = devices_.find(name);
                        if (dit != devices_.end() && dit->second->state == DeviceState::Gone)
                            remove_device(name);
                        no_stick(login,
                                 fmt::format("The stick {} was removed while your home on it "
                                             "was being opened.",
                                             device));
                    });
}

PersistentTeardown Manager::teardown_of(const Session& session) const {
    PersistentTeardown t;
    t.user = session.user;
    t.uid = session.uid;
    t.home = session.home;
    t.stick_dir = session.stick_dir;
    t.fs_pid = session.fs_pid;
    t.made_mount_point = session.made_mount_point;
    t.grace = settings_.logout_grace;
    return t;
}

void Manager::teardown_persistent(Session& session, const CloseDone& done, Next next) {
    const PersistentTeardown t = teardown_of(session);
    auto note = std::make_shared<std::string>();
    auto job = [note, t] { *note = close_persistent(t); };
    auto finish = [this, note, uid = session.uid, user = session.user, device = session.device,
                   home = session.home, done, next] {
        const log::Event event{.operation = "unmount",
                               .user = user,
                               .uid = uid,
                               .home = home,
                               .device = device,
                               .error = *note};
        if (!note->empty()) {
            log::event(log::Level::Warning, event, "{}: {}", user, *note);
        } else {
            log::event(log::Level::Notice, event,
                       "{}: persistent home {} unmounted; stick {} is safe to remove", user, home,
                       device);
        }
        auto dit = devices_.find(device);
        if (dit != devices_.end()) {
            Device& d = *dit->second;
            if (d.state == DeviceState::Gone) {
                remove_device(device);
            } else if (d.user == user) {
                set_device_state(d, DeviceState::SafeToRemove, "", "");
            }
        }
        finish_teardown(uid, *note);
        if (done) done(*note);
        next();
    };
    workers_.submit(std::move(job), std::move(finish));
}

void Manager::stick_pulled(Session& session) {
    log::event(log::Level::Error,
               {.operation = "pull",
                .user = session.user,
                .uid = session.uid,
                .home = session.home,
                .device = session.device},
               "{}: the stick {} of the open home {} was pulled; the home is detached",
               session.user, session.device, session.home);
    session.degraded = true;
    save(session);
    if (listener_) listener_->session_changed(session, {"Degraded"});
    const PersistentTeardown t = teardown_of(session);
    const std::string user = session.user;
    const uid_t uid = session.uid;
    enqueue(uid, [this, t, uid, user](Next next) {
        auto note = std::make_shared<std::string>();
        workers_.submit([note, t] { *note = detach_pulled(t); },
                        [this, note, uid, user, next] {
                            if (!note->empty()) log::warning("{}: {}", user, *note);
                            // Its process is gone: a later pid of the same
                            // number must never get our signals.
                            auto it = sessions_.find(uid);
                            if (it != sessions_.end()) {
                                it->second->fs_pid = 0;
                                save(*it->second);
                            }
                            next();
                        });
    });
}

}  // namespace pershome
