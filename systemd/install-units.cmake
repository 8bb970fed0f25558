# Runs at install time (from systemd/CMakeLists.txt): fills in the units'
# absolute paths for this install's prefix and installs them. DESTDIR is
# honoured by file(INSTALL).
function(fw_full out dir)
  if(IS_ABSOLUTE "${dir}")
    set(${out} "${dir}" PARENT_SCOPE)
  else()
    set(${out} "${CMAKE_INSTALL_PREFIX}/${dir}" PARENT_SCOPE)
  endif()
endfunction()

fw_full(bindir "${FW_BINDIR}")
fw_full(sysconfdir "${FW_SYSCONFDIR}")
fw_full(FW_DOCDIR "${FW_DOCDIR_REL}")
fw_full(system_dir "${FW_SYSTEM_UNIT_DIR}")
fw_full(user_dir "${FW_USER_UNIT_DIR}")
fw_full(sysusers_dir "${FW_SYSUSERS_DIR}")
fw_full(tmpfiles_dir "${FW_TMPFILES_DIR}")
set(FACEWATCHD "${bindir}/facewatchd")
set(FW_CONFIG "${sysconfdir}/facewatch/facewatchd.conf")
# one scratch folder per destination: two installs at once (parallel tests)
# must not copy each other's units
string(MD5 dest_key "$ENV{DESTDIR}|${CMAKE_INSTALL_PREFIX}")
set(FW_GEN "${FW_GEN}/${dest_key}")
file(READ "${FW_SRC}/hardening.inc" FW_HARDENING)
string(STRIP "${FW_HARDENING}" FW_HARDENING)

foreach(unit facewatch.service facewatch.socket facewatch@.service facewatch@.socket)
  configure_file("${FW_SRC}/${unit}.in" "${FW_GEN}/system/${unit}" @ONLY)
  file(INSTALL DESTINATION "${system_dir}" TYPE FILE FILES "${FW_GEN}/system/${unit}")
endforeach()
foreach(unit facewatch.service facewatch.socket)
  configure_file("${FW_SRC}/user/${unit}.in" "${FW_GEN}/user/${unit}" @ONLY)
  file(INSTALL DESTINATION "${user_dir}" TYPE FILE FILES "${FW_GEN}/user/${unit}")
endforeach()
file(INSTALL DESTINATION "${sysusers_dir}" TYPE FILE RENAME facewatch.conf
  FILES "${FW_SRC}/facewatch.sysusers")
file(INSTALL DESTINATION "${tmpfiles_dir}" TYPE FILE RENAME facewatch.conf
  FILES "${FW_SRC}/facewatch.tmpfiles")
