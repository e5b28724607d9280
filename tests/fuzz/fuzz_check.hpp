// CHECK for the fuzz targets: a violated property aborts with its file and
// line ("property violated"), which libFuzzer reports and tests/fuzz/run
// greps for.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace pershome::fuzz {

[[noreturn]] inline void fail(const char* what, const char* file, int line) {
    std::fprintf(stderr, "%s:%d: property violated: %s\n", file, line, what);
    std::abort();
}

}  // namespace pershome::fuzz

#define CHECK(c)                                                       \
    do {                                                               \
        if (!(c)) ::pershome::fuzz::fail(#c, __FILE_NAME__, __LINE__); \
    } while (0)
