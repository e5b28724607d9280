# Installs the build into a scratch DESTDIR with prefix /usr and checks that
# every file lands where Debian and an LTSP image look for it.
# -DBUILD_DIR=... -DSCRATCH=... -DARCH=<multiarch triplet>
file(REMOVE_RECURSE ${SCRATCH})
execute_process(
  COMMAND ${CMAKE_COMMAND} -E env DESTDIR=${SCRATCH}
          ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix /usr
  RESULT_VARIABLE rc OUTPUT_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed: ${rc}")
endif()
set(expected
  usr/sbin/pershomed
  usr/bin/pershomectl
  usr/bin/pershome-prepare
  usr/share/applications/pershome-prepare.desktop
  usr/share/bash-completion/completions/pershomectl
  usr/share/man/man1/pershomectl.1
  usr/share/man/man1/pershome-prepare.1
  usr/lib/${ARCH}/security/pam_pershome.so
  usr/share/dbus-1/system.d/org.pershome1.conf
  usr/share/dbus-1/system-services/org.pershome1.service
  usr/lib/systemd/system/pershomed.service
  usr/lib/tmpfiles.d/pershome.conf
  usr/share/pam-configs/pershome
  usr/share/man/man1/pershome-fs.1
  usr/share/man/man5/pershomed.json.5
  usr/share/man/man5/persistent_homes.5
  usr/share/man/man8/pam_pershome.8
  usr/share/man/man8/pershomed.8
  usr/share/doc/pershome/on-stick-format.md
  usr/share/doc/pershome/ltsp.md)
foreach(f IN LISTS expected)
  if(NOT EXISTS ${SCRATCH}/${f})
    message(FATAL_ERROR "not installed: /${f}")
  endif()
endforeach()
file(READ ${SCRATCH}/usr/share/pam-configs/pershome profile)
if(NOT profile MATCHES "pam_pershome.so tmphome=/tmphome/")
  message(FATAL_ERROR "pam-configs profile lacks the session line")
endif()
file(REMOVE_RECURSE ${SCRATCH})
message(STATUS "install layout OK")
