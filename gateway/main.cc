#include "gateway/cli.h"

int main(int argc, char** argv) { return omnigate::gateway::RunCli(argc, argv); }
