// A private dbus-daemon of type "system" for tests. Policy::System copies the
// default policy of Debian's system.conf (method calls denied unless a policy
// file opens them) and includes pershome's shipped policy file, so a test
// proves that file; Policy::Open allows everything (for stand-ins).
#pragma once

#include <filesystem>
#include <string>

#include "tests/support/process.hpp"

namespace pershome::test {

class PrivateBus {
  public:
    enum class Policy { System, Open };

    // Starts the bus with its socket and config in DIR; returns once it listens.
    PrivateBus(const std::filesystem::path& dir, Policy policy,
               const std::string& policy_file = "");

    // The config file's text for a bus listening on SOCKET (also for a bus
    // another machine, a UML guest, starts itself).
    static std::string config(const std::string& socket, Policy policy,
                              const std::string& policy_file = "");

    // "unix:path=..." for DBUS_SYSTEM_BUS_ADDRESS.
    const std::string& address() const { return address_; }
    pid_t pid() const { return daemon_.pid(); }

  private:
    Child daemon_;
    std::string address_;
};

}  // namespace pershome::test
