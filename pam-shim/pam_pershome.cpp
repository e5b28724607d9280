// pam_pershome.so: the PAM session module of pershome. It only signals
// pershomed (org.pershome1) at session open and close, relays its messages
// to the user and holds the session reference; all privileged work is the
// daemon's. It is loaded into sshd, login, gdm, lightdm, so: no exception
// leaves it, no symbol but pam_sm_* is exported (pam_pershome.map), and it
// leaves signals, threads and the environment as it found them.
#include <fcntl.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>

#include "common/bus_names.hpp"
#include "common/unique_fd.hpp"
#include "pam-shim/args.hpp"
#include "pam-shim/bus_call.hpp"

namespace pershome::pam {
namespace {

constexpr const char* kDataFifo = "pershome_fifo";
constexpr const char* kDataReference = "pershome_reference";

// The fifo fd lives in pam_set_data as fd + 1, so that fd 0 is not NULL
// (NULL means "no data" to pam_get_data).
void* fd_to_ptr(int fd) {
    return reinterpret_cast<void*>(static_cast<intptr_t>(fd) + 1);
}
int ptr_to_fd(const void* p) {
    return static_cast<int>(reinterpret_cast<intptr_t>(p) - 1);
}

// Called by pam_end (also in a forked child that ends its copy of the
// handle) and when pam_set_data replaces the item: in every case this
// process' copy of the write end goes, which is what releases the
// reference once no process holds one.
void cleanup_fifo(pam_handle_t*, void* data, int) noexcept {
    close(ptr_to_fd(data));
}
void cleanup_free(pam_handle_t*, void* data, int) noexcept {
    free(data);
}

struct FreeDeleter {
    void operator()(char* p) const noexcept { free(p); }
};

struct Context {
    pam_handle_t* pamh;
    Options options;
    bool quiet;  // quiet argument or PAM_SILENT
};

// Arguments are logged every time: a PAM line is read at every login, and
// an admin looks at the log of the login that went wrong.
bool parse(pam_handle_t* pamh, int flags, int argc, const char** argv, Context& ctx) {
    ParseResult parsed = parse_args(argc, argv);
    for (const auto& d : parsed.diagnostics) {
        bool err = d.severity == Diagnostic::Severity::kError;
        pam_syslog(pamh, err ? LOG_ERR : LOG_WARNING, "pershome: %s%s", d.text.c_str(),
                   err ? "; session setup refused" : "");
    }
    ctx.pamh = pamh;
    ctx.options = parsed.options;
    ctx.quiet = parsed.options.quiet || (flags & PAM_SILENT) != 0;
    return parsed.ok();
}

const char* get_item_string(pam_handle_t* pamh, int item) {
    const void* v = nullptr;
    if (pam_get_item(pamh, item, &v) != PAM_SUCCESS) return nullptr;
    return static_cast<const char*>(v);
}

int append_option_s(sd_bus_message* m, const char* key, const char* value) {
    return sd_bus_message_append(m, "{sv}", key, "s", value);
}

bool is_pershome_error(const std::string& name) {
    return name.rfind("org.pershome1.Error.", 0) == 0;
}

void tell_user_error(const Context& ctx, const char* text) {
    if (!ctx.quiet) pam_error(ctx.pamh, "%s", text);
}

// Logs a call that never reached pershomed's own logic (no bus, no daemon,
// no answer in time), saying which, so that an admin can tell a dead bus
// from a dead or wedged daemon.
void report_unreachable(const Context& ctx, const CallOutcome& out, const char* user,
                        const char* what, const char* consequence) {
    unsigned t = ctx.options.timeout_seconds;
    switch (out.kind) {
        case CallOutcome::Kind::kTimeout:
            pam_syslog(ctx.pamh, LOG_ERR,
                       "pershome: no answer from %s within %u s for user %s (%s); %s",
                       bus::kBusName, t, user, what, consequence);
            break;
        case CallOutcome::Kind::kNoBus:
            pam_syslog(ctx.pamh, LOG_ERR,
                       "pershome: cannot reach the system bus at %s: %s; %s for user %s; %s",
                       out.address.c_str(), strerror(out.error_number), what, user, consequence);
            break;
        case CallOutcome::Kind::kError:
            // Not one of pershomed's errors: the bus itself answered, e.g.
            // ServiceUnknown when nobody owns the name.
            pam_syslog(ctx.pamh, LOG_ERR, "pershome: %s for user %s failed: %s: %s; %s", what, user,
                       out.error_name.c_str(), out.error_message.c_str(), consequence);
            break;
        default:
            pam_syslog(ctx.pamh, LOG_ERR, "pershome: %s for user %s failed: %s; %s", what, user,
                       strerror(out.error_number), consequence);
            break;
    }
}

int open_session(pam_handle_t* pamh, int flags, int argc, const char** argv) {
    Context ctx{};
    if (!parse(pamh, flags, argc, argv, ctx)) return PAM_SESSION_ERR;
    const Options& o = ctx.options;
    // One deadline for everything below, connecting and authenticating
    // included: timeout= is what the admin promised the login may wait.
    auto deadline = Clock::now() + std::chrono::seconds(o.timeout_seconds);

    const char* user = nullptr;
    int pr = pam_get_user(pamh, &user, nullptr);
    if (pr != PAM_SUCCESS || user == nullptr || *user == '\0') {
        pam_syslog(pamh, LOG_ERR, "pershome: cannot determine the user name: %s",
                   pam_strerror(pamh, pr));
        return PAM_SESSION_ERR;
    }

    // Opening twice in one handle would take a second reference that no
    // close_session would ever give back.
    const void* existing = nullptr;
    if (pam_get_data(pamh, kDataReference, &existing) == PAM_SUCCESS && existing != nullptr) {
        if (o.debug)
            pam_syslog(pamh, LOG_DEBUG, "pershome: session of %s already open in this handle",
                       user);
        return PAM_SUCCESS;
    }

    const char* service = get_item_string(pamh, PAM_SERVICE);
    const char* tty = get_item_string(pamh, PAM_TTY);
    auto write_args = [&](sd_bus_message* m) -> int {
        int r = sd_bus_message_append(m, "s", user);
        if (r < 0) return r;
        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r < 0) return r;
        if (o.tmphome && (r = append_option_s(m, "tmphome", o.tmphome->c_str())) < 0) return r;
        if (o.skel && (r = append_option_s(m, "skel", o.skel->c_str())) < 0) return r;
        if (o.umask && (r = sd_bus_message_append(m, "{sv}", "umask", "u", *o.umask)) < 0) return r;
        r = sd_bus_message_append(m, "{sv}", "timeout", "u",
                                  static_cast<uint32_t>(o.timeout_seconds));
        if (r < 0) return r;
        if (service && (r = append_option_s(m, "service", service)) < 0) return r;
        if (tty && (r = append_option_s(m, "tty", tty)) < 0) return r;
        return sd_bus_message_close_container(m);
    };

