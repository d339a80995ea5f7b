// doctest main for comfyrun_tests. Each test binary run happens in a fresh temporary
// directory (removed on success, kept on failure for inspection).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "comfyrun/nodes/node_table.h"

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("comfyrun-tests-" + std::to_string(getpid()));
  fs::create_directories(dir);
  fs::current_path(dir);
  comfyrun::InstallNodeTypes();  // as the CLI does first thing
  doctest::Context context(argc, argv);
  int result = context.run();
  if (result == 0) {
    std::error_code ec;
    fs::current_path(fs::temp_directory_path());
    fs::remove_all(dir, ec);
  } else {
    std::cerr << "test files kept in " << dir << "\n";
  }
  return result;
}
