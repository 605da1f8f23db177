# Cross-compiling certheal for 64-bit Windows with Debian's mingw-w64 (posix thread model).
# Prepare the host once with scripts/setup-windows; then
#   cmake --preset windows-cross && cmake --build --preset windows-cross && ctest --preset windows-cross
# Tests run under Wine through tests/win/wine-emulator.sh (CMAKE_CROSSCOMPILING_EMULATOR).

set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_VERSION 6.1)  # Windows 7 / Server 2008 R2, matches _WIN32_WINNT=0x0601
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(CERTHEAL_MINGW_TRIPLET x86_64-w64-mingw32)
set(CMAKE_C_COMPILER ${CERTHEAL_MINGW_TRIPLET}-gcc)
set(CMAKE_CXX_COMPILER ${CERTHEAL_MINGW_TRIPLET}-g++)
set(CMAKE_RC_COMPILER ${CERTHEAL_MINGW_TRIPLET}-windres)
set(CMAKE_MC_COMPILER ${CERTHEAL_MINGW_TRIPLET}-windmc)
set(CMAKE_AR ${CERTHEAL_MINGW_TRIPLET}-ar CACHE FILEPATH "mingw archiver")
set(CMAKE_RANLIB ${CERTHEAL_MINGW_TRIPLET}-ranlib CACHE FILEPATH "mingw ranlib")

# Where scripts/setup-windows put the cross OpenSSL and the header-only folder. The preset
# passes them through the environment; a cache variable wins over both.
if(DEFINED ENV{CERTHEAL_OPENSSL_MINGW} AND NOT "$ENV{CERTHEAL_OPENSSL_MINGW}" STREQUAL "")
  set(_certheal_openssl_default "$ENV{CERTHEAL_OPENSSL_MINGW}")
else()
  set(_certheal_openssl_default /var/cache/certheal/openssl-mingw64)
endif()
if(DEFINED ENV{CERTHEAL_PCRE2_MINGW} AND NOT "$ENV{CERTHEAL_PCRE2_MINGW}" STREQUAL "")
  set(_certheal_pcre2_default "$ENV{CERTHEAL_PCRE2_MINGW}")
else()
  set(_certheal_pcre2_default /var/cache/certheal/pcre2-mingw64)
endif()
if(DEFINED ENV{CERTHEAL_CROSS_INCLUDE} AND NOT "$ENV{CERTHEAL_CROSS_INCLUDE}" STREQUAL "")
  set(_certheal_cross_include_default "$ENV{CERTHEAL_CROSS_INCLUDE}")
else()
  set(_certheal_cross_include_default /var/cache/certheal/cross-include)
endif()
set(CERTHEAL_OPENSSL_MINGW "${_certheal_openssl_default}" CACHE PATH
  "OpenSSL 3 built for mingw64 by scripts/setup-windows")
set(CERTHEAL_PCRE2_MINGW "${_certheal_pcre2_default}" CACHE PATH
  "PCRE2 built for mingw64 by scripts/setup-windows")
set(CERTHEAL_CROSS_INCLUDE "${_certheal_cross_include_default}" CACHE PATH
  "Folder with symlinks to the header-only libraries (boost, nlohmann, catch2)")
# try_compile projects re-read this file: hand them the same locations.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES CERTHEAL_OPENSSL_MINGW CERTHEAL_PCRE2_MINGW CERTHEAL_CROSS_INCLUDE)

if(NOT EXISTS "${CERTHEAL_OPENSSL_MINGW}/include/openssl/ssl.h")
  message(FATAL_ERROR "No mingw OpenSSL at ${CERTHEAL_OPENSSL_MINGW}: run scripts/setup-windows as root first.")
endif()
if(NOT EXISTS "${CERTHEAL_PCRE2_MINGW}/include/pcre2.h")
  message(FATAL_ERROR "No mingw PCRE2 at ${CERTHEAL_PCRE2_MINGW}: run scripts/setup-windows as root first.")
endif()
if(NOT EXISTS "${CERTHEAL_CROSS_INCLUDE}/boost/version.hpp")
  message(FATAL_ERROR "No cross header folder at ${CERTHEAL_CROSS_INCLUDE}: run scripts/setup-windows as root first.")
endif()

# Look for libraries and headers only in the mingw sysroot and the cross OpenSSL, never in
# the host's /usr (its glibc headers and ELF libraries would be picked up silently).
set(CMAKE_FIND_ROOT_PATH /usr/${CERTHEAL_MINGW_TRIPLET} "${CERTHEAL_OPENSSL_MINGW}" "${CERTHEAL_PCRE2_MINGW}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

set(OPENSSL_ROOT_DIR "${CERTHEAL_OPENSSL_MINGW}" CACHE PATH "")
set(OPENSSL_USE_STATIC_LIBS TRUE)
# Boost and nlohmann are header-only here; Debian's BoostConfig.cmake would point at /usr/include.
set(Boost_NO_BOOST_CMAKE ON)
set(Boost_INCLUDE_DIR "${CERTHEAL_CROSS_INCLUDE}" CACHE PATH "")
set(CATCH2_INCLUDE_DIR "${CERTHEAL_CROSS_INCLUDE}" CACHE PATH "")
set(CMAKE_C_STANDARD_INCLUDE_DIRECTORIES "${CERTHEAL_CROSS_INCLUDE}")
set(CMAKE_CXX_STANDARD_INCLUDE_DIRECTORIES "${CERTHEAL_CROSS_INCLUDE}")

# One self-contained .exe: no libstdc++/libgcc/libwinpthread DLLs to ship or find under Wine.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static -static-libgcc -static-libstdc++")

# ctest and catch_discover_tests run the .exe files through Wine, in a prefix of the build dir.
set(CMAKE_CROSSCOMPILING_EMULATOR "${CMAKE_CURRENT_LIST_DIR}/../tests/win/wine-emulator.sh")