    if (o.debug) pam_syslog(pamh, LOG_DEBUG, "pershome: OpenSession for user %s", user);
    CallOutcome out = call_manager("OpenSession", write_args, deadline);

    if (out.kind == CallOutcome::Kind::kError && is_pershome_error(out.error_name)) {
        if (out.error_name == bus::kErrorNotApplicable) {
            if (o.debug)
                pam_syslog(pamh, LOG_DEBUG, "pershome: nothing to do for user %s: %s", user,
                           out.error_message.c_str());
            return PAM_IGNORE;
        }
        if (out.error_name == bus::kErrorNoStick) {
            // A persistent home was wanted and the rule's fallback is to go
            // on without one: the user must still learn why.
            pam_syslog(pamh, LOG_NOTICE, "pershome: no persistent home for user %s: %s", user,
                       out.error_message.c_str());
            if (!ctx.quiet) pam_info(pamh, "%s", out.error_message.c_str());
            return PAM_IGNORE;
        }
        // pershomed writes its error messages for the user to read.
        pam_syslog(pamh, LOG_ERR, "pershome: OpenSession for user %s failed: %s: %s", user,
                   out.error_name.c_str(), out.error_message.c_str());
        tell_user_error(ctx, out.error_message.empty()
                                 ? "Your home directory could not be made ready."
                                 : out.error_message.c_str());
        return PAM_SESSION_ERR;
    }
    if (out.kind == CallOutcome::Kind::kTimeout) {
        // pershomed sees that this login went away and undoes what it made
        // for it: the home is not there for this login, and must not be used.
        report_unreachable(ctx, out, user, "OpenSession", "session setup skipped");
        if (!ctx.quiet)
            pam_error(pamh,
                      "The home directory service (pershomed) did not answer within %u s; your "
                      "home directory is not ready.",
                      o.timeout_seconds);
        return PAM_SESSION_ERR;
    }
    if (out.kind != CallOutcome::Kind::kReply) {
        report_unreachable(ctx, out, user, "OpenSession", "session setup skipped");
        tell_user_error(ctx, out.kind == CallOutcome::Kind::kLocalError
                                 ? "Your home directory could not be made ready."
                                 : "The home directory service (pershomed) could not be "
                                   "reached; your home directory may not be ready.");
        return PAM_SESSION_ERR;
    }

