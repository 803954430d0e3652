# Shared build settings for our own targets (never for generated or third-party code).

# Warnings as errors on code we write.
function(proglog_target_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Werror
    -Wno-unused-parameter -Wno-missing-field-initializers)
  set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE ON)
endfunction()

# proglog_add_library(NAME SOURCES ... [DEPS ...])
# A static component library; its public headers are included as "core/<component>/x.h".
function(proglog_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
  proglog_target_defaults(${name})
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    # Checks every ABSL_GUARDED_BY / ABSL_EXCLUSIVE_LOCKS_REQUIRED contract. Under GCC the
    # ctest thread_safety (tests/lint) runs the same analysis with clang.
    target_compile_options(${name} PRIVATE -Wthread-safety)
  endif()
endfunction()

# proglog_add_test(NAME SOURCES ... [DEPS ...] [TIMEOUT seconds] [LABELS ...])
# One GoogleTest executable registered as one ctest test.
function(proglog_add_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  proglog_target_defaults(${name})
  add_test(NAME ${name} COMMAND ${name})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES TIMEOUT ${ARG_TIMEOUT} LABELS "${ARG_LABELS}")
endfunction()

# proglog_add_bench(NAME SOURCES ... [DEPS ...]): a Google Benchmark or plain executable.
function(proglog_add_bench name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  proglog_target_defaults(${name})
endfunction()
