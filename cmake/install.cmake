# `cmake --install build [--prefix P]`: the layout of a Debian command-line tool.
#
#   bin/comfyrun                                      stripped (see COMFYRUN_INSTALL_STRIP)
#   lib/<multiarch>/comfyrun/comfyrun_media.so        found by the binary as ../lib/<multiarch>/comfyrun
#   libexec/comfyrun/cron-run                         what the systemd service runs
#   lib/systemd/system/comfyrun@.service, .timer      from contrib/systemd, paths made to fit P
#   share/man/man1/comfyrun.1.gz                      generated at build time from the --help texts
#   share/bash-completion/completions/comfyrun        generated at build time by the binary
#   share/zsh/vendor-completions/_comfyrun            generated at build time by the binary
#   share/comfyrun/examples/                          graphs/*.json, ab-tests/*.json
#   share/doc/comfyrun/                               README.md, docs/, copyright, changelog.gz
#
# Included by CMakeLists.txt after the targets are defined.
include(GNUInstallDirs)

# The module's folder: lib/<multiarch>/comfyrun whatever the prefix (GNUInstallDirs puts the
# multiarch part in CMAKE_INSTALL_LIBDIR only for the prefix /usr, but the binary looks for a
# fixed path relative to itself, so it must not depend on the prefix).
if(CMAKE_LIBRARY_ARCHITECTURE)
  set(COMFYRUN_INSTALL_MODULEDIR "lib/${CMAKE_LIBRARY_ARCHITECTURE}/comfyrun")
else()
  set(COMFYRUN_INSTALL_MODULEDIR "${CMAKE_INSTALL_LIBDIR}/comfyrun")
endif()
file(RELATIVE_PATH COMFYRUN_MODULE_RELDIR "/p/${CMAKE_INSTALL_BINDIR}" "/p/${COMFYRUN_INSTALL_MODULEDIR}")

