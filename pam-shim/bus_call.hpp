// One D-Bus method call to pershomed over sd-bus's C API, bounded by a hard
// deadline that covers connecting, authenticating, Hello and the call itself.
#pragma once

#include <systemd/sd-bus.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace pershome::pam {

using Clock = std::chrono::steady_clock;

struct MessageUnref {
    void operator()(sd_bus_message* m) const noexcept { sd_bus_message_unref(m); }
};
using MessagePtr = std::unique_ptr<sd_bus_message, MessageUnref>;

struct CallOutcome {
    enum class Kind {
        kReply,       // a method return; `reply` holds it
        kError,       // a D-Bus error reply; `error_name`, `error_message`
        kTimeout,     // the deadline passed before an answer came
        kNoBus,       // could not connect or talk to the bus; `error_number`
        kLocalError,  // building the message failed; `error_number`
    };
    Kind kind = Kind::kLocalError;
    MessagePtr reply;
    std::string error_name;
    std::string error_message;
    int error_number = 0;
    // The bus address we used, for log lines.
    std::string address;
};

// Appends the method's arguments to M; returns a negative errno on failure.
using ArgumentWriter = std::function<int(sd_bus_message* m)>;

// Calls METHOD on pershomed's manager object over the system bus
// ($DBUS_SYSTEM_BUS_ADDRESS if set). Never blocks past DEADLINE. The bus
// connection is closed before this returns.
CallOutcome call_manager(const char* method, const ArgumentWriter& write_args,
                         Clock::time_point deadline);

}  // namespace pershome::pam
