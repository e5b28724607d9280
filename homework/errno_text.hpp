// A thread-safe errno description for error messages (std::strerror may share a buffer).
#pragma once

#include <cstring>
#include <string>

namespace pershome::homework {

inline std::string errno_text(int err) {
    const char* text = ::strerrordesc_np(err);
    return text ? std::string(text) : "error " + std::to_string(err);
}

}  // namespace pershome::homework
