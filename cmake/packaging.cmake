# What `make install` puts where, and the .deb `make package` builds from
# the same rules with CPack (DEB; `cpack -G RPM` for EL, untested here).
# Included last by the top-level CMakeLists.txt, once every target exists.
#
#   BINDIR                          she-restore, she-lab
#   LIBEXECDIR/she-restore          she-lab-agent (the lab hosts' ForceCommand, no command of its own),
#                                   she-lab-http (the agent's requests to the lab engine),
#                                   she-lab-ovm-cli (the lab Oracle VM Manager's CLI port)
#   DATADIR/she-restore             plans/, examples/, schema.json
#   MANDIR/man1, man5               she-restore(1), she-lab(1), she-restore-plan(5)
#   DATADIR/bash-completion/completions/she-restore
#   DOCDIR                          README.md, copyright
#   lib/systemd/system              she-backup@.service, she-backup@.timer

# Relocation: the programs find their data and the agent from their own path
# (base/install_layout.h), by these paths relative to BINDIR, so an installed
# tree works wherever it is unpacked; the configured prefix is not compiled in.
file(RELATIVE_PATH she_bin_to_data "${CMAKE_INSTALL_FULL_BINDIR}" "${CMAKE_INSTALL_FULL_DATADIR}/she-restore")
file(RELATIVE_PATH she_bin_to_libexec "${CMAKE_INSTALL_FULL_BINDIR}" "${CMAKE_INSTALL_FULL_LIBEXECDIR}/she-restore")
target_compile_definitions(she_base PRIVATE
  SHE_RESTORE_BIN_TO_DATA="${she_bin_to_data}"
  SHE_RESTORE_BIN_TO_LIBEXEC="${she_bin_to_libexec}")

install(TARGETS she-restore she-lab RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS she-lab-agent she-lab-http she-lab-ovm-cli RUNTIME DESTINATION ${CMAKE_INSTALL_LIBEXECDIR}/she-restore)
install(DIRECTORY plans/ DESTINATION ${CMAKE_INSTALL_DATADIR}/she-restore/plans
        FILES_MATCHING PATTERN "*.yaml")
install(DIRECTORY examples/ DESTINATION ${CMAKE_INSTALL_DATADIR}/she-restore/examples)
install(FILES ${CMAKE_BINARY_DIR}/schema.json DESTINATION ${CMAKE_INSTALL_DATADIR}/she-restore)
install(FILES README.md packaging/copyright DESTINATION ${CMAKE_INSTALL_DOCDIR})

# Man pages, written by hand in packaging/man/; gzipped as Debian ships them
# (-n: no name or time stamp, so the same page gives the same bytes).
set(she_man_gz)
foreach(page she-restore.1 she-lab.1 she-restore-plan.5)
  configure_file(packaging/man/${page}.in ${CMAKE_BINARY_DIR}/man/${page} @ONLY)
  add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/man/${page}.gz
                     COMMAND gzip -9 -n -c ${CMAKE_BINARY_DIR}/man/${page} > ${CMAKE_BINARY_DIR}/man/${page}.gz
                     DEPENDS ${CMAKE_BINARY_DIR}/man/${page})
  string(REGEX MATCH "[0-9]$" section ${page})
  install(FILES ${CMAKE_BINARY_DIR}/man/${page}.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
  list(APPEND she_man_gz ${CMAKE_BINARY_DIR}/man/${page}.gz)
endforeach()
add_custom_target(man-pages ALL DEPENDS ${she_man_gz})

# The bash completion, written by the tool itself so it cannot drift from
# its command line; bash-completion loads it on first use of she-restore.
add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/completion/she-restore
                   COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/completion
                   COMMAND she-restore completion bash > ${CMAKE_BINARY_DIR}/completion/she-restore
                   DEPENDS she-restore
                   COMMENT "Writing the bash completion")
add_custom_target(bash-completion ALL DEPENDS ${CMAKE_BINARY_DIR}/completion/she-restore)
install(FILES ${CMAKE_BINARY_DIR}/completion/she-restore
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)

# Scheduled backups: she-backup@PLAN.timer runs /etc/she-restore/PLAN.yaml.
# systemd reads units from /usr/local/lib/systemd/system too, so the default
# prefix works as is; relative means under the prefix. ExecStart must name
# the binary by an absolute path, and the package installs under another
# prefix than the build was configured with (/usr, not /usr/local): the unit
# is written at install time, from the prefix it is installed under.
set(SHE_INSTALL_SYSTEMDUNITDIR "lib/systemd/system" CACHE STRING
    "where the systemd units go (relative: under the install prefix)")
if(IS_ABSOLUTE "${CMAKE_INSTALL_BINDIR}")
  set(she_bin_at_install "${CMAKE_INSTALL_BINDIR}")
else()
  set(she_bin_at_install "\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}")
endif()
foreach(unit she-backup@.service she-backup@.timer)
  install(CODE "set(SHE_RESTORE_BIN \"${she_bin_at_install}/she-restore\")
configure_file(\"${PROJECT_SOURCE_DIR}/packaging/systemd/${unit}\" \"${CMAKE_BINARY_DIR}/systemd/${unit}\" @ONLY)")
  install(FILES ${CMAKE_BINARY_DIR}/systemd/${unit} DESTINATION ${SHE_INSTALL_SYSTEMDUNITDIR})
endforeach()

# The package. The DESTDIR install keeps CMAKE_INSTALL_PREFIX at /usr while
# CPack stages the files, so the units name /usr/bin/she-restore.
set(SHE_PACKAGE_MAINTAINER "she-restore maintainers <she-restore@example.org>" CACHE STRING
    "the Maintainer of the .deb (Name <address>)")
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME she-restore)
set(CPACK_PACKAGE_VENDOR "the she-restore authors")
set(CPACK_PACKAGE_CONTACT "${SHE_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "restore a self-hosted oVirt engine from backup, as a rehearsable plan")
# One paragraph, in lines under 80 columns (CPack indents them, it does
# not wrap them).
string(JOIN "\n" CPACK_PACKAGE_DESCRIPTION
  "she-restore runs the backup and the restore of a self-hosted oVirt, OLVM or"
  "RHV engine as declarative YAML plans: a dry run that shows every call, a"
  "journal that resumes a run where it stopped without repeating a destructive"
  "action, reports, and scheduled backups with retention. It ships the"
  "procedures (failover host, new host, removal of non-operational hosts,"
  "backup) and she-lab, a simulated engine and hosts to rehearse them on.")
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_STRIP_FILES ON)
set(CPACK_SET_DESTDIR ON)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${SHE_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# ssh-keygen and ssh-keyscan fill known_hosts for a real engine's hosts, and
# ssh carries the bulk stream of large copies (without it they stay on
# libssh2, at about half the rate); the lab's simulated hosts run OpenSSH's sshd, which would also start the
# system's own sshd service when installed, so it is only suggested.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "openssh-client")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "openssh-server")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_RPM_PACKAGE_LICENSE "ASL 2.0")
set(CPACK_RPM_PACKAGE_GROUP "Applications/System")
set(CPACK_RPM_PACKAGE_SUGGESTS "openssh-server")
include(CPack)
