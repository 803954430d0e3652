# `make package`: a Debian package of the proglog binary as a systemd service (CPack DEB).
# Only the "server" component goes in: the binary, the unit, the conffile, the man page
# (generated from --help by help2man), copyright and changelog. Files in deploy/debian/.
if(NOT TARGET proglog)
  return()
endif()

set(_deb ${PROJECT_SOURCE_DIR}/deploy/debian)
set(_pkg_out ${PROJECT_BINARY_DIR}/deploy)
file(MAKE_DIRECTORY ${_pkg_out})

install(TARGETS proglog RUNTIME DESTINATION bin COMPONENT server)
install(FILES ${_deb}/proglog.service DESTINATION /lib/systemd/system COMPONENT server)
install(FILES ${_deb}/proglog.yaml DESTINATION /etc/proglog COMPONENT server)
install(FILES ${_deb}/copyright DESTINATION share/doc/proglog COMPONENT server)
install(FILES ${PROJECT_SOURCE_DIR}/docs/deploy.md DESTINATION share/doc/proglog
        COMPONENT server OPTIONAL)

# Compressed reproducibly (gzip -n), as Debian policy asks for docs and man pages.
add_custom_command(OUTPUT ${_pkg_out}/changelog.gz
  COMMAND gzip -9nc ${_deb}/changelog > ${_pkg_out}/changelog.gz
  DEPENDS ${_deb}/changelog VERBATIM)
find_program(HELP2MAN_PROGRAM help2man)
if(HELP2MAN_PROGRAM)
  add_custom_command(OUTPUT ${_pkg_out}/proglog.1.gz
    COMMAND ${HELP2MAN_PROGRAM} --no-info --no-discard-stderr
            --name "a distributed commit log" --include ${_deb}/proglog.h2m
            --output ${_pkg_out}/proglog.1 $<TARGET_FILE:proglog>
    COMMAND gzip -9nf ${_pkg_out}/proglog.1
    DEPENDS proglog ${_deb}/proglog.h2m VERBATIM)
  add_custom_target(proglog_package_files DEPENDS ${_pkg_out}/proglog.1.gz ${_pkg_out}/changelog.gz)
  install(FILES ${_pkg_out}/proglog.1.gz DESTINATION share/man/man1 COMPONENT server)
else()
  add_custom_target(proglog_package_files
    COMMAND ${CMAKE_COMMAND} -E echo "help2man is missing: run scripts/install-deps.sh" && false)
endif()
install(FILES ${_pkg_out}/changelog.gz DESTINATION share/doc/proglog COMPONENT server)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME proglog)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "distributed commit log replicated with Raft")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_DIRECTORY ${PROJECT_BINARY_DIR}/package)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL server)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_DEBIAN_FILE_NAME "proglog_${PROJECT_VERSION}_amd64.deb")
set(CPACK_DEBIAN_PACKAGE_NAME proglog)
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE amd64)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "proglog maintainers <maintainers@proglog.invalid>")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://github.com/proglog/proglog")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
  "proglog stores records in a segmented, checksummed log and replicates them\n\
with Raft to a majority of nodes before acknowledging a write. Nodes find\n\
each other with gossip, serve a gRPC API, and authenticate with mutual TLS.\n\
.\n\
This package runs a node as a hardened systemd service configured by\n\
/etc/proglog/proglog.yaml.")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${_deb}/conffiles ${_deb}/postinst ${_deb}/prerm ${_deb}/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
