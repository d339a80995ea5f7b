// comfyrun: runs AI content-generation workflows from the command line. All logic lives in
// comfyrun_core; this file only hands over the arguments.
#include "comfyrun/cli.h"

int main(int argc, char** argv) { return comfyrun::RunCli(argc, argv); }
