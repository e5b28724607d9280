// Names of pershomed's D-Bus API that the daemon, the PAM module and the
// tests must agree on. The API itself is documented in org.pershome1.xml.
#pragma once

namespace pershome::bus {

inline constexpr const char* kBusName = "org.pershome1";
inline constexpr const char* kManagerPath = "/org/pershome1";
inline constexpr const char* kSessionPathPrefix = "/org/pershome1/session";
inline constexpr const char* kManagerInterface = "org.pershome1.Manager";
inline constexpr const char* kSessionInterface = "org.pershome1.Session";
inline constexpr const char* kDevicePathPrefix = "/org/pershome1/device";
inline constexpr const char* kDeviceInterface = "org.pershome1.Device";

inline constexpr const char* kErrorNotApplicable = "org.pershome1.Error.NotApplicable";
inline constexpr const char* kErrorNoSuchUser = "org.pershome1.Error.NoSuchUser";
inline constexpr const char* kErrorPermissionDenied = "org.pershome1.Error.PermissionDenied";
inline constexpr const char* kErrorInvalidArgument = "org.pershome1.Error.InvalidArgument";
inline constexpr const char* kErrorBadTmphomeRoot = "org.pershome1.Error.BadTmphomeRoot";
inline constexpr const char* kErrorHomeUnsafe = "org.pershome1.Error.HomeUnsafe";
inline constexpr const char* kErrorNoSuchSession = "org.pershome1.Error.NoSuchSession";
inline constexpr const char* kErrorFailed = "org.pershome1.Error.Failed";
inline constexpr const char* kErrorNoStick = "org.pershome1.Error.NoStick";
inline constexpr const char* kErrorDenied = "org.pershome1.Error.Denied";
inline constexpr const char* kErrorBusy = "org.pershome1.Error.Busy";

}  // namespace pershome::bus
