# Build step (cmake -P): writes what the installed tree needs from the built binary itself,
# so that it cannot drift from the binary's own command line:
#   comfyrun.1, comfyrun.1.gz   the man page: `comfyrun --man` renders the same texts as
#                               every `comfyrun COMMAND --help` (src/cli/man_page.h) as roff
#   comfyrun.bash, _comfyrun    the completion scripts (`comfyrun completion bash|zsh`)
# Variables: COMFYRUN (the binary), OUT (the folder), GZIP (the gzip program).
foreach(var COMFYRUN OUT GZIP)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "generate_docs.cmake: ${var} is not set")
  endif()
endforeach()
file(MAKE_DIRECTORY "${OUT}")
# The media module is not needed for any of these; an .env in the build folder must not
# change them either (none of them reads configuration).
foreach(job "--man;comfyrun.1" "completion;bash;comfyrun.bash" "completion;zsh;_comfyrun")
  list(POP_BACK job file)
  execute_process(COMMAND "${COMFYRUN}" ${job}
                  OUTPUT_FILE "${OUT}/${file}.tmp" RESULT_VARIABLE rc ERROR_VARIABLE err TIMEOUT 60)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "comfyrun ${job} failed (${rc}): ${err}")
  endif()
  file(RENAME "${OUT}/${file}.tmp" "${OUT}/${file}")
endforeach()
# Debian compresses man pages with gzip -9, without a name or time stamp (-n) so that the
# package is reproducible.
execute_process(COMMAND "${GZIP}" -9nc "${OUT}/comfyrun.1" OUTPUT_FILE "${OUT}/comfyrun.1.gz" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "gzip of comfyrun.1 failed (${rc})")
endif()