    const char *session = nullptr, *mode = nullptr, *home = nullptr, *reference = nullptr,
               *message = nullptr;
    int fifo = -1;
    int r = sd_bus_message_read(out.reply.get(), "ossshs", &session, &mode, &home, &reference,
                                &fifo, &message);
    if (r < 0 || reference == nullptr || *reference == '\0') {
        pam_syslog(pamh, LOG_ERR, "pershome: OpenSession for user %s: malformed reply: %s", user,
                   r < 0 ? strerror(-r) : "empty reference");
        tell_user_error(ctx, "The home directory service gave an unexpected answer.");
        return PAM_SESSION_ERR;
    }

    // The reply owns its fd and closes it with the message; ours must outlive
    // it and must not leak into the programs the application will exec. At 3
    // or above: an application that closed its stdout would otherwise later
    // write its output into the fifo.
    UniqueFd fifo_fd(fcntl(fifo, F_DUPFD_CLOEXEC, 3));
    std::unique_ptr<char, FreeDeleter> ref_copy(strdup(reference));
    if (!fifo_fd || !ref_copy) {
        pam_syslog(pamh, LOG_ERR, "pershome: cannot keep the session reference of %s: %m", user);
        return PAM_SESSION_ERR;  // dropping the fd releases the reference again
    }
    if (pam_set_data(pamh, kDataFifo, fd_to_ptr(fifo_fd.get()), cleanup_fifo) != PAM_SUCCESS) {
        pam_syslog(pamh, LOG_ERR, "pershome: cannot store the session reference of %s", user);
        return PAM_SESSION_ERR;
    }
    fifo_fd.release();  // PAM owns it now
    if (pam_set_data(pamh, kDataReference, ref_copy.get(), cleanup_free) != PAM_SUCCESS) {
        pam_syslog(pamh, LOG_ERR, "pershome: cannot store the session reference of %s", user);
        pam_set_data(pamh, kDataFifo, nullptr, nullptr);  // runs cleanup_fifo
        return PAM_SESSION_ERR;
    }
    ref_copy.release();

