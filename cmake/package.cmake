# CPack: `scripts/package` (or `cpack --config build/CPackConfig.cmake`) makes
# build/comfyrun_<version>_<arch>.deb from the install rules (cmake/install.cmake).
#
# The version is project(VERSION) in CMakeLists.txt and nothing else. The dependencies are
# computed by dpkg-shlibdeps from the ELF files in the package (the binary and the media
# module), never written by hand: a new library linked is a new Depends entry.
set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "comfyrun")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_CONTACT "${COMFYRUN_DEB_MAINTAINER}")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_PACKAGE_DIRECTORY "${PROJECT_BINARY_DIR}")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # comfyrun_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${COMFYRUN_DEB_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION "utils")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# Only the binary's and the module's own libraries: the module's folder holds no library
# another package provides.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS OFF)
# The first line is the synopsis (under 80 columns, no leading article, no final period);
# the rest is the extended description, one space of indentation added by CPack.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "run AI content-generation workflows as a crash-safe DAG
comfyrun runs AI content pipelines from the command line. A workflow is a
JSON file of nodes: generate images with Gemini image models, videos with Veo
or Sora, run graphs on a farm of ComfyUI GPU servers, stitch and check the
clips with FFmpeg's libraries. Independent branches run in parallel, and a
journal records every step, so that `comfyrun resume` continues an
interrupted run without running a finished node again and without paying
twice for a generation that was already submitted.
.
The package contains the comfyrun binary, its media module, bash and zsh
completion, a man page, systemd units for timed runs and example workflows
(/usr/share/comfyrun/examples).")
# Debian file ownership: root:root whatever user builds the package.
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)

# Lintian overrides the package ships (each with the reason), and the e2e test of the package:
# CPack, lintian and two runs of the installed tree take longer than the other scripts.
install(FILES packaging/lintian-overrides DESTINATION "${CMAKE_INSTALL_DATADIR}/lintian/overrides" RENAME comfyrun)
if(TEST e2e_package)
  set_tests_properties(e2e_package PROPERTIES TIMEOUT 900)
endif()
