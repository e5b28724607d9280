#include "pam-shim/bus_call.hpp"

#include <errno.h>
#include <stdlib.h>

#include "common/bus_names.hpp"

namespace pershome::pam {
namespace {

// sd_bus_close_unref, not sd_bus_flush_close_unref: flushing first waits for
// the connection to finish authenticating, with sd-bus's own timeout, which
// is exactly the hang a dead or wedged bus must not cause. By the time we
// drop the connection every message we sent has been answered (or we gave
// up on it), so there is nothing left worth flushing.
struct BusClose {
    void operator()(sd_bus* b) const noexcept { sd_bus_close_unref(b); }
};
using BusPtr = std::unique_ptr<sd_bus, BusClose>;

struct SlotUnref {
    void operator()(sd_bus_slot* s) const noexcept { sd_bus_slot_unref(s); }
};
using SlotPtr = std::unique_ptr<sd_bus_slot, SlotUnref>;

std::string system_bus_address() {
    // What sd_bus_open_system uses, for the log (it reads it the same way).
    const char* e = secure_getenv("DBUS_SYSTEM_BUS_ADDRESS");
    return e && *e ? e : "unix:path=/run/dbus/system_bus_socket";
}

int on_reply(sd_bus_message* m, void* userdata, sd_bus_error* /*ret_error*/) noexcept {
    static_cast<MessagePtr*>(userdata)->reset(sd_bus_message_ref(m));
    return 0;
}

constexpr uint64_t kCallTimeoutSlackUsec = 1'000'000;

uint64_t remaining_usec(Clock::time_point now, Clock::time_point deadline) {
    if (now >= deadline) return 0;
    auto us = std::chrono::ceil<std::chrono::microseconds>(deadline - now).count();
    return static_cast<uint64_t>(us);
}

}  // namespace

CallOutcome call_manager(const char* method, const ArgumentWriter& write_args,
                         Clock::time_point deadline) {
    CallOutcome out;
    out.address = system_bus_address();

    // Connecting to a unix socket does not block (sd-bus uses a non-blocking
    // socket); authentication and Hello happen later, inside the loop below,
    // so they are covered by the deadline too.
    sd_bus* raw_bus = nullptr;
    int r = sd_bus_open_system(&raw_bus);
    BusPtr bus(raw_bus);
    if (r < 0) {
        out.kind = CallOutcome::Kind::kNoBus;
        out.error_number = -r;
        return out;
    }

    sd_bus_message* raw_msg = nullptr;
    r = sd_bus_message_new_method_call(bus.get(), &raw_msg, bus::kBusName, bus::kManagerPath,
                                       bus::kManagerInterface, method);
    MessagePtr msg(raw_msg);
    if (r >= 0) r = write_args(msg.get());
    if (r < 0) {
        out.kind = CallOutcome::Kind::kLocalError;
        out.error_number = -r;
        return out;
    }

    // Asynchronous call and our own wait loop, not sd_bus_call: sd_bus_call
    // first waits for the connection to come up with sd-bus's own timeouts
    // (authentication alone may take 90 s against a socket that accepts and
    // never speaks), and those cannot be shortened from outside.
    MessagePtr reply;
    sd_bus_slot* raw_slot = nullptr;
    // sd-bus's own timeout for the call is set past our deadline: when it
    // fires it answers with a NoReply error that looks like a lost
    // connection, and the log should say plainly that time ran out.
    r = sd_bus_call_async(bus.get(), &raw_slot, msg.get(), on_reply, &reply,
                          remaining_usec(Clock::now(), deadline) + kCallTimeoutSlackUsec);
    // Declared after `reply` so that it goes first: the slot points at it.
    SlotPtr slot(raw_slot);
    if (r < 0) {
        out.kind = CallOutcome::Kind::kNoBus;
        out.error_number = -r;
        return out;
    }

    while (!reply) {
        r = sd_bus_process(bus.get(), nullptr);
        if (r < 0) {
            out.kind = CallOutcome::Kind::kNoBus;
            out.error_number = -r;
            return out;
        }
        if (r > 0) continue;  // more may be queued; sd_bus_wait would not see it
        if (reply) break;
        uint64_t left = remaining_usec(Clock::now(), deadline);
        if (left == 0) {
            out.kind = CallOutcome::Kind::kTimeout;
            return out;
        }
        r = sd_bus_wait(bus.get(), left);
        // A signal meant for the application interrupts the wait; the
        // deadline still bounds us, so just go round again.
        if (r < 0 && r != -EINTR) {
            out.kind = CallOutcome::Kind::kNoBus;
            out.error_number = -r;
            return out;
        }
    }

    if (sd_bus_message_is_method_error(reply.get(), nullptr)) {
        const sd_bus_error* e = sd_bus_message_get_error(reply.get());
        out.kind = CallOutcome::Kind::kError;
        out.error_name = e && e->name ? e->name : "";
        out.error_message = e && e->message ? e->message : "";
        return out;
    }
    out.kind = CallOutcome::Kind::kReply;
    out.reply = std::move(reply);
    return out;
}

}  // namespace pershome::pam