# The git commit `--version` prints: only when the sources are a git checkout of their own
# (not a tarball unpacked inside some other repository). Read at configure time.
set(COMFYRUN_GIT_COMMIT "")
find_package(Git QUIET)
if(GIT_FOUND)
  execute_process(COMMAND "${GIT_EXECUTABLE}" rev-parse --show-toplevel
                  WORKING_DIRECTORY "${PROJECT_SOURCE_DIR}" OUTPUT_VARIABLE _top
                  OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE _rc)
  if(_rc EQUAL 0 AND EXISTS "${_top}")
    file(REAL_PATH "${_top}" _top)
    file(REAL_PATH "${PROJECT_SOURCE_DIR}" _src)
    if(_top STREQUAL _src)
      execute_process(COMMAND "${GIT_EXECUTABLE}" rev-parse --short=12 HEAD
                      WORKING_DIRECTORY "${PROJECT_SOURCE_DIR}" OUTPUT_VARIABLE COMFYRUN_GIT_COMMIT
                      OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    endif()
  endif()
endif()
configure_file(cmake/build_info.h.in "${PROJECT_BINARY_DIR}/generated/comfyrun_build_info.h" @ONLY)
target_include_directories(comfyrun_core PRIVATE "${PROJECT_BINARY_DIR}/generated")
target_include_directories(comfyrun_tests PRIVATE "${PROJECT_BINARY_DIR}/generated")

# The man page and completion scripts, written by the built binary (cmake/generate_docs.cmake).
find_program(COMFYRUN_GZIP gzip REQUIRED)
set(COMFYRUN_GENERATED "${PROJECT_BINARY_DIR}/share")
add_custom_command(
  OUTPUT "${COMFYRUN_GENERATED}/comfyrun.1" "${COMFYRUN_GENERATED}/comfyrun.1.gz"
         "${COMFYRUN_GENERATED}/comfyrun.bash" "${COMFYRUN_GENERATED}/_comfyrun"
  COMMAND "${CMAKE_COMMAND}" "-DCOMFYRUN=$<TARGET_FILE:comfyrun>" "-DOUT=${COMFYRUN_GENERATED}"
          "-DGZIP=${COMFYRUN_GZIP}" -P "${PROJECT_SOURCE_DIR}/cmake/generate_docs.cmake"
  DEPENDS comfyrun "${PROJECT_SOURCE_DIR}/cmake/generate_docs.cmake"
  COMMENT "Generating the man page and completion scripts from comfyrun"
  VERBATIM)

# A Debian changelog (a native package has /usr/share/doc/<package>/changelog.gz). Its one
# entry carries the project version; its date is the commit's, so the package is reproducible.
set(COMFYRUN_CHANGELOG_DATE "Mon, 07 Dec 2026 00:00:00 +0000")
if(COMFYRUN_GIT_COMMIT)
  execute_process(COMMAND "${GIT_EXECUTABLE}" log -1 --format=%aD
                  WORKING_DIRECTORY "${PROJECT_SOURCE_DIR}" OUTPUT_VARIABLE COMFYRUN_CHANGELOG_DATE
                  OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
endif()
set(COMFYRUN_DEB_MAINTAINER "comfyrun maintainers <comfyrun@example.org>"
    CACHE STRING "Maintainer field of the .deb and the changelog")
configure_file(packaging/changelog.in "${COMFYRUN_GENERATED}/changelog" @ONLY)
add_custom_command(
  OUTPUT "${COMFYRUN_GENERATED}/changelog.gz"
  COMMAND "${COMFYRUN_GZIP}" -9nkf "${COMFYRUN_GENERATED}/changelog"
  DEPENDS "${COMFYRUN_GENERATED}/changelog"
  VERBATIM)
add_custom_target(comfyrun_docs ALL DEPENDS
  "${COMFYRUN_GENERATED}/comfyrun.1.gz" "${COMFYRUN_GENERATED}/comfyrun.bash" "${COMFYRUN_GENERATED}/_comfyrun"
  "${COMFYRUN_GENERATED}/changelog.gz")

# Stripped without `--strip`: `cmake --install build --prefix P` gives the 3 MB binary, not the
# 100 MB RelWithDebInfo one. CMake's own strip step runs when CMAKE_INSTALL_DO_STRIP is set in
# the install script; this sets it before the targets are installed. OFF keeps the debug
# info (then `cmake --install --strip` still strips).
option(COMFYRUN_INSTALL_STRIP "strip the installed binary and media module even without --strip" ON)
if(COMFYRUN_INSTALL_STRIP)
  install(CODE "set(CMAKE_INSTALL_DO_STRIP TRUE)")
endif()
install(TARGETS comfyrun RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")
# dlopen() needs no execute bit; Debian ships private plugins 0644.
install(TARGETS comfyrun_media LIBRARY DESTINATION "${COMFYRUN_INSTALL_MODULEDIR}"
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
# Like dh_strip: the .comment section (compiler versions) goes too. Only when stripping.
if(CMAKE_OBJCOPY)
  install(CODE "
    if(CMAKE_INSTALL_DO_STRIP)
      foreach(f \"${CMAKE_INSTALL_BINDIR}/comfyrun\" \"${COMFYRUN_INSTALL_MODULEDIR}/comfyrun_media.so\")
        execute_process(COMMAND \"${CMAKE_OBJCOPY}\" --remove-section=.comment \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/\${f}\")
      endforeach()
    endif()")
endif()
install(PROGRAMS scripts/cron-run DESTINATION "${CMAKE_INSTALL_LIBEXECDIR}/comfyrun")

install(FILES "${COMFYRUN_GENERATED}/comfyrun.1.gz" DESTINATION "${CMAKE_INSTALL_MANDIR}/man1")
install(FILES "${COMFYRUN_GENERATED}/comfyrun.bash" DESTINATION "${CMAKE_INSTALL_DATADIR}/bash-completion/completions"
        RENAME comfyrun)
install(FILES "${COMFYRUN_GENERATED}/_comfyrun" DESTINATION "${CMAKE_INSTALL_DATADIR}/zsh/vendor-completions")

# Examples: the workflows, and the A/B tests under ab-tests/. The tests name their graph
# relative to their own folder ("../graphs/quickstart.json" in the repository); installed, the
# graphs are one level up, so the path is rewritten (at configure time; a changed test file
# re-runs the configure step).
file(GLOB COMFYRUN_EXAMPLE_GRAPHS CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/graphs/*.json")
install(FILES ${COMFYRUN_EXAMPLE_GRAPHS} DESTINATION "${CMAKE_INSTALL_DATADIR}/comfyrun/examples")
file(GLOB COMFYRUN_EXAMPLE_ABTESTS CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/ab-tests/*.json")
foreach(test ${COMFYRUN_EXAMPLE_ABTESTS})
  get_filename_component(name "${test}" NAME)
  file(READ "${test}" text)
  string(REPLACE "\"../graphs/" "\"../" text "${text}")
  file(CONFIGURE OUTPUT "${COMFYRUN_GENERATED}/ab-tests/${name}" CONTENT "${text}" @ONLY)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${test}")
  install(FILES "${COMFYRUN_GENERATED}/ab-tests/${name}" DESTINATION "${CMAKE_INSTALL_DATADIR}/comfyrun/examples/ab-tests")
endforeach()

# Docs. Relative links between them (docs/x.md from the README) keep working: README.md goes
# beside a docs/ folder.
install(FILES README.md packaging/copyright "${COMFYRUN_GENERATED}/changelog.gz"
        DESTINATION "${CMAKE_INSTALL_DOCDIR}")
file(GLOB COMFYRUN_DOCS CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/docs/*.md" "${PROJECT_SOURCE_DIR}/docs/*.png")
install(FILES ${COMFYRUN_DOCS} DESTINATION "${CMAKE_INSTALL_DOCDIR}/docs")

# systemd units: contrib/systemd names the paths of a hand installation (/usr/local/bin,
# /opt/comfyrun); installed, they name where this installation put things. Rewritten at
# install time, because `--prefix` (and CPack's /usr) is only known then.
set(COMFYRUN_SYSTEMD_UNITDIR "lib/systemd/system" CACHE STRING "systemd unit folder, relative to the prefix")
install(CODE "
  foreach(unit comfyrun@.service comfyrun@.timer)
    file(READ \"${PROJECT_SOURCE_DIR}/contrib/systemd/\${unit}\" text)
    string(REPLACE \"/usr/local/bin/comfyrun\" \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/comfyrun\" text \"\${text}\")
    string(REPLACE \"/opt/comfyrun/scripts/cron-run\" \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBEXECDIR}/comfyrun/cron-run\" text \"\${text}\")
    string(REPLACE \"file:///opt/comfyrun/docs/cron.md\" \"man:comfyrun(1) file://\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_DOCDIR}/docs/cron.md\" text \"\${text}\")
    file(WRITE \"${PROJECT_BINARY_DIR}/installed-units/\${unit}\" \"\${text}\")
  endforeach()")
install(FILES "${PROJECT_BINARY_DIR}/installed-units/comfyrun@.service" "${PROJECT_BINARY_DIR}/installed-units/comfyrun@.timer"
        DESTINATION "${COMFYRUN_SYSTEMD_UNITDIR}")
