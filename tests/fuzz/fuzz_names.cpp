// libFuzzer target: the name codec. A generated name is always one FAT can
// hold; a name FAT can hold is a valid POSIX name.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "fs/name_codec.hpp"

using namespace pershome::fs;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::uint32_t attempt = data[0];
    const std::string_view name(reinterpret_cast<const char*>(data + 1), size - 1);
    if (fat_can_hold(name) && !is_valid_posix_name(name)) std::abort();
    (void)utf16_length(name);
    (void)is_reserved_dos_name(name);
    if (is_valid_posix_name(name)) {
        const std::string g = generated_name(name, attempt);
        if (!fat_can_hold(g)) std::abort();
    }
    return 0;
}