    if (o.debug)
        pam_syslog(pamh, LOG_DEBUG,
                   "pershome: session %s of %s open: mode %s, home %s, reference %s", session, user,
                   mode, home, reference);
    if (message && *message && !ctx.quiet) pam_info(pamh, "%s", message);
    return PAM_SUCCESS;
}

int close_session(pam_handle_t* pamh, int flags, int argc, const char** argv) {
    Context ctx{};
    // Bad arguments failed open_session already, so there is no reference to
    // give back and the lookup below answers PAM_IGNORE; but the timeout and
    // debug given are still worth honouring.
    parse(pamh, flags, argc, argv, ctx);
    const Options& o = ctx.options;
    auto deadline = Clock::now() + std::chrono::seconds(o.timeout_seconds);

    const void* ref_data = nullptr;
    if (pam_get_data(pamh, kDataReference, &ref_data) != PAM_SUCCESS || ref_data == nullptr) {
        if (o.debug) pam_syslog(pamh, LOG_DEBUG, "pershome: no session reference in this handle");
        return PAM_IGNORE;
    }
    // Copied: pam_set_data(NULL) below frees the stored string.
    std::string reference(static_cast<const char*>(ref_data));

    const char* user = nullptr;
    int pr = pam_get_user(pamh, &user, nullptr);
    if (pr != PAM_SUCCESS || user == nullptr) user = "";

    auto write_args = [&](sd_bus_message* m) -> int {
        return sd_bus_message_append(m, "ssa{sv}", user, reference.c_str(), 0u);
    };
    if (o.debug)
        pam_syslog(pamh, LOG_DEBUG, "pershome: CloseSession for user %s, reference %s", user,
                   reference.c_str());
    // CloseSession first, the fifo after: closing the fifo first would let
    // the daemon release the reference on EOF and answer NoSuchSession.
    CallOutcome out = call_manager("CloseSession", write_args, deadline);

    pam_set_data(pamh, kDataFifo, nullptr, nullptr);  // runs cleanup_fifo: close
    pam_set_data(pamh, kDataReference, nullptr, nullptr);

    if (out.kind == CallOutcome::Kind::kReply) {
        const char* message = nullptr;
        if (sd_bus_message_read(out.reply.get(), "s", &message) >= 0 && message && *message &&
            !ctx.quiet)
            pam_info(pamh, "%s", message);
        if (o.debug)
            pam_syslog(pamh, LOG_DEBUG, "pershome: session of %s closed, reference %s", user,
                       reference.c_str());
        return PAM_SUCCESS;
    }
    if (out.kind == CallOutcome::Kind::kError && is_pershome_error(out.error_name)) {
        pam_syslog(pamh, LOG_ERR, "pershome: CloseSession for user %s, reference %s failed: %s: %s",
                   user, reference.c_str(), out.error_name.c_str(), out.error_message.c_str());
        tell_user_error(ctx, out.error_message.empty() ? "Your home directory could not be closed."
                                                       : out.error_message.c_str());
        return PAM_SESSION_ERR;
    }
    report_unreachable(ctx, out, user, "CloseSession",
                       "closed the reference fifo instead, which releases the reference all the "
                       "same (pershomed sees its end of file, also after a restart)");
    return PAM_SESSION_ERR;
}

template <typename F>
int guarded(pam_handle_t* pamh, const char* what, F&& f) noexcept {
    // Nothing may unwind into the C caller; bad_alloc is the realistic case.
    try {
        return f();
    } catch (const std::exception& e) {
        pam_syslog(pamh, LOG_CRIT, "pershome: %s: internal error: %s", what, e.what());
    } catch (...) {
        pam_syslog(pamh, LOG_CRIT, "pershome: %s: internal error", what);
    }
    return PAM_SESSION_ERR;
}

}  // namespace
}  // namespace pershome::pam

extern "C" {

__attribute__((visibility("default"))) int pam_sm_open_session(pam_handle_t* pamh, int flags,
                                                               int argc, const char** argv) {
    return pershome::pam::guarded(
        pamh, "open_session", [&] { return pershome::pam::open_session(pamh, flags, argc, argv); });
}

__attribute__((visibility("default"))) int pam_sm_close_session(pam_handle_t* pamh, int flags,
                                                                int argc, const char** argv) {
    return pershome::pam::guarded(pamh, "close_session", [&] {
        return pershome::pam::close_session(pamh, flags, argc, argv);
    });
}

}  // extern "C"
