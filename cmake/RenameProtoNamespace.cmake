# The wire package of our API is `log.v1` (fixed for compatibility), but a C++
# namespace `::log` cannot coexist with the C library's `::log()` from <cmath>.
# This script renames the C++ namespace of the generated files to `logpb`; the
# wire names (method paths such as "/log.v1.Log/Produce", descriptor names) are
# string data and stay untouched.
# Usage: cmake -DDIR=<folder of generated files> -P RenameProtoNamespace.cmake
file(GLOB files ${DIR}/*.pb.h ${DIR}/*.pb.cc)
foreach(file IN LISTS files)
  file(READ ${file} text)
  string(REPLACE "namespace log {" "namespace logpb {" text "${text}")
  string(REPLACE "}  // namespace log\n" "}  // namespace logpb\n" text "${text}")
  string(REPLACE "::log::" "::logpb::" text "${text}")
  file(WRITE ${file} "${text}")
endforeach()
