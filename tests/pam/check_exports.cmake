# The module may export the PAM entry points and nothing else: it is loaded
# into sshd, login, gdm and lightdm, whose symbols it must not shadow.
# Usage: cmake -DNM=nm -DMODULE=pam_pershome.so -P check_exports.cmake
execute_process(COMMAND ${NM} -D --defined-only ${MODULE}
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "nm failed: ${err}")
endif()
string(REGEX MATCHALL "[^\n]+" lines "${out}")
set(names "")
foreach(l IN LISTS lines)
  string(REGEX REPLACE "^.* ([^ ]+)$" "\\1" name "${l}")
  list(APPEND names "${name}")
endforeach()
list(SORT names)
if(NOT names STREQUAL "pam_sm_close_session;pam_sm_open_session")
  message(FATAL_ERROR "unexpected exported symbols: ${names}\n${out}")
endif()
message(STATUS "exports: ${names}")
