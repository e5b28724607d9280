#include "daemon/stick.hpp"

#include "common/bus_names.hpp"
#include "common/path_escape.hpp"

namespace pershome {

bool stick_fs_supported(std::string_view fs_type) {
    return fs_type == "vfat" || fs_type == "exfat";
}

bool is_stick(const StickProps& p, std::string* why) {
    auto say = [&](const char* text, bool verdict) {
        if (why) *why = text;
        return verdict;
    };
    if (p.force_ignore) return say("PERSHOME_IGNORE=1", false);
    if (p.devtype != "disk" && p.devtype != "partition")
        return say("not a disk or partition", false);
    if (!stick_fs_supported(p.fs_type)) return say("no vfat or exfat filesystem", false);
    if (p.force_stick) return say("PERSHOME_STICK=1", true);
    if (p.removable) return say("removable media", true);
    if (p.bus == "usb" || p.bus == "ieee1394") return say("on a USB or FireWire bus", true);
    return say("a fixed disk (neither removable nor on USB)", false);
}

std::string udev_decode(std::string_view s) {
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] == 'x' && hex(s[i + 2]) >= 0 &&
            hex(s[i + 3]) >= 0) {
            out += static_cast<char>(hex(s[i + 2]) * 16 + hex(s[i + 3]));
            i += 3;
        } else {
            out += s[i];
        }
    }
    return out;
}

std::string device_object_path(const std::string& name) {
    return std::string(bus::kDevicePathPrefix) + "/" + path_escape(name);
}

}  // namespace pershome
