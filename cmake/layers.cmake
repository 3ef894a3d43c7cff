# Layers the build enforces (brief section 3). Each top-level module is one
# static library, and a library sees only its own headers and those of the
# modules it links: a wrong-way include fails to compile, not just to link.
#
# The source root is never an include directory. Instead each module gets a
# directory in the build tree holding one symlink, named after the module,
# to its source folder:
#
#   build/layer-include/hosts/hosts -> <source>/hosts
#
# she_hosts has build/layer-include/hosts as a PUBLIC include directory, so
# "hosts/ssh_session.h" resolves in hosts/ and in whatever links she_hosts,
# while "workflows/step_type.h" written in hosts/ is "No such file or
# directory". tests/CMakeLists.txt proves it (layers:wrong-way-include).

# Sets <out_var> to the include directory that exposes <module>/ alone.
function(she_layer_include_dir module out_var)
  set(dir ${CMAKE_BINARY_DIR}/layer-include/${module})
  file(MAKE_DIRECTORY ${dir})
  file(CREATE_LINK ${PROJECT_SOURCE_DIR}/${module} ${dir}/${module} SYMBOLIC)
  set(${out_var} ${dir} PARENT_SCOPE)
endfunction()

# she_module(<module> [EXCLUDE <regex>...]): the library she_<module> from
# every .cpp under <module>/ (globbed again at each build, so a new file
# needs no CMake edit), seeing its own headers. The caller links what the
# module may use.
function(she_module module)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "EXCLUDE")
  file(GLOB_RECURSE sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/${module}/*.cpp)
  foreach(re IN LISTS arg_EXCLUDE)
    list(FILTER sources EXCLUDE REGEX "${re}")
  endforeach()
  she_layer_include_dir(${module} include_dir)
  add_library(she_${module} STATIC ${sources})
  target_include_directories(she_${module} PUBLIC ${include_dir})
endfunction()
