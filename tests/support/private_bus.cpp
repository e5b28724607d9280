#include "tests/support/private_bus.hpp"

#include <stdexcept>

#include "tests/support/temp_dir.hpp"

namespace pershome::test {
namespace {

constexpr const char* kSystemPolicy = R"(
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="signal"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
)";

constexpr const char* kOpenPolicy = R"(
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>
)";

}  // namespace

std::string PrivateBus::config(const std::string& socket, Policy policy,
                               const std::string& policy_file) {
    std::string conf =
        "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
        " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
        "<busconfig>\n  <type>system</type>\n  <listen>unix:path=" +
        socket + "</listen>\n  <auth>EXTERNAL</auth>\n";
    conf += policy == Policy::System ? kSystemPolicy : kOpenPolicy;
    if (!policy_file.empty()) conf += "  <include>" + policy_file + "</include>\n";
    conf += "</busconfig>\n";
    return conf;
}

PrivateBus::PrivateBus(const std::filesystem::path& dir, Policy policy,
                       const std::string& policy_file) {
    const auto socket = dir / "system_bus_socket";
    write_file(dir / "bus.conf", config(socket.string(), policy, policy_file));
    daemon_.start({"/usr/bin/dbus-daemon", "--config-file=" + (dir / "bus.conf").string(),
                   "--nofork", "--nopidfile", "--print-address=1"},
                  clean_environment());
    // It prints its address once it listens.
    if (!daemon_.read_until(Clock::now() + std::chrono::seconds(10), "\n")) {
        throw std::runtime_error("dbus-daemon did not start: " + daemon_.err_text);
    }
    address_ = "unix:path=" + socket.string();
}

}  // namespace pershome::test
